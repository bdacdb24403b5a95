/**
 * Audited stores (`src/store/audited.ts`) over the real in-memory endorsement, credential and audit
 * stores: each change appends one entry naming actor, action, document, version, source and digest;
 * a write that changes nothing appends nothing; a log that cannot be read refuses the change before
 * anything is written; an append that fails after the write answers ERR_AUDIT_UNAVAILABLE, and the
 * entry reaches `onUnaudited`.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateApiKey } from '../../../src/auth/api-keys.js'
import type { AuditEntry, AuditEntryInput } from '../../../src/audit/entry.js'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { auditEntries, type AuditStore } from '../../../src/store/audit.js'
import { auditedCredentialStore, auditedEndorsementStore } from '../../../src/store/audited.js'
import { createMemoryAuditStore } from '../../../src/store/memory/audit-store.js'
import { createMemoryCredentialStore } from '../../../src/store/memory/credential-store.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { createRedisAuditStore } from '../../../src/store/redis/audit-store.js'
import { createRedisEndorsementStore } from '../../../src/store/redis/endorsement-store.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { freePort } from '../../helpers/redis-server.js'
import { newKey } from '../audit/chain-helpers.js'

const TENANT = 'acme'
const key = newKey()
const signer = key.signer
const write = (body: unknown, createdBy = 'operator:alice') => ({
  kind: 'trust-anchor' as const,
  body: body as never,
  indexIds: ['psa-instance:0102'],
  createdBy,
  source: 'api',
})

async function all(store: AuditStore, tenant = TENANT): Promise<AuditEntry[]> {
  const out: AuditEntry[] = []
  for await (const e of auditEntries(store, tenant)) out.push(e)
  return out
}

function setup() {
  const audit = createMemoryAuditStore()
  const recorder = createAuditRecorder({ store: audit, signer: () => signer, everyEntries: 1000, everySeconds: 3600 })
  return { audit, recorder }
}

const changes = (entries: readonly AuditEntry[]) => entries.filter((e) => e.action !== 'audit.checkpoint')

describe('audited endorsement store', () => {
  it('appends one entry per change, with actor, action, document, version, source and digest; nothing for no change', async () => {
    const { audit, recorder } = setup()
    const store = auditedEndorsementStore(createMemoryEndorsementStore(), { recorder, audit })
    const v1 = await store.create(TENANT, 'ta-1', write({ a: 1 }))
    const v2 = await store.put(TENANT, 'ta-1', write({ a: 2 }, 'operator:bob'))
    assert.equal((await store.putIfChanged(TENANT, 'ta-1', write({ a: 2 }))).outcome, 'unchanged')
    await store.setActive(TENANT, 'ta-1', false, { createdBy: 'operator:carol', source: 'api' })
    await store.setActive(TENANT, 'ta-1', false, { createdBy: 'operator:carol', source: 'api' })
    await assert.rejects(store.create(TENANT, 'ta-1', write({ a: 3 })), (err) => isVerifierError(err) && err.code === 'ERR_ENDORSEMENT_CONFLICT')
    await store.delete(TENANT, 'ta-1', { createdBy: 'operator:dave', source: 'api' })
    assert.equal(await store.delete(TENANT, 'ta-1', { createdBy: 'operator:dave', source: 'api' }), undefined)
    const created = await store.putIfChanged(TENANT, 'rv-9', { ...write({ b: 1 }, 'file'), kind: 'reference-value', source: 'file:rv.json' })

    const entries = changes(await all(audit))
    assert.deepEqual(
      entries.map((e) => [e.actor, e.action, e.targets, e.outcome]),
      [
        ['operator:alice', 'trust-anchor.create', [{ type: 'trust-anchor', id: 'ta-1', version: 1 }], 'created'],
        ['operator:bob', 'trust-anchor.replace', [{ type: 'trust-anchor', id: 'ta-1', version: 2 }], 'replaced'],
        ['operator:carol', 'trust-anchor.deactivate', [{ type: 'trust-anchor', id: 'ta-1', version: 3 }], 'deactivated'],
        ['operator:dave', 'trust-anchor.delete', [{ type: 'trust-anchor', id: 'ta-1', version: 4 }], 'deleted'],
        ['file', 'reference-value.create', [{ type: 'reference-value', id: 'rv-9', version: 1 }], 'created'],
      ],
    )
    assert.deepEqual(entries[0]!.details, { source: 'api', digest: v1.digest, active: true })
    assert.equal(entries[1]!.details?.['digest'], v2.digest)
    assert.equal(entries[4]!.details?.['source'], 'file:rv.json')
    assert.equal(entries[4]!.details?.['digest'], created.version.digest)
    // The chain (with the checkpoint of the first entry) verifies.
    const report = verifyChain(TENANT, await all(audit), { jwks: key.jwks })
    assert.equal(report.problem, undefined)
    assert.equal(report.checkpoints, 1)
  })

  it('refuses the change before writing it when the audit log cannot be read', async () => {
    const { audit, recorder } = setup()
    const documents = createMemoryEndorsementStore()
    const store = auditedEndorsementStore(documents, { recorder, audit })
    await audit.close()
    await assert.rejects(store.create(TENANT, 'ta-1', write({ a: 1 })), (err) => isVerifierError(err) && err.code === 'ERR_STORE_UNAVAILABLE')
    assert.equal(await documents.get(TENANT, 'ta-1'), undefined, 'nothing was written')
  })

  it('answers ERR_AUDIT_UNAVAILABLE when the entry cannot be appended after the write, and hands the entry to onUnaudited', async () => {
    const { audit } = setup()
    const broken = createMemoryAuditStore()
    await broken.close()
    const recorder = createAuditRecorder({ store: broken, signer: () => signer })
    const unaudited: [string, AuditEntryInput][] = []
    const documents = createMemoryEndorsementStore()
    const store = auditedEndorsementStore(documents, { recorder, audit, onUnaudited: (tenant, entry) => unaudited.push([tenant, entry]) })
    await assert.rejects(store.create(TENANT, 'ta-1', write({ a: 1 })), (err) => isVerifierError(err) && err.code === 'ERR_AUDIT_UNAVAILABLE' && err.status === 503)
    assert.equal((await documents.get(TENANT, 'ta-1'))?.version, 1, 'the change stands')
    assert.deepEqual(unaudited.map(([t, e]) => [t, e.action, e.targets]), [[TENANT, 'trust-anchor.create', [{ type: 'trust-anchor', id: 'ta-1', version: 1 }]]])
  })
})

describe('audited credential store', () => {
  it('audits key creation and revocation once, never the key hash; a long actor is cut and kept whole in details', async () => {
    const { audit, recorder } = setup()
    const store = auditedCredentialStore(createMemoryCredentialStore(), { recorder, audit })
    const a = generateApiKey()
    const longActor = `oidc:https://issuer.example/#${'x'.repeat(400)}`
    await store.create({ keyId: a.keyId, tenant: TENANT, name: 'ci', roles: ['provisioner'], hash: a.hash, createdBy: longActor })
    const b = generateApiKey()
    await store.create({ keyId: b.keyId, tenant: TENANT, name: 'admin', roles: ['admin'], hash: b.hash, createdBy: 'bootstrap' })
    assert.equal(
      await store.create({ keyId: generateApiKey().keyId, tenant: TENANT, name: 'x', roles: ['admin'], hash: b.hash, createdBy: 'bootstrap' }, { unlessActiveRole: 'admin' }),
      undefined,
    )
    await store.revoke(TENANT, a.keyId, 'apikey:admin')
    await store.revoke(TENANT, a.keyId, 'apikey:admin')
    assert.equal(await store.revoke('other', b.keyId, 'apikey:admin'), undefined)

    const entries = changes(await all(audit))
    assert.deepEqual(
      entries.map((e) => [e.action, e.targets, e.outcome]),
      [
        ['credential.create', [{ type: 'credential', id: a.keyId }], 'created'],
        ['credential.create', [{ type: 'credential', id: b.keyId }], 'created'],
        ['credential.revoke', [{ type: 'credential', id: a.keyId }], 'revoked'],
      ],
    )
    assert.equal(entries[0]!.actor.length, 256)
    assert.ok(entries[0]!.actor.endsWith('…'))
    assert.equal(entries[0]!.details?.['actor'], longActor)
    assert.deepEqual(entries[0]!.details?.['roles'], ['provisioner'])
    assert.equal(entries[1]!.actor, 'bootstrap')
    assert.ok(!JSON.stringify(entries).includes(a.hash), 'no key hash in the log')
    assert.deepEqual(changes(await all(audit, 'other')), [])
  })

  it('refuses to create a key when the audit log cannot be read', async () => {
    const { audit, recorder } = setup()
    const keys = createMemoryCredentialStore()
    const store = auditedCredentialStore(keys, { recorder, audit })
    await audit.close()
    const a = generateApiKey()
    await assert.rejects(
      store.create({ keyId: a.keyId, tenant: TENANT, name: 'ci', roles: ['provisioner'], hash: a.hash, createdBy: 'bootstrap' }),
      (err) => isVerifierError(err) && err.code === 'ERR_STORE_UNAVAILABLE',
    )
    assert.equal(await keys.get(a.keyId), undefined)
  })
})

describe('audited endorsement store on Redis', () => {
  it('appends to the tenant stream; with the audit Redis unreachable, refuses the change and writes nothing', async () => {
    const prefix = `assay-test-audited-${randomUUID().slice(0, 8)}`
    const documents = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
    const audit = createRedisAuditStore({ redis: REDIS_URL, prefix })
    const dead = createRedisAuditStore({ redis: `redis://127.0.0.1:${await freePort()}`, prefix, onClientError: () => {} })
    try {
      const recorder = createAuditRecorder({ store: audit, signer: () => signer })
      const store = auditedEndorsementStore(documents, { recorder, audit })
      await store.create(TENANT, 'ta-1', write({ a: 1 }))
      const entries = await all(audit)
      assert.deepEqual(changes(entries).map((e) => [e.action, e.targets]), [['trust-anchor.create', [{ type: 'trust-anchor', id: 'ta-1', version: 1 }]]])
      assert.equal(verifyChain(TENANT, entries, { jwks: key.jwks }).problem, undefined)

      const unreachable = auditedEndorsementStore(documents, { recorder: createAuditRecorder({ store: dead, signer: () => signer }), audit: dead })
      await assert.rejects(unreachable.create(TENANT, 'ta-2', write({ a: 2 })), (err) => isVerifierError(err) && err.code === 'ERR_STORE_UNAVAILABLE')
      assert.equal(await documents.get(TENANT, 'ta-2'), undefined, 'nothing was written')
    } finally {
      await dead.close().catch(() => {})
      await audit.close()
      await documents.close()
      await deletePrefix(prefix)
    }
  })
})
