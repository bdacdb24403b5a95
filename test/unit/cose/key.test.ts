import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ALG } from '../../../src/cose/algorithms.js'
import type { CborValue } from '../../../src/cose/cbor.js'
import { importCoseKey, importCoseSecret } from '../../../src/cose/key.js'
import { parseSign1, verifySign1 } from '../../../src/cose/sign1.js'
import type { PublicKey } from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { utf8 } from '../../../src/util/bytes.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

type CoseKey = Map<number, CborValue>

const KTY = 1
const KID = 2
const ALG_LABEL = 3
const CRV = -1
const X = -2
const Y = -3
const D = -4
const RSA_N = -1
const RSA_E = -2
const RSA_D = -3
const SYM_K = -1

const EC2_CRV: Readonly<Record<string, number>> = { 'P-256': 1, 'P-384': 2, 'P-521': 3 }
const OKP_CRV: Readonly<Record<string, number>> = { Ed25519: 6, Ed448: 7 }

const payload = utf8('COSE_Key test payload')

const es256 = generateTestKey('ES256')
const es384 = generateTestKey('ES384')
const es512 = generateTestKey('ES512')
const ed25519 = generateTestKey('EdDSA-Ed25519')
const ed448 = generateTestKey('EdDSA-Ed448')
const ps256 = generateTestKey('PS256')

const b64 = (text: string | undefined): Uint8Array => {
  assert.ok(text !== undefined, 'JWK member present')
  return base64urlDecode(text)
}

/** The public COSE_Key of a test key pair, built from its JWK export. */
function coseKeyOf(key: TestKeyPair, extra: [number, CborValue][] = []): CoseKey {
  const jwk = key.publicKey.keyObject.export({ format: 'jwk' })
  let entries: [number, CborValue][]
  switch (jwk.kty) {
    case 'EC':
      entries = [[KTY, 2], [CRV, EC2_CRV[jwk.crv!]!], [X, b64(jwk.x)], [Y, b64(jwk.y)]]
      break
    case 'OKP':
      entries = [[KTY, 1], [CRV, OKP_CRV[jwk.crv!]!], [X, b64(jwk.x)]]
      break
    case 'RSA':
      entries = [[KTY, 3], [RSA_N, b64(jwk.n)], [RSA_E, b64(jwk.e)]]
      break
    default:
      throw new Error(`unexpected kty ${jwk.kty}`)
  }
  return new Map([...entries, ...extra])
}

const coseMap = (...entries: [number, CborValue][]): CoseKey => new Map(entries)

/** The private scalar or exponent of a test key pair, from its private JWK. */
function privateD(key: TestKeyPair): Uint8Array {
  return b64(key.privateKey.export({ format: 'jwk' }).d)
}

function verify(token: Uint8Array, key: PublicKey, algorithms: ReadonlySet<number>) {
  return verifySign1(parseSign1(token, { algorithms }), key)
}

describe('importCoseKey: keys that import and verify', () => {
  const cases: [string, TestKeyPair, string | undefined][] = [
    ['EC2 P-256', es256, 'P-256'],
    ['EC2 P-384', es384, 'P-384'],
    ['EC2 P-521', es512, 'P-521'],
    ['OKP Ed25519', ed25519, 'Ed25519'],
    ['OKP Ed448', ed448, 'Ed448'],
    ['RSA', ps256, undefined],
  ]
  for (const [name, pair, crv] of cases) {
    it(`${name} is the same public key and verifies a COSE_Sign1`, () => {
      const key = importCoseKey(coseKeyOf(pair))
      assert.equal(key.crv, crv)
      assert.equal(key.spkiSha256, pair.publicKey.spkiSha256)
      assert.equal(key.alg, undefined)
      assert.equal(key.kid, undefined)
      const token = signSign1(pair, { payload })
      const verified = verify(token, key, new Set([pair.coseAlg]))
      assert.deepEqual(verified.payload, payload)
    })
  }

  it('EC2 P-256 verifies an ES256 COSE_Sign1 under an ES256-only policy', () => {
    const key = importCoseKey(coseKeyOf(es256))
    assert.equal(key.kty, 'EC')
    const verified = verify(signSign1(es256, { payload }), key, new Set([-7]))
    assert.equal(verified.algorithm.id, ALG.ES256)
  })

  it('keeps kid (bytes) and alg (label 3) as the binding', () => {
    const key = importCoseKey(coseKeyOf(es256, [[KID, utf8('device-7')], [ALG_LABEL, ALG.ES256]]))
    assert.equal(key.kid, 'device-7')
    assert.equal(key.alg, ALG.ES256)
    assert.doesNotThrow(() => verify(signSign1(es256, { payload }), key, new Set([-7])))
  })

  it('a key bound by label 3 to ES384 refuses an ES256 message', () => {
    const key = importCoseKey(coseKeyOf(es256, [[ALG_LABEL, ALG.ES384]]))
    assert.equal(key.alg, -35)
    const token = signSign1(es256, { payload })
    rejects(() => verify(token, key, new Set([-7])), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('a key bound to ESP256 accepts ESP256 and refuses the polymorphic ES256', () => {
    const key = importCoseKey(coseKeyOf(es256, [[ALG_LABEL, ALG.ESP256]]))
    const policy = new Set([ALG.ES256, ALG.ESP256])
    const esp256 = signSign1(es256, { protectedHeader: new Map([[1, ALG.ESP256]]), payload })
    assert.doesNotThrow(() => verify(esp256, key, policy))
    rejects(() => verify(signSign1(es256, { payload }), key, policy), 'ERR_COSE_KEY_ALG_MISMATCH')
  })
})

describe('importCoseKey: rejections', () => {
  it('private d (-4) on an EC2 or OKP key', () => {
    rejects(() => importCoseKey(coseKeyOf(es256, [[D, privateD(es256)]])), 'ERR_KEY_INVALID')
    rejects(() => importCoseKey(coseKeyOf(ed25519, [[D, privateD(ed25519)]])), 'ERR_KEY_INVALID')
  })

  it('private d (-3) on an RSA key', () => {
    rejects(() => importCoseKey(coseKeyOf(ps256, [[RSA_D, privateD(ps256)]])), 'ERR_KEY_INVALID')
  })

  it('compressed EC2 point (y is a sign bit)', () => {
    const key = coseKeyOf(es256)
    key.set(Y, true)
    rejects(() => importCoseKey(key), 'ERR_KEY_UNSUPPORTED')
    key.set(Y, false)
    rejects(() => importCoseKey(key), 'ERR_KEY_UNSUPPORTED')
  })

  it('unknown or mismatched curve', () => {
    rejects(() => importCoseKey(coseKeyOf(es256, [[CRV, 8]])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(ed25519, [[CRV, 8]])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(es256, [[CRV, 6]])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(ed25519, [[CRV, 1]])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(es256, [[CRV, 'P-256']])), 'ERR_KEY_UNSUPPORTED')
    const noCrv = coseKeyOf(es256)
    noCrv.delete(CRV)
    rejects(() => importCoseKey(noCrv), 'ERR_KEY_UNSUPPORTED')
  })

  it('kty that is not a public-key type, or missing', () => {
    rejects(() => importCoseKey(coseMap([KTY, 4], [SYM_K, new Uint8Array(32)])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(es256, [[KTY, 5]])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseKey(coseKeyOf(es256, [[KTY, 'EC2']])), 'ERR_KEY_UNSUPPORTED')
    const noKty = coseKeyOf(es256)
    noKty.delete(KTY)
    rejects(() => importCoseKey(noKty), 'ERR_KEY_UNSUPPORTED')
  })

  it('x missing, empty or not bytes', () => {
    for (const pair of [es256, ed25519]) {
      const missing = coseKeyOf(pair)
      missing.delete(X)
      rejects(() => importCoseKey(missing), 'ERR_KEY_INVALID')
      rejects(() => importCoseKey(coseKeyOf(pair, [[X, new Uint8Array(0)]])), 'ERR_KEY_INVALID')
      rejects(() => importCoseKey(coseKeyOf(pair, [[X, 'x-coordinate']])), 'ERR_KEY_INVALID')
      rejects(() => importCoseKey(coseKeyOf(pair, [[X, 12345]])), 'ERR_KEY_INVALID')
    }
  })

  it('y missing on an EC2 key, or n / e missing on an RSA key', () => {
    const noY = coseKeyOf(es256)
    noY.delete(Y)
    rejects(() => importCoseKey(noY), 'ERR_KEY_INVALID')
    const noN = coseKeyOf(ps256)
    noN.delete(RSA_N)
    rejects(() => importCoseKey(noN), 'ERR_KEY_INVALID')
    const noE = coseKeyOf(ps256)
    noE.delete(RSA_E)
    rejects(() => importCoseKey(noE), 'ERR_KEY_INVALID')
  })

  it('coordinates that are bytes but not a point on the curve', () => {
    rejects(() => importCoseKey(coseKeyOf(es256, [[X, new Uint8Array(32).fill(0xff)]])), 'ERR_KEY_INVALID')
    rejects(() => importCoseKey(coseKeyOf(es256, [[X, new Uint8Array(5).fill(1)]])), 'ERR_KEY_INVALID')
  })

  it('kid that is not bytes', () => {
    rejects(() => importCoseKey(coseKeyOf(es256, [[KID, 'device-7']])), 'ERR_KEY_INVALID')
    rejects(() => importCoseKey(coseKeyOf(es256, [[KID, 7]])), 'ERR_KEY_INVALID')
  })

  it('alg that is bytes or another non-label type', () => {
    rejects(() => importCoseKey(coseKeyOf(es256, [[ALG_LABEL, new Uint8Array([0x26])]])), 'ERR_KEY_INVALID')
    rejects(() => importCoseKey(coseKeyOf(es256, [[ALG_LABEL, true]])), 'ERR_KEY_INVALID')
    rejects(() => importCoseKey(coseKeyOf(es256, [[ALG_LABEL, [ALG.ES256]]])), 'ERR_KEY_INVALID')
  })
})

describe('importCoseSecret', () => {
  it('imports a symmetric key with its binding', () => {
    const k = new Uint8Array(32).fill(0x42)
    const key = importCoseSecret(coseMap([KTY, 4], [KID, utf8('psk-1')], [ALG_LABEL, 5], [SYM_K, k]))
    assert.equal(key.kind, 'secret')
    assert.equal(key.length, 32)
    assert.equal(key.alg, 5)
    assert.equal(key.kid, 'psk-1')
  })

  it('refuses a key that is not symmetric', () => {
    rejects(() => importCoseSecret(coseKeyOf(es256)), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseSecret(coseMap([KTY, 2], [SYM_K, new Uint8Array(32)])), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importCoseSecret(coseMap([SYM_K, new Uint8Array(32)])), 'ERR_KEY_UNSUPPORTED')
  })

  it('refuses k missing, not bytes, or empty', () => {
    rejects(() => importCoseSecret(coseMap([KTY, 4])), 'ERR_KEY_INVALID')
    rejects(() => importCoseSecret(coseMap([KTY, 4], [SYM_K, 'secret'])), 'ERR_KEY_INVALID')
    rejects(() => importCoseSecret(coseMap([KTY, 4], [SYM_K, new Uint8Array(0)])), 'ERR_KEY_INVALID')
  })

  it('refuses a kid or alg of the wrong type', () => {
    const k = new Uint8Array(32)
    rejects(() => importCoseSecret(coseMap([KTY, 4], [SYM_K, k], [KID, 'psk'])), 'ERR_KEY_INVALID')
    rejects(() => importCoseSecret(coseMap([KTY, 4], [SYM_K, k], [ALG_LABEL, k])), 'ERR_KEY_INVALID')
  })

  it('refuses an RSA COSE_Key carrying any private parameter (-3 to -12), not only d', () => {
    for (const label of [-4, -5, -8, -12]) {
      rejects(() => importCoseKey(coseKeyOf(ps256, [[label, new Uint8Array([1, 2, 3])]])), 'ERR_KEY_INVALID')
    }
  })
})
