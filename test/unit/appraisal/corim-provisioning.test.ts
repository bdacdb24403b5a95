/**
 * CoRIM provisioning (appraisal/corim-provisioning.ts) on the embedded endorsement store: what a
 * CoRIM becomes (the JSON-form documents, with provenance and validity), idempotent re-submission,
 * a higher tag-version superseding, stale and conflicting tags refused with nothing written, entries
 * of other sources left alone, what no appraisal reads refused by name, the signer rules (keys and
 * x5chain anchors provisioned for the tenant), and validity honoured by the appraisal at its clock.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { corimTagIndexId, provisionCorim, type CorimProvisioningOptions } from '../../../src/appraisal/corim-provisioning.js'
import { decodeProvisioningDocument, provisioningDocuments } from '../../../src/appraisal/provisioning-documents.js'
import { appraisePsa } from '../../../src/appraisal/psa.js'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { provisionFromFiles } from '../../../src/appraisal/file-provisioning.js'
import { addReferenceValueDocument, referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { openStoreEndorsements } from '../../../src/appraisal/store-endorsements.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { importCertificateKey } from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { EndorsementStore } from '../../../src/store/endorsements.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { fromHex, toHex } from '../../../src/util/bytes.js'
import type { Clock } from '../../../src/util/clock.js'
import {
  DIGEST,
  IMPL_ID,
  INSTANCE_ID,
  PSA,
  SIGNER_ID,
  comidMap,
  corimBytes,
  corimMeta,
  map,
  pemOf,
  psaClass,
  psaComponent,
  signCorim,
  tag,
  type CborIn,
} from '../../helpers/corim.js'
import { generateTestKey, rfc9783Iak, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki, NOW as PKI_NOW } from '../../helpers/pki.js'
import { readVector } from '../../helpers/vectors.js'

const TENANT = 'default'
const NOW = 1_800_000_000
const OTHER_INSTANCE = fromHex(`01${'aa'.repeat(32)}`)
const iak = generateTestKey('ES256')
const other = generateTestKey('ES256')

const opts = (extra: Partial<CorimProvisioningOptions> = {}): CorimProvisioningOptions => ({
  createdBy: 'operator-token:test',
  nowSeconds: NOW,
  acceptUnsigned: true,
  ...extra,
})

const attestKey = (instance: Uint8Array, key: TestKeyPair) => [map([0, psaClass()], [1, tag(550, instance)]), [tag(554, pemOf(key))]]

/** A PSA CoRIM of one tag (TAG_ID) at `version`, with attest keys for `instances` and the BL component. */
function psaCorim(options: { version?: number; instances?: Uint8Array[]; component?: Map<number | string, CborIn>; extra?: [number, CborIn][] } = {}) {
  const instances = options.instances ?? [INSTANCE_ID]
  const triples = map([0, [[map([0, psaClass()]), [options.component ?? psaComponent()]]]], [3, instances.map((i) => attestKey(i, iak))])
  return corimBytes([comidMap(triples, [], options.version)], options.extra ?? [], PSA)
}

async function rejects(p: Promise<unknown>, code: ErrorCode, includes?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isVerifierError(e), String(e))
    assert.equal(e.code, code, e.message)
    if (includes !== undefined) assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`)
    return true
  })
}

/** The RFC 9783 example claims for `instance`/IMPL_ID with the BL component of the helper CoRIM, signed by `key`. */
function psaToken(key: TestKeyPair, nonce: Uint8Array, instance: Uint8Array = INSTANCE_ID): Uint8Array {
  const vector = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
  const outer = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  claims.set(256, instance)
  claims.set(2396, IMPL_ID)
  claims.set(2399, [new Map<number, EncodableValue>([[1, 'BL'], [2, DIGEST], [4, '1.2.0'], [5, SIGNER_ID]])])
  return signSign1(key, { payload: encodeCbor(claims) })
}

async function provisionKey(store: EndorsementStore, doc: unknown): Promise<void> {
  for (const d of provisioningDocuments(referenceValueDocumentSchema.parse(doc))) {
    await store.create(TENANT, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'test', source: 'api' })
  }
}

describe('CoRIM provisioning', () => {
  const stores: EndorsementStore[] = []
  const fresh = () => {
    const store = createMemoryEndorsementStore()
    stores.push(store)
    return store
  }
  after(async () => {
    for (const s of stores) await s.close()
  })

  it('writes a PSA CoRIM as the JSON-form documents, with provenance, source and the tag index id', async () => {
    const store = fresh()
    const report = await provisionCorim(store, TENANT, psaCorim(), opts())
    const tagId = '43bbe37f-2e61-4b33-aed3-53cff1428b16'
    assert.equal(report.corimId, 'test-corim')
    assert.equal(report.profile, PSA)
    assert.deepEqual(report.tags, [{ tagId, tagVersion: 0, outcome: 'new' }])
    assert.deepEqual(
      report.documents.map((d) => [d.id, d.section, d.outcome, d.version]),
      [
        [`psa-ta-${toHex(INSTANCE_ID)}`, 'psa.trustAnchors', 'created', 1],
        [`psa-rv-${toHex(IMPL_ID)}`, 'psa.referenceValues', 'created', 1],
      ],
    )
    const anchor = (await store.get(TENANT, `psa-ta-${toHex(INSTANCE_ID)}`))!
    assert.equal(anchor.source, `corim:test-corim#${tagId}@0`)
    assert.equal(anchor.createdBy, 'operator-token:test')
    assert.ok(anchor.indexIds.includes(corimTagIndexId(tagId)))
    assert.ok(anchor.indexIds.includes(`psa-instance:${toHex(INSTANCE_ID)}`))
    const body = anchor.body as Record<string, unknown>
    assert.equal(body['key'], pemOf(iak))
    assert.equal(body['implementationId'], toHex(IMPL_ID))
    assert.deepEqual(body['corim'], { corimId: 'test-corim', tagId, tagVersion: 0, tagDigest: (body['corim'] as { tagDigest: string }).tagDigest, profile: PSA })
    assert.equal(body['validity'], undefined)
    const rv = (await store.get(TENANT, `psa-rv-${toHex(IMPL_ID)}`))!.body as Record<string, unknown>
    assert.deepEqual(rv['softwareComponents'], [{ measurementType: 'BL', measurementValue: toHex(DIGEST), signerId: toHex(SIGNER_ID), version: '1.2.0' }])
  })

  it('writes an EAT class CoRIM as eat.ueidKeys and eat.referenceValues documents that decode as file entries do', async () => {
    const store = fresh()
    const hwmodel = Uint8Array.of(0xab, 0xcd)
    const ueid = Uint8Array.of(1, ...new Uint8Array(16).fill(5))
    const cls = map([0, tag(560, hwmodel)], [1, '64242'])
    const triples = map(
      [0, [[map([0, cls]), [map([0, 'fw'], [1, map([0, map([0, '1.2'])])]), map([0, 'eat.measurements'], [1, map([2, [[1, DIGEST]]])])]]]],
      [3, [[map([0, cls], [1, tag(550, ueid)]), [tag(554, pemOf(other))]]]],
    )
    const report = await provisionCorim(store, TENANT, corimBytes([comidMap(triples)], [], 'tag:assay-verifier.dev,2026:corim/eat-class#1'), opts())
    assert.deepEqual(
      report.documents.map((d) => [d.id, d.section]),
      [
        [`eat-ueid-${toHex(ueid)}`, 'eat.ueidKeys'],
        ['eat-rv-pen.64242-abcd', 'eat.referenceValues'],
      ],
    )
    const key = (await store.get(TENANT, `eat-ueid-${toHex(ueid)}`))!
    assert.deepEqual((key.body as Record<string, unknown>)['speaksFor'], { classes: [{ oemid: 64242, hwmodel: 'abcd' }] })
    const decodedKey = decodeProvisioningDocument(TENANT, 'eat.ueidKeys', key.body, 'x')
    assert.equal(decodedKey.eatKeys(TENANT).byUeid(ueid)?.key.spkiSha256, other.publicKey.spkiSha256)
    const rv = (await store.get(TENANT, 'eat-rv-pen.64242-abcd'))!
    const values = decodeProvisioningDocument(TENANT, 'eat.referenceValues', rv.body, 'x').eatReferenceValues(TENANT, 'pen:64242', 'abcd')!
    assert.deepEqual([...values.software], [['fw', new Set(['1.2'])]])
    assert.deepEqual([...values.measurementDigests], [toHex(DIGEST)])
  })

  it('the same CoRIM again changes nothing: every document unchanged, no new version, no revision', async () => {
    const store = fresh()
    await provisionCorim(store, TENANT, psaCorim(), opts())
    const revision = await store.revision(TENANT)
    const again = await provisionCorim(store, TENANT, psaCorim(), opts({ createdBy: 'someone-else' }))
    assert.deepEqual(again.tags.map((t) => t.outcome), ['unchanged'])
    assert.deepEqual(again.documents.map((d) => [d.outcome, d.version]), [
      ['unchanged', 1],
      ['unchanged', 1],
    ])
    assert.equal(await store.revision(TENANT), revision)
  })

  it('a higher tag-version supersedes: new entries written, entries it no longer provides deleted', async () => {
    const store = fresh()
    await provisionCorim(store, TENANT, psaCorim({ instances: [INSTANCE_ID, OTHER_INSTANCE] }), opts())
    const report = await provisionCorim(store, TENANT, psaCorim({ version: 1 }), opts())
    assert.deepEqual(report.tags.map((t) => [t.outcome, t.tagVersion, t.supersededVersion]), [['supersedes', 1, 0]])
    assert.deepEqual(
      report.documents.map((d) => [d.id, d.outcome, d.version]),
      [
        [`psa-ta-${toHex(INSTANCE_ID)}`, 'replaced', 2],
        [`psa-rv-${toHex(IMPL_ID)}`, 'replaced', 2],
        [`psa-ta-${toHex(OTHER_INSTANCE)}`, 'deleted', 2],
      ],
    )
    assert.equal((await store.get(TENANT, `psa-ta-${toHex(OTHER_INSTANCE)}`))?.deleted, true)
    // An entry the operator deactivated stays inactive through a newer version.
    await store.setActive(TENANT, `psa-rv-${toHex(IMPL_ID)}`, false, { createdBy: 'operator', source: 'api' })
    await provisionCorim(store, TENANT, psaCorim({ version: 2 }), opts())
    assert.deepEqual(
      [(await store.get(TENANT, `psa-rv-${toHex(IMPL_ID)}`))!.active, (await store.get(TENANT, `psa-ta-${toHex(INSTANCE_ID)}`))!.active],
      [false, true],
    )
    assert.match((await store.get(TENANT, `psa-ta-${toHex(INSTANCE_ID)}`))!.source, /@2$/)
    assert.deepEqual((await store.lookup(TENANT, `psa-instance:${toHex(OTHER_INSTANCE)}`)).length, 0)
  })

  it('a lower tag-version is refused as stale and the same version with other bytes as a conflict; nothing is written', async () => {
    const store = fresh()
    await provisionCorim(store, TENANT, psaCorim({ version: 2 }), opts())
    const revision = await store.revision(TENANT)
    await rejects(provisionCorim(store, TENANT, psaCorim({ version: 1 }), opts()), 'ERR_CORIM_STALE', 'older than its provisioned version 2')
    const changed = psaCorim({ version: 2, component: psaComponent({ mval: map([2, [[1, new Uint8Array(32).fill(9)]]], [13, [tag(560, SIGNER_ID)]]) }) })
    await rejects(provisionCorim(store, TENANT, changed, opts()), 'ERR_CORIM_CONFLICT', 'needs a higher tag-version')
    assert.equal(await store.revision(TENANT), revision)
  })

  it('an entry another source provisioned is not taken over; nothing is written', async () => {
    const store = fresh()
    await provisionKey(store, {
      psa: { trustAnchors: [{ instanceId: toHex(INSTANCE_ID), key: pemOf(other), implementationId: toHex(IMPL_ID) }] },
    })
    const revision = await store.revision(TENANT)
    await rejects(provisionCorim(store, TENANT, psaCorim(), opts()), 'ERR_CORIM_CONFLICT', `psa-ta-${toHex(INSTANCE_ID)} is provisioned by api`)
    assert.equal(await store.revision(TENANT), revision)
    assert.equal((await store.lookup(TENANT, `psa-impl:${toHex(IMPL_ID)}`)).length, 0)
  })

  it('refuses what no appraisal reads, by name: reference triples of a CoRIM without a profile', async () => {
    const store = fresh()
    const generic = corimBytes([comidMap(map([0, [[map([0, psaClass()]), [psaComponent()]]]]))])
    await rejects(provisionCorim(store, TENANT, generic, opts()), 'ERR_CORIM_UNSUPPORTED', '1 reference-triples')
    assert.equal(await store.revision(TENANT), 0)
  })

  it('refuses a published key outside test mode, takes it in test mode', async () => {
    const store = fresh()
    const published = corimBytes([comidMap(map([3, [attestKey(INSTANCE_ID, rfc9783Iak())]]))], [], PSA)
    await rejects(provisionCorim(store, TENANT, published, opts()), 'ERR_CORIM_UNSUPPORTED', 'private key of this key is published')
    const report = await provisionCorim(store, TENANT, published, opts({ allowPublishedKeys: true }))
    assert.equal(report.documents.length, 1)
  })

  it('checks the declared media type form and profile against the CoRIM', async () => {
    const store = fresh()
    await rejects(provisionCorim(store, TENANT, psaCorim(), opts({ form: 'signed' })), 'ERR_CORIM_MALFORMED', 'application/rim+cose')
    await rejects(provisionCorim(store, TENANT, psaCorim(), opts({ profile: 'http://arm.com/psa/iot/1' })), 'ERR_CORIM_MALFORMED', 'declares "tag:arm.com')
    await rejects(provisionCorim(store, TENANT, psaCorim(), opts({ acceptUnsigned: false })), 'ERR_CORIM_SIGNATURE', 'unsigned CoRIM refused')
    assert.equal((await provisionCorim(store, TENANT, psaCorim(), opts({ form: 'unsigned', profile: PSA }))).documents.length, 2)
  })

  it('a signed CoRIM is refused without a provisioning key of the tenant and taken with one', async () => {
    const store = fresh()
    const signer = generateTestKey('ES256')
    const signed = signCorim(signer, { payload: psaCorim(), meta: corimMeta(NOW - 100, NOW + 100) })
    await rejects(provisionCorim(store, TENANT, signed, opts()), 'ERR_CORIM_SIGNATURE', 'no trusted key')
    await provisionKey(store, { provisioning: { keys: [{ key: pemOf(other) }] } })
    await rejects(provisionCorim(store, TENANT, signed, opts()), 'ERR_CORIM_SIGNATURE', 'does not verify')
    await provisionKey(store, { provisioning: { keys: [{ key: signer.publicKey.keyObject.export({ format: 'jwk' }) }] } })
    const report = await provisionCorim(store, TENANT, signed, opts({ form: 'signed' }))
    assert.deepEqual(report.signer, { name: 'ACME', keySha256: signer.publicKey.spkiSha256 })
    assert.deepEqual(report.validity, { notBefore: NOW - 100, notAfter: NOW + 100 })
    const body = (await store.get(TENANT, `psa-ta-${toHex(INSTANCE_ID)}`))!.body as Record<string, Record<string, unknown>>
    assert.equal(body['corim']!['signerKey'], signer.publicKey.spkiSha256)
    assert.deepEqual(body['validity'], { notBefore: NOW - 100, notAfter: NOW + 100 })
    // Another tenant's provisioning key does not sign for this one.
    await rejects(provisionCorim(store, 'acme', signed, opts()), 'ERR_CORIM_SIGNATURE')
  })

  it('a signed CoRIM with a protected x5chain is taken when it chains to a provisioning anchor of the tenant', async () => {
    const store = fresh()
    const pki = await buildPki()
    const leafSigner = { ...generateTestKey('ES256'), privateKey: pki.leaf.privateKey, publicKey: importCertificateKey(pki.leaf.der) }
    const signed = signCorim(leafSigner, { payload: psaCorim(), meta: corimMeta(PKI_NOW - 100, PKI_NOW + 100), extraProtected: [[33, pki.chain as CborIn]] })
    const at = opts({ nowSeconds: PKI_NOW })
    await rejects(provisionCorim(store, TENANT, signed, at), 'ERR_CORIM_SIGNATURE', 'no certificate roots')
    const otherPki = await buildPki()
    const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`
    await provisionKey(store, { provisioning: { x509Anchors: [{ certificate: pem(otherPki.root.der) }] } })
    await rejects(provisionCorim(store, TENANT, signed, at), 'ERR_CORIM_SIGNATURE', 'x5chain is not trusted')
    await provisionKey(store, { provisioning: { x509Anchors: [{ certificate: pem(pki.root.der) }] } })
    const report = await provisionCorim(store, TENANT, signed, at)
    assert.equal(report.signer?.keySha256, leafSigner.publicKey.spkiSha256)
    const id = `prov-ca-${createHash('sha256').update(pki.root.der).digest('hex')}`
    assert.equal((await store.get(TENANT, id))?.kind, 'trust-anchor')
  })

  it('the provisioning section is checked as the rest of the JSON form; a stored validity must be well-formed', () => {
    const refused = (doc: unknown, includes: string) =>
      assert.throws(
        () => addReferenceValueDocument(new MemoryEndorsements(), doc, 'f.json'),
        (e: unknown) => isVerifierError(e, 'ERR_CONFIG_INVALID') && e.message.includes(includes),
      )
    refused({ provisioning: { keys: [{ key: { kty: 'oct', k: 'AAAAAAAAAAAAAAAAAAAAAA' } }] } }, 'symmetric key cannot verify')
    refused({ provisioning: { keys: [{ key: pemOf(rfc9783Iak()) }] } }, 'published')
    refused({ provisioning: { x509Anchors: [{ certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }] } }, 'provisioning.x509Anchors.0')
    refused({ provisioning: { signers: [] } }, 'provisioning')
    const entry = { instanceId: toHex(INSTANCE_ID), key: pemOf(iak), implementationId: toHex(IMPL_ID) }
    assert.throws(
      () => decodeProvisioningDocument(TENANT, 'psa.trustAnchors', { ...entry, validity: { notBefore: 5, notAfter: 1 } }, 'x'),
      (e: unknown) => isVerifierError(e, 'ERR_CONFIG_INVALID') && e.message.includes('notBefore is after notAfter'),
    )
    assert.throws(() => decodeProvisioningDocument(TENANT, 'psa.trustAnchors', { ...entry, validity: { from: 1 } }, 'x'), (e: unknown) =>
      isVerifierError(e, 'ERR_CONFIG_INVALID'),
    )
    const ok = decodeProvisioningDocument(TENANT, 'psa.trustAnchors', { ...entry, validity: { notAfter: 1 }, corim: { tagId: 't' } }, 'x')
    assert.ok(ok.psaTrustAnchor(TENANT, toHex(INSTANCE_ID)) !== undefined)
  })

  it('a provisioning key that does not decode, is inactive or is outside its validity signs nothing', async () => {
    const store = fresh()
    const signer = generateTestKey('ES256')
    const signed = signCorim(signer, { payload: psaCorim(), meta: corimMeta(NOW - 100, NOW + 100) })
    const write = (id: string, body: Record<string, unknown>) =>
      store.create(TENANT, id, { kind: 'trust-anchor', body: body as never, indexIds: ['prov-key:all'], createdBy: 't', source: 't' })
    await write('prov-key-broken', { key: 'not a key' })
    await write('prov-key-expired', { key: pemOf(signer), validity: { notAfter: NOW - 1 } })
    await write('prov-key-inactive', { key: pemOf(signer) })
    await store.setActive(TENANT, 'prov-key-inactive', false, { createdBy: 't', source: 't' })
    await rejects(provisionCorim(store, TENANT, signed, opts()), 'ERR_CORIM_SIGNATURE')
    await write('prov-key-current', { key: pemOf(signer), validity: { notBefore: NOW - 1, notAfter: NOW + 1 } })
    assert.equal((await provisionCorim(store, TENANT, signed, opts())).documents.length, 2)
  })

  it('provisioning keys load from a file like every other entry, and then sign for the tenant', async () => {
    const store = fresh()
    const signer = generateTestKey('ES256')
    const document = referenceValueDocumentSchema.parse({ provisioning: { keys: [{ key: pemOf(signer), comment: 'release pipeline' }] } })
    const written = await provisionFromFiles(store, [{ file: 'signers.json', document }])
    assert.equal(written.created, 1)
    const [key] = await store.lookup(TENANT, 'prov-key:all')
    assert.equal(key?.id, `prov-key-${signer.publicKey.spkiSha256}`)
    const signed = signCorim(signer, { payload: psaCorim(), meta: corimMeta(NOW - 100, NOW + 100) })
    assert.equal((await provisionCorim(store, TENANT, signed, opts())).documents.length, 2)
  })

  it('refuses the draft-fdb PSA layout (class-id tag 600) under the legacy profile id as unsupported', async () => {
    const legacy = corimBytes([comidMap(map([0, [[map([0, map([0, tag(600, IMPL_ID)])]), [psaComponent()]]]]))], [], 'http://arm.com/psa/iot/1')
    await rejects(provisionCorim(fresh(), TENANT, legacy, opts()), 'ERR_CORIM_UNSUPPORTED', 'tag 600')
  })

  it('the appraisal uses an entry only inside its rim-validity, at its own clock', async () => {
    const store = fresh()
    const validity = map([0, tag(1, NOW - 10)], [1, tag(1, NOW + 10)])
    await provisionCorim(store, TENANT, psaCorim({ extra: [[4, validity]] }), opts())
    let now = NOW
    const clock: Clock = { nowSeconds: () => now }
    const endorsements = await openStoreEndorsements({ store, clock })
    try {
      const nonce = new Uint8Array(32).fill(7)
      const appraise = async () =>
        (await appraisePsa({ tenant: TENANT, token: psaToken(iak, nonce), sessionNonce: nonce }, { endorsements, nonces: createMemoryStore().nonces, clock })).vector
      assert.deepEqual(await appraise(), { 'instance-identity': 2, hardware: 2, executables: 2 })
      now = NOW + 11
      assert.deepEqual(await appraise(), { 'instance-identity': 97 })
      now = NOW - 11
      assert.deepEqual(await appraise(), { 'instance-identity': 97 })
      now = NOW + 10
      assert.deepEqual(await appraise(), { 'instance-identity': 2, hardware: 2, executables: 2 })
    } finally {
      await endorsements.close()
    }
  })
})
