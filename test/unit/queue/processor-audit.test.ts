/**
 * The processor's audit entries (issue 10): each appraisal is appended to the tenant's audit log
 * before its result is stored, with its id, outcome, per-submodule status, policy ids, Evidence
 * SHA-256 and the versions of the stored documents it used, and its EAR names the same versions
 * (`ear_assay_endorsements`). A change of a document shows as its new version in the next
 * appraisal. An append that fails fails the run, and no result is stored.
 */
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { AppraisalDeps } from '../../../src/appraisal/pipeline.js'
import { provisioningDocuments } from '../../../src/appraisal/provisioning-documents.js'
import { referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { openStoreEndorsements } from '../../../src/appraisal/store-endorsements.js'
import type { AuditEntry } from '../../../src/audit/entry.js'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { createProcessor, type AppraisalAuditor } from '../../../src/queue/processor.js'
import type { AppraisalJob } from '../../../src/queue/types.js'
import { verifyEarJwt } from '../../../src/results/verify.js'
import { signEarJwt } from '../../../src/results/sign.js'
import { auditEntries } from '../../../src/store/audit.js'
import { createMemoryAuditStore } from '../../../src/store/memory/audit-store.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'
import { readVector } from '../../helpers/vectors.js'
import { newKey } from '../audit/chain-helpers.js'

const TENANT = 'default'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = '00'.repeat(32)
const NONCE = new Uint8Array(32).fill(1)
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const iak = generateTestKey('ES256')
const key = newKey()
const signal = new AbortController().signal

function psaToken(): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, NONCE)
  return signSign1(iak, { payload: encodeCbor(claims) })
}

const document = referenceValueDocumentSchema.parse({
  psa: {
    trustAnchors: [{ instanceId: INSTANCE, key: iak.publicKey.keyObject.export({ format: 'jwk' }), implementationId: IMPL }],
    referenceValues: [{ implementationId: IMPL, softwareComponents: [{ measurementType: 'PRoT', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }] }],
  },
})

async function setup(audit: AppraisalAuditor | 'log') {
  const store = createMemoryStore()
  const documents = createMemoryEndorsementStore()
  for (const d of provisioningDocuments(document)) {
    await documents.putIfChanged(TENANT, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'test', source: 'api' })
  }
  const endorsements = await openStoreEndorsements({ store: documents, clock: systemClock })
  const log = createMemoryAuditStore()
  const recorder = createAuditRecorder({ store: log, signer: () => key.signer })
  const appraisal: AppraisalDeps = { registry: createDefaultRegistry(), endorsements, nonces: store.nonces, profiles: createDefaultProfiles(), clock: systemClock }
  const config = { earLifetimeSeconds: 3600, resultTtlSeconds: 3600, verifierDeveloper: 'test', verifierBuild: 'test', includeRawEvidence: false }
  const processor = createProcessor({
    store,
    appraisal,
    signEar: (outcome, naming) => signEarJwt(outcome, key.signer, naming).token,
    config,
    clock: systemClock,
    audit: audit === 'log' ? { actor: 'worker:test', record: (tenant, entry) => recorder.record(tenant, entry) } : audit,
  })
  const entries = async () => {
    const out: AuditEntry[] = []
    for await (const e of auditEntries(log, TENANT)) if (e.action === 'appraisal') out.push(e)
    return out
  }
  return { store, documents, processor, entries, close: () => endorsements.close() }
}

function job(token: Uint8Array): AppraisalJob {
  return {
    id: randomUUID(),
    tenant: TENANT,
    mediaType: PSA_TFM,
    evidence: Buffer.from(token).toString('base64'),
    expectedNonce: Buffer.from(NONCE).toString('base64'),
    receivedAt: Date.now(),
    earProfile: 'ear-03',
  }
}

describe('processor: appraisals in the audit log', () => {
  it('appends the appraisal with its Evidence digest and the document versions used, which its EAR names too', async () => {
    const { documents, processor, entries, close } = await setup('log')
    try {
      const token = psaToken()
      const first = job(token)
      const done = await processor(first, signal)
      const ear = (await verifyEarJwt(done.ear!, key.jwks, { clock: systemClock })).claims
      const ids = provisioningDocuments(document).map((d) => d.id).sort()
      assert.deepEqual(ear.endorsements, ids.map((id) => `${id}@1`))
      assert.equal(ear.submods.get('PSA')?.status, 'affirming')

      const [entry] = await entries()
      assert.ok(entry !== undefined)
      assert.equal(entry.actor, 'worker:test')
      assert.equal(entry.outcome, 'affirming')
      assert.equal(entry.evidenceDigest, createHash('sha256').update(token).digest('hex'))
      assert.deepEqual(entry.targets?.[0], { type: 'appraisal', id: first.id })
      assert.deepEqual(entry.targets?.slice(1).map((t) => `${t.id}@${t.version}`), ear.endorsements)
      assert.deepEqual(entry.targets?.slice(1).map((t) => t.type).sort(), ['reference-value', 'trust-anchor'])
      assert.deepEqual(entry.details?.['submods'], [{ name: 'PSA', status: 'affirming' }])
      assert.deepEqual(entry.details?.['policyIds'], ear.submods.get('PSA')?.policyIds)

      // A new version of the trust anchor (deactivated, then active again): the next appraisal names it.
      const anchor = provisioningDocuments(document).find((d) => d.kind === 'trust-anchor')!
      await documents.setActive(TENANT, anchor.id, false, { createdBy: 'op', source: 'api' })
      await documents.setActive(TENANT, anchor.id, true, { createdBy: 'op', source: 'api' })
      const second = await processor(job(token), signal)
      const ear2 = (await verifyEarJwt(second.ear!, key.jwks, { clock: systemClock })).claims
      assert.ok(ear2.endorsements?.includes(`${anchor.id}@3`), JSON.stringify(ear2.endorsements))
      const [, entry2] = await entries()
      assert.deepEqual(entry2?.targets?.slice(1).map((t) => `${t.id}@${t.version}`), ear2.endorsements)
    } finally {
      await close()
    }
  })

  it('fails the run and stores no result when the entry cannot be appended', async () => {
    const { store, processor, close } = await setup({
      actor: 'worker:test',
      record: () => Promise.reject(new Error('audit log down')),
    })
    try {
      const j = job(psaToken())
      await assert.rejects(processor(j, signal), /audit log down/)
      assert.equal(await store.results.get(TENANT, j.id), undefined)
    } finally {
      await close()
    }
  })
})
