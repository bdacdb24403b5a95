import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, createPublicKey, generateKeyPairSync, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  importCertificateKey,
  importJwk,
  importPinnedCertificate,
  importSecret,
  importSpki,
  type KeyCurve,
  type KeyType,
} from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { generateP256, issue, rsaSpki } from '../../helpers/pki.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

const spkiDer = (key: KeyObject): Uint8Array => new Uint8Array(key.export({ type: 'spki', format: 'der' }))
const spkiPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string
const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' })
const ed25519 = generateKeyPairSync('ed25519')
const ed448 = generateKeyPairSync('ed448')
const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })

interface KeyCase {
  readonly name: string
  readonly publicKey: KeyObject
  readonly kty: KeyType
  readonly crv: KeyCurve | undefined
  readonly modulusBits: number | undefined
}

const CASES: readonly KeyCase[] = [
  { name: 'EC P-256', publicKey: p256.publicKey, kty: 'EC', crv: 'P-256', modulusBits: undefined },
  { name: 'EC P-384', publicKey: p384.publicKey, kty: 'EC', crv: 'P-384', modulusBits: undefined },
  { name: 'EC P-521', publicKey: p521.publicKey, kty: 'EC', crv: 'P-521', modulusBits: undefined },
  { name: 'OKP Ed25519', publicKey: ed25519.publicKey, kty: 'OKP', crv: 'Ed25519', modulusBits: undefined },
  { name: 'OKP Ed448', publicKey: ed448.publicKey, kty: 'OKP', crv: 'Ed448', modulusBits: undefined },
  { name: 'RSA 2048', publicKey: rsa2048.publicKey, kty: 'RSA', crv: undefined, modulusBits: 2048 },
]

describe('importJwk', () => {
  for (const c of CASES) {
    it(`imports ${c.name} and describes it`, () => {
      const key = importJwk(c.publicKey.export({ format: 'jwk' }))
      assert.equal(key.kind, 'public')
      assert.equal(key.kty, c.kty)
      assert.equal(key.crv, c.crv)
      assert.equal(key.modulusBits, c.modulusBits)
      assert.equal(key.spkiSha256, sha256Hex(spkiDer(c.publicKey)))
      assert.match(key.spkiSha256, /^[0-9a-f]{64}$/)
      assert.equal(key.keyObject.type, 'public')
      assert.equal(key.alg, undefined)
      assert.equal(key.kid, undefined)
      assert.ok(Object.isFrozen(key))
    })
  }

  it('takes alg and kid from the JWK, and the explicit binding over them', () => {
    const jwk = p256.publicKey.export({ format: 'jwk' })
    const fromJwk = importJwk({ ...jwk, alg: 'ES256', kid: 'device-1' })
    assert.equal(fromJwk.alg, 'ES256')
    assert.equal(fromJwk.kid, 'device-1')
    const overridden = importJwk({ ...jwk, alg: 'ES256', kid: 'device-1' }, { alg: -9, kid: 'other' })
    assert.equal(overridden.alg, -9)
    assert.equal(overridden.kid, 'other')
    assert.equal(overridden.spkiSha256, fromJwk.spkiSha256)
  })

  it('refuses a JWK carrying the private scalar d', () => {
    rejects(() => importJwk(p256.privateKey.export({ format: 'jwk' })), 'ERR_KEY_INVALID')
    rejects(() => importJwk(ed25519.privateKey.export({ format: 'jwk' })), 'ERR_KEY_INVALID')
    rejects(() => importJwk(rsa2048.privateKey.export({ format: 'jwk' })), 'ERR_KEY_INVALID')
  })

  it('refuses an RSA JWK carrying the prime p even without d', () => {
    const { d: _d, ...withoutD } = rsa2048.privateKey.export({ format: 'jwk' })
    rejects(() => importJwk(withoutD), 'ERR_KEY_INVALID')
  })

  it('refuses a symmetric (oct) JWK', () => {
    rejects(() => importJwk({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ' }), 'ERR_KEY_INVALID')
  })

  it('refuses a JWK whose coordinates are garbage', () => {
    const jwk = p256.publicKey.export({ format: 'jwk' })
    rejects(() => importJwk({ ...jwk, x: 'AAAA' }), 'ERR_KEY_INVALID')
    rejects(() => importJwk({ ...jwk, x: '!!not base64url!!' }), 'ERR_KEY_INVALID')
    const { y: _y, ...noY } = jwk
    rejects(() => importJwk(noY), 'ERR_KEY_INVALID')
    rejects(() => importJwk({ ...ed25519.publicKey.export({ format: 'jwk' }), x: 'AQID' }), 'ERR_KEY_INVALID')
  })

  it('refuses a JWK with an unknown kty or that is not an object', () => {
    rejects(() => importJwk({ kty: 'XYZ', x: 'AQID' }), 'ERR_KEY_INVALID')
    rejects(() => importJwk(null as never), 'ERR_KEY_INVALID')
    rejects(() => importJwk('jwk' as never), 'ERR_KEY_INVALID')
  })

  it('refuses a secp256k1 key as unsupported', () => {
    rejects(() => importJwk(secp256k1.publicKey.export({ format: 'jwk' })), 'ERR_KEY_UNSUPPORTED')
  })
})

describe('importSpki', () => {
  for (const c of CASES) {
    it(`imports ${c.name} from PEM and from DER to the same key`, () => {
      const fromPem = importSpki(spkiPem(c.publicKey))
      const fromDer = importSpki(spkiDer(c.publicKey))
      for (const key of [fromPem, fromDer]) {
        assert.equal(key.kty, c.kty)
        assert.equal(key.crv, c.crv)
        assert.equal(key.modulusBits, c.modulusBits)
        assert.equal(key.spkiSha256, sha256Hex(spkiDer(c.publicKey)))
      }
    })
  }

  it('keeps the binding it is given', () => {
    const key = importSpki(spkiDer(p384.publicKey), { alg: 'ES384', kid: 'k384' })
    assert.equal(key.alg, 'ES384')
    assert.equal(key.kid, 'k384')
  })

  it('refuses malformed PEM and DER', () => {
    rejects(() => importSpki('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), 'ERR_KEY_INVALID')
    rejects(() => importSpki('not a pem at all'), 'ERR_KEY_INVALID')
    rejects(() => importSpki(''), 'ERR_KEY_INVALID')
    const der = spkiDer(p256.publicKey)
    rejects(() => importSpki(der.subarray(0, der.length - 10)), 'ERR_KEY_INVALID')
    rejects(() => importSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), 'ERR_KEY_INVALID')
    rejects(() => importSpki(new Uint8Array(0)), 'ERR_KEY_INVALID')
  })

  it('refuses a secp256k1 key as unsupported, PEM or DER', () => {
    rejects(() => importSpki(spkiPem(secp256k1.publicKey)), 'ERR_KEY_UNSUPPORTED')
    rejects(() => importSpki(spkiDer(secp256k1.publicKey)), 'ERR_KEY_UNSUPPORTED')
  })
})

describe('importCertificateKey', () => {
  let dir = ''
  let certPem = ''
  const certKey = generateKeyPairSync('ec', { namedCurve: 'P-384' })

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'assay-keys-test-'))
    const keyFile = path.join(dir, 'key.pem')
    const certFile = path.join(dir, 'cert.pem')
    writeFileSync(keyFile, certKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 })
    const args = ['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-subj', '/CN=assay-test']
    execFileSync('openssl', [...args, '-days', '1', '-sha384'], { stdio: 'pipe' })
    certPem = readFileSync(certFile, 'utf8')
  })

  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  it('takes the public key out of a self-signed certificate, PEM and DER', () => {
    assert.match(certPem, /-----BEGIN CERTIFICATE-----/)
    const der = new Uint8Array(new X509Certificate(certPem).raw)
    for (const cert of [certPem, der]) {
      const key = importCertificateKey(cert, { kid: 'cert-key' })
      assert.equal(key.kind, 'public')
      assert.equal(key.kty, 'EC')
      assert.equal(key.crv, 'P-384')
      assert.equal(key.kid, 'cert-key')
      assert.equal(key.spkiSha256, sha256Hex(spkiDer(certKey.publicKey)))
    }
  })

  it('refuses garbage instead of a certificate', () => {
    const badPem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
    rejects(() => importCertificateKey(badPem), 'ERR_KEY_INVALID')
    rejects(() => importCertificateKey('garbage'), 'ERR_KEY_INVALID')
    rejects(() => importCertificateKey(new Uint8Array([0x30, 0x82, 0x01, 0x00, 0x01])), 'ERR_KEY_INVALID')
    rejects(() => importCertificateKey(spkiPem(p256.publicKey)), 'ERR_KEY_INVALID')
  })
})

describe('import cache', () => {
  it('returns the same object for the same JWK and binding', () => {
    const jwk = p521.publicKey.export({ format: 'jwk' })
    const a = importJwk(jwk, { alg: 'ES512', kid: 'a' })
    const b = importJwk({ ...jwk }, { alg: 'ES512', kid: 'a' })
    assert.equal(a, b)
    // alg and kid from inside the JWK resolve to the same binding.
    assert.equal(importJwk({ ...jwk, alg: 'ES512', kid: 'a' }), a)
  })

  it('returns a different object when alg or kid differs', () => {
    const jwk = p521.publicKey.export({ format: 'jwk' })
    const base = importJwk(jwk, { alg: 'ES512', kid: 'a' })
    const otherAlg = importJwk(jwk, { alg: -52, kid: 'a' })
    const otherKid = importJwk(jwk, { alg: 'ES512', kid: 'b' })
    const unbound = importJwk(jwk)
    assert.notEqual(otherAlg, base)
    assert.notEqual(otherKid, base)
    assert.notEqual(unbound, base)
    assert.equal(otherAlg.alg, -52)
    assert.equal(otherKid.kid, 'b')
    assert.equal(unbound.alg, undefined)
    assert.equal(base.alg, 'ES512')
    assert.equal(base.kid, 'a')
    assert.equal(otherAlg.spkiSha256, base.spkiSha256)
  })

  it('caches SPKI imports the same way', () => {
    const der = spkiDer(ed448.publicKey)
    assert.equal(importSpki(der), importSpki(new Uint8Array(der)))
    assert.notEqual(importSpki(der, { kid: 'x' }), importSpki(der))
  })

  it('does not cache a failed import', () => {
    const jwk = { ...p256.publicKey.export({ format: 'jwk' }), x: 'AAAA' }
    rejects(() => importJwk(jwk), 'ERR_KEY_INVALID')
    rejects(() => importJwk(jwk), 'ERR_KEY_INVALID')
  })
})

describe('importSecret', () => {
  it('imports a symmetric key with its binding', () => {
    const key = importSecret(new Uint8Array(32).fill(0x5a), { alg: 5, kid: 'mac-key' })
    assert.equal(key.kind, 'secret')
    assert.equal(key.length, 32)
    assert.equal(key.alg, 5)
    assert.equal(key.kid, 'mac-key')
    assert.equal(key.keyObject.type, 'secret')
    assert.equal(key.keyObject.symmetricKeySize, 32)
  })

  it('refuses empty key bytes', () => {
    rejects(() => importSecret(new Uint8Array(0)), 'ERR_KEY_INVALID')
  })

  it('refuses a private key PEM given as a public key', () => {
    const pem = p256.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    rejects(() => importSpki(pem), 'ERR_KEY_INVALID')
  })

  it('keeps the COSE id -7 and the text "-7" apart as bindings', () => {
    const der = spkiDer(p256.publicKey)
    assert.notEqual(importSpki(der, { alg: -7 }), importSpki(der, { alg: '-7' }))
    assert.equal(importSpki(der, { alg: -7 }).alg, -7)
    assert.equal(importSpki(der, { alg: '-7' }).alg, '-7')
  })
})

describe('RSA bounds: 2048..4096 bits, e = 65537, from every source (issue 7 item 9)', () => {
  const jwkOf = (spki: Uint8Array) => createPublicKeyJwk(spki)
  const rsaE3 = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 })

  it('refuses over 4096 bits, under 2048 bits, and any exponent but 65537, as SPKI or JWK', () => {
    const refused = [rsaSpki(4097), rsaSpki(8192), rsaSpki(2047), rsaSpki(2048, 3), rsaSpki(4096, 17), spkiDer(rsaE3.publicKey)]
    for (const spki of refused) {
      rejects(() => importSpki(spki), 'ERR_KEY_UNSUPPORTED')
      rejects(() => importJwk(jwkOf(spki)), 'ERR_KEY_UNSUPPORTED')
    }
    rejects(() => importSpki(spkiPem(rsaE3.publicKey)), 'ERR_KEY_UNSUPPORTED')
  })

  it('accepts 2048 and 4096 bits with e = 65537', () => {
    assert.equal(importSpki(rsaSpki(2048)).modulusBits, 2048)
    assert.equal(importJwk(jwkOf(rsaSpki(4096))).modulusBits, 4096)
  })

  it('refuses such a key in a certificate the operator configures or pins', async () => {
    const signer = await generateP256()
    for (const spki of [rsaSpki(4097), rsaSpki(2048, 3)]) {
      const cert = await issue({ subject: 'CN=Big', spki, signWith: signer.privateKey })
      rejects(() => importCertificateKey(cert.der), 'ERR_KEY_UNSUPPORTED')
      rejects(() => importPinnedCertificate(cert.der), 'ERR_KEY_UNSUPPORTED')
    }
  })
})

function createPublicKeyJwk(spki: Uint8Array): JsonWebKey {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' })
}
