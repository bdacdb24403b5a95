/**
 * The credential store contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379), two
 * stores with their own connections on one prefix standing in for two processes; plus the key layout
 * (one hash tag) and a stored record that does not decode. Keys live under a prefix of this run and
 * are deleted afterwards.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { API_KEY_CACHE_MS, createAuthenticator } from '../../../src/auth/authenticate.js'
import { ensureBootstrapAdmin, issueApiKey } from '../../../src/auth/bootstrap.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { CredentialStore } from '../../../src/store/credentials.js'
import { credentialBase } from '../../../src/store/keys.js'
import { createRedisCredentialStore } from '../../../src/store/redis/credential-store.js'
import { REDIS_URL, deletePrefix } from '../../helpers/redis.js'
import { credentialContract, newKey, newTenant } from '../../unit/store/credential-contract.js'

const contractPrefix = `assay-test-${randomUUID()}`
credentialContract('redis', async () => ({
  open: async (limits) => createRedisCredentialStore({ redis: REDIS_URL, prefix: contractPrefix, ...(limits === undefined ? {} : { limits }) }),
  shared: true,
  cleanup: () => deletePrefix(contractPrefix),
}))

describe('redis credential store: layout and faults', () => {
  const prefix = `assay-test-${randomUUID()}`
  let admin: Redis
  let store: CredentialStore
  before(() => {
    admin = new Redis(REDIS_URL)
    store = createRedisCredentialStore({ redis: REDIS_URL, prefix })
  })
  after(async () => {
    await store.close()
    await deletePrefix(prefix)
    await admin.quit()
  })

  it('keeps every credential key under one hash tag, and no key text', async () => {
    const tenant = newTenant()
    const key = newKey(tenant)
    const { key: text, ...record } = key
    await store.create(record)
    await store.revoke(tenant, key.keyId, 'admin')
    const keys = await admin.keys(`${prefix}:*`)
    assert.deepEqual(keys.sort(), [`${credentialBase(prefix)}k:${key.keyId}`, `${credentialBase(prefix)}t:${tenant}:ids`, `${credentialBase(prefix)}t:${tenant}:revoked`].sort())
    assert.ok(keys.every((k) => k.startsWith(`${prefix}:{_credentials}:`)))
    const stored = await admin.get(`${credentialBase(prefix)}k:${key.keyId}`)
    assert.equal(stored!.includes(text.slice(31)), false)
  })

  it('reports a stored record that does not decode as ERR_STORE_CORRUPT', async () => {
    const key = newKey(newTenant())
    await admin.set(`${credentialBase(prefix)}k:${key.keyId}`, '{"keyId":"nope"}')
    await assert.rejects(store.get(key.keyId), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
  })

  it('a key made in one process authenticates in another at once; its revocation reaches it within the cache bound', async () => {
    const other = createRedisCredentialStore({ redis: REDIS_URL, prefix })
    try {
      let now = Date.now()
      const tenant = newTenant()
      const { key, record } = await issueApiKey(store, { tenant, name: 'ci', roles: ['attester'], createdBy: 'test' })
      const auth = createAuthenticator({ apiKeys: other, nowMs: () => now })
      assert.equal((await auth.authenticate(`Bearer ${key}`)).tenant, tenant)
      await store.revoke(tenant, record.keyId, 'test')
      now += API_KEY_CACHE_MS + 1
      await assert.rejects(auth.authenticate(`Bearer ${key}`), (err: unknown) => isVerifierError(err, 'ERR_AUTH_INVALID') && /revoked/.test((err as Error).message))
    } finally {
      await other.close()
    }
  })

  it('of processes starting at once, one makes the bootstrap admin key', async () => {
    const stores = [store, ...Array.from({ length: 3 }, () => createRedisCredentialStore({ redis: REDIS_URL, prefix }))]
    try {
      const tenant = newTenant()
      const made = await Promise.all(stores.map((s) => ensureBootstrapAdmin(s, tenant)))
      assert.equal(made.filter((m) => m !== undefined).length, 1)
      assert.equal(await store.countActive(tenant), 1)
    } finally {
      for (const s of stores.slice(1)) await s.close()
    }
  })

  it('reports an unreachable server as ERR_STORE_UNAVAILABLE', async () => {
    const down = createRedisCredentialStore({ redis: 'redis://127.0.0.1:1', prefix })
    try {
      await assert.rejects(down.get(newKey('t').keyId), (err: unknown) => isVerifierError(err, 'ERR_STORE_UNAVAILABLE'))
    } finally {
      await down.close()
    }
  })
})
