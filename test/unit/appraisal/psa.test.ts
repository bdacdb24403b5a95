/**
 * PSA appraisal and what the Instance ID's key may speak for: the Implementation ID provisioned with
 * it (or, explicitly, any). Real ES256 keys; tokens are the RFC 9783 example claims re-signed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { appraisePsa } from '../../../src/appraisal/psa.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'
import { readVector } from '../../helpers/vectors.js'

const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = fromHex('00'.repeat(32))
const NONCE = new Uint8Array(32).fill(1)
const key = generateTestKey('ES256')

function token(implementationId = IMPL): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(2396, implementationId)
  return signSign1(key, { payload: encodeCbor(claims) })
}

async function appraise(bound: Uint8Array | 'any', t: Uint8Array) {
  const e = new MemoryEndorsements()
  e.addPsaTrustAnchor('default', INSTANCE, { instanceId: fromHex(INSTANCE), key: key.publicKey, implementationId: bound, source: 't' })
  for (const impl of [IMPL, fromHex('11'.repeat(32))]) {
    e.addPsaReferenceValues('default', Buffer.from(impl).toString('hex'), {
      implementationId: impl,
      source: 't',
      softwareComponents: [{ measurementType: 'PRoT', measurementValue: new Uint8Array(32).fill(3), signerId: new Uint8Array(32).fill(4) }],
    })
  }
  return appraisePsa({ tenant: 'default', token: t, sessionNonce: NONCE }, { endorsements: e, nonces: createMemoryStore().nonces, clock: systemClock })
}

describe('PSA: the Implementation ID a key may speak for', () => {
  it('affirms the provisioned Implementation ID and names the attester', async () => {
    const out = await appraise(IMPL, token())
    assert.deepEqual(out.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.deepEqual(out.attester, {
      ueid: fromHex(INSTANCE),
      keySource: 'psa-instance-id',
      spkiS256: fromHex(key.publicKey.spkiSha256),
    })
  })

  it('another Implementation ID, even one with reference values, is hardware 96', async () => {
    const out = await appraise(IMPL, token(fromHex('11'.repeat(32))))
    assert.equal(out.vector.hardware, 96)
    assert.equal(out.vector.executables, 33)
    assert.equal(out.reasons.find((r) => r.claim === 'hardware')!.code, 'PSA_IMPLEMENTATION_ID_MISMATCH')
  })

  it('an anchor provisioned with implementationId "any" may report any', async () => {
    const out = await appraise('any', token(fromHex('11'.repeat(32))))
    assert.deepEqual(out.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
  })
})
