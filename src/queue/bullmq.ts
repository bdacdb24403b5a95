/**
 * The production adapter of the queue port: BullMQ on Redis, with API and workers in separate
 * processes. BullMQ creates its own connections from the options given here (only `store/` holds an
 * ioredis client of its own).
 *
 * Cost per job is what BullMQ itself spends: one script call to add, and the worker's fetch, lock
 * and finish (the finish script also fetches the next job). Waiting for results costs one events
 * subscription per producer, shared by every `waitFor` through an in-memory map, plus one small
 * `HMGET` per `waitFor` for a job that may have finished before the wait began.
 */
import { DelayedError, type Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { isRecordId } from '../store/keys.js'
import { failedOutcome, parseOutcome } from './job-schema.js'
import { bullmqPrefix, JOB_NAME, QUEUE_NAME } from './names.js'
import { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_DELAY_MS, isUnrecoverable, runJob } from './run-job.js'
import type {
  AppraisalJob,
  ConsumerStartOptions,
  JobOutcome,
  JobProcessor,
  JobState as QueueJobState,
  QueueConsumer,
  QueueProducer,
} from './types.js'
import { WaiterRegistry } from './waiters.js'

/** Where Redis is: a `redis://` / `rediss://` URL, or discrete options. */
export type BullmqConnection = string | RedisConnectionOptions

/** The connection settings Assay passes on to BullMQ, which opens its connections itself. */
export interface RedisConnectionOptions {
  readonly url?: string
  readonly host?: string
  readonly port?: number
  readonly username?: string
  readonly password?: string
  readonly db?: number
  /** Node `tls.connect` options; present (even `{}`) means TLS. */
  readonly tls?: Readonly<Record<string, unknown>>
}

/** How many finished jobs Redis keeps, by age and by count; whichever bound is hit first applies. */
export interface KeepJobs {
  readonly ageSeconds: number
  readonly count: number
}

interface CommonOptions {
  readonly connection: BullmqConnection
  /** Assay's Redis prefix; BullMQ keys live under `{<prefix>}:appraisals:` (see `bullmqPrefix`). */
  readonly prefix: string
  /**
   * Receives errors of background work: connection loss, the events loop, lock renewal. BullMQ's
   * classes are event emitters that would crash the process on an unhandled `error` event.
   * @defaultValue ignore
   */
  readonly onError?: (err: Error) => void
}

/** Options of {@link createBullmqProducer}. */
export interface BullmqProducerOptions extends CommonOptions {
  /** Tries per job, the first included; thrown faults are retried. @defaultValue 3 */
  readonly attempts?: number
  /** Base of the exponential backoff between tries: 1 s, 2 s, 4 s, … @defaultValue 1000 */
  readonly backoffDelayMs?: number
  /**
   * Completed jobs kept. The bound keeps Redis from growing without limit; while a job is kept, a
   * resubmission of its id is not queued again and a late `waitFor` still finds its outcome.
   * @defaultValue `{ ageSeconds: 3600, count: 10000 }`
   */
  readonly keepCompleted?: KeepJobs
  /** Failed jobs kept, for inspection. @defaultValue `{ ageSeconds: 86400, count: 10000 }` */
  readonly keepFailed?: KeepJobs
  /**
   * Approximate length of the queue's event stream. A producer whose subscription falls further
   * behind than this misses events, and its waiters time out. @defaultValue 10000
   */
  readonly eventsMaxLen?: number
  /**
   * Longest `enqueue` or `depth` waits for Redis before failing with `ERR_QUEUE_UNAVAILABLE`, so a
   * request is answered 503 instead of hanging while Redis is unreachable. While the connection is
   * known to be down a command fails at once (no offline queue), and before the first connection
   * it waits at most 1 s; this bound is for a Redis that is connected but slow. A timed-out `enqueue`
   * may still reach Redis once the connection is back; the job then runs under its id as usual.
   * @defaultValue 5000
   */
  readonly operationTimeoutMs?: number
}

/** Options of {@link createBullmqConsumer}. */
export interface BullmqConsumerOptions extends CommonOptions {
  /**
   * How long a worker's lock on a job lasts without renewal. A worker that dies mid-job (SIGKILL,
   * lost host) leaves a job whose lock expires after this, and a live worker's stalled check puts
   * it back in the queue. @defaultValue 30000
   */
  readonly lockDurationMs?: number
  /**
   * How often stalled jobs are looked for. BullMQ runs one check per queue per interval, and the
   * interval of the worker that checked last holds every other worker off, so give all workers of
   * a queue the same value. @defaultValue 30000
   */
  readonly stalledIntervalMs?: number
  /** Times a job may stall and be put back before it ends failed. @defaultValue 1 */
  readonly maxStalledCount?: number
  /** Seconds an idle worker blocks waiting for a job before polling again. @defaultValue 5 */
  readonly drainDelaySeconds?: number
  /** How long `close()` lets in-flight jobs run before aborting their signals. @defaultValue 10000 */
  readonly closeGraceMs?: number
  /**
   * How long after it was queued a job whose try fails because a store is unavailable
   * (`ERR_STORE_UNAVAILABLE`) is put back without using up a try, about once a second. Store
   * outages are the verifier's, not the Evidence's: without this, a worker whose queue connection
   * is back before its store connection fails every job it takes in the few seconds between.
   * @defaultValue 600000 (10 minutes)
   */
  readonly outagePatienceMs?: number
}

/** Delay before a job that met a store outage is tried again: 1 s, plus jitter so they spread. */
const OUTAGE_RETRY_MS = 1000
const OUTAGE_JITTER_MS = 500

/** The producer side, with its pending waiter count (for tests and metrics). */
export interface BullmqProducer extends QueueProducer {
  readonly pendingWaiters: number
}

const ignore = (): void => {}

/** Depth counts every job not yet finished: queued, retrying, and in progress. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized'] as const

/** The id of the newest entry of the events stream, or `0-0` when it is empty or absent. */
const EVENTS_TIP_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then return last[1][1] end
return '0-0'
`
const EVENTS_TIP_COMMAND = 'assayEventsTip'

function connectionOptions(connection: BullmqConnection, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(typeof connection === 'string' ? { url: connection } : connection), ...extra }
}

/**
 * Reconnection every 0.1 s, 0.2 s, … up to 2 s, so a restarted Redis is back in use within about
 * 2 s (BullMQ's own default backs off to 20 s between tries).
 */
const reconnectDelay = (times: number): number => Math.min(times * 100, 2000)

/**
 * The producer's connection fails a command at once while it is disconnected (no offline queue):
 * an HTTP request then gets its 503 now, not after `operationTimeoutMs`.
 */
const FAIL_FAST = { enableOfflineQueue: false, retryStrategy: reconnectDelay }

/** How long a command waits for the producer's first connection before failing. */
const FIRST_CONNECT_WAIT_MS = 1000

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** `operation`, or `ERR_QUEUE_UNAVAILABLE` if it has not settled within `timeoutMs`. */
async function withinTimeout<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new VerifierError('ERR_QUEUE_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([operation, timeout])
  } catch (err) {
    throw isVerifierError(err) ? err : new VerifierError('ERR_QUEUE_UNAVAILABLE', undefined, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

function parseJson(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Creates the producer: enqueues jobs, reports depth and waits for outcomes. */
export function createBullmqProducer(options: BullmqProducerOptions): BullmqProducer {
  const onError = options.onError ?? ignore
  const prefix = bullmqPrefix(options.prefix)
  const keepCompleted = options.keepCompleted ?? { ageSeconds: 3600, count: 10_000 }
  const keepFailed = options.keepFailed ?? { ageSeconds: 86_400, count: 10_000 }
  const operationTimeoutMs = options.operationTimeoutMs ?? 5_000
  const queue = new Queue<AppraisalJob, JobOutcome>(QUEUE_NAME, {
    connection: connectionOptions(options.connection, FAIL_FAST),
    prefix,
    defaultJobOptions: {
      attempts: options.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: 'exponential', delay: options.backoffDelayMs ?? DEFAULT_BACKOFF_DELAY_MS },
      removeOnComplete: { age: keepCompleted.ageSeconds, count: keepCompleted.count },
      removeOnFail: { age: keepFailed.ageSeconds, count: keepFailed.count },
    },
    streams: { events: { maxLen: options.eventsMaxLen ?? 10_000 } },
  })
  queue.on('error', onError)

  const waiters = new WaiterRegistry()
  let queueEvents: QueueEvents | undefined
  let subscription: Promise<void> | undefined
  let closed = false

  const client = () => queue.getBackend().client
  let connectedOnce = false
  client().then(
    () => {
      connectedOnce = true
    },
    ignore,
  )

  /**
   * Before the first connection, a command would wait for it (the offline queue is off only once
   * connected): wait at most FIRST_CONNECT_WAIT_MS, so Redis down at start is a 503 within a second.
   */
  async function connected(): Promise<void> {
    if (!connectedOnce) await withinTimeout(client(), Math.min(FIRST_CONNECT_WAIT_MS, operationTimeoutMs))
  }

  async function settleFailed(id: string): Promise<void> {
    try {
      const data = await (await client()).hget(queue.toKey(id), 'data')
      waiters.settle(id, failedOutcome(id, parseJson(data)))
    } catch (err) {
      onError(asError(err))
    }
  }

  function onCompleted({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }): void {
    if (!waiters.has(jobId)) return
    const outcome = parseOutcome(returnvalue)
    if (outcome !== undefined) waiters.settle(jobId, outcome)
    else void settleFailed(jobId)
  }

  function onFailed({ jobId }: { jobId: string }): void {
    if (waiters.has(jobId)) void settleFailed(jobId)
  }

  /**
   * Starts the one events subscription of this producer, reading from the stream's current tip
   * rather than from `$`: events written between now and the first blocking read are then still
   * delivered, so no job can finish unseen between a waiter's state check and the first read.
   */
  function subscribe(): Promise<void> {
    subscription ??= (async () => {
      const redis = await client()
      redis.defineCommand(EVENTS_TIP_COMMAND, { numberOfKeys: 1, lua: EVENTS_TIP_SCRIPT })
      const tip = String(await redis.runCommand(EVENTS_TIP_COMMAND, [queue.keys.events]))
      if (closed) return
      const events = new QueueEvents(QUEUE_NAME, {
        connection: connectionOptions(options.connection, { retryStrategy: reconnectDelay }),
        prefix,
        lastEventId: tip,
      })
      queueEvents = events
      events.on('error', onError)
      events.on('completed', onCompleted)
      events.on('failed', onFailed)
      await events.waitUntilReady()
    })().catch((err: unknown) => {
      // Start afresh on the next wait rather than leave a half-made subscription listening.
      void queueEvents?.close().catch(ignore)
      queueEvents = undefined
      subscription = undefined
      throw err
    })
    return subscription
  }

  /** Settles the waiters of `id` if the job finished before the subscription could see it. */
  async function checkFinished(id: string): Promise<void> {
    if (!waiters.has(id)) return
    try {
      const [finishedOn, returnvalue] = await (await client()).hmget(queue.toKey(id), 'finishedOn', 'returnvalue')
      if (finishedOn === null || finishedOn === undefined || !waiters.has(id)) return
      const outcome = parseOutcome(parseJson(returnvalue))
      if (outcome !== undefined) waiters.settle(id, outcome)
      else await settleFailed(id)
    } catch (err) {
      onError(asError(err))
    }
  }

  const producer: BullmqProducer = {
    get pendingWaiters() {
      return waiters.size
    },

    async enqueue(job: AppraisalJob): Promise<void> {
      if (closed) throw new VerifierError('ERR_QUEUE_UNAVAILABLE', 'queue producer is closed')
      const id: unknown = (job as { id?: unknown } | null)?.id
      if (!isRecordId(id)) {
        throw new VerifierError('ERR_QUEUE_JOB_INVALID', 'queue job id is not a valid record id')
      }
      await connected()
      // A job id that is already queued, running or kept after finishing is not added again.
      await withinTimeout(queue.add(JOB_NAME, job, { jobId: id }), operationTimeoutMs)
    },

    async depth(): Promise<number> {
      await connected()
      const counts = await withinTimeout(queue.getJobCounts(...UNFINISHED), operationTimeoutMs)
      return UNFINISHED.reduce((sum, type) => sum + (counts[type] ?? 0), 0)
    },

    async enqueueAndWait(job: AppraisalJob, timeoutMs: number): Promise<JobOutcome | undefined> {
      if (closed) throw new VerifierError('ERR_QUEUE_UNAVAILABLE', 'queue producer is closed')
      await connected()
      // The subscription is live before the job exists, so its finish cannot be missed: no state check.
      await withinTimeout(subscribe(), operationTimeoutMs)
      return waiters.enqueueAndWait(job.id, timeoutMs, () => producer.enqueue(job))
    },

    async state(id: string): Promise<QueueJobState | undefined> {
      await connected()
      const state = await withinTimeout(queue.getJobState(id), operationTimeoutMs)
      switch (state) {
        case 'completed':
          return 'complete'
        case 'failed':
          return 'failed'
        case 'active':
          return 'processing'
        case 'unknown':
          return undefined
        default:
          return 'queued'
      }
    },

    async waitFor(id: string, timeoutMs: number): Promise<JobOutcome | undefined> {
      if (closed) return undefined
      const pending = waiters.wait(id, timeoutMs)
      // The check runs once the subscription reads events, so a finish lands in one or the other.
      // Should the subscription fail (Redis down), the check may still settle the wait, or it times out.
      void subscribe().then(
        () => checkFinished(id),
        (err: unknown) => {
          onError(asError(err))
          return checkFinished(id)
        },
      )
      return pending
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      waiters.clear()
      // A subscription still starting sees `closed` and stops; one already started is closed here.
      await Promise.allSettled([queueEvents?.close(), queue.close()])
      // Without an offline queue, BullMQ's QUIT fails on a connection that is reconnecting and
      // leaves it trying forever with no error listener: end it for certain.
      if (connectedOnce) (await client()).disconnect()
    },
  }
  return producer
}

/** Creates the consumer: a BullMQ worker that runs the processor on each job. */
export function createBullmqConsumer(options: BullmqConsumerOptions): QueueConsumer {
  const onError = options.onError ?? ignore
  const prefix = bullmqPrefix(options.prefix)
  const closeGraceMs = options.closeGraceMs ?? 10_000
  let worker: Worker<unknown, JobOutcome> | undefined

  return {
    async start(processor: JobProcessor, startOptions: ConsumerStartOptions): Promise<void> {
      if (worker !== undefined) throw new Error('queue consumer is already started')
      if (!Number.isInteger(startOptions.concurrency) || startOptions.concurrency < 1) {
        throw new RangeError(`concurrency must be a positive integer, got ${startOptions.concurrency}`)
      }
      const fallbackSignal = new AbortController().signal
      // Three declared parameters: BullMQ passes the abort signal only to processors that take one.
      const { onFailed } = startOptions
      const outagePatienceMs = options.outagePatienceMs ?? 600_000
      const handle = async (job: Job<unknown, JobOutcome>, token?: string, signal?: AbortSignal) => {
        try {
          return await runJob(processor, job.id ?? '', job.data, signal ?? fallbackSignal)
        } catch (err) {
          if (isVerifierError(err, 'ERR_STORE_UNAVAILABLE') && Date.now() - job.timestamp < outagePatienceMs) {
            const delayed = await job
              .moveToDelayed(Date.now() + OUTAGE_RETRY_MS + Math.floor(Math.random() * OUTAGE_JITTER_MS), token)
              .then(() => true)
              .catch((moveErr: unknown) => {
                onError(asError(moveErr))
                return false
              })
            // Put back with its tries intact; BullMQ leaves a job alone after a DelayedError.
            if (delayed) throw new DelayedError()
          }
          const unrecoverable = isUnrecoverable(err)
          // `attemptsMade` counts the tries that ended before this one.
          const attemptsMade = job.attemptsMade + 1
          if (unrecoverable || attemptsMade >= (job.opts.attempts ?? 1)) {
            // Before BullMQ marks the job failed and tells the producers: what the handler stores is
            // there when a waiter looks.
            await onFailed?.({ jobId: job.id ?? '', data: job.data, error: err, attemptsMade }).catch(() => {})
          }
          if (unrecoverable) throw new UnrecoverableError(asError(err).message)
          throw asError(err)
        }
      }
      const created = new Worker<unknown, JobOutcome>(QUEUE_NAME, handle, {
        connection: connectionOptions(options.connection),
        prefix,
        concurrency: startOptions.concurrency,
        autorun: false,
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: options.stalledIntervalMs ?? 30_000,
        maxStalledCount: options.maxStalledCount ?? 1,
        drainDelay: options.drainDelaySeconds ?? 5,
      })
      created.on('error', onError)
      worker = created
      created.run().catch((err: unknown) => onError(asError(err)))
      await created.waitUntilReady()
    },

    async close(): Promise<void> {
      const current = worker
      if (current === undefined) return
      worker = undefined
      const grace = setTimeout(() => current.cancelAllJobs('queue consumer is closing'), closeGraceMs)
      try {
        await current.close()
      } finally {
        clearTimeout(grace)
      }
    },
  }
}
