/**
 * The Redis adapter of the credential store port (`../credentials.ts`). Key layout: see
 * `keys.ts#credentialBase`; every credential key shares one hash tag, so each script below touches
 * keys of one slot.
 *
 * A create is one script: refuses an existing key id, checks `unlessActiveRole` and the tenant's cap
 * of unrevoked keys, then writes the record and its place in the tenant's set, all or nothing. A
 * revoke reads the record and writes its revoked form with a script that writes only if the record is
 * still the one read (else reads again), and in the same step forgets the keys revoked longest ago
 * past the tenant's bound. Reads are plain commands.
 *
 * Errors as in `create-redis-store.ts`: a failed command is `ERR_STORE_UNAVAILABLE` (`ERR_STORE_FULL`
 * at `maxmemory`), a stored value that does not decode is `ERR_STORE_CORRUPT`.
 */
import type { Redis } from 'ioredis'
import { clientFromUrl, unavailable } from './client.js'
import { isKeyId } from '../../auth/api-keys.js'
import { VerifierError } from '../../errors/errors.js'
import {
  DEFAULT_CREDENTIAL_LIMITS,
  checkActor,
  checkLimits,
  checkNewKey,
  credentialPageSize,
  decodeCredentialCursor,
  decodeKeyRecord,
  encodeCredentialCursor,
  type ApiKeyRecord,
  type CredentialLimits,
  type CredentialStore,
} from '../credentials.js'
import { assertTenantId, credentialBase } from '../keys.js'

export interface RedisCredentialStoreOptions {
  /** An ioredis client, or a `redis://` URL to create one from. */
  readonly redis: Redis | string
  /** First part of every key, as for `createRedisStore`. */
  readonly prefix: string
  /** Whether `close()` quits the client. @defaultValue `true` for a URL, `false` for a client */
  readonly ownsClient?: boolean
  /** @defaultValue DEFAULT_CREDENTIAL_LIMITS */
  readonly limits?: Partial<CredentialLimits>
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
  /** Receives connection errors of a client this store creates. @defaultValue ignore them */
  readonly onClientError?: (err: Error) => void
}

/**
 * KEYS[1] record `k:<id>`, KEYS[2] tenant ids, KEYS[3] tenant revoked ids. ARGV: record JSON, key id,
 * most unrevoked keys, role that must not be held by an unrevoked key ('' for none), base.
 * Returns 'exists', 'present' (the role is held), 'full' or 'ok'.
 */
const CREATE = `#!lua
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
if ARGV[4] ~= '' then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if not redis.call('ZSCORE', KEYS[3], id) then
      local text = redis.call('GET', ARGV[5] .. 'k:' .. id)
      if text then
        for _, role in ipairs(cjson.decode(text).roles or {}) do
          if role == ARGV[4] then return 'present' end
        end
      end
    end
  end
end
if redis.call('ZCARD', KEYS[2]) - redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return 'ok'`

/**
 * KEYS as CREATE. ARGV: the record JSON as read, its revoked form, key id, revokedAt, most revoked
 * keys kept, base. Returns 'stale' when the record changed since it was read, else 'ok'.
 */
const REVOKE = `#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'stale' end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[3])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    redis.call('DEL', ARGV[6] .. 'k:' .. id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return 'ok'`

interface Scripts {
  assayCredentialCreate(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<unknown>
  assayCredentialRevoke(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<unknown>
}

/** Tries of a revoke that loses a race before it gives up. */
const REVOKE_TRIES = 5

export function createRedisCredentialStore(options: RedisCredentialStoreOptions): CredentialStore {
  const base = credentialBase(options.prefix)
  const limits = checkLimits({ ...DEFAULT_CREDENTIAL_LIMITS, ...options.limits })
  const nowMs = options.nowMs ?? Date.now
  const redis = typeof options.redis === 'string' ? clientFromUrl(options.redis, options.onClientError ?? (() => {})) : options.redis
  const ownsClient = options.ownsClient ?? typeof options.redis === 'string'
  redis.defineCommand('assayCredentialCreate', { numberOfKeys: 3, lua: CREATE })
  redis.defineCommand('assayCredentialRevoke', { numberOfKeys: 3, lua: REVOKE })
  const scripts = redis as unknown as Scripts
  const keysOf = (keyId: string, tenant: string) => [`${base}k:${keyId}`, `${base}t:${tenant}:ids`, `${base}t:${tenant}:revoked`] as const

  async function command<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (err) {
      throw unavailable(err)
    }
  }

  let closed: Promise<void> | undefined
  return {
    async create(key, createOptions = {}) {
      const checked = checkNewKey(key)
      const record: ApiKeyRecord = { ...checked, createdAt: nowMs() }
      const [k1, k2, k3] = keysOf(checked.keyId, checked.tenant)
      const role = createOptions.unlessActiveRole ?? ''
      const outcome = await command(() =>
        scripts.assayCredentialCreate(k1, k2, k3, JSON.stringify(record), checked.keyId, limits.maxActiveKeysPerTenant, role, base),
      )
      if (outcome === 'exists') throw new TypeError(`key id ${checked.keyId} exists`)
      if (outcome === 'present') return undefined
      if (outcome === 'full') {
        throw new VerifierError('ERR_STORE_FULL', `tenant ${checked.tenant} holds as many API keys as it may (${limits.maxActiveKeysPerTenant})`)
      }
      return Object.freeze({ ...record, roles: Object.freeze([...record.roles]) })
    },
    async get(keyId) {
      if (!isKeyId(keyId)) return undefined
      const text = await command(() => redis.get(`${base}k:${keyId}`))
      return text === null ? undefined : decodeKeyRecord(text, keyId)
    },
    async list(tenant, listOptions = {}) {
      assertTenantId(tenant)
      const limit = credentialPageSize(listOptions.limit)
      const after = listOptions.cursor === undefined ? undefined : decodeCredentialCursor(listOptions.cursor)
      const ids = await command(() =>
        redis.zrangebylex(`${base}t:${tenant}:ids`, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1),
      )
      const page = ids.slice(0, limit)
      const texts = page.length === 0 ? [] : await command(() => redis.mget(...page.map((id) => `${base}k:${id}`)))
      const items: ApiKeyRecord[] = []
      // A key forgotten between the two reads (past the revoked bound) is left out.
      texts.forEach((text, i) => {
        if (text !== null) items.push(decodeKeyRecord(text, page[i]!))
      })
      return ids.length > limit ? { items, cursor: encodeCredentialCursor(page[limit - 1]!) } : { items }
    },
    async revoke(tenant, keyId, revokedBy) {
      assertTenantId(tenant)
      checkActor(revokedBy, 'revokedBy')
      if (!isKeyId(keyId)) return undefined
      for (let attempt = 0; attempt < REVOKE_TRIES; attempt++) {
        const text = await command(() => redis.get(`${base}k:${keyId}`))
        if (text === null) return undefined
        const old = decodeKeyRecord(text, keyId)
        if (old.tenant !== tenant) return undefined
        if (old.revokedAt !== undefined) return old
        const record: ApiKeyRecord = { ...old, revokedAt: nowMs(), revokedBy }
        const [k1, k2, k3] = keysOf(keyId, tenant)
        const outcome = await command(() =>
          scripts.assayCredentialRevoke(k1, k2, k3, text, JSON.stringify(record), keyId, record.revokedAt!, limits.maxRevokedKeysPerTenant, base),
        )
        if (outcome === 'ok') return Object.freeze(record)
      }
      throw new VerifierError('ERR_STORE_UNAVAILABLE', `API key ${keyId} changed concurrently ${REVOKE_TRIES} times while being revoked`)
    },
    async countActive(tenant) {
      assertTenantId(tenant)
      const [all, revoked] = await command(() =>
        Promise.all([redis.zcard(`${base}t:${tenant}:ids`), redis.zcard(`${base}t:${tenant}:revoked`)]),
      )
      return all - revoked
    },
    close() {
      closed ??= (async () => {
        if (ownsClient) await redis.quit().catch(() => redis.disconnect())
      })()
      return closed
    },
  }
}

