/**
 * The queue port: the API enqueues appraisal jobs, workers process them. Two adapters implement it,
 * BullMQ on Redis (API and workers in separate processes) and an in-process queue with the same
 * semantics (embedded mode); both pass one contract suite (`test/unit/queue/contract.ts`).
 */
import type { TenantId } from '../store/types.js'

/** The job payload. Validated with zod when a worker takes it (`queue/job-schema.ts`). */
export interface AppraisalJob {
  /** Appraisal id (UUID); also the queue job id, so a resubmitted id is not queued twice. */
  readonly id: string
  readonly tenant: TenantId
  /** `Content-Type` of the Evidence as the client sent it. */
  readonly mediaType: string
  /** Base64 of the Evidence bytes. */
  readonly evidence: string
  /** Milliseconds since the epoch when the API accepted the Evidence. */
  readonly receivedAt: number
  /** Challenge/response session this Evidence answers; its nonce is the expected one. */
  readonly sessionId?: string
  /** Base64 of the nonce the Evidence must carry (session nonce); absent for native submissions. */
  readonly expectedNonce?: string
  /** EAR claim naming to sign with: draft-ietf-rats-ear-03 or Veraison's. */
  readonly earProfile: 'ear-03' | 'veraison'
}

/** What a processor returns for a job: it has already stored the record itself. */
export interface JobOutcome {
  readonly id: string
  readonly tenant: TenantId
  readonly status: 'complete' | 'failed'
  /**
   * The signed EAR of a complete appraisal (compact JWS, in the naming the job asked for), so a
   * waiting request can answer without reading the store.
   */
  readonly ear?: string
  /** Milliseconds since the epoch when the result was stored. */
  readonly completedAt?: number
}

/** Where a job is, as far as the queue knows. */
export type JobState = 'queued' | 'processing' | 'complete' | 'failed'

/**
 * Processes one job. Throwing a `VerifierError` of the `fault` family (or any non-Verifier error)
 * means "retry"; a job whose payload is invalid ends failed without retries. Bad Evidence never
 * throws: it completes with a negative result.
 */
export type JobProcessor = (job: AppraisalJob, signal: AbortSignal) => Promise<JobOutcome>

export interface QueueProducer {
  /** Enqueues a job; resolves when the queue has accepted it. */
  enqueue(job: AppraisalJob): Promise<void>
  /** Jobs waiting or active, for admission control and `/metrics`. */
  depth(): Promise<number>
  /**
   * Resolves with the outcome when job `id` finishes, or undefined after `timeoutMs`. One
   * subscription per process serves every waiter (no listener per call).
   */
  waitFor(id: string, timeoutMs: number): Promise<JobOutcome | undefined>
  /**
   * Registers a waiter, then enqueues: the hot path of a request that waits for its result. With
   * the waiter in place before the job exists, no finish can be missed, so no state check is needed.
   * Resolves with the outcome, or undefined after `timeoutMs`; rejects when the job cannot be queued.
   */
  enqueueAndWait(job: AppraisalJob, timeoutMs: number): Promise<JobOutcome | undefined>
  /** The state of job `id`, or undefined when the queue does not know it (any more). */
  state(id: string): Promise<JobState | undefined>
  close(): Promise<void>
}

/** A job that failed for good: its last try threw, or its payload is invalid. */
export interface JobFailure {
  readonly jobId: string
  /** The payload as the queue holds it: not validated (it may be why the job failed). */
  readonly data: unknown
  /** What the last try threw. */
  readonly error: unknown
  /** Tries made, the last included. */
  readonly attemptsMade: number
}

/**
 * Called once for each job that fails for good, before the queue marks it failed and before any
 * waiter hears of it, so what it stores (a `failed` record) is there when the waiter looks. What it
 * throws is ignored: it must log its own errors.
 */
export type JobFailureHandler = (failure: JobFailure) => Promise<void>

/** Options of {@link QueueConsumer.start}. */
export interface ConsumerStartOptions {
  /** Jobs in flight at once. */
  readonly concurrency: number
  /** Hears of every job that fails for good. @defaultValue none */
  readonly onFailed?: JobFailureHandler
}

export interface QueueConsumer {
  /** Starts taking jobs with `concurrency` in flight. */
  start(processor: JobProcessor, options: ConsumerStartOptions): Promise<void>
  /** Stops taking jobs and waits for the ones in flight to finish. */
  close(): Promise<void>
}
