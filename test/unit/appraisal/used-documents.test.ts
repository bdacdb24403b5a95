/**
 * The documents an appraisal used (`trackUsedDocuments`, the store-backed views): the key and the
 * class reference values for a kid-signed EAT, the one certificate anchor a chain ended at (not the
 * tenant's other anchors), each at its current version; nothing for an unknown attester, and nothing
 * from endorsements that are not store-backed.
 */
import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { describe, it } from 'node:test'
import { appraiseEat } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements, trackUsedDocuments, type Endorsements, type UsedDocument } from '../../../src/appraisal/endorsements.js'
import { provisioningDocuments } from '../../../src/appraisal/provisioning-documents.js'
import { referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { openStoreEndorsements } from '../../../src/appraisal/store-endorsements.js'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { importSpki } from '../../../src/crypto/keys.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { fromHex, toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki, NOW as PKI_NOW } from '../../helpers/pki.js'

const TENANT = 'default'
const HWMODEL = 'abcd'
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(3))
const NONCE = new Uint8Array(16).fill(7)
const device = generateTestKey('ES256')
const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`

const claims = (now: number, ueid = DEVICE_UEID) =>
  new Map<number, EncodableValue>([
    [10, NONCE],
    [256, ueid],
    [258, 64242],
    [259, fromHex(HWMODEL)],
    [270, 'fw'],
    [271, ['1.2']],
    [6, now],
  ])

async function used(endorsements: Endorsements, token: Uint8Array, now: number): Promise<{ ids: string[]; identity: number | undefined }> {
  const nonces = createMemoryStore({ nowMs: () => now * 1000 }).nonces
  await nonces.issue(TENANT, NONCE, 60)
  const seen = new Map<string, UsedDocument>()
  const deps = { endorsements: trackUsedDocuments(endorsements, seen), nonces, profiles: createDefaultProfiles(), clock: fixedClock(now) }
  const out = await appraiseEat({ tenant: TENANT, token }, deps)
  return { ids: [...seen.keys()].sort(), identity: out['EAT']?.vector['instance-identity'] }
}

describe('documents an appraisal used', () => {
  it('names the key, the reference values and the one anchor a chain ended at, at their current versions', async () => {
    const pki = await buildPki()
    const other = await buildPki()
    const bound = { ueids: [toHex(DEVICE_UEID)], classes: [{ oemid: 64242, hwmodel: HWMODEL }] }
    const document = referenceValueDocumentSchema.parse({
      eat: {
        keys: [{ kid: 'device-1', key: device.publicKey.keyObject.export({ format: 'jwk' }), speaksFor: bound }],
        x509Anchors: [
          { certificate: pem(pki.anchors[0]!.der), speaksFor: bound },
          { certificate: pem(other.anchors[0]!.der), speaksFor: bound },
        ],
        referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
      },
    })
    const store = createMemoryEndorsementStore()
    const docs = provisioningDocuments(document)
    for (const d of docs) await store.putIfChanged(TENANT, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'test', source: 'api' })
    const endorsements = await openStoreEndorsements({ store })
    try {
      const idOf = (section: string, pred: (id: string) => boolean = () => true) => docs.find((d) => d.section === section && pred(d.id))!.id
      const key = idOf('eat.keys')
      const rv = idOf('eat.referenceValues')
      const anchorIds = docs.filter((d) => d.section === 'eat.x509Anchors').map((d) => d.id)
      assert.equal(anchorIds.length, 2)

      const NOW = 1_800_000_000
      const byKid = signSign1(device, { protectedHeader: new Map<number, EncodableValue>([[1, device.coseAlg], [4, utf8('device-1')]]), payload: encodeCbor(claims(NOW)), tag: 'cwt' })
      assert.deepEqual(await used(endorsements, byKid, NOW), { ids: [`${key}@1`, `${rv}@1`].sort(), identity: 2 })

      const leafKey: TestKeyPair = {
        privateKey: pki.leaf.privateKey,
        publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
        coseAlg: -7,
        hash: 'sha256',
      }
      const chained = signSign1(leafKey, { protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]), payload: encodeCbor(claims(PKI_NOW)), tag: 'cwt' })
      const viaChain = await used(endorsements, chained, PKI_NOW)
      assert.equal(viaChain.identity, 2)
      const anchorUsed = viaChain.ids.filter((id) => anchorIds.some((a) => id.startsWith(`${a}@`)))
      assert.equal(anchorUsed.length, 1, `one anchor, not every anchor: ${JSON.stringify(viaChain.ids)}`)
      assert.ok(viaChain.ids.includes(`${rv}@1`))

      // A new version of the reference values: the next appraisal names it.
      await store.setActive(TENANT, rv, false, { createdBy: 'op', source: 'api' })
      await store.setActive(TENANT, rv, true, { createdBy: 'op', source: 'api' })
      assert.deepEqual((await used(endorsements, byKid, NOW)).ids, [`${key}@1`, `${rv}@3`].sort())

      // An unknown kid: no key was used.
      const unknown = signSign1(generateTestKey('ES256'), { protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8('nobody')]]), payload: encodeCbor(claims(NOW)), tag: 'cwt' })
      const none = await used(endorsements, unknown, NOW)
      assert.notEqual(none.identity, 2)
      assert.ok(!none.ids.includes(`${key}@1`))
    } finally {
      await endorsements.close()
    }
  })

  it('reports nothing from endorsements that are not store-backed', async () => {
    const memory = new MemoryEndorsements()
    memory.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, { ueids: 'any', classes: 'any' })
    const NOW = 1_800_000_000
    const byKid = signSign1(device, { protectedHeader: new Map<number, EncodableValue>([[1, device.coseAlg], [4, utf8('device-1')]]), payload: encodeCbor(claims(NOW)), tag: 'cwt' })
    assert.deepEqual(await used(memory, byKid, NOW), { ids: [], identity: 2 })
  })
})
