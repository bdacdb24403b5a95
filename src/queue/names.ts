/**
 * Names shared by both queue adapters and every process that talks to the BullMQ queue: the queue
 * name, the job name and the Redis key prefix. Producers and workers must agree on all three.
 */
import { assertKeyPrefix } from '../store/keys.js'

/** BullMQ queue name of appraisal jobs. */
export const QUEUE_NAME = 'appraisals'

/** BullMQ job name of an appraisal job (one kind of job per queue). */
export const JOB_NAME = 'appraisal'

/**
 * The BullMQ `prefix` for Assay's configured Redis prefix: `{<prefix>}`. The braces are a Redis
 * Cluster hash tag, so every key BullMQ writes for the queue (`{assay}:appraisals:wait`, `…:events`,
 * one hash per job) hashes to the same slot, as BullMQ's Lua scripts require. The prefix follows the
 * store's rule (`[A-Za-z0-9][A-Za-z0-9._-]{0,99}`), so it never contains a brace of its own.
 *
 * @throws TypeError when `prefix` is not a valid key prefix (a programming or config error).
 */
export function bullmqPrefix(prefix: string): string {
  assertKeyPrefix(prefix)
  return `{${prefix}}`
}
