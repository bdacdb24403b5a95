/**
 * The Redis adapter of the submitter store (`../submitters.ts`): one string per submission,
 * `<prefix>:{<tenant>}:submitter:<id>`, written with its TTL in one `SET … EX`.
 */
import { Redis } from 'ioredis'
import { VerifierError } from '../../errors/errors.js'
import { recordKey } from '../keys.js'
import { checkSubmitter, type SubmitterStore } from '../submitters.js'

export interface RedisSubmitterStoreOptions {
  /** An ioredis client, or a `redis://` URL to create one from. */
  readonly redis: Redis | string
  readonly prefix: string
  /** Whether `close()` quits the client. @defaultValue `true` for a URL, `false` for a client */
  readonly ownsClient?: boolean
  readonly onClientError?: (err: Error) => void
}

export function createRedisSubmitterStore(options: RedisSubmitterStoreOptions): SubmitterStore {
  const redis =
    typeof options.redis === 'string'
      ? new Redis(options.redis, { maxRetriesPerRequest: 1 }).on('error', options.onClientError ?? (() => {}))
      : options.redis
  const ownsClient = options.ownsClient ?? typeof options.redis === 'string'
  let closed: Promise<void> | undefined
  return {
    async set(tenant, id, principalId, ttlSeconds) {
      checkSubmitter(tenant, id, principalId, ttlSeconds)
      try {
        await redis.set(recordKey(options.prefix, tenant, 'submitter', id), principalId, 'EX', ttlSeconds)
      } catch (err) {
        throw unavailable(err)
      }
    },
    async get(tenant, id) {
      try {
        return (await redis.get(recordKey(options.prefix, tenant, 'submitter', id))) ?? undefined
      } catch (err) {
        throw unavailable(err)
      }
    },
    close() {
      closed ??= ownsClient ? redis.quit().then(() => undefined, () => undefined) : Promise.resolve()
      return closed
    },
  }
}

function unavailable(cause: unknown): VerifierError {
  if (cause instanceof VerifierError || cause instanceof TypeError) return cause as VerifierError
  const reason = cause instanceof Error ? cause.message : String(cause)
  if (reason.startsWith('OOM ')) return new VerifierError('ERR_STORE_FULL', `Redis is full: ${reason}`, { cause })
  return new VerifierError('ERR_STORE_UNAVAILABLE', `Redis command failed: ${reason}`, { cause })
}
