import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EatReferenceValues, PsaReferenceValues, PsaTrustAnchor } from '../../../src/appraisal/endorsements.js'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { processCorim, type CorimProcessOptions } from '../../../src/corim/corim.js'
import { mapCorim, mapGeneric, orderProvenance, type MappedEndorsements } from '../../../src/corim/map.js'
import { CorimProfileRegistry } from '../../../src/corim/profile.js'
import { builtInProfiles } from '../../../src/corim/profiles/index.js'
import { EAT_CLASS_PROFILE } from '../../../src/corim/profiles/eat-class.js'
import { PSA_ENDORSEMENT_PROFILE_LEGACY, psaEndorsementProfile } from '../../../src/corim/profiles/psa.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { classKey, oemidKey } from '../../../src/evidence/speaks-for.js'
import { toHex } from '../../../src/util/bytes.js'
import { generateTestKey } from '../../helpers/cose.js'
import {
  DIGEST,
  IMPL_ID,
  INSTANCE_ID,
  PSA,
  SIGNER_ID,
  comidMap,
  corimBytes,
  map,
  pemOf,
  psaClass,
  psaComponent,
  psaCorim,
  tag,
  type CborIn,
} from '../../helpers/corim.js'

function rejects(fn: () => unknown, code: ErrorCode, includes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (includes !== undefined) assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`)
    return true
  })
}

const iak = generateTestKey('ES256')
const NOW = 1_750_000_000
const options: CorimProcessOptions = { profiles: builtInProfiles(), trust: { acceptUnsigned: true }, nowSeconds: NOW }
const run = (bytes: Uint8Array): MappedEndorsements => {
  const { corim, profile } = processCorim(bytes, options)
  return mapCorim(corim, profile)
}
const psa = (triples: Map<number | string, CborIn>, profile = PSA) => corimBytes([comidMap(triples)], [], profile)
const refTriple = (envMap: CborIn, ...measurements: CborIn[]) => map([0, [[envMap, measurements]]])
const akTriple = (envMap: CborIn, keys: CborIn[]) => map([3, [[envMap, keys]]])

describe('PSA endorsement profile', () => {
  it('maps reference values and an attestation key with speaks-for bindings and provenance', () => {
    const mapped = run(psaCorim(iak))
    assert.equal(mapped.psaReferenceValues.length, 1)
    const values = mapped.psaReferenceValues[0]!.values
    assert.deepEqual(values.implementationId, IMPL_ID)
    assert.deepEqual(values.softwareComponents, [{ measurementValue: DIGEST, signerId: SIGNER_ID, measurementType: 'BL', version: '1.2.0' }])
    const anchor = mapped.psaTrustAnchors[0]!.anchor
    assert.deepEqual(anchor.instanceId, INSTANCE_ID)
    assert.deepEqual(anchor.implementationId, IMPL_ID)
    assert.equal(anchor.key.spkiSha256, iak.publicKey.spkiSha256)
    const p = mapped.psaTrustAnchors[0]!.provenance
    assert.equal(p.corimId, 'test-corim')
    assert.equal(p.tagId, '43bbe37f-2e61-4b33-aed3-53cff1428b16')
    assert.equal(p.tagDigest.length, 64)
    assert.equal(anchor.source, 'corim:test-corim#43bbe37f-2e61-4b33-aed3-53cff1428b16@0')
  })

  it('gives what the appraisal store accepts, field for field', () => {
    const mapped = run(psaCorim(iak))
    const values: PsaReferenceValues = mapped.psaReferenceValues[0]!.values
    const anchor: PsaTrustAnchor = mapped.psaTrustAnchors[0]!.anchor
    const store = new MemoryEndorsements()
    assert.ok(store.addPsaReferenceValues('default', toHex(values.implementationId), values))
    assert.ok(store.addPsaTrustAnchor('default', toHex(anchor.instanceId), anchor))
    assert.equal(store.psaTrustAnchor('default', toHex(INSTANCE_ID))?.key, anchor.key)
  })

  it('is also registered under the legacy id, with the same rules', () => {
    const mapped = run(psa(refTriple(map([0, psaClass()]), psaComponent()), PSA_ENDORSEMENT_PROFILE_LEGACY))
    assert.equal(mapped.psaReferenceValues[0]!.provenance.profile, PSA_ENDORSEMENT_PROFILE_LEGACY)
    rejects(() => run(psa(refTriple(map([0, psaClass(new Uint8Array(33))]), psaComponent()), PSA_ENDORSEMENT_PROFILE_LEGACY)), 'ERR_CORIM_PROFILE_VIOLATION')
  })

  it('groups the components of one implementation in one CoMID', () => {
    const triples = map([
      0,
      [
        [map([0, psaClass()]), [psaComponent()]],
        [map([0, psaClass()]), [psaComponent({ mval: map([2, [[1, DIGEST]]], [13, [tag(560, SIGNER_ID)]]) })]],
      ],
    ])
    const mapped = run(psa(triples))
    assert.equal(mapped.psaReferenceValues.length, 1)
    assert.equal(mapped.psaReferenceValues[0]!.values.softwareComponents.length, 2)
  })

  it('refuses each rule violation, naming it', () => {
    const env = map([0, psaClass()])
    const cases: [Map<number | string, CborIn>, string][] = [
      [refTriple(map([0, map([1, 'ACME'])]), psaComponent()), 'class-id (implementation-id) is required'],
      [refTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), psaComponent()), 'instance set for reference value'],
      [refTriple(env, psaComponent({ mkey: 'psa.certification' })), 'mkey must be "psa.software-component"'],
      [refTriple(env, map([1, map([2, [[1, DIGEST]]])])), 'mkey "psa.software-component" is required'],
      [refTriple(env, psaComponent({ mval: map([11, 'BL'], [13, [tag(560, SIGNER_ID)]]) })), 'no digests'],
      [refTriple(env, psaComponent({ mval: map([2, [[1, DIGEST], [8, new Uint8Array(64)]]], [13, [tag(560, SIGNER_ID)]]) })), 'exactly one digest'],
      [refTriple(env, psaComponent({ mval: map([2, [[10, DIGEST]]], [13, [tag(560, SIGNER_ID)]]) })), 'sha3-256 is not'],
      [refTriple(env, psaComponent({ mval: map([2, [[1, DIGEST]]]) })), 'exactly one signer-id'],
      [refTriple(env, psaComponent({ mval: map([2, [[1, DIGEST]]], [13, [tag(560, new Uint8Array(20))]]) })), 'signer-id must be 32, 48 or 64'],
      [refTriple(env, psaComponent({ mval: map([1, 3], [2, [[1, DIGEST]]], [13, [tag(560, SIGNER_ID)]]) })), 'svn is not part'],
      [akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID.subarray(0, 17))]), [tag(554, pemOf(iak))]), '33-byte RAND UEID'],
      [akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), []), ''],
      [map([1, [[env, [psaComponent()]]]]), 'endorsed-triples are not part'],
    ]
    for (const [triples, message] of cases) {
      const code = message === '' ? 'ERR_CORIM_MALFORMED' : 'ERR_CORIM_PROFILE_VIOLATION'
      rejects(() => run(psa(triples)), code, message)
    }
  })

  it('refuses an attestation key that cannot be imported', () => {
    const bad = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'
    rejects(() => run(psa(akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, bad)]))), 'ERR_CORIM_MALFORMED', 'cannot be used')
  })
})

describe('EAT class profile', () => {
  const cls = map([0, tag(560, new TextEncoder().encode('RoadRunner'))], [1, '32473'])
  const corim = (triples: Map<number | string, CborIn>) => corimBytes([comidMap(triples)], [], EAT_CLASS_PROFILE)

  it('maps software versions, measurement and manifest digests, and UEID keys', () => {
    const triples = map(
      [
        0,
        [
          [
            map([0, cls]),
            [
              map([0, 'firmware'], [1, map([0, map([0, '1.0'])])]),
              map([0, 'firmware'], [1, map([0, map([0, '1.1'])])]),
              map([0, 'eat.measurements'], [1, map([2, [[1, DIGEST]]])]),
              map([0, 'eat.manifests'], [1, map([2, [[1, SIGNER_ID]]])]),
            ],
          ],
        ],
      ],
      [3, [[map([0, cls], [1, tag(550, INSTANCE_ID)]), [tag(554, pemOf(iak))]]]],
    )
    const mapped = run(corim(triples))
    const ref = mapped.eatReferenceValues[0]!
    assert.equal(ref.oemid, oemidKey(32473))
    assert.equal(ref.hwmodelHex, toHex(new TextEncoder().encode('RoadRunner')))
    const values: EatReferenceValues = ref.values
    assert.deepEqual([...values.software.get('firmware') as Set<string>], ['1.0', '1.1'])
    assert.deepEqual([...values.measurementDigests], [toHex(DIGEST)])
    assert.deepEqual([...values.manifestDigests!], [toHex(SIGNER_ID)])
    const key = mapped.eatUeidKeys[0]!
    assert.equal(key.ueidHex, toHex(INSTANCE_ID))
    assert.deepEqual([...key.classes], [classKey(oemidKey(32473), ref.hwmodelHex)])
    const store = new MemoryEndorsements()
    assert.ok(store.addEatReferenceValues('default', ref.oemid, ref.hwmodelHex, values))
    assert.ok(store.addEatUeid('default', key.ueidHex, key.key, key.classes))
  })

  it('reads a hex oemid and a model text, and refuses what it cannot map', () => {
    const hexClass = map([1, 'A1B2C3'], [2, 'RR'])
    const mapped = run(corim(refTriple(map([0, hexClass]), map([0, 'fw'], [1, map([0, map([0, '2'])])]))))
    assert.equal(mapped.eatReferenceValues[0]!.oemid, 'hex:a1b2c3')
    assert.equal(mapped.eatReferenceValues[0]!.hwmodelHex, '5252')
    const cases: [Map<number | string, CborIn>, string][] = [
      [refTriple(map([0, map([2, 'RR'])]), map([0, 'fw'], [1, map([0, map([0, '2'])])])), 'vendor (the oemid) is required'],
      [refTriple(map([0, map([1, 'ACME'], [2, 'RR'])]), map([0, 'fw'], [1, map([0, map([0, '2'])])])), 'decimal PEN'],
      [refTriple(map([0, map([1, '1'])]), map([0, 'fw'], [1, map([0, map([0, '2'])])])), 'class-id 560(hwmodel) or model'],
      [refTriple(map([0, hexClass]), map([0, 'fw'], [1, map([11, 'x'])])), 'name is not used'],
      [refTriple(map([0, hexClass]), map([0, 'eat.measurements'], [1, map([2, [[7, new Uint8Array(48)]]])])), 'only sha-256'],
      [refTriple(map([0, hexClass]), map([0, 7], [1, map([0, map([0, '2'])])])), 'text mkey'],
      [map([3, [[map([0, hexClass], [1, tag(37, new Uint8Array(16))]), [tag(554, pemOf(iak))]]]]), '550(UEID)'],
    ]
    for (const [triples, message] of cases) rejects(() => run(corim(triples)), 'ERR_CORIM_PROFILE_VIOLATION', message)
  })
})

describe('generic mapping and the registry', () => {
  it('keeps reference triples without a profile and refuses key and endorsed triples', () => {
    const mapped = run(corimBytes([comidMap(refTriple(map([0, psaClass()]), psaComponent()))]))
    assert.equal(mapped.corimReferenceValues.length, 1)
    assert.equal(mapped.corimReferenceValues[0]!.measurements[0]!.mkey?.type, 'text')
    const withKey = corimBytes([comidMap(akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, pemOf(iak))]))])
    rejects(() => run(withKey), 'ERR_CORIM_UNSUPPORTED', 'attest-key-triples cannot be mapped without a profile')
    const endorsed = corimBytes([comidMap(map([1, [[map([0, psaClass()]), [psaComponent()]]]]))])
    const { corim } = processCorim(endorsed, options)
    rejects(() => mapGeneric(corim), 'ERR_CORIM_UNSUPPORTED', 'endorsed-triples')
  })

  it('refuses registering one id twice', () => {
    assert.throws(() => new CorimProfileRegistry([psaEndorsementProfile, psaEndorsementProfile]), TypeError)
    assert.equal(builtInProfiles().size, 2)
  })
})

describe('provenance order', () => {
  it('tells a re-submission, a newer and an older version and a silent change apart', () => {
    const base = run(psaCorim(iak)).psaTrustAnchors[0]!.provenance
    const again = run(psaCorim(iak)).psaTrustAnchors[0]!.provenance
    assert.equal(orderProvenance(base, again), 'unchanged')
    const v2 = run(corimBytes([comidMap(akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, pemOf(iak))]), [], 2)], [], PSA))
    const newer = v2.psaTrustAnchors[0]!.provenance
    assert.equal(newer.tagVersion, 2)
    assert.equal(orderProvenance(base, newer), 'supersedes')
    assert.equal(orderProvenance(newer, base), 'stale')
    const changed = run(corimBytes([comidMap(akTriple(map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, pemOf(generateTestKey('ES256')))]))], [], PSA))
    assert.equal(orderProvenance(base, changed.psaTrustAnchors[0]!.provenance), 'conflict')
    assert.equal(orderProvenance(base, { ...base, tagId: 'other' }), 'unrelated')
  })
})
