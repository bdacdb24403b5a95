import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CborTag, decodeCbor, type CborKey, type CborMap, type CborValue } from '../../../../src/cose/cbor.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import {
  decodePsaClaims,
  detectPsaProfile,
  isTrustworthyLifecycle,
  lifecycleState,
  readInstanceIdHint,
  type PsaClaims,
  type PsaProfile,
} from '../../../../src/evidence/psa/claims.js'
import {
  PSA_PROFILE_2_0_0,
  PSA_PROFILE_LEGACY,
  PSA_PROFILE_TFM,
} from '../../../../src/evidence/psa/descriptor.js'
import { fromHex } from '../../../../src/util/bytes.js'
import { VECTOR_DIR } from '../../../helpers/vectors.js'

const LEGACY_VECTOR = 'veraison-psatoken-tfm-legacy-psa-iot-profile-1.json'
const PSA_2_0_0_VECTOR = 'veraison-psatoken-tfm-psa-2.0.0-profile.json'
const TFM_BOOT_SEED = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf'
const TFM_INSTANCE_ID = '01fa58755f658627ce5460f29b75296713248cae7ad9e2984b90280efcbcb50248'

/** The claims-set of a PSA vector: the payload of its tagged COSE_Sign1 or COSE_Mac0. */
function vectorPayload(file: string): CborMap {
  const vector = JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as { token_hex: string }
  const message = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set([18, 17]) })
  assert.ok(message instanceof CborTag && Array.isArray(message.value))
  const payload = decodeCbor((message.value as CborValue[])[2] as Uint8Array)
  assert.ok(payload instanceof Map)
  return payload
}

const fill = (length: number, byte: number) => new Uint8Array(length).fill(byte)
const ueid = (first = 0x01, length = 33) => Uint8Array.of(first, ...fill(length - 1, 0x02))

function component(entries: [number, CborValue][] = []): CborMap {
  return new Map<CborKey, CborValue>([[1, 'PRoT'], [2, fill(32, 3)], [5, fill(32, 4)], ...entries])
}

/** The RFC 9783 Appendix A.1 claims-set, with changes: `undefined` deletes a claim. */
function tfm(changes: [CborKey, CborValue | undefined][] = []): CborMap {
  const payload = new Map<CborKey, CborValue>([
    [256, ueid()],
    [2396, fill(32, 0)],
    [10, fill(32, 1)],
    [2394, 2147483647],
    [2395, 12288],
    [265, PSA_PROFILE_TFM],
    [268, fill(8, 0)],
    [2399, [component()]],
  ])
  return apply(payload, changes)
}

/** A minimal valid PSA_IOT_PROFILE_1 claims-set, with changes. */
function legacy(changes: [CborKey, CborValue | undefined][] = []): CborMap {
  const payload = new Map<CborKey, CborValue>([
    [-75000, PSA_PROFILE_LEGACY],
    [-75001, 3002],
    [-75002, 0x3000],
    [-75003, fill(32, 0xaa)],
    [-75004, fill(32, 0xa0)],
    [-75006, [component()]],
    [-75008, fill(64, 0)],
    [-75009, ueid()],
  ])
  return apply(payload, changes)
}

function apply(payload: CborMap, changes: [CborKey, CborValue | undefined][]): CborMap {
  for (const [key, value] of changes) {
    if (value === undefined) payload.delete(key)
    else payload.set(key, value)
  }
  return payload
}

/** Asserts that `fn` throws a VerifierError with exactly `code` (and `message`, when given). */
function throwsCode(fn: () => unknown, code: ErrorCode, message?: string | RegExp) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (typeof message === 'string') assert.equal(e.message, message)
    else if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

/** Asserts that decoding `payload` fails with exactly `code` (and `message`, when given). */
function rejects(payload: CborMap, code: ErrorCode, message?: string | RegExp) {
  throwsCode(() => decodePsaClaims(payload), code, message)
}

describe('PSA claims: published vectors', () => {
  it('decodes the RFC 9783 A.1 claims-set to exactly the RFC values', () => {
    const expected: PsaClaims = {
      profile: 'tfm',
      profileUri: 'tag:psacertified.org,2023:psa#tfm',
      nonce: fill(32, 0x01),
      instanceId: ueid(),
      implementationId: fill(32, 0x00),
      clientId: 2147483647,
      securityLifecycle: 12288,
      lifecycleState: 'secured',
      bootSeed: fill(8, 0x00),
      softwareComponents: [
        { measurementType: 'PRoT', measurementValue: fill(32, 0x03), signerId: fill(32, 0x04) },
      ],
    }
    assert.deepEqual(decodePsaClaims(vectorPayload('rfc9783-a1-psa-sign1.json')), expected)
    assert.deepEqual(decodePsaClaims(tfm()), expected)
  })

  it('decodes the RFC 9783 A.2 (COSE_Mac0) claims-set', () => {
    const claims = decodePsaClaims(vectorPayload('rfc9783-a2-psa-mac0.json'), 'tfm')
    const instanceId = '01c557bd4fadc83f756fca2cd5ea2dcc8b82159bb4e7453d6a744d4eecd6d0ac60'
    assert.deepEqual(claims.instanceId, fromHex(instanceId))
    assert.equal(claims.lifecycleState, 'secured')
  })

  it('decodes the TF-M legacy PSA_IOT_PROFILE_1 token', () => {
    const claims = decodePsaClaims(vectorPayload(LEGACY_VECTOR), 'legacy')
    assert.equal(claims.profile, 'legacy')
    assert.equal(claims.profileUri, PSA_PROFILE_LEGACY)
    assert.equal(claims.clientId, 3002)
    assert.equal(claims.nonce.length, 64)
    assert.deepEqual(claims.bootSeed, fromHex(TFM_BOOT_SEED))
    assert.deepEqual(claims.instanceId, fromHex(TFM_INSTANCE_ID))
    assert.equal(claims.certificationReference, '0604565272829-10010')
    assert.equal(claims.verificationServiceIndicator, 'www.trustedfirmware.org')
    assert.equal(claims.lifecycleState, 'secured')
    assert.equal(claims.noSoftwareMeasurements, undefined)
    assert.equal(claims.softwareComponents.length, 2)
    assert.deepEqual(claims.softwareComponents[0], {
      measurementType: 'SPE',
      measurementValue: fromHex('f79f1fe6aa0445d620a017d3d5c5215a20367fc135b6ad355beda66a21b693a9'),
      version: '1.6.0',
      signerId: fromHex('bfe6d86f8826f4ff97fb96c4e6fbc4993e4619fc565da26adf34c329489adc38'),
      measurementDescription: 'SHA256',
    })
    assert.equal(claims.softwareComponents[1]?.measurementType, 'NSPE')
  })

  it('decodes the TF-M http://arm.com/psa/2.0.0 token, boot seed under 2397', () => {
    const claims = decodePsaClaims(vectorPayload(PSA_2_0_0_VECTOR))
    assert.equal(claims.profile, 'psa-2.0.0')
    assert.equal(claims.profileUri, PSA_PROFILE_2_0_0)
    assert.equal(claims.clientId, 3002)
    assert.equal(claims.nonce.length, 64)
    assert.deepEqual(claims.bootSeed, fromHex(TFM_BOOT_SEED))
    assert.deepEqual(claims.instanceId, fromHex(TFM_INSTANCE_ID))
    assert.equal(claims.certificationReference, '0604565272829-10010')
    assert.equal(claims.softwareComponents.length, 2)
    assert.equal(claims.softwareComponents[1]?.version, '0.0.0')
  })

  it('detects the profile of each vector', () => {
    assert.equal(detectPsaProfile(vectorPayload('rfc9783-a1-psa-sign1.json')), 'tfm')
    assert.equal(detectPsaProfile(vectorPayload(LEGACY_VECTOR)), 'legacy')
    assert.equal(detectPsaProfile(vectorPayload(PSA_2_0_0_VECTOR)), 'psa-2.0.0')
  })
})

describe('PSA claims: profile', () => {
  it('rejects an unknown profile string', () => {
    rejects(tfm([[265, 'tag:example.com,2024:other']]), 'ERR_PROFILE_UNKNOWN', /\(265\)/)
  })

  it('rejects a derived profile it does not implement, and the OID form', () => {
    rejects(tfm([[265, 'tag:psacertified.org,2023:psa#aes-mac']]), 'ERR_PROFILE_UNKNOWN')
    rejects(tfm([[265, Uint8Array.of(0x2a, 0x03)]]), 'ERR_PROFILE_UNKNOWN')
  })

  it('rejects a claims-set without any profile claim, or a wrong legacy profile value', () => {
    rejects(tfm([[265, undefined]]), 'ERR_PROFILE_UNKNOWN')
    rejects(legacy([[-75000, 'PSA_IOT_PROFILE_2']]), 'ERR_PROFILE_UNKNOWN', /-75000/)
  })

  it('rejects a token whose profile disagrees with expectedProfile', () => {
    throwsCode(() => decodePsaClaims(tfm(), 'legacy'), 'ERR_PROFILE_MISMATCH')
    throwsCode(() => decodePsaClaims(legacy(), 'tfm'), 'ERR_PROFILE_MISMATCH')
    throwsCode(() => decodePsaClaims(tfm([[265, PSA_PROFILE_2_0_0]]), 'tfm'), 'ERR_PROFILE_MISMATCH')
  })

  it('checks the profile before any other claim', () => {
    throwsCode(() => decodePsaClaims(tfm([[10, undefined]]), 'legacy'), 'ERR_PROFILE_MISMATCH')
  })
})

describe('PSA claims: mandatory claims', () => {
  for (const [name, key] of [
    ['nonce', 10],
    ['instance id', 256],
    ['implementation id', 2396],
    ['client id', 2394],
    ['security lifecycle', 2395],
    ['software components', 2399],
  ] as const) {
    it(`rejects a TF-M token without the ${name} (${key})`, () => {
      rejects(tfm([[key, undefined]]), 'ERR_PROFILE_CLAIM_MISSING', new RegExp(`\\(${key}\\)`))
    })
  }

  it('names the claim and its key in the message and the path', () => {
    assert.throws(
      () => decodePsaClaims(tfm([[10, undefined]])),
      (e) =>
        e instanceof VerifierError &&
        e.code === 'ERR_PROFILE_CLAIM_MISSING' &&
        e.message === 'psa-nonce (10): mandatory claim is missing' &&
        e.path === '${10}',
    )
  })

  it('accepts a TF-M token without the optional claims', () => {
    const claims = decodePsaClaims(tfm([[268, undefined]]))
    assert.equal(claims.bootSeed, undefined)
    assert.equal('bootSeed' in claims, false)
    assert.equal(claims.certificationReference, undefined)
    assert.equal(claims.verificationServiceIndicator, undefined)
  })

  it('ignores unknown claims, including 2397 in a TF-M token and text keys', () => {
    const payload = tfm([[2397, 'not a boot seed'], [99999, [1, 2]], ['eat_nonce', 'x'], [-75009, 1]])
    const claims = decodePsaClaims(payload)
    assert.deepEqual(claims.bootSeed, fill(8, 0))
    assert.deepEqual(claims.instanceId, ueid())
  })
})

describe('PSA claims: values', () => {
  it('rejects a 31-byte implementation id', () => {
    rejects(tfm([[2396, fill(31, 0)]]), 'ERR_PROFILE_CLAIM_INVALID', /\(2396\): expected 32 bytes, got 31/)
  })

  it('rejects a ueid whose first byte is not 0x01 (RAND)', () => {
    rejects(tfm([[256, ueid(0x02)]]), 'ERR_PROFILE_CLAIM_INVALID', /0x01 \(RAND\), got 0x02/)
  })

  it('rejects a ueid that is not 33 bytes', () => {
    rejects(tfm([[256, ueid(0x01, 17)]]), 'ERR_PROFILE_CLAIM_INVALID', /expected 33 bytes, got 17/)
    rejects(tfm([[256, new Uint8Array(0)]]), 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('rejects a nonce of a size other than 32, 48 or 64 bytes', () => {
    rejects(tfm([[10, fill(33, 1)]]), 'ERR_PROFILE_CLAIM_INVALID', /psa-nonce \(10\)/)
    rejects(tfm([[10, fill(8, 1)]]), 'ERR_PROFILE_CLAIM_INVALID')
    for (const size of [32, 48, 64]) {
      assert.equal(decodePsaClaims(tfm([[10, fill(size, 1)]])).nonce.length, size)
    }
  })

  it('rejects a nonce sent as an array', () => {
    rejects(tfm([[10, [fill(32, 1)]]]), 'ERR_PROFILE_CLAIM_INVALID', /array form/)
    rejects(tfm([[10, [fill(32, 1), fill(32, 2)]]]), 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('rejects client id 0', () => {
    rejects(tfm([[2394, 0]]), 'ERR_PROFILE_CLAIM_INVALID', 'psa-client-id (2394): 0 is not allowed')
  })

  it('accepts client ids across the int32 range and rejects those beyond it', () => {
    for (const id of [-2147483648, -1, 1, 2147483647]) {
      assert.equal(decodePsaClaims(tfm([[2394, id]])).clientId, id)
    }
    rejects(tfm([[2394, 2147483648]]), 'ERR_PROFILE_CLAIM_INVALID', /int32/)
    rejects(tfm([[2394, -2147483649]]), 'ERR_PROFILE_CLAIM_INVALID', /int32/)
    rejects(tfm([[2394, 2n ** 64n]]), 'ERR_PROFILE_CLAIM_INVALID', /int32/)
  })

  it('rejects lifecycle 0x0000 (unknown)', () => {
    rejects(tfm([[2395, 0x0000]]), 'ERR_PSA_LIFECYCLE_INVALID', /\(2395\): 0x0000 .*unknown/)
    rejects(tfm([[2395, 0x00ff]]), 'ERR_PSA_LIFECYCLE_INVALID')
  })

  it('rejects lifecycle 0x7000 and other values outside every range', () => {
    for (const value of [0x7000, 0x0100, 0x30ff + 1, 0x6100, 0x10000]) {
      rejects(tfm([[2395, value]]), 'ERR_PSA_LIFECYCLE_INVALID')
    }
    rejects(tfm([[2395, 2n ** 64n]]), 'ERR_PSA_LIFECYCLE_INVALID')
  })

  it('reports every defined lifecycle state, trusted or not', () => {
    assert.equal(decodePsaClaims(tfm([[2395, 0x1000]])).lifecycleState, 'assembly-and-test')
    assert.equal(decodePsaClaims(tfm([[2395, 0x40ff]])).lifecycleState, 'non-psa-rot-debug')
    assert.equal(decodePsaClaims(tfm([[2395, 0x6001]])).lifecycleState, 'decommissioned')
  })

  it('rejects a lifecycle that is not an unsigned integer', () => {
    rejects(tfm([[2395, -1]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2395, '12288']]), 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('rejects a certification reference that is not EAN-13+5 in a TF-M token', () => {
    throwsCode(
      () => decodePsaClaims(tfm([[2398, '0604565272829']])),
      'ERR_PROFILE_CLAIM_INVALID',
      /psa-certification-reference \(2398\)/,
    )
    rejects(tfm([[2398, '0604565272829-1001']]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2398, '0604565272829-10010\n']]), 'ERR_PROFILE_CLAIM_INVALID')
    const claims = decodePsaClaims(tfm([[2398, '0604565272829-10010']]))
    assert.equal(claims.certificationReference, '0604565272829-10010')
  })

  it('rejects a boot seed outside 8..32 bytes in a TF-M token', () => {
    rejects(tfm([[268, fill(7, 0)]]), 'ERR_PROFILE_CLAIM_INVALID', /psa-boot-seed \(268\)/)
    rejects(tfm([[268, fill(33, 0)]]), 'ERR_PROFILE_CLAIM_INVALID')
    assert.equal(decodePsaClaims(tfm([[268, fill(32, 0)]])).bootSeed?.length, 32)
  })

  it('rejects a wrong-typed claim: text where bytes are expected', () => {
    throwsCode(
      () => decodePsaClaims(tfm([[2396, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']])),
      'ERR_PROFILE_CLAIM_INVALID',
      'psa-implementation-id (2396): expected a byte string, got a text string',
    )
    rejects(tfm([[2400, fill(4, 0)]]), 'ERR_PROFILE_CLAIM_INVALID', /\(2400\)/)
  })
})

describe('PSA claims: software components', () => {
  it('rejects a component without measurement-value', () => {
    const bad = component()
    bad.delete(2)
    throwsCode(
      () => decodePsaClaims(tfm([[2399, [component(), bad]]])),
      'ERR_PROFILE_CLAIM_INVALID',
      'psa-software-components (2399)[1].measurement-value (2): missing',
    )
  })

  it('rejects a component without signer-id (mandatory in the RFC 9783 CDDL)', () => {
    const bad = component()
    bad.delete(5)
    rejects(tfm([[2399, [bad]]]), 'ERR_PROFILE_CLAIM_INVALID', /signer-id \(5\)/)
  })

  it('rejects components with a bad hash size or type', () => {
    rejects(tfm([[2399, [component([[2, fill(20, 3)]])]]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2399, [component([[5, fill(33, 4)]])]]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2399, [component([[1, 7]])]]]), 'ERR_PROFILE_CLAIM_INVALID', /\(1\)/)
  })

  it('rejects an empty list, a list that is not an array, and an entry that is not a map', () => {
    rejects(tfm([[2399, []]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2399, component()]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(tfm([[2399, [fill(32, 3)]]]), 'ERR_PROFILE_CLAIM_INVALID', /\[0\]: expected a map/)
    rejects(tfm([[2399, [new CborTag(1, 2)]]]), 'ERR_PROFILE_CLAIM_INVALID', /got tag 1/)
  })

  it('keeps optional attributes and ignores unknown component keys', () => {
    const entry = component([[4, '1.2.3'], [6, 'sha-256'], [3, 'x'], [99, 1]])
    const claims = decodePsaClaims(tfm([[2399, [entry]]]))
    assert.deepEqual(claims.softwareComponents, [
      {
        measurementType: 'PRoT',
        measurementValue: fill(32, 3),
        version: '1.2.3',
        signerId: fill(32, 4),
        measurementDescription: 'sha-256',
      },
    ])
  })
})

describe('PSA claims: legacy PSA_IOT_PROFILE_1', () => {
  it('rejects a token without software components and without -75007', () => {
    rejects(legacy([[-75006, undefined]]), 'ERR_PROFILE_CLAIM_MISSING', /-75006.*-75007/)
  })

  it('accepts no software components when -75007 is 1', () => {
    const claims = decodePsaClaims(legacy([[-75006, undefined], [-75007, 1]]))
    assert.deepEqual(claims.softwareComponents, [])
    assert.equal(claims.noSoftwareMeasurements, true)
  })

  it('rejects -75007 other than 1, or together with software components', () => {
    rejects(legacy([[-75006, undefined], [-75007, 0]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(legacy([[-75007, 1]]), 'ERR_PROFILE_CLAIM_INVALID', /-75007/)
  })

  it('requires a 32-byte boot seed', () => {
    rejects(legacy([[-75004, undefined]]), 'ERR_PROFILE_CLAIM_MISSING', /-75004/)
    rejects(legacy([[-75004, fill(8, 0)]]), 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('accepts an EAN-13 or EAN-13+5 certification reference', () => {
    for (const reference of ['0604565272829', '0604565272829-10010']) {
      assert.equal(decodePsaClaims(legacy([[-75005, reference]])).certificationReference, reference)
    }
    rejects(legacy([[-75005, '060456527282']]), 'ERR_PROFILE_CLAIM_INVALID', /-75005/)
  })

  it('applies the same client id, ueid and lifecycle rules under the legacy keys', () => {
    rejects(legacy([[-75001, 0]]), 'ERR_PROFILE_CLAIM_INVALID', 'psa-client-id (-75001): 0 is not allowed')
    rejects(legacy([[-75009, ueid(0x03)]]), 'ERR_PROFILE_CLAIM_INVALID')
    rejects(legacy([[-75008, undefined]]), 'ERR_PROFILE_CLAIM_MISSING', /-75008/)
    rejects(legacy([[-75002, 0x7000]]), 'ERR_PSA_LIFECYCLE_INVALID')
  })

  it('does not read the RFC 9783 keys in a legacy token', () => {
    const claims = decodePsaClaims(legacy([[10, fill(32, 9)], [256, ueid(0x01, 33).fill(9, 1)]]))
    assert.deepEqual(claims.nonce, fill(64, 0))
    assert.deepEqual(claims.instanceId, ueid())
  })
})

describe('PSA claims: helpers', () => {
  it('readInstanceIdHint reads ueid, or -75009 in a legacy token, without validating it', () => {
    assert.deepEqual(readInstanceIdHint(tfm()), ueid())
    assert.deepEqual(readInstanceIdHint(tfm([[256, fill(3, 7)]])), fill(3, 7))
    assert.deepEqual(readInstanceIdHint(legacy([[-75009, fill(2, 5)]])), fill(2, 5))
    assert.deepEqual(readInstanceIdHint(new Map([[256, fill(2, 5)]])), fill(2, 5))
    assert.equal(readInstanceIdHint(tfm([[256, 'text']])), undefined)
    assert.equal(readInstanceIdHint(tfm([[256, undefined]])), undefined)
    assert.equal(readInstanceIdHint(new Map()), undefined)
  })

  it('readInstanceIdHint and decodePsaClaims agree on the Instance ID', () => {
    for (const payload of [tfm([[-75009, ueid(0x01).fill(7, 1)]]), legacy([[256, ueid(0x01).fill(7, 1)]])]) {
      assert.deepEqual(readInstanceIdHint(payload), decodePsaClaims(payload).instanceId)
    }
  })

  it('lifecycleState maps each range and rejects the rest', () => {
    const cases: [number, string | undefined][] = [
      [0x0000, 'unknown'],
      [0x00ff, 'unknown'],
      [0x0100, undefined],
      [0x1000, 'assembly-and-test'],
      [0x20ff, 'psa-rot-provisioning'],
      [0x3000, 'secured'],
      [0x3080, 'secured'],
      [0x4000, 'non-psa-rot-debug'],
      [0x5001, 'recoverable-psa-rot-debug'],
      [0x60ff, 'decommissioned'],
      [0x7000, undefined],
      [-1, undefined],
      [0x3000 + 0.5, undefined],
    ]
    for (const [value, state] of cases) assert.equal(lifecycleState(value), state, value.toString(16))
  })

  it('isTrustworthyLifecycle trusts only SECURED and NON_PSA_ROT_DEBUG', () => {
    assert.equal(isTrustworthyLifecycle(0x3000), true)
    assert.equal(isTrustworthyLifecycle(0x30ff), true)
    assert.equal(isTrustworthyLifecycle(0x4000), true)
    assert.equal(isTrustworthyLifecycle('secured'), true)
    for (const value of [0x0000, 0x1000, 0x2000, 0x3100, 0x5000, 0x6000, 0x7000]) {
      assert.equal(isTrustworthyLifecycle(value), false, value.toString(16))
    }
    assert.equal(isTrustworthyLifecycle('recoverable-psa-rot-debug'), false)
  })

  it('accepts every profile as expectedProfile when it matches', () => {
    const cases: [PsaProfile, CborMap][] = [
      ['tfm', tfm()],
      ['legacy', legacy()],
      ['psa-2.0.0', tfm([[265, PSA_PROFILE_2_0_0], [268, undefined], [2397, fill(32, 1)]])],
    ]
    for (const [profile, payload] of cases) assert.equal(decodePsaClaims(payload, profile).profile, profile)
    assert.deepEqual(decodePsaClaims(cases[2]![1]).bootSeed, fill(32, 1))
  })
})
