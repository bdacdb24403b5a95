/**
 * What both queue adapters do around a processor call, so they retry and fail alike: validate the
 * payload, call the processor, and reduce its return value to a small, valid `JobOutcome`.
 */
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { parseJob, parseOutcome } from './job-schema.js'
import type { JobOutcome, JobProcessor } from './types.js'

/** Tries per job, the first included: a thrown fault is retried until this many have failed. */
export const DEFAULT_ATTEMPTS = 3

/** Base of the exponential backoff between tries: 1 s, then 2 s, 4 s, … @defaultValue 1000 */
export const DEFAULT_BACKOFF_DELAY_MS = 1000

/** BullMQ's exponential backoff: the wait after the `attemptsMade`-th failed try. */
export function backoffDelayMs(attemptsMade: number, baseMs: number): number {
  return Math.round(2 ** Math.max(0, attemptsMade - 1) * baseMs)
}

/** Whether `err` means the job can never succeed, so retrying it is pointless. */
export function isUnrecoverable(err: unknown): boolean {
  return isVerifierError(err, 'ERR_QUEUE_JOB_INVALID')
}

/**
 * Runs `processor` on the raw payload of queue job `jobId`.
 *
 * @throws VerifierError `ERR_QUEUE_JOB_INVALID` when the payload is not an `AppraisalJob` for this
 *   job id (see {@link isUnrecoverable}); `ERR_VERIFIER_INTERNAL` when the processor returns
 *   something other than this job's outcome; and whatever the processor throws. Callers retry all
 *   but the first.
 */
export async function runJob(
  processor: JobProcessor,
  jobId: string,
  data: unknown,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const job = parseJob(data)
  if (job.id !== jobId) {
    throw new VerifierError('ERR_QUEUE_JOB_INVALID', 'queue job payload id differs from the queue job id')
  }
  const result: unknown = await processor(job, signal)
  // Only these fields travel back: the outcome is stored with the job and sent to every waiter.
  const r = result as JobOutcome
  const outcome =
    typeof result === 'object' && result !== null
      ? parseOutcome({
          id: r.id,
          tenant: r.tenant,
          status: r.status,
          ...(r.ear === undefined ? {} : { ear: r.ear }),
          ...(r.completedAt === undefined ? {} : { completedAt: r.completedAt }),
        })
      : undefined
  if (outcome === undefined || outcome.id !== job.id || outcome.tenant !== job.tenant) {
    throw new VerifierError('ERR_VERIFIER_INTERNAL', 'processor did not return the JobOutcome of its job')
  }
  return outcome
}
