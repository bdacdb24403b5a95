/**
 * The appraisal reading endorsements from the endorsement store (store-endorsements.ts): documents
 * as provisioning-documents.ts maps them, written to the embedded store (and, for polling, Redis),
 * appraised by the real PSA and EAT appraisals. Changes are used without a restart; deactivated or
 * deleted anchors stop affirming; a cached appraisal does not read the store.
 */
import assert from 'node:assert/strict'
import { createHash, createPublicKey } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { appraiseEat, EAT_SUBMOD } from '../../../src/appraisal/eat.js'
import {
  FROM_FILE_INDEX_ID,
  decodeProvisioningDocument,
  provisioningDocuments,
  sectionOf,
} from '../../../src/appraisal/provisioning-documents.js'
import { appraisePsa } from '../../../src/appraisal/psa.js'
import { referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { openStoreEndorsements, type StoreEndorsements } from '../../../src/appraisal/store-endorsements.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { importSpki } from '../../../src/crypto/keys.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import type { EndorsementStore, EndorsementWrite } from '../../../src/store/endorsements.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { createRedisEndorsementStore } from '../../../src/store/redis/endorsement-store.js'
import { fromHex, toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock, systemClock } from '../../../src/util/clock.js'
import { generateTestKey, rfc9783Iak, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki, NOW as PKI_NOW } from '../../helpers/pki.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const TENANT = 'default'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = '00'.repeat(32)
const NONCE = new Uint8Array(32).fill(1)
const iak = generateTestKey('ES256')
const device = generateTestKey('ES256')
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(3))
const HWMODEL = 'abcd'

const jwk = (key: TestKeyPair) => key.publicKey.keyObject.export({ format: 'jwk' }) as Record<string, string>

function psaToken(key: TestKeyPair = iak): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, NONCE)
  return signSign1(key, { payload: encodeCbor(claims) })
}

function psaDocument(key: TestKeyPair = iak) {
  return referenceValueDocumentSchema.parse({
    psa: {
      trustAnchors: [{ instanceId: INSTANCE, key: jwk(key), implementationId: IMPL }],
      referenceValues: [
        {
          implementationId: IMPL,
          softwareComponents: [{ measurementType: 'PRoT', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }],
        },
      ],
    },
  })
}

/** Writes every entry of `doc` as the provisioning API will. */
async function provision(store: EndorsementStore, doc: ReturnType<typeof referenceValueDocumentSchema.parse>): Promise<void> {
  for (const d of provisioningDocuments(doc)) {
    await store.putIfChanged(doc.tenant, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'test', source: 'api' })
  }
}

const CHANGE = { createdBy: 'operator', source: 'api' }

async function psaVector(endorsements: StoreEndorsements, token = psaToken()) {
  const out = await appraisePsa({ tenant: TENANT, token, sessionNonce: NONCE }, { endorsements, nonces: createMemoryStore().nonces, clock: systemClock })
  return out.vector
}

/** A store that counts lookups and can be made deaf to its own change notices (a lost pub/sub message). */
function observed(store: EndorsementStore, deaf = false): EndorsementStore & { lookups: number } {
  const counted = Object.create(store) as EndorsementStore & { lookups: number }
  counted.lookups = 0
  counted.lookup = async (tenant, indexId) => {
    counted.lookups++
    return store.lookup(tenant, indexId)
  }
  if (deaf) counted.watch = async () => () => {}
  return counted
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.fail(`not seen: ${what}`)
}

describe('provisioning documents', () => {
  it('one document per entry, with ids and index ids derived from the identifiers, and the entry as body', async () => {
    const pki = await buildPki()
    const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`
    const doc = referenceValueDocumentSchema.parse({
      ...psaDocument(),
      tenant: 'acme',
      eat: {
        keys: [{ kid: 'device-1', key: jwk(device), speaksFor: 'any' }],
        ueidKeys: [{ ueid: toHex(DEVICE_UEID), key: jwk(device), speaksFor: 'any' }],
        pinnedCertificates: [{ certificate: pem(pki.leaf.der), speaksFor: 'any' }],
        x509Anchors: [{ certificate: pem(pki.anchors[0]!.der), speaksFor: 'any' }],
        referenceValues: [{ oemid: 64242, hwmodel: 'ABCD', software: [{ swname: 'fw' }] }],
      },
    })
    const docs = provisioningDocuments(doc, [FROM_FILE_INDEX_ID])
    const sha = (name: string, der: Uint8Array) => createHash(name).update(der).digest('hex')
    assert.deepEqual(
      docs.map((d) => [d.section, d.id, d.kind, d.indexIds]),
      [
        ['psa.trustAnchors', `psa-ta-${INSTANCE}`, 'trust-anchor', [`psa-instance:${INSTANCE}`, 'src:file']],
        ['psa.referenceValues', `psa-rv-${IMPL}`, 'reference-value', [`psa-impl:${IMPL}`, 'src:file']],
        ['eat.keys', `eat-kid-${toHex(utf8('device-1'))}`, 'trust-anchor', [`eat-kid:${toHex(utf8('device-1'))}`, 'src:file']],
        ['eat.ueidKeys', `eat-ueid-${toHex(DEVICE_UEID)}`, 'trust-anchor', [`eat-ueid:${toHex(DEVICE_UEID)}`, 'src:file']],
        [
          'eat.pinnedCertificates',
          `eat-pin-${sha('sha256', pki.leaf.der)}`,
          'trust-anchor',
          ['src:file', `x5t:-16:${sha('sha256', pki.leaf.der)}`, `x5t:-43:${sha('sha384', pki.leaf.der)}`, `x5t:-44:${sha('sha512', pki.leaf.der)}`],
        ],
        ['eat.x509Anchors', `eat-ca-${sha('sha256', pki.anchors[0]!.der)}`, 'trust-anchor', ['src:file', 'x509-ca:all']],
        ['eat.referenceValues', 'eat-rv-pen.64242-abcd', 'reference-value', ['eat-class:pen:64242/abcd', 'src:file']],
      ],
    )
    assert.deepEqual(docs[0]!.body, doc.psa!.trustAnchors[0])
    for (const d of docs) assert.equal(sectionOf(d.id), d.section)
    // Every id is a store record id and every index id a store index id: the store takes them all.
    const store = createMemoryEndorsementStore()
    for (const d of docs) await store.create('acme', d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 't', source: 't' })
    assert.equal((await store.list('acme')).items.length, docs.length)
  })

  it('a long kid is named by its SHA-256', () => {
    const kid = 'k'.repeat(200)
    const [d] = provisioningDocuments(referenceValueDocumentSchema.parse({ eat: { keys: [{ kid, key: jwk(device), speaksFor: 'any' }] } }))
    const digest = createHash('sha256').update(kid).digest('hex')
    assert.equal(d!.id, `eat-kid-s256-${digest}`)
    assert.deepEqual(d!.indexIds, [`eat-kid-s256:${digest}`])
  })

  it('decoding validates the body as the file schema does, and refuses published keys outside test mode', () => {
    assert.throws(
      () => decodeProvisioningDocument(TENANT, 'psa.trustAnchors', { instanceId: INSTANCE, key: jwk(iak) }, 'api'),
      (err: unknown) => isVerifierError(err) && err.code === 'ERR_CONFIG_INVALID' && /implementationId is required/.test(err.message),
    )
    const published = { instanceId: INSTANCE, key: jwk(rfc9783Iak()), implementationId: IMPL }
    assert.throws(
      () => decodeProvisioningDocument(TENANT, 'psa.trustAnchors', published, 'api'),
      (err: unknown) => isVerifierError(err) && /private key of this key is published/.test(err.message),
    )
    const decoded = decodeProvisioningDocument(TENANT, 'psa.trustAnchors', published, 'api', { allowPublishedKeys: true })
    assert.equal(decoded.psaTrustAnchor(TENANT, INSTANCE)?.source, 'api')
  })
})

describe('endorsements read from the store', () => {
  const open: { close(): Promise<void> }[] = []
  after(async () => {
    for (const o of open.reverse()) await o.close()
  })

  async function setUp(options: { deaf?: boolean; allowPublishedKeys?: boolean; store?: EndorsementStore; pollIntervalMs?: number } = {}) {
    const store = options.store ?? createMemoryEndorsementStore()
    const counted = observed(store, options.deaf)
    const warnings: string[] = []
    const endorsements = await openStoreEndorsements({
      store: counted,
      allowPublishedKeys: options.allowPublishedKeys === true,
      warn: (m) => warnings.push(m),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    })
    open.push(endorsements)
    if (options.store === undefined) open.push(store)
    return { store, counted, endorsements, warnings }
  }

  it('PSA: affirms from stored documents; the second appraisal reads nothing from the store', async () => {
    const { store, counted, endorsements } = await setUp()
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
    await provision(store, psaDocument())
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 2, hardware: 2, executables: 2 })
    const before = counted.lookups
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.equal(counted.lookups, before)
  })

  it('PSA: a deactivated or deleted anchor stops affirming at once; a replaced key is used', async () => {
    const { store, endorsements } = await setUp()
    await provision(store, psaDocument())
    assert.equal((await psaVector(endorsements))['instance-identity'], 2)
    await store.setActive(TENANT, `psa-ta-${INSTANCE}`, false, CHANGE)
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
    await store.setActive(TENANT, `psa-ta-${INSTANCE}`, true, CHANGE)
    assert.equal((await psaVector(endorsements))['instance-identity'], 2)
    await store.delete(TENANT, `psa-ta-${INSTANCE}`, CHANGE)
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
    const other = generateTestKey('ES256')
    await provision(store, psaDocument(other))
    assert.equal((await psaVector(endorsements, psaToken(other)))['instance-identity'], 2)
    // The old key no longer verifies: its signature is refused.
    assert.equal((await psaVector(endorsements, psaToken(iak)))['instance-identity'], 99)
    // Reference values deactivated: hardware unknown.
    await store.setActive(TENANT, `psa-rv-${IMPL}`, false, CHANGE)
    assert.deepEqual(await psaVector(endorsements, psaToken(other)), { 'instance-identity': 2, hardware: 97, executables: 33 })
  })

  it('a published key in the store is read as absent outside test mode, and used in test mode', async () => {
    const { store, endorsements, warnings } = await setUp()
    await provision(store, psaDocument(rfc9783Iak()))
    assert.deepEqual(await psaVector(endorsements, psaToken(rfc9783Iak())), { 'instance-identity': 97 })
    assert.ok(warnings.some((w) => /psa-ta-.*is not used: .*published/.test(w)), warnings.join('\n'))
    const testMode = await setUp({ store, allowPublishedKeys: true })
    assert.equal((await psaVector(testMode.endorsements, psaToken(rfc9783Iak())))['instance-identity'], 2)
  })

  it('a stored body that is no valid entry is read as absent and reported', async () => {
    const { store, endorsements, warnings } = await setUp()
    const write: EndorsementWrite = { kind: 'trust-anchor', body: { instanceId: INSTANCE }, indexIds: [`psa-instance:${INSTANCE}`], createdBy: 't', source: 'api' }
    await store.create(TENANT, `psa-ta-${INSTANCE}`, write)
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
    assert.ok(warnings.some((w) => /is not used/.test(w)))
  })

  it('EAT: kid key, UEID key, pinned certificate, X.509 anchor and class reference values, all from the store', async () => {
    const { store, endorsements } = await setUp()
    const pki = await buildPki()
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(pki.anchors[0]!.der).toString('base64')}\n-----END CERTIFICATE-----\n`
    const bound = { ueids: [toHex(DEVICE_UEID)], classes: [{ oemid: 64242, hwmodel: HWMODEL }] }
    await provision(
      store,
      referenceValueDocumentSchema.parse({
        eat: {
          keys: [{ kid: 'device-1', key: jwk(device), speaksFor: bound }],
          x509Anchors: [{ certificate: pem, speaksFor: bound }],
          referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
        },
      }),
    )
    const claims = (now: number) =>
      new Map<number, EncodableValue>([
        [265, 'urn:ietf:rfc:rfc9711'],
        [10, new Uint8Array(16).fill(7)],
        [256, DEVICE_UEID],
        [258, 64242],
        [259, fromHex(HWMODEL)],
        [262, true],
        [263, 3],
        [270, 'fw'],
        [271, ['1.2', 1]],
        [6, now],
      ])
    const run = async (token: Uint8Array, now: number) => {
      const nonces = createMemoryStore({ nowMs: () => now * 1000 }).nonces
      await nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const deps = { endorsements, nonces, profiles: createDefaultProfiles(), clock: fixedClock(now) }
      return (await appraiseEat({ tenant: TENANT, token }, deps))[EAT_SUBMOD]!
    }
    const NOW = 1_800_000_000
    const byKid = signSign1(device, { protectedHeader: new Map<number, EncodableValue>([[1, device.coseAlg], [4, utf8('device-1')]]), payload: encodeCbor(claims(NOW)), tag: 'cwt' })
    assert.deepEqual((await run(byKid, NOW)).vector, { 'instance-identity': 2, hardware: 2, executables: 2 })

    const leafKey: TestKeyPair = {
      privateKey: pki.leaf.privateKey,
      publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
      coseAlg: -7,
      hash: 'sha256',
    }
    const chained = signSign1(leafKey, {
      protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]),
      payload: encodeCbor(new Map([...claims(PKI_NOW)].filter(([k]) => k !== 265))),
      tag: 'cwt',
    })
    // Pinned leaf, found by its x5t; and a UEID key, found by the token's UEID.
    const own = generateTestKey('ES256')
    const ownUeid = Uint8Array.of(1, ...new Uint8Array(16).fill(5))
    const leafPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(pki.leaf.der).toString('base64')}\n-----END CERTIFICATE-----\n`
    await provision(
      store,
      referenceValueDocumentSchema.parse({
        eat: {
          ueidKeys: [{ ueid: toHex(ownUeid), key: jwk(own), speaksFor: { classes: [{ oemid: 64242, hwmodel: HWMODEL }] } }],
          pinnedCertificates: [{ certificate: leafPem, speaksFor: bound }],
        },
      }),
    )
    const byUeid = signSign1(own, { payload: encodeCbor(new Map([...claims(NOW), [256, ownUeid]])), tag: 'cwt' })
    const ueidOut = await run(byUeid, NOW)
    assert.deepEqual(ueidOut.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.equal(ueidOut.attester?.keySource, 'ueid')
    const thumb = new Uint8Array(createHash('sha256').update(pki.leaf.der).digest())
    const pinned = signSign1(leafKey, {
      protectedHeader: new Map<number, EncodableValue>([[1, -7], [34, [-16, thumb]]]),
      payload: encodeCbor(new Map([...claims(PKI_NOW)].filter(([k]) => k !== 265))),
      tag: 'cwt',
    })
    const pinnedOut = await run(pinned, PKI_NOW)
    assert.equal(pinnedOut.vector['instance-identity'], 2)
    assert.equal(pinnedOut.attester?.keySource, 'x5t')

    const good = await run(chained, PKI_NOW)
    assert.deepEqual(good.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.equal(good.attester?.keySource, 'x5chain')
    // The anchor deleted: the chain no longer verifies.
    const [ca] = (await store.list(TENANT, { indexId: 'x509-ca:all' })).items
    await store.delete(TENANT, ca!.id, CHANGE)
    assert.notEqual((await run(chained, PKI_NOW)).vector['instance-identity'], 2)
    // Class reference values deactivated: hardware unknown for the kid-signed token.
    await store.setActive(TENANT, 'eat-rv-pen.64242-abcd', false, CHANGE)
    assert.equal((await run(byKid, NOW)).vector.hardware, 97)
  })

  it('a change whose notice was lost is seen by polling the revision', async () => {
    const { store, endorsements } = await setUp({ deaf: true, pollIntervalMs: 20 })
    assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
    await provision(store, psaDocument())
    await eventually(async () => (await psaVector(endorsements))['instance-identity'] === 2, 'the provisioned anchor')
    await store.setActive(TENANT, `psa-ta-${INSTANCE}`, false, CHANGE)
    await eventually(async () => (await psaVector(endorsements))['instance-identity'] === 97, 'the deactivation')
  })

  it('a store that cannot be read makes the appraisal a fault the queue retries, not a result', async () => {
    const prefix = `assay-unit-store-endorsements-down-${process.pid}`
    const reading = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
    const { endorsements } = await setUp({ store: reading })
    await reading.close()
    await assert.rejects(psaVector(endorsements), (err: unknown) => isVerifierError(err) && err.family === 'fault')
  })

  it('Redis: a change written through another connection is used by a running reader', async () => {
    const prefix = `assay-unit-store-endorsements-${process.pid}`
    const writer = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
    const reading = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
    try {
      const { endorsements } = await setUp({ store: reading })
      assert.deepEqual(await psaVector(endorsements), { 'instance-identity': 97 })
      await provision(writer, psaDocument())
      await eventually(async () => (await psaVector(endorsements))['instance-identity'] === 2, 'the provisioned anchor')
      await writer.setActive(TENANT, `psa-ta-${INSTANCE}`, false, CHANGE)
      await eventually(async () => (await psaVector(endorsements))['instance-identity'] === 97, 'the deactivation')
      await endorsements.close()
    } finally {
      await writer.close()
      await reading.close()
      await deletePrefix(prefix)
    }
  })

  it('EAT: an operator profile from the store is used once provisioned, and not once deactivated', async () => {
    const { store, endorsements } = await setUp()
    const VENDOR = 'tag:vendor.example,2026:sensor'
    const bound = { ueids: [toHex(DEVICE_UEID)], classes: [{ oemid: 64242, hwmodel: HWMODEL }] }
    const profile = { id: VENDOR, envelopes: ['cwt'], coseAlgorithms: ['ES256'], keySources: ['kid'], freshness: 'nonce', referenceValues: 'none' }
    await provision(store, referenceValueDocumentSchema.parse({ eat: { keys: [{ kid: 'device-1', key: jwk(device), speaksFor: bound }] } }))
    const NOW = 1_800_000_000
    const claims = new Map<number, EncodableValue>([
      [265, VENDOR],
      [10, new Uint8Array(16).fill(7)],
      [256, DEVICE_UEID],
      [6, NOW],
    ])
    const token = signSign1(device, { protectedHeader: new Map<number, EncodableValue>([[1, device.coseAlg], [4, utf8('device-1')]]), payload: encodeCbor(claims), tag: 'cwt' })
    const run = async () => {
      const nonces = createMemoryStore({ nowMs: () => NOW * 1000 }).nonces
      await nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const deps = { endorsements, nonces, profiles: createDefaultProfiles(), clock: fixedClock(NOW) }
      return (await appraiseEat({ tenant: TENANT, token }, deps))[EAT_SUBMOD]!
    }
    assert.equal((await run()).reasons[0]!.code, 'ERR_PROFILE_UNKNOWN')
    const doc = referenceValueDocumentSchema.parse({ eat: { profiles: [profile] } })
    const [entry] = provisioningDocuments(doc)
    assert.equal(entry!.section, 'eat.profiles')
    assert.equal(entry!.kind, 'profile')
    const digest = createHash('sha256').update(VENDOR.toLowerCase()).digest('hex')
    assert.equal(entry!.id, `eat-profile-${digest}`)
    assert.deepEqual(entry!.indexIds, [`eat-profile:${digest}`])
    assert.equal(sectionOf(entry!.id), 'eat.profiles')
    await provision(store, doc)
    const affirmed = await run()
    assert.deepEqual(affirmed.vector, { 'instance-identity': 2 })
    assert.equal(affirmed.profile, VENDOR)
    await store.setActive(TENANT, entry!.id, false, CHANGE)
    assert.equal((await run()).reasons[0]!.code, 'ERR_PROFILE_UNKNOWN')
  })
})
