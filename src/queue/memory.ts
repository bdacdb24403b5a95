/**
 * The embedded adapter of the queue port: an in-process queue with the BullMQ adapter's semantics,
 * for running API and worker in one process with no Redis. FIFO, a concurrency limit, retries with
 * exponential backoff for thrown faults, invalid payloads failed without retry, one job per id, and
 * jobs handed over as validated JSON copies, as BullMQ's round trip through Redis would.
 *
 * Memory is bounded: the payloads of unfinished jobs by count (`maxDepth`) and by bytes (`maxBytes`),
 * past which `enqueue` refuses with `ERR_SERVICE_OVERLOADED`; a finished job keeps only its small
 * outcome (the payload, which holds the Evidence, is dropped), and finished jobs are remembered by
 * count (`keepFinished`) and by bytes (`keepFinishedBytes`).
 */
import { VerifierError } from '../errors/errors.js'
import { isRecordId } from '../store/keys.js'
import { failedOutcome } from './job-schema.js'
import { backoffDelayMs, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_DELAY_MS, isUnrecoverable, runJob } from './run-job.js'
import type {
  AppraisalJob,
  ConsumerStartOptions,
  JobFailureHandler,
  JobOutcome,
  JobProcessor,
  JobState as QueueJobState,
  QueueConsumer,
  QueueProducer,
} from './types.js'
import { WaiterRegistry } from './waiters.js'

/** Options of {@link createMemoryQueue}. */
export interface MemoryQueueOptions {
  /**
   * Jobs waiting, delayed or active past which `enqueue` throws `ERR_SERVICE_OVERLOADED`, so a backlog cannot
   * grow without bound in memory. @defaultValue no limit
   */
  readonly maxDepth?: number
  /**
   * Characters of payload (the job as JSON, Evidence in base64) held for unfinished jobs past which
   * `enqueue` throws `ERR_SERVICE_OVERLOADED`. @defaultValue 16 MiB
   */
  readonly maxBytes?: number
  /** Tries per job, the first included. @defaultValue 3 */
  readonly attempts?: number
  /** Base of the exponential backoff between tries. @defaultValue 1000 */
  readonly backoffDelayMs?: number
  /**
   * Finished jobs remembered (oldest forgotten first), for duplicate suppression and for `waitFor`
   * calls that arrive after the job finished; BullMQ's `removeOnComplete`/`removeOnFail` count.
   * @defaultValue 10000
   */
  readonly keepFinished?: number
  /** Characters of outcome (mostly the EAR) kept for finished jobs, oldest forgotten first. @defaultValue 4 MiB */
  readonly keepFinishedBytes?: number
  /** How long `consumer.close()` lets in-flight jobs run before aborting their signals. @defaultValue 10000 */
  readonly closeGraceMs?: number
}

/** The producer side, with its pending waiter count (for tests and metrics). */
export interface MemoryProducer extends QueueProducer {
  readonly pendingWaiters: number
}

/** An in-process queue: its two sides and a diagnostic view of its jobs. */
export interface MemoryQueue {
  readonly producer: MemoryProducer
  readonly consumer: QueueConsumer
  /** Tries of job `id` that have ended so far; undefined for an unknown or forgotten job. */
  attemptsMade(id: string): number | undefined
}

type JobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed'

interface Entry {
  readonly id: string
  /**
   * The job as JSON, as BullMQ stores it: the processor gets a fresh, validated copy per try.
   * Dropped (empty) once the job finishes.
   */
  payload: string
  state: JobState
  attemptsMade: number
  outcome?: JobOutcome
  /** Characters accounted for the kept outcome of a finished job. */
  outcomeChars?: number
}

/** What a remembered finished job costs beyond its EAR: the entry, its id, the set slot. */
const FINISHED_OVERHEAD_CHARS = 300

/** A FIFO with O(1) shift: an array read from a moving head, compacted now and then. */
class Fifo<T> {
  #items: (T | undefined)[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }
}

/** Creates an in-process queue: one producer and one consumer sharing its state. */
export function createMemoryQueue(options: MemoryQueueOptions = {}): MemoryQueue {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS
  const backoffBaseMs = options.backoffDelayMs ?? DEFAULT_BACKOFF_DELAY_MS
  const keepFinished = options.keepFinished ?? 10_000
  const keepFinishedBytes = options.keepFinishedBytes ?? 4 * 1024 * 1024
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024
  const closeGraceMs = options.closeGraceMs ?? 10_000
  const maxDepth = options.maxDepth

  const entries = new Map<string, Entry>()
  // Insertion order is finishing order, so the first key is the one to forget first.
  const finished = new Set<string>()
  const waiting = new Fifo<Entry>()
  let delayed = 0
  const active = new Map<Entry, AbortController>()
  const inFlight = new Set<Promise<void>>()
  const waiters = new WaiterRegistry()
  /** Payload characters of unfinished jobs. */
  let pendingChars = 0
  /** Outcome characters of remembered finished jobs. */
  let finishedChars = 0

  let processor: JobProcessor | undefined
  let onFailed: JobFailureHandler | undefined
  let concurrency = 0
  let pumpScheduled = false
  let producerClosed = false

  const depth = (): number => waiting.length + delayed + active.size

  function schedulePump(): void {
    if (pumpScheduled || processor === undefined) return
    pumpScheduled = true
    // Deferred, so an enqueue resolves before its job starts, as with a queue in another process.
    setImmediate(pump)
  }

  function pump(): void {
    pumpScheduled = false
    while (processor !== undefined && active.size < concurrency) {
      const entry = waiting.shift()
      if (entry === undefined) return
      run(entry, processor)
    }
  }

  function run(entry: Entry, fn: JobProcessor): void {
    const controller = new AbortController()
    entry.state = 'active'
    active.set(entry, controller)
    const done = (async () => {
      try {
        const outcome = await runJob(fn, entry.id, JSON.parse(entry.payload), controller.signal)
        entry.attemptsMade++
        finish(entry, 'completed', outcome)
      } catch (err) {
        entry.attemptsMade++
        if (isUnrecoverable(err) || entry.attemptsMade >= attempts) {
          const data: unknown = JSON.parse(entry.payload)
          // Before the job is marked failed: what the handler stores is there when waiters look.
          await onFailed?.({ jobId: entry.id, data, error: err, attemptsMade: entry.attemptsMade }).catch(() => {})
          finish(entry, 'failed', failedOutcome(entry.id, data))
        } else {
          retryLater(entry)
        }
      }
    })()
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done))
  }

  function finish(entry: Entry, state: 'completed' | 'failed', outcome: JobOutcome): void {
    active.delete(entry)
    entry.state = state
    entry.outcome = outcome
    pendingChars -= entry.payload.length
    entry.payload = ''
    entry.outcomeChars = FINISHED_OVERHEAD_CHARS + entry.id.length + (outcome.ear?.length ?? 0)
    finishedChars += entry.outcomeChars
    finished.add(entry.id)
    while (finished.size > keepFinished || finishedChars > keepFinishedBytes) {
      const oldest = finished.values().next().value as string
      finished.delete(oldest)
      finishedChars -= entries.get(oldest)?.outcomeChars ?? 0
      entries.delete(oldest)
    }
    waiters.settle(entry.id, outcome)
    schedulePump()
  }

  function retryLater(entry: Entry): void {
    active.delete(entry)
    entry.state = 'delayed'
    delayed++
    const timer = setTimeout(() => {
      delayed--
      entry.state = 'waiting'
      waiting.push(entry)
      schedulePump()
    }, backoffDelayMs(entry.attemptsMade, backoffBaseMs))
    // A retry alone must not keep a process alive that is otherwise done.
    timer.unref()
    schedulePump()
  }

  const producer: MemoryProducer = {
    get pendingWaiters() {
      return waiters.size
    },

    async enqueue(job: AppraisalJob): Promise<void> {
      if (producerClosed) throw new VerifierError('ERR_QUEUE_UNAVAILABLE', 'queue producer is closed')
      const id: unknown = (job as { id?: unknown } | null)?.id
      if (!isRecordId(id)) {
        throw new VerifierError('ERR_QUEUE_JOB_INVALID', 'queue job id is not a valid record id')
      }
      if (entries.has(id)) return
      if (maxDepth !== undefined && depth() >= maxDepth) {
        throw new VerifierError('ERR_SERVICE_OVERLOADED', `queue depth limit ${maxDepth} reached`)
      }
      let payload: string
      try {
        payload = JSON.stringify(job)
      } catch (err) {
        throw new VerifierError('ERR_QUEUE_JOB_INVALID', 'queue job is not serializable as JSON', { cause: err })
      }
      if (pendingChars + payload.length > maxBytes) {
        throw new VerifierError('ERR_SERVICE_OVERLOADED', `queue byte limit ${maxBytes} reached`)
      }
      const entry: Entry = { id, payload, state: 'waiting', attemptsMade: 0 }
      pendingChars += payload.length
      entries.set(id, entry)
      waiting.push(entry)
      schedulePump()
    },

    async depth(): Promise<number> {
      return depth()
    },

    async waitFor(id: string, timeoutMs: number): Promise<JobOutcome | undefined> {
      const outcome = entries.get(id)?.outcome
      if (outcome !== undefined) return outcome
      if (producerClosed) return undefined
      return waiters.wait(id, timeoutMs)
    },

    async enqueueAndWait(job: AppraisalJob, timeoutMs: number): Promise<JobOutcome | undefined> {
      const known = entries.get(job.id)?.outcome
      if (known !== undefined) return known
      return waiters.enqueueAndWait(job.id, timeoutMs, () => producer.enqueue(job))
    },

    async state(id: string): Promise<QueueJobState | undefined> {
      const entry = entries.get(id)
      if (entry === undefined) return undefined
      if (entry.state === 'completed') return entry.outcome?.status === 'failed' ? 'failed' : 'complete'
      if (entry.state === 'failed') return 'failed'
      return entry.state === 'active' ? 'processing' : 'queued'
    },

    async close(): Promise<void> {
      producerClosed = true
      waiters.clear()
    },
  }

  const consumer: QueueConsumer = {
    async start(fn: JobProcessor, startOptions: ConsumerStartOptions): Promise<void> {
      if (processor !== undefined) throw new Error('queue consumer is already started')
      if (!Number.isInteger(startOptions.concurrency) || startOptions.concurrency < 1) {
        throw new RangeError(`concurrency must be a positive integer, got ${startOptions.concurrency}`)
      }
      processor = fn
      onFailed = startOptions.onFailed
      concurrency = startOptions.concurrency
      schedulePump()
    },

    async close(): Promise<void> {
      processor = undefined
      if (inFlight.size === 0) return
      const grace = setTimeout(() => {
        for (const controller of active.values()) controller.abort(new Error('queue consumer is closing'))
      }, closeGraceMs)
      try {
        await Promise.allSettled([...inFlight])
      } finally {
        clearTimeout(grace)
      }
    },
  }

  return {
    producer,
    consumer,
    attemptsMade: (id) => entries.get(id)?.attemptsMade,
  }
}
