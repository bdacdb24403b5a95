/**
 * The wait path shared by both queue adapters: one in-memory map from job id to the callers waiting
 * for it, fed by one subscription per process. A listener per waiting call (BullMQ's
 * `job.waitUntilFinished`) caps a waiting API near 1,300 requests/s (architecture.md); a map lookup
 * per finished job does not.
 */
import type { JobOutcome } from './types.js'

interface Waiter {
  readonly resolve: (outcome: JobOutcome | undefined) => void
  readonly timer: NodeJS.Timeout
}

/** Pending `waitFor` calls by job id. Each waiter settles exactly once: outcome, timeout or close. */
export class WaiterRegistry {
  readonly #byId = new Map<string, Waiter[]>()
  #count = 0

  /** Number of pending waiters (for tests and `/metrics`). */
  get size(): number {
    return this.#count
  }

  /** Whether anyone waits for job `id`: lets the subscription skip work for jobs nobody awaits. */
  has(id: string): boolean {
    return this.#byId.has(id)
  }

  /** Resolves with the outcome passed to `settle(id, …)`, or undefined after `timeoutMs`. */
  wait(id: string, timeoutMs: number): Promise<JobOutcome | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          this.#remove(id, waiter)
          resolve(undefined)
        }, Math.max(0, timeoutMs)),
      }
      const list = this.#byId.get(id)
      if (list === undefined) this.#byId.set(id, [waiter])
      else list.push(waiter)
      this.#count++
    })
  }

  /**
   * Waits for job `id` with the waiter in place before `enqueue` runs, so no finish can be missed;
   * should `enqueue` throw, the waiter goes and the error propagates.
   */
  async enqueueAndWait(id: string, timeoutMs: number, enqueue: () => Promise<void>): Promise<JobOutcome | undefined> {
    const pending = this.wait(id, timeoutMs)
    try {
      await enqueue()
    } catch (err) {
      this.cancel(id)
      throw err
    }
    return pending
  }

  /** Resolves the waiters of job `id` with undefined at once (the job could not be queued). */
  cancel(id: string): void {
    this.#resolve(id, undefined)
  }

  /** Resolves every waiter of job `id` with `outcome`. */
  settle(id: string, outcome: JobOutcome): void {
    this.#resolve(id, outcome)
  }

  #resolve(id: string, outcome: JobOutcome | undefined): void {
    const list = this.#byId.get(id)
    if (list === undefined) return
    this.#byId.delete(id)
    this.#count -= list.length
    for (const waiter of list) {
      clearTimeout(waiter.timer)
      waiter.resolve(outcome)
    }
  }

  /** Resolves every pending waiter with undefined, as a timeout would (the producer is closing). */
  clear(): void {
    const lists = [...this.#byId.values()]
    this.#byId.clear()
    this.#count = 0
    for (const list of lists) {
      for (const waiter of list) {
        clearTimeout(waiter.timer)
        waiter.resolve(undefined)
      }
    }
  }

  #remove(id: string, waiter: Waiter): void {
    const list = this.#byId.get(id)
    if (list === undefined) return
    const index = list.indexOf(waiter)
    if (index === -1) return
    list.splice(index, 1)
    this.#count--
    if (list.length === 0) this.#byId.delete(id)
  }
}
