/**
 * A Map whose entries expire, with a fixed capacity. Expired entries are invisible at once (checked
 * on read) and removed by `sweep()`; when the map is full, `set` first sweeps and then evicts the
 * entry that expires soonest.
 *
 * A binary min-heap orders entries by expiry. Deleting or replacing an entry leaves its heap node
 * behind (it is recognised as stale: the map no longer points at it); the heap is rebuilt from the
 * map when stale nodes outnumber live ones, so its size stays within a constant factor of the map's.
 */

interface Entry<V> {
  readonly key: string
  value: V
  readonly expiresAt: number
}

/** A live entry as listed by {@link ExpiringMap.entries}. */
export interface ExpiringEntry<V> {
  readonly key: string
  readonly value: V
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

const COMPACT_SLACK = 1024

export class ExpiringMap<V> {
  readonly #entries = new Map<string, Entry<V>>()
  #heap: Entry<V>[] = []
  readonly #capacity: number
  readonly #nowMs: () => number

  /**
   * @param capacity - most entries held at once (at least 1)
   * @param nowMs - the clock, milliseconds since the epoch
   */
  constructor(capacity: number, nowMs: () => number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new TypeError('capacity must be a positive integer')
    this.#capacity = capacity
    this.#nowMs = nowMs
  }

  /** The value under `key`, or undefined when absent or expired. */
  get(key: string): V | undefined {
    return this.#live(key)?.value
  }

  /** Sets `key` to expire at `expiresAt` (ms), replacing any entry; one already expired is not stored. */
  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key)
    if (expiresAt <= this.#nowMs()) return
    if (this.#entries.size >= this.#capacity) {
      this.sweep()
      while (this.#entries.size >= this.#capacity) this.#evictSoonest()
    }
    const entry: Entry<V> = { key, value, expiresAt }
    this.#entries.set(key, entry)
    this.#push(entry)
    if (this.#heap.length > 2 * this.#entries.size + COMPACT_SLACK) this.#rebuild()
  }

  /** Replaces the value of a live entry, keeping its expiry; false when absent or expired. */
  replace(key: string, value: V): boolean {
    const entry = this.#live(key)
    if (entry === undefined) return false
    entry.value = value
    return true
  }

  /** Removes `key`; true when a live entry was removed. */
  delete(key: string): boolean {
    const live = this.#live(key) !== undefined
    this.#entries.delete(key)
    return live
  }

  /** Removes every expired entry. */
  sweep(): void {
    const now = this.#nowMs()
    while (this.#heap.length > 0 && this.#heap[0]!.expiresAt <= now) {
      const entry = this.#pop()!
      if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key)
    }
  }

  /** The live entries, in insertion order. */
  *entries(): IterableIterator<ExpiringEntry<V>> {
    const now = this.#nowMs()
    for (const entry of this.#entries.values()) if (entry.expiresAt > now) yield entry
  }

  /**
   * Every entry held, expired ones included, in insertion order: an array taken now, to walk while the
   * map changes. A value replaced later reads as the new value.
   */
  list(): ExpiringEntry<V>[] {
    return Array.from(this.#entries.values())
  }

  /** Number of entries held, including expired ones not yet swept. */
  get size(): number {
    return this.#entries.size
  }

  #live(key: string): Entry<V> | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#nowMs()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  #evictSoonest(): void {
    for (let entry = this.#pop(); entry !== undefined; entry = this.#pop()) {
      if (this.#entries.get(entry.key) === entry) {
        this.#entries.delete(entry.key)
        return
      }
    }
  }

  #rebuild(): void {
    this.#heap = [...this.#entries.values()]
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#siftDown(i)
  }

  #push(entry: Entry<V>): void {
    this.#heap.push(entry)
    let i = this.#heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.#heap[parent]!.expiresAt <= entry.expiresAt) break
      this.#heap[i] = this.#heap[parent]!
      i = parent
    }
    this.#heap[i] = entry
  }

  #pop(): Entry<V> | undefined {
    const top = this.#heap[0]
    const last = this.#heap.pop()
    if (top === undefined || last === undefined || this.#heap.length === 0) return top
    this.#heap[0] = last
    this.#siftDown(0)
    return top
  }

  #siftDown(start: number): void {
    const heap = this.#heap
    const entry = heap[start]!
    let i = start
    for (;;) {
      let child = 2 * i + 1
      if (child >= heap.length) break
      if (child + 1 < heap.length && heap[child + 1]!.expiresAt < heap[child]!.expiresAt) child++
      if (heap[child]!.expiresAt >= entry.expiresAt) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = entry
  }
}
