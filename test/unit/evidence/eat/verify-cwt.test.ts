import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { ALG } from '../../../../src/cose/algorithms.js'
import { CborTag, encodeCbor, type CborValue, type EncodableValue } from '../../../../src/cose/cbor.js'
import { macStructure0 } from '../../../../src/cose/structure.js'
import { importSecret, type PublicKey, type SecretKey } from '../../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import { EAT_ALGORITHMS, verifyCwt, type CwtVerifyOptions } from '../../../../src/evidence/eat/verify-cwt.js'
import { concatBytes, fromHex } from '../../../../src/util/bytes.js'
import { fixedClock } from '../../../../src/util/clock.js'
import { generateTestKey, signSign1 } from '../../../helpers/cose.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

const NOW = 1_700_000_000
const clock = fixedClock(NOW)

const es256 = generateTestKey('ES256')
const ed25519 = generateTestKey('EdDSA-Ed25519')
const macKeyBytes = new Uint8Array(randomBytes(32))
const macKey = importSecret(macKeyBytes)
const MAC_AND_EAT_ALGORITHMS: ReadonlySet<number> = new Set([...EAT_ALGORITHMS, ALG.HMAC_256_256])

const nonce = new Uint8Array(randomBytes(32))
const ueid = concatBytes(Uint8Array.of(0x01), new Uint8Array(randomBytes(32)))

interface ClaimTimes {
  readonly iat?: number
  readonly exp?: number
  readonly nbf?: number
  readonly nonce?: Uint8Array
}

/** eat_nonce (10), ueid (256), iat (6), exp (4), nbf (5): a token valid at NOW unless told otherwise. */
function claims(times: ClaimTimes = {}): Uint8Array {
  return encodeCbor(
    new Map<number, CborValue>([
      [10, times.nonce ?? nonce],
      [256, ueid],
      [6, times.iat ?? NOW - 10],
      [4, times.exp ?? NOW + 300],
      [5, times.nbf ?? NOW - 10],
    ]),
  )
}

/** A COSE_Mac0 with HMAC 256/256, wrapped in 61(17(...)) unless `cwtTag` is false. */
function macCwt(payload: Uint8Array, options: { key?: Uint8Array; cwtTag?: boolean } = {}): Uint8Array {
  const protectedBytes = encodeCbor(new Map([[1, ALG.HMAC_256_256]]))
  const toBeMaced = macStructure0(protectedBytes, new Uint8Array(0), payload)
  const tag = new Uint8Array(createHmac('sha256', options.key ?? macKeyBytes).update(toBeMaced).digest())
  const mac0 = new CborTag(17, [protectedBytes, new Map(), payload, tag] as EncodableValue as never)
  return encodeCbor(options.cwtTag === false ? mac0 : new CborTag(61, mac0))
}

function verify(token: Uint8Array, key: PublicKey | SecretKey, extra: Partial<CwtVerifyOptions> = {}) {
  return verifyCwt(token, { key, algorithms: MAC_AND_EAT_ALGORITHMS, clock, ...extra })
}

describe('verifyCwt: tokens that verify', () => {
  it('COSE_Sign1 tagged 18(...)', () => {
    const result = verify(signSign1(es256, { payload: claims() }), es256.publicKey)
    assert.equal(result.protection, 'sign1')
    assert.equal(result.cwtTagged, false)
    assert.equal(result.algorithm.id, ALG.ES256)
    assert.deepEqual(result.claims.nonces, [nonce])
    assert.deepEqual(result.claims.ueid, ueid)
    assert.equal(Number(result.claims.iat), NOW - 10)
    assert.equal(Number(result.claims.exp), NOW + 300)
    assert.equal(Number(result.claims.nbf), NOW - 10)
  })

  it('CWT-tagged 61(18(...))', () => {
    const result = verify(signSign1(es256, { payload: claims(), tag: 'cwt' }), es256.publicKey)
    assert.equal(result.protection, 'sign1')
    assert.equal(result.cwtTagged, true)
  })

  it('untagged, where the caller allows it', () => {
    const token = signSign1(ed25519, { payload: claims(), tag: 'none' })
    const result = verify(token, ed25519.publicKey, { untagged: true })
    assert.equal(result.protection, 'sign1')
    assert.equal(result.cwtTagged, false)
    assert.equal(result.algorithm.id, ALG.EdDSA)
  })

  it('with the allow-list exactly EAT_ALGORITHMS', () => {
    const token = signSign1(es256, { payload: claims(), tag: 'cwt' })
    assert.doesNotThrow(() => verifyCwt(token, { key: es256.publicKey, algorithms: EAT_ALGORITHMS, clock }))
  })

  it('expected nonce that matches', () => {
    const token = signSign1(es256, { payload: claims() })
    assert.doesNotThrow(() => verify(token, es256.publicKey, { expectedNonce: new Uint8Array(nonce) }))
  })

  it('nonce sizes 8 and 64', () => {
    for (const n of [new Uint8Array(8).fill(1), new Uint8Array(64).fill(2)]) {
      const token = signSign1(es256, { payload: claims({ nonce: n }) })
      assert.doesNotThrow(() => verify(token, es256.publicKey, { expectedNonce: n }))
    }
  })

  it('external AAD', () => {
    const aad = fromHex('a1b2c3d4')
    const token = signSign1(es256, { payload: claims(), externalAad: aad })
    assert.doesNotThrow(() => verify(token, es256.publicKey, { externalAad: aad }))
    rejects(() => verify(token, es256.publicKey), 'ERR_COSE_SIGNATURE_INVALID')
  })

  it('MACed CWT 61(17(...)) and 17(...) with a symmetric key', () => {
    for (const cwtTag of [true, false]) {
      const result = verify(macCwt(claims(), { cwtTag }), macKey, { expectedNonce: nonce })
      assert.equal(result.protection, 'mac0')
      assert.equal(result.cwtTagged, cwtTag)
      assert.equal(result.algorithm.id, ALG.HMAC_256_256)
      assert.deepEqual(result.claims.ueid, ueid)
    }
  })

  it('skewSeconds lets a token 30 s past exp pass with a skew of 60', () => {
    const token = signSign1(es256, { payload: claims({ iat: NOW - 600, nbf: NOW - 600, exp: NOW - 30 }) })
    assert.doesNotThrow(() => verify(token, es256.publicKey, { skewSeconds: 60 }))
    rejects(() => verify(token, es256.publicKey), 'ERR_CLAIMS_EXPIRED')
    rejects(() => verify(token, es256.publicKey, { skewSeconds: 30 }), 'ERR_CLAIMS_EXPIRED')
  })

  it('skewSeconds lets a token whose nbf is 30 s ahead pass with a skew of 60', () => {
    const token = signSign1(es256, { payload: claims({ nbf: NOW + 30 }) })
    assert.doesNotThrow(() => verify(token, es256.publicKey, { skewSeconds: 60 }))
    rejects(() => verify(token, es256.publicKey), 'ERR_CLAIMS_NOT_YET_VALID')
  })
})

describe('verifyCwt: claims rejections', () => {
  it('expired, including exp equal to now', () => {
    const expired = signSign1(es256, { payload: claims({ iat: NOW - 600, nbf: NOW - 600, exp: NOW - 1 }) })
    rejects(() => verify(expired, es256.publicKey), 'ERR_CLAIMS_EXPIRED')
    const atNow = signSign1(es256, { payload: claims({ exp: NOW }) })
    rejects(() => verify(atNow, es256.publicKey), 'ERR_CLAIMS_EXPIRED')
  })

  it('expired MACed CWT', () => {
    rejects(() => verify(macCwt(claims({ exp: NOW - 1 })), macKey), 'ERR_CLAIMS_EXPIRED')
  })

  it('nbf in the future', () => {
    const token = signSign1(es256, { payload: claims({ nbf: NOW + 60 }) })
    rejects(() => verify(token, es256.publicKey), 'ERR_CLAIMS_NOT_YET_VALID')
  })

  it('nonce mismatch, of the same or another length', () => {
    const token = signSign1(es256, { payload: claims() })
    const other = new Uint8Array(nonce)
    other[0] = other[0]! ^ 1
    rejects(() => verify(token, es256.publicKey, { expectedNonce: other }), 'ERR_CLAIMS_NONCE_MISMATCH')
    const shorter = nonce.subarray(0, 16)
    rejects(() => verify(token, es256.publicKey, { expectedNonce: shorter }), 'ERR_CLAIMS_NONCE_MISMATCH')
  })

  it('expected nonce but no eat_nonce claim', () => {
    const token = signSign1(es256, { payload: encodeCbor(new Map<number, CborValue>([[256, ueid]])) })
    rejects(() => verify(token, es256.publicKey, { expectedNonce: nonce }), 'ERR_CLAIMS_NONCE_MISMATCH')
  })

  it('float iat', () => {
    const float = new Uint8Array(9)
    float[0] = 0xfb
    new DataView(float.buffer).setFloat64(1, NOW + 0.5)
    // { 6: <float64> }: a one-entry map, key 6, then the float.
    const payload = concatBytes(Uint8Array.of(0xa1, 0x06), float)
    rejects(() => verify(signSign1(es256, { payload }), es256.publicKey), 'ERR_CLAIMS_FLOAT_TIME')
    const integral = concatBytes(Uint8Array.of(0xa1, 0x06, 0xfb), new Uint8Array(8))
    new DataView(integral.buffer).setFloat64(3, NOW)
    rejects(() => verify(signSign1(es256, { payload: integral }), es256.publicKey), 'ERR_CLAIMS_FLOAT_TIME')
  })

  it('text claim key', () => {
    const payload = encodeCbor(new Map<string | number, CborValue>([[10, nonce], ['iat', NOW]]))
    rejects(() => verify(signSign1(es256, { payload }), es256.publicKey), 'ERR_CLAIMS_INVALID')
  })

  it('claim of the wrong type or size', () => {
    const shortNonce = encodeCbor(new Map<number, CborValue>([[10, new Uint8Array(7)]]))
    rejects(() => verify(signSign1(es256, { payload: shortNonce }), es256.publicKey), 'ERR_CLAIMS_INVALID')
    const textExp = encodeCbor(new Map<number, CborValue>([[4, 'tomorrow']]))
    rejects(() => verify(signSign1(es256, { payload: textExp }), es256.publicKey), 'ERR_CLAIMS_INVALID')
  })
})

describe('verifyCwt: envelope and key rejections', () => {
  it('untagged without untagged: true', () => {
    const token = signSign1(es256, { payload: claims(), tag: 'none' })
    rejects(() => verify(token, es256.publicKey), 'ERR_COSE_UNTAGGED')
  })

  it('payload that is an array, not a claims-set', () => {
    const payload = encodeCbor([10, nonce])
    rejects(() => verify(signSign1(es256, { payload }), es256.publicKey), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
    const text = encodeCbor('claims')
    rejects(() => verify(signSign1(es256, { payload: text }), es256.publicKey), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
  })

  it('payload that is itself a tagged COSE message (nested CWT)', () => {
    const inner = signSign1(es256, { payload: claims() })
    rejects(() => verify(signSign1(es256, { payload: inner }), es256.publicKey), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
    const innerCwt = signSign1(es256, { payload: claims(), tag: 'cwt' })
    const outerCwt = signSign1(es256, { payload: innerCwt, tag: 'cwt' })
    rejects(() => verify(outerCwt, es256.publicKey), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
    rejects(() => verify(macCwt(inner), macKey), 'ERR_COSE_PAYLOAD_NOT_CLAIMS')
  })

  it('public key for a COSE_Mac0 CWT', () => {
    rejects(() => verify(macCwt(claims()), es256.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(macCwt(claims(), { cwtTag: false }), es256.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('secret key for a COSE_Sign1 CWT', () => {
    rejects(() => verify(signSign1(es256, { payload: claims() }), macKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(signSign1(es256, { payload: claims(), tag: 'cwt' }), macKey), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('public key of the wrong type for the algorithm', () => {
    rejects(() => verify(signSign1(es256, { payload: claims() }), ed25519.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('wrong key', () => {
    const token = signSign1(es256, { payload: claims(), tag: 'cwt' })
    rejects(() => verify(token, generateTestKey('ES256').publicKey), 'ERR_COSE_SIGNATURE_INVALID')
    const macToken = macCwt(claims())
    rejects(() => verify(macToken, importSecret(new Uint8Array(randomBytes(32)))), 'ERR_COSE_MAC_INVALID')
  })

  it('algorithm outside EAT_ALGORITHMS (RS256)', () => {
    assert.equal(EAT_ALGORITHMS.has(ALG.RS256), false)
    const rs256 = generateTestKey('RS256')
    const token = signSign1(rs256, { payload: claims(), tag: 'cwt' })
    const options = { key: rs256.publicKey, algorithms: EAT_ALGORITHMS, clock }
    rejects(() => verifyCwt(token, options), 'ERR_COSE_ALG_NOT_ALLOWED')
  })

  it('MAC algorithm when the allow-list is EAT_ALGORITHMS alone', () => {
    const options = { key: macKey, algorithms: EAT_ALGORITHMS, clock }
    rejects(() => verifyCwt(macCwt(claims()), options), 'ERR_COSE_ALG_NOT_ALLOWED')
  })

  it('COSE tag that is neither Sign1 nor Mac0 inside the CWT tag', () => {
    const token = signSign1(es256, { payload: claims(), tag: 98 })
    rejects(() => verify(token, es256.publicKey), 'ERR_COSE_WRONG_TAG')
    const wrapped = new Uint8Array([0xd8, 0x3d, ...token])
    rejects(() => verify(wrapped, es256.publicKey), 'ERR_COSE_WRONG_TAG')
  })

  it('finds a COSE_Mac0 behind the self-described CBOR tag and the CWT tag', () => {
    const token = new Uint8Array([0xd9, 0xd9, 0xf7, ...macCwt(claims())])
    assert.equal(verify(token, macKey).protection, 'mac0')
  })
})
