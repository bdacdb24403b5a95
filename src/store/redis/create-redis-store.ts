/**
 * The Redis adapter of the store port (ioredis). Every operation is one round trip; the ones that
 * read and write together (session claim and finish, heartbeats) are Lua scripts, so they are atomic
 * without WATCH retries. Keys come from `../keys.ts` only.
 *
 * Errors: a failed Redis command becomes `VerifierError('ERR_STORE_UNAVAILABLE')` with the Redis error
 * as `cause`, and a value that does not decode becomes `ERR_STORE_CORRUPT`; nothing is retried here
 * (the queue retries faults). Bad arguments (tenant, id, TTL) throw `TypeError`.
 *
 * Capacity: every key has a TTL, and Redis itself bounds memory. Run it with `maxmemory` set and
 * `maxmemory-policy noeviction`: at the bound Redis refuses writes with an `OOM` error, which becomes
 * `ERR_STORE_FULL` (503 with `Retry-After`), and it never evicts a live nonce, session or result (an
 * evicting policy would, silently). `results.reserve` is a no-op here, so intake costs no extra round
 * trip: a worker's put refused by a full Redis is a fault, retried by the queue with backoff.
 */
import type { Redis } from 'ioredis'
import { VerifierError } from '../../errors/errors.js'
import { clientFromUrl } from './client.js'
import {
  assertFinalStatus,
  assertKeyPrefix,
  assertNewSession,
  assertTtlSeconds,
  assertWorkerId,
  heartbeatsKey,
  nonceKey,
  resultKey,
  sessionKey,
} from '../keys.js'
import { NONCE_RECALL_SECONDS, type AppraisalRecord, type HeartbeatStore, type NonceStore, type ResultStore, type SessionStore, type Store } from '../types.js'
import { decodeResult, decodeSession, encodeSession, fieldsFromFlatReply } from './codec.js'
import {
  BEAT_HEARTBEAT,
  CLAIM_SESSION,
  CONSUME_NONCE,
  COUNT_HEARTBEATS,
  FINISH_SESSION,
  SCRIPT_NAMES,
  UNCLAIM_SESSION,
} from './scripts.js'

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * An ioredis client, or a `redis://` / `rediss://` URL to create one from. A client created from a
   * URL fails a command after one reconnection attempt (`maxRetriesPerRequest: 1`) instead of
   * queueing it for long, so a request sees a 503 rather than a hang while Redis is down.
   */
  readonly redis: Redis | string
  /** First part of every key, `[A-Za-z0-9][A-Za-z0-9._-]{0,99}`; one Redis can serve several prefixes. */
  readonly prefix: string
  /**
   * Whether `close()` quits the client.
   * @defaultValue `true` when `redis` is a URL, `false` when it is a client (the caller closes it)
   */
  readonly ownsClient?: boolean
  /**
   * How long `ping()` waits for `PONG` before answering false.
   * @defaultValue 1000
   */
  readonly pingTimeoutMs?: number
  /**
   * Receives connection errors of a client created from a URL (ioredis emits them as events; without a
   * listener it prints them). Commands still fail with `ERR_STORE_UNAVAILABLE`.
   * @defaultValue ignore them
   */
  readonly onClientError?: (err: Error) => void
  /**
   * How long a nonce is remembered after its TTL, to tell `expired` and `used` from `unknown`.
   * @defaultValue NONCE_RECALL_SECONDS (300)
   */
  readonly nonceRecallSeconds?: number
}

/** The scripts `defineCommand` adds to the client, typed. */
interface ScriptCommands {
  [SCRIPT_NAMES.consumeNonce](key: string, appraisalId: string, recallMs: number): Promise<unknown>
  [SCRIPT_NAMES.claimSession](
    key: string,
    appraisalId: string,
    evidenceMediaType: string,
    evidenceDigest: string,
  ): Promise<unknown>
  [SCRIPT_NAMES.finishSession](key: string, status: string): Promise<unknown>
  [SCRIPT_NAMES.unclaimSession](key: string, appraisalId: string): Promise<unknown>
  [SCRIPT_NAMES.beatHeartbeat](key: string, workerId: string, ttlMs: number): Promise<unknown>
  [SCRIPT_NAMES.countHeartbeats](key: string): Promise<unknown>
}

const DEFAULT_PING_TIMEOUT_MS = 1000

/**
 * Creates the Redis store under `prefix`. Its Lua scripts are registered on the client with
 * `defineCommand` (no round trip; they are loaded on first use).
 */
export function createRedisStore(options: RedisStoreOptions): Store {
  const { prefix } = options
  assertKeyPrefix(prefix)
  const pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS
  const recallSeconds = options.nonceRecallSeconds ?? NONCE_RECALL_SECONDS
  if (!Number.isSafeInteger(recallSeconds) || recallSeconds < 0) throw new TypeError('nonceRecallSeconds must be a whole number of seconds')
  const fromUrl = typeof options.redis === 'string'
  const redis =
    typeof options.redis === 'string' ? clientFromUrl(options.redis, options.onClientError) : options.redis
  const ownsClient = options.ownsClient ?? fromUrl
  redis.defineCommand(SCRIPT_NAMES.consumeNonce, { numberOfKeys: 1, lua: CONSUME_NONCE })
  redis.defineCommand(SCRIPT_NAMES.claimSession, { numberOfKeys: 1, lua: CLAIM_SESSION })
  redis.defineCommand(SCRIPT_NAMES.finishSession, { numberOfKeys: 1, lua: FINISH_SESSION })
  redis.defineCommand(SCRIPT_NAMES.unclaimSession, { numberOfKeys: 1, lua: UNCLAIM_SESSION })
  redis.defineCommand(SCRIPT_NAMES.beatHeartbeat, { numberOfKeys: 1, lua: BEAT_HEARTBEAT })
  redis.defineCommand(SCRIPT_NAMES.countHeartbeats, { numberOfKeys: 1, lua: COUNT_HEARTBEATS })
  const scripts = redis as unknown as ScriptCommands

  // Once connected, a client that loses Redis would hold commands until it reconnects (one retry
  // each); while it is known to be down they fail at once instead, so a request gets its 503 now.
  let connectedOnce = redis.status === 'ready'
  redis.on('ready', () => {
    connectedOnce = true
  })
  const down = () => connectedOnce && redis.status !== 'ready'

  async function command<T>(op: () => Promise<T>): Promise<T> {
    if (down()) throw unavailable(`Redis connection is ${redis.status}`)
    try {
      return await op()
    } catch (err) {
      throw unavailable(err)
    }
  }

  const nonces: NonceStore = {
    async issue(tenant, nonce, ttlSeconds) {
      const key = nonceKey(prefix, tenant, nonce)
      assertTtlSeconds(ttlSeconds)
      // NX: re-issuing an outstanding nonce must not extend its life. The key outlives the nonce by
      // the recall time, so a late or replayed nonce is told apart from one never issued.
      await command(() => redis.set(key, 'i', 'EX', ttlSeconds + recallSeconds, 'NX'))
    },
    async consume(tenant, nonce, appraisalId) {
      const key = nonceKey(prefix, tenant, nonce)
      const use = await command(() => scripts[SCRIPT_NAMES.consumeNonce](key, appraisalId ?? '', recallSeconds * 1000))
      if (use === 'consumed' || use === 'used' || use === 'expired' || use === 'unknown') return use
      throw unavailable(new Error(`nonce script answered ${String(use)}`))
    },
  }

  const sessions: SessionStore = {
    async create(session) {
      assertNewSession(session)
      const key = sessionKey(prefix, session.tenant, session.id)
      // One transaction so the hash never exists without its TTL; PEXPIREAT in the past deletes it.
      const replies = await command(() =>
        redis.multi().unlink(key).hset(key, encodeSession(session)).pexpireat(key, session.expiresAt).exec(),
      )
      const failed = replies?.find(([err]) => err !== null)
      if (replies === null || failed !== undefined) throw unavailable(failed?.[0] ?? 'transaction aborted')
    },
    async get(tenant, id) {
      const key = sessionKey(prefix, tenant, id)
      return decodeSession(await command(() => redis.hgetall(key)), tenant, id)
    },
    async claim(tenant, id, submission) {
      const key = sessionKey(prefix, tenant, id)
      const { appraisalId, evidenceMediaType, evidenceDigest } = submission
      const reply = await command(() =>
        scripts[SCRIPT_NAMES.claimSession](key, appraisalId, evidenceMediaType, evidenceDigest),
      )
      return reply === null ? undefined : decodeSession(fieldsFromFlatReply(reply), tenant, id)
    },
    async unclaim(tenant, id, appraisalId) {
      const key = sessionKey(prefix, tenant, id)
      return (await command(() => scripts[SCRIPT_NAMES.unclaimSession](key, appraisalId))) === 1
    },
    async finish(tenant, id, status) {
      const key = sessionKey(prefix, tenant, id)
      assertFinalStatus(status)
      await command(() => scripts[SCRIPT_NAMES.finishSession](key, status))
    },
    async delete(tenant, id) {
      const key = sessionKey(prefix, tenant, id)
      return (await command(() => redis.unlink(key))) > 0
    },
  }

  const results: ResultStore = {
    async put(record, ttlSeconds) {
      const key = resultKey(prefix, record.tenant, record.id)
      assertTtlSeconds(ttlSeconds)
      const json = JSON.stringify(record)
      // NX: the first result of an appraisal wins. One round trip when it is the first, as it nearly always is.
      if ((await command(() => redis.set(key, json, 'EX', ttlSeconds, 'NX'))) === 'OK') return JSON.parse(json) as AppraisalRecord
      const stored = await command(() => redis.get(key))
      // Gone between the two commands (expired or deleted): nothing else holds this appraisal's place.
      if (stored === null) {
        await command(() => redis.set(key, json, 'EX', ttlSeconds))
        return JSON.parse(json) as AppraisalRecord
      }
      return decodeResult(stored, record.tenant, record.id)
    },
    async get(tenant, id): Promise<AppraisalRecord | undefined> {
      const key = resultKey(prefix, tenant, id)
      const json = await command(() => redis.get(key))
      return json === null ? undefined : decodeResult(json, tenant, id)
    },
    async reserve(tenant, id, bytes) {
      resultKey(prefix, tenant, id)
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new TypeError('bytes must be a non-negative integer')
    },
    async unreserve(tenant, id) {
      resultKey(prefix, tenant, id)
    },
  }

  const hbKey = heartbeatsKey(prefix)
  const heartbeats: HeartbeatStore = {
    async beat(workerId, ttlSeconds) {
      assertWorkerId(workerId)
      assertTtlSeconds(ttlSeconds)
      await command(() => scripts[SCRIPT_NAMES.beatHeartbeat](hbKey, workerId, ttlSeconds * 1000))
    },
    async end(workerId) {
      assertWorkerId(workerId)
      await command(() => redis.zrem(hbKey, workerId))
    },
    async live() {
      const count = await command(() => scripts[SCRIPT_NAMES.countHeartbeats](hbKey))
      if (typeof count !== 'number') {
        throw new VerifierError('ERR_STORE_CORRUPT', 'heartbeat count is not a number')
      }
      return count
    },
  }

  let closed = false
  return {
    nonces,
    sessions,
    results,
    heartbeats,
    async ping() {
      if (down()) return false
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), pingTimeoutMs)
      })
      try {
        const answer = redis.ping().then(
          (reply) => reply === 'PONG',
          () => false,
        )
        return await Promise.race([answer, timeout])
      } catch {
        return false
      } finally {
        clearTimeout(timer)
      }
    },
    async close() {
      if (!ownsClient || closed) return
      closed = true
      // QUIT on a client that is not connected would first try to connect (or wait to reconnect).
      if (redis.status !== 'ready') {
        redis.disconnect()
        return
      }
      try {
        await redis.quit()
      } catch {
        redis.disconnect()
      }
    },
  }
}



function unavailable(cause: unknown): VerifierError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  // `maxmemory` reached under `noeviction`: Redis is up and refuses to grow.
  // A transaction fails as EXECABORT; ioredis lists the errors of its commands in `previousErrors`.
  const previous = (cause as { previousErrors?: unknown } | null)?.previousErrors
  const reasons = [reason, ...(Array.isArray(previous) ? previous.map((e) => (e instanceof Error ? e.message : String(e))) : [])]
  if (reasons.some((text) => text.startsWith('OOM '))) return new VerifierError('ERR_STORE_FULL', `Redis is full: ${reason}`, { cause })
  return new VerifierError('ERR_STORE_UNAVAILABLE', `Redis command failed: ${reason}`, { cause })
}
