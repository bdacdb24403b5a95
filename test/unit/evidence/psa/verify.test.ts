import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { CborTag, decodeCbor, encodeCbor, type CborMap, type EncodableValue } from '../../../../src/cose/cbor.js'
import { importJwk, importSecret, type PublicKey, type SecretKey } from '../../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import { macStructure0 } from '../../../../src/cose/structure.js'
import { PSA_MAX_TOKEN_BYTES, verifyPsaToken, type PsaVerifyOptions } from '../../../../src/evidence/psa/verify.js'
import { base64urlDecode } from '../../../../src/util/base64url.js'
import { bytesEqual, fromHex, toHex } from '../../../../src/util/bytes.js'
import { flipS, generateTestKey, rfc9783Iak, signSign1, type TestKeyPair } from '../../../helpers/cose.js'
import { readVector } from '../../../helpers/vectors.js'

const vectorJson = (id: string) =>
  readVector<{
    token_hex: string
    key: { k: string }
  }>(id)

const RFC_TOKEN = fromHex(vectorJson('rfc9783-a1-psa-sign1').token_hex)
const RFC_MAC0 = fromHex(vectorJson('rfc9783-a2-psa-mac0').token_hex)
const MAC_KEY = importSecret(base64urlDecode(vectorJson('rfc9783-a2-psa-mac0').key.k))
const iak = rfc9783Iak()
const INSTANCE_ID = fromHex('01' + '02'.repeat(32))
const NONCE = fromHex('01'.repeat(32))

/** The RFC 9783 A.1 claims, as a Map the tests can change and re-sign. */
function rfcClaims(): Map<number, EncodableValue> {
  const outer = decodeCbor(RFC_TOKEN, { allowedTags: new Set([18]) }) as CborTag
  return new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
}

function trustStore(entries: [Uint8Array, PublicKey | SecretKey][]): PsaVerifyOptions['resolveKey'] {
  return ({ instanceId }) => entries.find(([id]) => bytesEqual(id, instanceId))?.[1]
}

const resolveIak = trustStore([[INSTANCE_ID, iak.publicKey]])

function sign(key: TestKeyPair, claims: Map<number, EncodableValue>, extra: Partial<Parameters<typeof signSign1>[1]> = {}) {
  return signSign1(key, { payload: encodeCbor(claims), ...extra })
}

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, String(e))
    assert.equal(e.code, code, e.message)
    return true
  })
}

describe('PSA token: RFC 9783 examples', () => {
  it('verifies A.1 with the published IAK found by Instance ID, and decodes the RFC values', () => {
    const { claims, protection, algorithm } = verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedNonce: NONCE })
    assert.equal(protection, 'sign1')
    assert.equal(algorithm.name, 'ES256')
    assert.equal(claims.profile, 'tfm')
    assert.equal(toHex(claims.instanceId), '01' + '02'.repeat(32))
    assert.equal(toHex(claims.implementationId), '00'.repeat(32))
    assert.equal(toHex(claims.nonce), '01'.repeat(32))
    assert.equal(claims.clientId, 2147483647)
    assert.equal(claims.securityLifecycle, 0x3000)
    assert.equal(claims.lifecycleState, 'secured')
    assert.equal(toHex(claims.bootSeed!), '00'.repeat(8))
    assert.equal(claims.softwareComponents.length, 1)
    const [c] = claims.softwareComponents
    assert.equal(c!.measurementType, 'PRoT')
    assert.equal(toHex(c!.measurementValue), '03'.repeat(32))
    assert.equal(toHex(c!.signerId!), '04'.repeat(32))
  })

  it('verifies the A.2 COSE_Mac0 token with the symmetric IAK, whose Instance ID derives from the key', () => {
    const raw = base64urlDecode(vectorJson('rfc9783-a2-psa-mac0').key.k)
    const derived = new Uint8Array([1, ...createHash('sha256').update(createHash('sha256').update(raw).digest()).digest()])
    const { claims, protection } = verifyPsaToken(RFC_MAC0, { resolveKey: trustStore([[derived, MAC_KEY]]), expectedNonce: NONCE })
    assert.equal(protection, 'mac0')
    assert.ok(bytesEqual(claims.instanceId, derived))
  })

  it('accepts the media-type profile when it names the token profile', () => {
    assert.doesNotThrow(() =>
      verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedProfile: 'TAG:psacertified.org,2023:psa#tfm' }),
    )
  })

  it('accepts re-signed tokens with high-S and low-S signatures alike', () => {
    for (let i = 0; i < 6; i++) {
      const claims = rfcClaims()
      claims.set(10, new Uint8Array(32).fill(i))
      const token = sign(iak, claims)
      const flipped = sign(iak, claims, { signature: (s) => flipS(iak, s) })
      for (const t of [token, flipped]) assert.doesNotThrow(() => verifyPsaToken(t, { resolveKey: resolveIak }))
    }
  })

  it('accepts ES384 with a P-384 IAK', () => {
    const p384 = generateTestKey('ES384')
    const token = sign(p384, rfcClaims())
    assert.equal(verifyPsaToken(token, { resolveKey: trustStore([[INSTANCE_ID, p384.publicKey]]) }).algorithm.name, 'ES384')
  })
})

describe('PSA token: rejections', () => {
  it('unknown Instance ID', () => {
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: trustStore([]) }), 'ERR_KEY_NOT_FOUND')
  })
  it('wrong key for the Instance ID', () => {
    const other = generateTestKey('ES256')
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: trustStore([[INSTANCE_ID, other.publicKey]]) }), 'ERR_COSE_SIGNATURE_INVALID')
  })
  it('tampered measurement', () => {
    const tampered = new Uint8Array(RFC_TOKEN)
    const at = toHex(tampered).indexOf('03'.repeat(32)) / 2
    tampered[at] = 0x13
    rejects(() => verifyPsaToken(tampered, { resolveKey: resolveIak }), 'ERR_COSE_SIGNATURE_INVALID')
  })
  it('tampered MAC0 token', () => {
    const tampered = new Uint8Array(RFC_MAC0)
    tampered[tampered.length - 40] = tampered[tampered.length - 40]! ^ 1
    rejects(() => verifyPsaToken(tampered, { resolveKey: () => MAC_KEY }), 'ERR_COSE_MAC_INVALID')
  })
  it('nonce that does not answer the challenge', () => {
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedNonce: new Uint8Array(32).fill(9) }), 'ERR_CLAIMS_NONCE_MISMATCH')
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedNonce: NONCE.subarray(1) }), 'ERR_CLAIMS_NONCE_MISMATCH')
  })
  it('media-type profile that disagrees with the token, or is not a PSA profile', () => {
    rejects(
      () => verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedProfile: 'tag:psacertified.org,2019:psa#legacy' }),
      'ERR_PROFILE_MISMATCH',
    )
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, expectedProfile: 'urn:ietf:rfc:rfc9711' }), 'ERR_PROFILE_UNKNOWN')
  })
  it('untagged, CWT-tagged, or COSE_Sign-tagged token', () => {
    rejects(() => verifyPsaToken(sign(iak, rfcClaims(), { tag: 'none' }), { resolveKey: resolveIak }), 'ERR_COSE_UNTAGGED')
    rejects(() => verifyPsaToken(sign(iak, rfcClaims(), { tag: 'cwt' }), { resolveKey: resolveIak }), 'ERR_COSE_WRONG_TAG')
    rejects(() => verifyPsaToken(sign(iak, rfcClaims(), { tag: 98 }), { resolveKey: resolveIak }), 'ERR_COSE_WRONG_TAG')
  })
  it('algorithm outside the PSA allow-list, or not protected', () => {
    const ed = generateTestKey('EdDSA-Ed25519')
    rejects(() => verifyPsaToken(sign(ed, rfcClaims()), { resolveKey: () => ed.publicKey }), 'ERR_COSE_ALG_NOT_ALLOWED')
    const unprotected = sign(iak, rfcClaims(), { protectedHeader: new Uint8Array(0), unprotectedHeader: new Map([[1, -7]]) })
    rejects(() => verifyPsaToken(unprotected, { resolveKey: resolveIak }), 'ERR_COSE_ALG_UNPROTECTED')
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: resolveIak, algorithms: new Set([-35]) }), 'ERR_COSE_ALG_NOT_ALLOWED')
  })
  it('ES512 over a P-256 key (the curve pairing is enforced for PSA)', () => {
    const es512OnP256 = { ...iak, coseAlg: -36, hash: 'sha512' as const }
    rejects(() => verifyPsaToken(sign(es512OnP256, rfcClaims()), { resolveKey: resolveIak }), 'ERR_COSE_KEY_ALG_MISMATCH')
  })
  it('a Sign1 token with a symmetric key, a Mac0 token with a public key', () => {
    rejects(() => verifyPsaToken(RFC_TOKEN, { resolveKey: () => MAC_KEY }), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verifyPsaToken(RFC_MAC0, { resolveKey: () => iak.publicKey }), 'ERR_COSE_KEY_ALG_MISMATCH')
  })
  it('HMAC key shorter than the hash', () => {
    const macMessage = decodeCbor(RFC_MAC0, { allowedTags: new Set([17]) }) as CborTag
    const [prot, unprot, payload] = macMessage.value as [Uint8Array, CborMap, Uint8Array]
    const shortKey = new Uint8Array(16).fill(7)
    const tag = createHmac('sha256', shortKey).update(macStructure0(prot, new Uint8Array(0), payload)).digest()
    const token = encodeCbor(new CborTag(17, [prot, unprot, payload, new Uint8Array(tag)]))
    rejects(() => verifyPsaToken(token, { resolveKey: () => importSecret(shortKey) }), 'ERR_KEY_UNSUPPORTED')
  })
  it('signed token without an Instance ID', () => {
    const claims = rfcClaims()
    claims.delete(256)
    rejects(() => verifyPsaToken(sign(iak, claims), { resolveKey: resolveIak }), 'ERR_PROFILE_CLAIM_MISSING')
  })
  it('signed token that breaks a profile rule is rejected after the signature verified', () => {
    const claims = rfcClaims()
    claims.set(2395, 0x0000)
    rejects(() => verifyPsaToken(sign(iak, claims), { resolveKey: resolveIak }), 'ERR_PSA_LIFECYCLE_INVALID')
    const badClient = rfcClaims()
    badClient.set(2394, 0)
    rejects(() => verifyPsaToken(sign(iak, badClient), { resolveKey: resolveIak }), 'ERR_PROFILE_CLAIM_INVALID')
  })
  it('profile rules never run on a token whose signature fails', () => {
    const claims = rfcClaims()
    claims.set(2395, 0x0000)
    const forged = sign(generateTestKey('ES256'), claims)
    rejects(() => verifyPsaToken(forged, { resolveKey: resolveIak }), 'ERR_COSE_SIGNATURE_INVALID')
  })
  it('payload that is not a claims map, or detached', () => {
    rejects(() => verifyPsaToken(signSign1(iak, { payload: encodeCbor([1, 2]) }), { resolveKey: resolveIak }), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
    rejects(() => verifyPsaToken(signSign1(iak, { payload: null }), { resolveKey: resolveIak }), 'ERR_COSE_PAYLOAD_DETACHED')
  })
  it('truncated, oversized, or not CBOR at all', () => {
    rejects(() => verifyPsaToken(RFC_TOKEN.subarray(0, 100), { resolveKey: resolveIak }), 'ERR_CBOR_TRUNCATED')
    rejects(() => verifyPsaToken(new Uint8Array(PSA_MAX_TOKEN_BYTES + 1), { resolveKey: resolveIak }), 'ERR_CBOR_TOO_LARGE')
    rejects(() => verifyPsaToken(new TextEncoder().encode('hello'), { resolveKey: resolveIak }), 'ERR_COSE_UNTAGGED')
  })
  it('deeply nested claims', () => {
    const claims = rfcClaims()
    let deep: EncodableValue = 1
    for (let i = 0; i < 20; i++) deep = [deep]
    claims.set(-1, deep)
    rejects(() => verifyPsaToken(sign(iak, claims), { resolveKey: resolveIak }), 'ERR_CBOR_TOO_DEEP')
  })
  it('leaves the trust store key untouched when a token is forged', () => {
    const jwk = iak.publicKey.keyObject.export({ format: 'jwk' })
    const key = importJwk(jwk)
    rejects(() => verifyPsaToken(sign(generateTestKey('ES256'), rfcClaims()), { resolveKey: () => key }), 'ERR_COSE_SIGNATURE_INVALID')
    assert.doesNotThrow(() => verifyPsaToken(RFC_TOKEN, { resolveKey: () => key }))
  })
})

describe('PSA token: CWT time claims (exp, nbf, iat) like every format', () => {
  const T = 1_800_000_000
  const clock = { nowSeconds: () => T }
  const verify = (extra: [number, EncodableValue][], skewSeconds?: number) => {
    const claims = rfcClaims()
    for (const [k, v] of extra) claims.set(k, v)
    return verifyPsaToken(sign(iak, claims), { resolveKey: resolveIak, clock, ...(skewSeconds === undefined ? {} : { skewSeconds }) })
  }

  it('accepts a token inside its exp/nbf window with an iat in the past', () => {
    assert.doesNotThrow(() => verify([[4, T + 60], [5, T - 60], [6, T - 10]]))
  })

  it('refuses an expired token, one not yet valid, and one issued in the future', () => {
    rejects(() => verify([[4, T]]), 'ERR_CLAIMS_EXPIRED')
    rejects(() => verify([[4, T - 3600]]), 'ERR_CLAIMS_EXPIRED')
    rejects(() => verify([[5, T + 1]]), 'ERR_CLAIMS_NOT_YET_VALID')
    rejects(() => verify([[6, T + 1]]), 'ERR_CLAIMS_NOT_YET_VALID')
  })

  it('applies the skew', () => {
    assert.doesNotThrow(() => verify([[4, T - 30], [6, T + 30]], 60))
    rejects(() => verify([[4, T - 30]], 10), 'ERR_CLAIMS_EXPIRED')
  })

  it('refuses time claims that are no NumericDate, and a float iat', () => {
    rejects(() => verify([[4, 'soon']]), 'ERR_CLAIMS_INVALID')
    rejects(() => verify([[5, new Uint8Array(4)]]), 'ERR_CLAIMS_INVALID')
    rejects(() => verify([[6, 1.5]]), 'ERR_CLAIMS_FLOAT_TIME')
  })

  it('accepts a float exp (RFC 8392 NumericDate) and a bigint-range one', () => {
    assert.doesNotThrow(() => verify([[4, T + 0.5]]))
    assert.doesNotThrow(() => verify([[4, 2n ** 60n]]))
  })
})
