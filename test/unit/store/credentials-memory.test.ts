/**
 * The credential store contract against the in-memory adapter, plus its journal: a restart brings
 * keys and revocations back, a torn or corrupt line is survived, the directory is locked.
 */
import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import { CREDENTIAL_JOURNAL, createMemoryCredentialStore } from '../../../src/store/memory/credential-store.js'
import { credentialContract, newKey, newTenant } from './credential-contract.js'

credentialContract('memory', async () => ({
  open: async (limits) => createMemoryCredentialStore(limits === undefined ? {} : { limits }),
  shared: false,
  cleanup: async () => {},
}))

describe('memory credential store: the journal', () => {
  const dirs: string[] = []
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-cred-'))
    dirs.push(dir)
    return dir
  }
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
  const strip = ({ key: _key, ...rest }: ReturnType<typeof newKey>) => rest

  it('brings back keys, revocations and forgotten keys after a restart', async () => {
    const dataDir = newDir()
    const tenant = newTenant()
    const first = createMemoryCredentialStore({ dataDir, limits: { maxRevokedKeysPerTenant: 1 } })
    const a = newKey(tenant)
    const b = newKey(tenant, ['admin'])
    const c = newKey(tenant)
    for (const key of [a, b, c]) await first.create(strip(key))
    await first.revoke(tenant, a.keyId, 'admin')
    await first.revoke(tenant, b.keyId, 'admin')
    const listed = await first.list(tenant)
    await first.close()
    assert.equal(readFileSync(join(dataDir, CREDENTIAL_JOURNAL), 'utf8').includes(a.key), false, 'no key in the journal')

    const second = createMemoryCredentialStore({ dataDir, limits: { maxRevokedKeysPerTenant: 1 } })
    try {
      assert.deepEqual(await second.list(tenant), listed)
      assert.equal(await second.get(a.keyId), undefined)
      assert.equal(await second.countActive(tenant), 1)
      // The revoked order survived the restart: revoking c forgets b, not c.
      await second.revoke(tenant, c.keyId, 'admin')
      assert.equal(await second.get(b.keyId), undefined)
      assert.ok((await second.get(c.keyId))?.revokedAt !== undefined)
    } finally {
      await second.close()
    }
  })

  it('ignores a torn last line and moves a corrupt file aside, keeping what decodes', async () => {
    const dataDir = newDir()
    const tenant = newTenant()
    const first = createMemoryCredentialStore({ dataDir })
    const a = newKey(tenant)
    await first.create(strip(a))
    await first.close()
    const path = join(dataDir, CREDENTIAL_JOURNAL)
    appendFileSync(path, '{"put":{"keyId":"0123')
    const warnings: string[] = []
    const second = createMemoryCredentialStore({ dataDir, onWarning: (m) => warnings.push(m) })
    assert.ok((await second.get(a.keyId)) !== undefined)
    assert.match(warnings.join('\n'), /cut short/)
    await second.close()
    appendFileSync(path, '{"put":{"keyId":"0123456789abcdef01234567","tenant":"x"}}\n')
    warnings.length = 0
    const third = createMemoryCredentialStore({ dataDir, onWarning: (m) => warnings.push(m) })
    assert.ok((await third.get(a.keyId)) !== undefined)
    assert.match(warnings.join('\n'), /corrupt/)
    assert.ok(readdirSync(dataDir).some((name) => name.startsWith(`${CREDENTIAL_JOURNAL}.corrupt-`)))
    await third.close()
    const fourth = createMemoryCredentialStore({ dataDir, onWarning: (m) => warnings.push(m) })
    assert.ok((await fourth.get(a.keyId)) !== undefined)
    await fourth.close()
  })

  it('locks its directory while open', async () => {
    const dataDir = newDir()
    const first = createMemoryCredentialStore({ dataDir })
    assert.throws(() => createMemoryCredentialStore({ dataDir }), (err: unknown) => isVerifierError(err, 'ERR_STORE_LOCKED'))
    await first.close()
    assert.equal(existsSync(join(dataDir, 'LOCK')), false)
    await createMemoryCredentialStore({ dataDir }).close()
  })

  it('rewrites a journal of mostly superseded lines', async () => {
    const dataDir = newDir()
    const tenant = newTenant()
    const store = createMemoryCredentialStore({ dataDir, limits: { maxRevokedKeysPerTenant: 1 } })
    for (let i = 0; i < 200; i++) {
      const key = newKey(tenant)
      await store.create(strip(key))
      await store.revoke(tenant, key.keyId, 'admin')
    }
    await store.close()
    const lines = readFileSync(join(dataDir, CREDENTIAL_JOURNAL), 'utf8').split('\n').filter(Boolean).length
    assert.ok(lines < 300, `${lines} lines: the journal was rewritten`)
    const again = createMemoryCredentialStore({ dataDir })
    assert.equal((await again.list(tenant)).items.length, 1)
    await again.close()
  })
})
