/**
 * The credential store contract: one suite every adapter of the port passes (memory in
 * `credentials-memory.test.ts`, Redis in `test/integration/store/credentials-redis.test.ts`). Each
 * test works in tenants of its own.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateApiKey } from '../../../src/auth/api-keys.js'
import type { Role } from '../../../src/auth/roles.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { MAX_KEY_NAME_LENGTH, type CredentialLimits, type CredentialStore, type NewApiKey } from '../../../src/store/credentials.js'

export interface CredentialHarness {
  /** A store with `limits` over this harness's backing data. */
  open(limits?: Partial<CredentialLimits>): Promise<CredentialStore>
  /** Whether two stores from `open` share their data (two processes on one Redis prefix). */
  readonly shared: boolean
  cleanup(): Promise<void>
}

export function newTenant(): string {
  return `t-${randomBytes(6).toString('hex')}`
}

export function newKey(tenant: string, roles: readonly Role[] = ['provisioner'], name = 'ci'): NewApiKey & { readonly key: string } {
  const { key, keyId, hash } = generateApiKey()
  return { key, keyId, tenant, name, roles, hash, createdBy: 'api-key:0123456789abcdef01234567' }
}

async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isVerifierError(err, code), `expected ${code}, got ${String(err)}`)
    return true
  })
}

function strip({ key: _key, ...rest }: NewApiKey & { readonly key: string }): NewApiKey {
  return rest
}

export function credentialContract(name: string, harness: () => Promise<CredentialHarness>): void {
  describe(`credential store contract: ${name}`, () => {
    let h: CredentialHarness
    let store: CredentialStore
    before(async () => {
      h = await harness()
      store = await h.open()
    })
    after(async () => {
      await store.close()
      await h.cleanup()
    })

    it('creates a key and finds it by key id, with its hash and never the key', async () => {
      const tenant = newTenant()
      const key = newKey(tenant, ['admin', 'provisioner'], 'deploy bot é')
      const before = Date.now()
      const created = await store.create(strip(key))
      assert.ok(created !== undefined)
      assert.deepEqual(created.roles, ['provisioner', 'admin'], 'roles in canonical order')
      assert.ok(created.createdAt >= before)
      const found = await store.get(key.keyId)
      assert.deepEqual(found, created)
      assert.equal(JSON.stringify(found).includes(key.key.slice(31)), false, 'the secret is not stored')
      assert.equal(await store.countActive(tenant), 1)
    })

    it('answers undefined for an unknown or malformed key id', async () => {
      assert.equal(await store.get(generateApiKey().keyId), undefined)
      assert.equal(await store.get('not-a-key-id'), undefined)
      assert.equal(await store.get('0123456789ABCDEF01234567'), undefined)
    })

    it('refuses records that break the bounds', async () => {
      const tenant = newTenant()
      const bad: [string, Partial<NewApiKey>][] = [
        ['empty name', { name: '' }],
        ['long name', { name: 'x'.repeat(MAX_KEY_NAME_LENGTH + 1) }],
        ['control character', { name: 'a\nb' }],
        ['no roles', { roles: [] }],
        ['unknown role', { roles: ['root' as Role] }],
        ['repeated role', { roles: ['admin', 'admin'] }],
        ['bad key id', { keyId: 'ABC' }],
        ['bad hash', { hash: 'z'.repeat(64) }],
        ['bad tenant', { tenant: 'Bad_Tenant' }],
        ['empty createdBy', { createdBy: '' }],
      ]
      for (const [what, change] of bad) {
        await assert.rejects(store.create({ ...strip(newKey(tenant)), ...change }), TypeError, what)
      }
      assert.equal(await store.countActive(tenant), 0)
      const ok = strip(newKey(tenant))
      await store.create(ok)
      await assert.rejects(store.create(ok), TypeError, 'a key id that exists')
    })

    it('lists a tenant\'s keys by key id, in pages, and no other tenant\'s', async () => {
      const tenant = newTenant()
      const other = newTenant()
      const ids: string[] = []
      for (let i = 0; i < 7; i++) {
        const key = newKey(tenant)
        ids.push(key.keyId)
        await store.create(strip(key))
      }
      await store.create(strip(newKey(other)))
      ids.sort()
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await store.list(tenant, { limit: 3, ...(cursor === undefined ? {} : { cursor }) })
        seen.push(...page.items.map((item) => item.keyId))
        assert.ok(page.items.every((item) => item.tenant === tenant))
        cursor = page.cursor
        pages++
      } while (cursor !== undefined)
      assert.deepEqual(seen, ids)
      assert.equal(pages, 3)
      assert.deepEqual((await store.list(newTenant())).items, [])
      await refusal(store.list(tenant, { cursor: 'e1.abc' }), 'ERR_PAGE_CURSOR_INVALID')
      await assert.rejects(store.list(tenant, { limit: 0 }), TypeError)
      await assert.rejects(store.list(tenant, { limit: 101 }), TypeError)
    })

    it('revokes a key of the tenant, keeps it with revokedAt, and is idempotent', async () => {
      const tenant = newTenant()
      const key = newKey(tenant)
      await store.create(strip(key))
      const revoked = await store.revoke(tenant, key.keyId, 'api-key:aaaaaaaaaaaaaaaaaaaaaaaa')
      assert.ok(revoked?.revokedAt !== undefined)
      assert.equal(revoked.revokedBy, 'api-key:aaaaaaaaaaaaaaaaaaaaaaaa')
      assert.deepEqual(await store.get(key.keyId), revoked)
      assert.deepEqual(await store.revoke(tenant, key.keyId, 'someone else'), revoked, 'a second revoke changes nothing')
      assert.equal(await store.countActive(tenant), 0)
      assert.equal((await store.list(tenant)).items[0]?.revokedAt, revoked.revokedAt)
    })

    it('does not revoke another tenant\'s key, nor an unknown one', async () => {
      const tenant = newTenant()
      const key = newKey(tenant)
      await store.create(strip(key))
      assert.equal(await store.revoke(newTenant(), key.keyId, 'intruder'), undefined)
      assert.equal((await store.get(key.keyId))?.revokedAt, undefined)
      assert.equal(await store.revoke(tenant, generateApiKey().keyId, 'x'), undefined)
      assert.equal(await store.revoke(tenant, 'nonsense', 'x'), undefined)
    })

    it('caps unrevoked keys per tenant; revoking makes room', async () => {
      const capped = await h.open({ maxActiveKeysPerTenant: 3 })
      try {
        const tenant = newTenant()
        const keys = [newKey(tenant), newKey(tenant), newKey(tenant)]
        for (const key of keys) await capped.create(strip(key))
        await refusal(capped.create(strip(newKey(tenant))), 'ERR_STORE_FULL')
        await capped.create(strip(newKey(newTenant())))
        await capped.revoke(tenant, keys[0]!.keyId, 'admin')
        await capped.create(strip(newKey(tenant)))
        assert.equal(await capped.countActive(tenant), 3)
      } finally {
        if (h.shared) await capped.close()
      }
    })

    it('forgets the keys revoked longest ago past the revoked bound', async () => {
      const bounded = await h.open({ maxRevokedKeysPerTenant: 2 })
      try {
        const tenant = newTenant()
        const keys = [newKey(tenant), newKey(tenant), newKey(tenant)]
        for (const key of keys) await bounded.create(strip(key))
        for (const key of keys) {
          await bounded.revoke(tenant, key.keyId, 'admin')
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
        assert.equal(await bounded.get(keys[0]!.keyId), undefined, 'the oldest revoked key is forgotten')
        assert.ok((await bounded.get(keys[1]!.keyId))?.revokedAt !== undefined)
        assert.ok((await bounded.get(keys[2]!.keyId))?.revokedAt !== undefined)
        assert.equal((await bounded.list(tenant)).items.length, 2)
      } finally {
        if (h.shared) await bounded.close()
      }
    })

    it('creates with unlessActiveRole only while the tenant has no unrevoked key with that role', async () => {
      const tenant = newTenant()
      await store.create(strip(newKey(tenant, ['provisioner'])))
      const first = newKey(tenant, ['admin'])
      assert.ok((await store.create(strip(first), { unlessActiveRole: 'admin' })) !== undefined)
      assert.equal(await store.create(strip(newKey(tenant, ['admin'])), { unlessActiveRole: 'admin' }), undefined)
      await store.revoke(tenant, first.keyId, 'admin')
      assert.ok((await store.create(strip(newKey(tenant, ['admin'])), { unlessActiveRole: 'admin' })) !== undefined)
    })

    it('of concurrent bootstrap creates, exactly one wins', async () => {
      // Two processes where the adapter can have them (Redis); otherwise concurrent calls on one store.
      const second = h.shared ? await h.open() : store
      try {
        const tenant = newTenant()
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : second).create(strip(newKey(tenant, ['admin'])), { unlessActiveRole: 'admin' })),
        )
        assert.equal(results.filter((r) => r !== undefined).length, 1)
        const seen = await second.get(results.find((r) => r !== undefined)!.keyId)
        assert.ok(seen !== undefined, 'the other store sees the key')
        assert.equal(await store.countActive(tenant), 1)
      } finally {
        if (second !== store) await second.close()
      }
    })
  })
}
