/**
 * The wire shape of queue payloads, checked where they leave the queue. A job is data that crossed a
 * process boundary (Redis, or a JSON copy in the embedded queue), so a worker validates it before
 * use, and a producer's waiter validates an outcome before handing it on.
 */
import { z } from 'zod'
import { VerifierError } from '../errors/errors.js'
import { isRecordId, isTenantId } from '../store/keys.js'
import type { AppraisalJob, JobOutcome } from './types.js'

/** BullMQ refuses custom job ids that are integers, so an appraisal id must not be all digits. */
const ALL_DIGITS = /^[0-9]+$/
const MEDIA_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/

const recordId = z
  .string()
  .refine((id) => isRecordId(id) && !ALL_DIGITS.test(id), {
    message: 'must be [A-Za-z0-9][A-Za-z0-9._-]{0,127}, not digits only',
  })
const tenantId = z.string().refine(isTenantId, 'must be [a-z0-9][a-z0-9-]{0,62}')

/** `AppraisalJob` as a strict zod schema: unknown keys are errors. */
export const appraisalJobSchema = z
  .object({
    id: recordId,
    tenant: tenantId,
    mediaType: z.string().regex(MEDIA_TYPE, 'must be 1 to 255 printable ASCII characters'),
    evidence: z.base64().min(1),
    receivedAt: z.number().int().nonnegative(),
    sessionId: recordId.optional(),
    expectedNonce: z.base64().min(1).optional(),
    earProfile: z.enum(['ear-03', 'veraison']),
  })
  .strict()

/** `JobOutcome` as a strict zod schema. */
export const jobOutcomeSchema = z
  .object({
    id: recordId,
    tenant: tenantId,
    status: z.enum(['complete', 'failed']),
    ear: z.string().min(1).max(64 * 1024).optional(),
    completedAt: z.number().int().nonnegative().optional(),
  })
  .strict()

// Compile-time proof that the schemas and the port's interfaces describe the same shapes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const schemasMatchTypes: [
  Same<z.infer<typeof appraisalJobSchema>, AppraisalJob>,
  Same<z.infer<typeof jobOutcomeSchema>, JobOutcome>,
] = [true, true]
void schemasMatchTypes

/**
 * Validates a job payload taken from the queue.
 *
 * @throws VerifierError `ERR_QUEUE_JOB_INVALID` (a fault: the producer wrote something it should
 *   not have). Workers end such a job failed without retrying it. The message names the offending
 *   keys, never their values, which may be Evidence.
 */
export function parseJob(data: unknown): AppraisalJob {
  const parsed = appraisalJobSchema.safeParse(data)
  if (parsed.success) return parsed.data
  const where = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ')
  throw new VerifierError('ERR_QUEUE_JOB_INVALID', `queue job payload is not an AppraisalJob (${where})`, {
    cause: parsed.error,
  })
}

/** Validates a processor's return value; undefined when it is not a `JobOutcome`. */
export function parseOutcome(value: unknown): JobOutcome | undefined {
  const parsed = jobOutcomeSchema.safeParse(value)
  return parsed.success ? parsed.data : undefined
}

/**
 * The outcome reported for a job that ended failed. Its tenant is read from the raw payload when it
 * is a valid tenant id; a payload too broken to name one reports the empty string.
 */
export function failedOutcome(id: string, data: unknown): JobOutcome {
  const tenant =
    typeof data === 'object' && data !== null && 'tenant' in data && isTenantId(data.tenant) ? data.tenant : ''
  return { id, tenant, status: 'failed' }
}
