import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { ALG } from '../../../src/cose/algorithms.js'
import { encodeCbor } from '../../../src/cose/cbor.js'
import type { MessagePolicy } from '../../../src/cose/message.js'
import { parseSign1, verifySign1, type Sign1VerifyOptions } from '../../../src/cose/sign1.js'
import { sigStructure1 } from '../../../src/cose/structure.js'
import { importJwk, importSpki, type PublicKey } from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { fromHex, utf8 } from '../../../src/util/bytes.js'
import { flipS, generateTestKey, isHighS, rawSign, signSign1, type TestKeyPair } from '../../helpers/cose.js'

const ALL_SIGNATURE_ALGS = new Set([
  ALG.ES256, ALG.ES384, ALG.ES512, ALG.ESP256, ALG.ESP384, ALG.ESP512, ALG.EdDSA, ALG.Ed25519, ALG.Ed448, ALG.PS256,
])
const POLICY: MessagePolicy = { algorithms: ALL_SIGNATURE_ALGS }
const payload = utf8('{"claims":"here"}')

const es256 = generateTestKey('ES256')
const es384 = generateTestKey('ES384')
const es512 = generateTestKey('ES512')
const ed25519 = generateTestKey('EdDSA-Ed25519')
const ed448 = generateTestKey('EdDSA-Ed448')
const ps256 = generateTestKey('PS256')

function verify(token: Uint8Array, key: PublicKey, policy: MessagePolicy = POLICY, options?: Sign1VerifyOptions) {
  return verifySign1(parseSign1(token, policy), key, options)
}

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

const protectedAlg = (alg: number, extra: [number | string, unknown][] = []) =>
  new Map<number | string, never>([[1, alg as never], ...(extra as [number, never][])])

describe('COSE_Sign1: algorithms that verify', () => {
  const cases: [string, TestKeyPair, number][] = [
    ['ES256', es256, ALG.ES256],
    ['ES384', es384, ALG.ES384],
    ['ES512', es512, ALG.ES512],
    ['ESP256', es256, ALG.ESP256],
    ['ESP384', es384, ALG.ESP384],
    ['ESP512', es512, ALG.ESP512],
    ['EdDSA with Ed25519', ed25519, ALG.EdDSA],
    ['EdDSA with Ed448', ed448, ALG.EdDSA],
    ['Ed25519', ed25519, ALG.Ed25519],
    ['Ed448', ed448, ALG.Ed448],
    ['PS256', ps256, ALG.PS256],
  ]
  for (const [name, key, alg] of cases) {
    it(name, () => {
      const token = signSign1(key, { protectedHeader: protectedAlg(alg), payload })
      const verified = verify(token, key.publicKey)
      assert.deepEqual(verified.payload, payload)
      assert.equal(verified.algorithm.id, alg)
    })
  }

  for (const key of [es256, es384, es512]) {
    it(`accepts both high-S and low-S ECDSA signatures (${key.coseAlg})`, () => {
      let sawHigh = false
      let sawLow = false
      for (let i = 0; i < 8; i++) {
        const token = signSign1(key, { payload: utf8(`message ${i}`) })
        const flipped = signSign1(key, { payload: utf8(`message ${i}`), signature: (s) => flipS(key, s) })
        for (const t of [token, flipped]) {
          const sig = (parseSign1(t, POLICY).signature)
          if (isHighS(key, sig)) sawHigh = true
          else sawLow = true
          assert.doesNotThrow(() => verify(t, key.publicKey))
        }
      }
      assert.ok(sawHigh && sawLow, 'both halves were exercised')
    })
  }

  it('verifies external AAD and fails without it', () => {
    const aad = fromHex('11aa22bb33cc44dd55006699')
    const token = signSign1(es256, { payload, externalAad: aad })
    assert.doesNotThrow(() => verify(token, es256.publicKey, POLICY, { externalAad: aad }))
    rejects(() => verify(token, es256.publicKey), 'ERR_COSE_SIGNATURE_INVALID')
  })

  it('accepts untagged messages and the CWT tag only where the policy says so', () => {
    const untagged = signSign1(es256, { payload, tag: 'none' })
    rejects(() => parseSign1(untagged, POLICY), 'ERR_COSE_UNTAGGED')
    assert.equal(verify(untagged, es256.publicKey, { ...POLICY, untagged: true }).cwtTagged, false)
    const cwt = signSign1(es256, { payload, tag: 'cwt' })
    rejects(() => parseSign1(cwt, POLICY), 'ERR_COSE_WRONG_TAG')
    assert.equal(verify(cwt, es256.publicKey, { ...POLICY, cwtTag: true }).cwtTagged, true)
  })

  it('verifies a detached payload supplied by the caller and rejects a missing one', () => {
    const tbs = sigStructure1(encodeCbor(new Map([[1, -7]])), new Uint8Array(0), payload)
    const token = encodeCbor([encodeCbor(new Map([[1, -7]])), new Map(), null, rawSign(es256, tbs)])
    const policy = { ...POLICY, untagged: true }
    assert.doesNotThrow(() => verify(token, es256.publicKey, policy, { detachedPayload: payload }))
    rejects(() => verify(token, es256.publicKey, policy), 'ERR_COSE_PAYLOAD_DETACHED')
  })

  it('accepts crit naming a protected label the verifier understands', () => {
    const token = signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, [16]], [16, 'application/eat+cwt']]), payload })
    assert.doesNotThrow(() => verify(token, es256.publicKey))
    const custom = signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, [-70001]], [-70001, true]]), payload })
    assert.doesNotThrow(() => verify(custom, es256.publicKey, { ...POLICY, understood: new Set([-70001]) }))
  })
})

describe('COSE_Sign1: envelope and structure rejections', () => {
  it('wrong tag', () => {
    rejects(() => parseSign1(signSign1(es256, { payload, tag: 17 }), POLICY), 'ERR_COSE_WRONG_TAG')
    rejects(() => parseSign1(signSign1(es256, { payload, tag: 98 }), POLICY), 'ERR_COSE_WRONG_TAG')
    rejects(() => parseSign1(signSign1(es256, { payload, tag: 998 }), POLICY), 'ERR_COSE_WRONG_TAG')
  })
  it('CWT tag around an untagged message', () => {
    rejects(() => parseSign1(fromHex('d83d84' + '43a10126a0' + '40' + '40'), { ...POLICY, cwtTag: true }), 'ERR_COSE_UNTAGGED')
  })
  it('not a 4-element array', () => {
    rejects(() => parseSign1(fromHex('d28343a10126a040'), POLICY), 'ERR_COSE_MALFORMED')
    rejects(() => parseSign1(fromHex('d2a0'), POLICY), 'ERR_COSE_MALFORMED')
  })
  it('protected bucket not a byte string, not a map, or with trailing bytes', () => {
    rejects(() => parseSign1(fromHex('d284a10126a04040'), POLICY), 'ERR_COSE_PROTECTED_NOT_MAP')
    rejects(() => parseSign1(fromHex('d2844281 26a04040'.replace(' ', '')), POLICY), 'ERR_COSE_PROTECTED_NOT_MAP')
    rejects(() => parseSign1(fromHex('d28444a1012600a04040'), POLICY), 'ERR_COSE_PROTECTED_NOT_MAP')
  })
  it('unprotected bucket, payload or signature of the wrong type', () => {
    rejects(() => parseSign1(fromHex('d28443a10126804040'), POLICY), 'ERR_COSE_MALFORMED')
    rejects(() => parseSign1(fromHex('d28443a10126a06161 40'.replace(' ', '')), POLICY), 'ERR_COSE_MALFORMED')
    rejects(() => parseSign1(fromHex('d28443a10126a04001'), POLICY), 'ERR_COSE_MALFORMED')
  })
  it('truncated, trailing bytes, oversized', () => {
    const token = signSign1(es256, { payload })
    rejects(() => parseSign1(token.subarray(0, token.length - 1), POLICY), 'ERR_CBOR_TRUNCATED')
    rejects(() => parseSign1(new Uint8Array([...token, 0]), POLICY), 'ERR_CBOR_TRAILING_BYTES')
    rejects(() => parseSign1(token, { ...POLICY, maxBytes: 64 }), 'ERR_CBOR_TOO_LARGE')
    const big = signSign1(es256, { payload: new Uint8Array(300 * 1024) })
    rejects(() => parseSign1(big, POLICY), 'ERR_CBOR_TOO_LARGE')
  })
})

describe('COSE_Sign1: header rejections', () => {
  it('duplicate label in the protected bucket', () => {
    rejects(() => parseSign1(fromHex('d28445a201260126a04040'), POLICY), 'ERR_COSE_HEADER_DUPLICATE_LABEL')
  })
  it('duplicate label in the unprotected bucket', () => {
    rejects(() => parseSign1(fromHex('d28443a10126a20441310441324040'), POLICY), 'ERR_COSE_HEADER_DUPLICATE_LABEL')
  })
  it('label in both buckets', () => {
    const token = signSign1(es256, { payload, unprotectedHeader: new Map([[1, -7]]) })
    rejects(() => parseSign1(token, POLICY), 'ERR_COSE_HEADER_OVERLAP')
  })
  it('known header with a value of the wrong type', () => {
    const token = signSign1(es256, { payload, unprotectedHeader: new Map([[4, 11]]) })
    rejects(() => parseSign1(token, POLICY), 'ERR_COSE_HEADER_INVALID')
  })
  it('crit in the unprotected bucket, empty, with a non-label, or naming an absent label', () => {
    const cases = [
      signSign1(es256, { payload, unprotectedHeader: new Map([[2, [4]]]) }),
      signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, []]]), payload }),
      signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, [new Uint8Array(1)]]]), payload }),
      signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, [16]]]), payload }),
    ]
    for (const token of cases) rejects(() => parseSign1(token, POLICY), 'ERR_COSE_CRIT_INVALID')
  })
  it('crit naming a label the verifier does not understand', () => {
    const token = signSign1(es256, { protectedHeader: protectedAlg(-7, [[2, ['reserved']], ['reserved', false]]), payload })
    rejects(() => parseSign1(token, POLICY), 'ERR_COSE_CRIT_UNSUPPORTED')
  })
})

describe('COSE_Sign1: algorithm and key rejections', () => {
  it('alg missing', () => {
    const token = signSign1(es256, { protectedHeader: new Map([[4, new Uint8Array([1])]]), payload })
    rejects(() => parseSign1(token, POLICY), 'ERR_COSE_ALG_MISSING')
  })
  it('alg only in the unprotected bucket', () => {
    const token = signSign1(es256, { protectedHeader: new Uint8Array(0), unprotectedHeader: new Map([[1, -7]]), payload })
    rejects(() => parseSign1(token, POLICY), 'ERR_COSE_ALG_UNPROTECTED')
    assert.doesNotThrow(() => verify(token, es256.publicKey, { ...POLICY, requireProtectedAlg: false }))
  })
  it('unknown integer and text algorithms', () => {
    rejects(() => parseSign1(signSign1(es256, { protectedHeader: protectedAlg(-999), payload }), POLICY), 'ERR_COSE_ALG_UNKNOWN')
    rejects(() => parseSign1(signSign1(es256, { protectedHeader: protectedAlg('ES256' as never), payload }), POLICY), 'ERR_COSE_ALG_UNKNOWN')
  })
  it('known algorithm outside the allow-list, and a MAC algorithm in a Sign1', () => {
    const eddsa = signSign1(ed25519, { payload })
    rejects(() => parseSign1(eddsa, { algorithms: new Set([ALG.ES256]) }), 'ERR_COSE_ALG_NOT_ALLOWED')
    const hmac = signSign1(es256, { protectedHeader: protectedAlg(5), payload })
    rejects(() => parseSign1(hmac, { algorithms: new Set([5, -7]) }), 'ERR_COSE_ALG_NOT_ALLOWED')
  })
  it('key type or curve does not match the algorithm', () => {
    const token = signSign1(es256, { payload })
    rejects(() => verify(token, ed25519.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(token, es384.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(token, ps256.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    const esp256OnP384 = signSign1(es384, { protectedHeader: protectedAlg(ALG.ESP256), payload })
    rejects(() => verify(esp256OnP384, es384.publicKey, POLICY, { strictCurvePairing: false }), 'ERR_COSE_KEY_ALG_MISMATCH')
    const ed25519OnEd448 = signSign1(ed448, { protectedHeader: protectedAlg(ALG.Ed25519), payload })
    rejects(() => verify(ed25519OnEd448, ed448.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
  })
  it('ES512 over P-256 only where the curve pairing is not enforced', () => {
    const p256 = generateTestKey('ES256')
    const key = { ...p256, coseAlg: ALG.ES512, hash: 'sha512' as const }
    const token = signSign1(key, { payload })
    rejects(() => verify(token, p256.publicKey), 'ERR_COSE_KEY_ALG_MISMATCH')
    assert.doesNotThrow(() => verify(token, p256.publicKey, POLICY, { strictCurvePairing: false }))
  })
  it('key bound to another algorithm', () => {
    const jwk = es256.publicKey.keyObject.export({ format: 'jwk' })
    const bound = importJwk({ ...jwk, alg: 'ES384' })
    rejects(() => verify(signSign1(es256, { payload }), bound), 'ERR_COSE_KEY_ALG_MISMATCH')
    const coseBound = importJwk(jwk, { alg: ALG.ESP256 })
    rejects(() => verify(signSign1(es256, { payload }), coseBound), 'ERR_COSE_KEY_ALG_MISMATCH')
    assert.doesNotThrow(() => verify(signSign1(es256, { protectedHeader: protectedAlg(ALG.ESP256), payload }), coseBound))
  })
  it('RSA key below 2048 bits', () => {
    // keys.ts refuses the key at import, before any message meets it.
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
    rejects(() => importSpki(small.publicKey.export({ type: 'spki', format: 'der' })), 'ERR_KEY_UNSUPPORTED')
  })
})

describe('COSE_Sign1: signature rejections', () => {
  it('DER-encoded ECDSA signature', () => {
    const token = signSign1(es256, {
      payload,
      signature: () => sign('sha256', Buffer.from('x'), { key: es256.privateKey, dsaEncoding: 'der' }),
    })
    rejects(() => verify(token, es256.publicKey), 'ERR_COSE_SIGNATURE_DER')
  })
  it('wrong signature length', () => {
    rejects(() => verify(signSign1(es256, { payload, signature: (s) => s.subarray(0, 63) }), es256.publicKey), 'ERR_COSE_SIGNATURE_LENGTH')
    rejects(() => verify(signSign1(ed448, { payload, signature: (s) => s.subarray(0, 64) }), ed448.publicKey), 'ERR_COSE_SIGNATURE_LENGTH')
    rejects(() => verify(signSign1(ps256, { payload, signature: (s) => s.subarray(1) }), ps256.publicKey), 'ERR_COSE_SIGNATURE_LENGTH')
  })
  it('wrong key', () => {
    rejects(() => verify(signSign1(es256, { payload }), generateTestKey('ES256').publicKey), 'ERR_COSE_SIGNATURE_INVALID')
    rejects(() => verify(signSign1(ed25519, { payload }), generateTestKey('EdDSA-Ed25519').publicKey), 'ERR_COSE_SIGNATURE_INVALID')
  })
  it('tampered payload, protected header, or signature', () => {
    const token = signSign1(es256, { payload })
    const tamperedPayload = new Uint8Array(token)
    const at = token.indexOf(payload[2]!, 8)
    tamperedPayload[at] = tamperedPayload[at]! ^ 1
    rejects(() => verify(tamperedPayload, es256.publicKey), 'ERR_COSE_SIGNATURE_INVALID')
    const tamperedSig = new Uint8Array(token)
    tamperedSig[token.length - 5] = tamperedSig[token.length - 5]! ^ 1
    rejects(() => verify(tamperedSig, es256.publicKey), 'ERR_COSE_SIGNATURE_INVALID')
    const signedWithKid = signSign1(es256, { protectedHeader: protectedAlg(-7, [[4, new Uint8Array([1])]]), payload })
    const swapped = new Uint8Array(signedWithKid)
    swapped[signedWithKid.indexOf(0x41, 3) + 1] = 2
    rejects(() => verify(swapped, es256.publicKey), 'ERR_COSE_SIGNATURE_INVALID')
  })
})
