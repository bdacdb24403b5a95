/**
 * A Map whose entries expire, bounded by a count and by an estimate of the bytes its entries hold.
 * Expired entries are invisible at once (checked on read) and removed by `sweep()`. When a new entry
 * would pass either bound, `set` first sweeps and then, if it still does not fit, refuses it and
 * returns false: a live entry is never dropped to make room (a flood of new entries must not erase
 * the ones in use).
 *
 * Each entry's size is `sizeOf(key, value)`, taken when the key is set and kept until it is deleted:
 * `replace` does not change it, so `sizeOf` must bound every value a key will be replaced with.
 *
 * A binary min-heap orders entries by expiry. Deleting or replacing an entry leaves its heap node
 * behind (it is recognised as stale: the map no longer points at it); the heap is rebuilt from the
 * map when stale nodes outnumber live ones, so its size stays within a constant factor of the map's.
 */

interface Entry<V> {
  readonly key: string
  value: V
  readonly expiresAt: number
  /** Bytes accounted for this entry. */
  readonly bytes: number
}

/** Bounds of an {@link ExpiringMap}. */
export interface ExpiringMapLimits<V> {
  /** Most entries held at once (at least 1). */
  readonly maxEntries: number
  /** Most bytes held at once, as estimated by `sizeOf`. @defaultValue no bound */
  readonly maxBytes?: number
  /** Estimated bytes of an entry. @defaultValue 0 */
  readonly sizeOf?: (key: string, value: V) => number
  /** Called with each entry removed because it expired (on read or by `sweep`), not on `delete`. */
  readonly onExpire?: (key: string, value: V, expiresAt: number) => void
}

/** A live entry as listed by {@link ExpiringMap.entries}. */
export interface ExpiringEntry<V> {
  readonly key: string
  readonly value: V
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

/** How {@link ExpiringMap.set} ended. */
export type SetResult = 'stored' | 'expired' | 'full'

const COMPACT_SLACK = 1024

export class ExpiringMap<V> {
  readonly #entries = new Map<string, Entry<V>>()
  #heap: Entry<V>[] = []
  readonly #capacity: number
  readonly #maxBytes: number
  readonly #sizeOf: (key: string, value: V) => number
  readonly #nowMs: () => number
  readonly #onExpire: ((key: string, value: V, expiresAt: number) => void) | undefined
  #bytes = 0

  /**
   * @param limits - most entries, most bytes, and how an entry's bytes are estimated; a number is
   *   `maxEntries` alone
   * @param nowMs - the clock, milliseconds since the epoch
   */
  constructor(limits: number | ExpiringMapLimits<V>, nowMs: () => number) {
    const { maxEntries, maxBytes = Number.POSITIVE_INFINITY, sizeOf = () => 0, onExpire } =
      typeof limits === 'number' ? { maxEntries: limits } : limits
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer')
    if (!(maxBytes > 0)) throw new TypeError('maxBytes must be positive')
    this.#capacity = maxEntries
    this.#maxBytes = maxBytes
    this.#sizeOf = sizeOf
    this.#nowMs = nowMs
    this.#onExpire = onExpire
  }

  /** The value under `key`, or undefined when absent or expired. */
  get(key: string): V | undefined {
    return this.#live(key)?.value
  }

  /** When the entry under `key` expires (ms), or undefined when absent or expired. */
  expiresAt(key: string): number | undefined {
    return this.#live(key)?.expiresAt
  }

  /**
   * Sets `key` to expire at `expiresAt` (ms), replacing any entry. An entry already expired is not
   * stored (`expired`, and any old entry is gone); one that does not fit the bounds even after a sweep
   * is refused (`full`, and any old entry is kept). With `force` the bounds are not applied: for
   * entries that must not be lost (loading from disk, a result whose room was reserved).
   */
  set(key: string, value: V, expiresAt: number, force = false): SetResult {
    if (expiresAt <= this.#nowMs()) {
      this.delete(key)
      return 'expired'
    }
    const bytes = this.#sizeOf(key, value)
    const old = this.#live(key)
    if (!force && !this.#fits(bytes - (old?.bytes ?? 0), old === undefined ? 1 : 0)) {
      this.sweep()
      const still = this.#live(key)
      if (!this.#fits(bytes - (still?.bytes ?? 0), still === undefined ? 1 : 0)) return 'full'
    }
    this.delete(key)
    const entry: Entry<V> = { key, value, expiresAt, bytes }
    this.#entries.set(key, entry)
    this.#bytes += bytes
    this.#push(entry)
    if (this.#heap.length > 2 * this.#entries.size + COMPACT_SLACK) this.#rebuild()
    return 'stored'
  }

  /** Whether `moreEntries` entries of `moreBytes` bytes in all fit the bounds now (expired ones counted). */
  fits(moreBytes: number, moreEntries = 1): boolean {
    if (this.#fits(moreBytes, moreEntries)) return true
    this.sweep()
    return this.#fits(moreBytes, moreEntries)
  }

  #fits(moreBytes: number, moreEntries: number): boolean {
    return this.#entries.size + moreEntries <= this.#capacity && this.#bytes + moreBytes <= this.#maxBytes
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
    const entry = this.#entries.get(key)
    if (entry === undefined) return false
    this.#remove(entry)
    return entry.expiresAt > this.#nowMs()
  }

  /** Removes every expired entry. */
  sweep(): void {
    const now = this.#nowMs()
    while (this.#heap.length > 0 && this.#heap[0]!.expiresAt <= now) {
      const entry = this.#pop()!
      if (this.#entries.get(entry.key) === entry) this.#expire(entry)
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

  /** Bytes held (estimated by `sizeOf`), including expired entries not yet swept. */
  get bytes(): number {
    return this.#bytes
  }

  #live(key: string): Entry<V> | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#nowMs()) {
      this.#expire(entry)
      return undefined
    }
    return entry
  }

  #expire(entry: Entry<V>): void {
    this.#remove(entry)
    this.#onExpire?.(entry.key, entry.value, entry.expiresAt)
  }

  #remove(entry: Entry<V>): void {
    this.#entries.delete(entry.key)
    this.#bytes -= entry.bytes
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
