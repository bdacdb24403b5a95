import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { ALG } from '../../../src/cose/algorithms.js'
import { importSpki, type PublicKey, type SecretKey } from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { JOSE_ALGORITHMS, checkAllowList } from '../../../src/jose/algorithms.js'
import { parseJwsCompact, verifyJws } from '../../../src/jose/jws.js'
import { b64url, generateJoseKey, secretKey, signJws, signatureFor } from './sign.js'

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

const ALL = new Set(JOSE_ALGORITHMS.keys())
const p256 = generateJoseKey('P-256')
const p384 = generateJoseKey('P-384')
const p521 = generateJoseKey('P-521')
const ed25519 = generateJoseKey('Ed25519')
const ed448 = generateJoseKey('Ed448')
const rsa = generateJoseKey('RSA-2048')
const macBytes = new Uint8Array(randomBytes(64))
const mac = secretKey(macBytes)
const PAYLOAD = { hello: 'world' }

const es256 = (header: object = {}, payload: object | string = PAYLOAD) =>
  signJws({ alg: 'ES256', ...header }, payload, p256.privateKey)

/** The same public key imported again with an `alg` binding. */
const rebind = (key: PublicKey, alg: string | number): PublicKey =>
  importSpki(key.keyObject.export({ type: 'spki', format: 'der' }), { alg })

/** Parses and verifies with `key` under `algorithms`. */
const verify = (token: string, key: PublicKey | SecretKey = p256.publicKey, algorithms = ALL) =>
  verifyJws(parseJwsCompact(token), key, { algorithms })

describe('parseJwsCompact', () => {
  it('returns header, segments, payload, signature and the exact signing input', () => {
    const token = es256({ kid: 'k1', typ: 'JWT' })
    const [h, p, s] = token.split('.') as [string, string, string]
    const jws = parseJwsCompact(token)
    assert.deepEqual(jws.header, { alg: 'ES256', kid: 'k1', typ: 'JWT' })
    assert.equal(jws.protectedB64, h)
    assert.equal(jws.payloadB64, p)
    assert.deepEqual(JSON.parse(Buffer.from(jws.payload).toString()), PAYLOAD)
    assert.equal(Buffer.from(jws.signature).toString('base64url'), s)
    assert.equal(Buffer.from(jws.signingInput).toString('latin1'), `${h}.${p}`)
    assert.equal(jws.kid, 'k1')
    assert.equal(jws.x5c, undefined)
  })

  it('rejects anything but exactly three segments, a leading dot included', () => {
    const token = es256()
    const [h, p, s] = token.split('.') as [string, string, string]
    for (const bad of [`.${token}`, `${token}.`, `${token}.x`, `${h}.${p}`, `${h}..${p}.${s}`, '..', '', h]) {
      rejects(() => parseJwsCompact(bad), 'ERR_JOSE_MALFORMED')
    }
  })

  it('rejects padding, the standard alphabet and non-canonical base64url', () => {
    const token = es256()
    const [h, p, s] = token.split('.') as [string, string, string]
    rejects(() => parseJwsCompact(`${h}=.${p}.${s}`), 'ERR_JOSE_MALFORMED', /base64url/)
    rejects(() => parseJwsCompact(`${h}.${p}.${s}==`), 'ERR_JOSE_MALFORMED', /base64url/)
    rejects(() => parseJwsCompact(`${h}.${p}+/.${s}`), 'ERR_JOSE_MALFORMED', /base64url/)
    // 64 bytes leave 4 unused bits in the last character: setting one decodes to the same bytes.
    const last = s.at(-1)!
    assert.ok('AQgw'.includes(last))
    rejects(() => parseJwsCompact(`${h}.${p}.${s.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`),
      'ERR_JOSE_MALFORMED', /canonical/)
  })

  it('rejects a duplicate header member, also when an escape spells it', () => {
    for (const header of ['{"alg":"ES256","alg":"none"}', '{"alg":"ES256","\\u0061lg":"ES256"}']) {
      const token = signJws(header, PAYLOAD, p256.privateKey, 'ES256')
      rejects(() => parseJwsCompact(token), 'ERR_JOSE_MALFORMED', /duplicate/)
    }
  })

  it('rejects a header that is not a UTF-8 JSON object, an empty payload and an oversized token', () => {
    const sig = es256().split('.')[2]
    rejects(() => parseJwsCompact(`${b64url('["ES256"]')}.${b64url('{}')}.${sig}`), 'ERR_JOSE_MALFORMED')
    rejects(() => parseJwsCompact(`${b64url(Uint8Array.of(0x7b, 0xff, 0x7d))}.${b64url('{}')}.${sig}`),
      'ERR_JOSE_MALFORMED', /UTF-8/)
    rejects(() => parseJwsCompact(`${b64url('{"alg":"ES256"}')}..${sig}`), 'ERR_JOSE_MALFORMED')
    rejects(() => parseJwsCompact(es256(), { maxBytes: 50 }), 'ERR_JOSE_MALFORMED', /limit/)
    rejects(() => parseJwsCompact(7 as never), 'ERR_JOSE_MALFORMED')
    assert.throws(() => parseJwsCompact(es256(), { maxBytes: 0 }), TypeError)
  })

  it('rejects crit naming an extension it does not process', () => {
    rejects(() => parseJwsCompact(es256({ crit: ['exp'], exp: 1 })), 'ERR_JOSE_CRIT_UNSUPPORTED')
    rejects(() => parseJwsCompact(es256({ crit: ['b64', 'x'], b64: true, x: 1 })), 'ERR_JOSE_CRIT_UNSUPPORTED')
  })

  it('understands b64 true only; b64 false (unencoded payload) is refused', () => {
    assert.doesNotThrow(() => verify(es256({ crit: ['b64'], b64: true })))
    rejects(() => parseJwsCompact(es256({ crit: ['b64'], b64: false })), 'ERR_JOSE_CRIT_UNSUPPORTED', /crit/)
    rejects(() => parseJwsCompact(es256({ b64: false })), 'ERR_JOSE_HEADER_INVALID', /crit/)
    rejects(() => parseJwsCompact(es256({ crit: ['b64'], b64: 'no' })), 'ERR_JOSE_HEADER_INVALID')
  })

  it('rejects a malformed crit', () => {
    for (const header of [
      { crit: [] },
      { crit: 'b64', b64: true },
      { crit: [1] },
      { crit: ['kid'], kid: 'k' },
      { crit: ['x'] },
      { crit: ['b64', 'b64'], b64: true },
    ]) {
      rejects(() => parseJwsCompact(es256(header)), 'ERR_JOSE_HEADER_INVALID', /crit/)
    }
  })

  it('exposes kid and x5c as hints, x5c decoded from standard base64', () => {
    // x5c is not parsed as X.509 here: whoever uses the hint validates the chain.
    const certs = [Uint8Array.of(0x30, 0x82, 0xfb, 0xff, 0x3e), new Uint8Array(randomBytes(301))]
    const x5c = certs.map((c) => Buffer.from(c).toString('base64'))
    assert.match(x5c[0]!, /[+/=]/)
    const jws = parseJwsCompact(es256({ kid: 'device-1', x5c }))
    assert.equal(jws.kid, 'device-1')
    assert.deepEqual(jws.x5c, certs)
  })

  it('rejects a kid that is not text and an x5c that is not standard base64', () => {
    rejects(() => parseJwsCompact(es256({ kid: 7 })), 'ERR_JOSE_HEADER_INVALID')
    for (const x5c of [[], 'MIIB', ['MII-_w'], ['MIIB===='], [1]]) {
      rejects(() => parseJwsCompact(es256({ x5c })), 'ERR_JOSE_HEADER_INVALID', /x5c/)
    }
  })
})

describe('verifyJws', () => {
  it('verifies every algorithm of the table with a key of the right kind', () => {
    const pairs = [
      ['ES256', p256],
      ['ES384', p384],
      ['ES512', p521],
      ['EdDSA', ed25519],
      ['EdDSA', ed448],
      ['Ed25519', ed25519],
      ['Ed448', ed448],
      ['PS256', rsa],
      ['PS384', rsa],
      ['PS512', rsa],
      ['RS256', rsa],
      ['RS384', rsa],
      ['RS512', rsa],
    ] as const
    for (const [alg, key] of pairs) {
      const verified = verify(signJws({ alg }, PAYLOAD, key.privateKey), key.publicKey)
      assert.equal(verified.algorithm.name, alg)
      assert.deepEqual(JSON.parse(Buffer.from(verified.payload).toString()), PAYLOAD)
    }
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      assert.equal(verify(signJws({ alg }, PAYLOAD, macBytes), mac).algorithm.kind, 'mac')
    }
    assert.equal(JOSE_ALGORITHMS.get('ES256')!.cose.id, ALG.ESP256)
  })

  it('never accepts alg none, not even listed', () => {
    const token = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(PAYLOAD))}.`
    rejects(() => verify(token), 'ERR_JOSE_ALG_NOT_ALLOWED', /none/)
    assert.throws(() => verify(token, p256.publicKey, new Set(['none'])), TypeError)
  })

  it('refuses HS256 with an EC public key, even with HS256 allowed (algorithm confusion)', () => {
    const pem = p256.publicKey.keyObject.export({ type: 'spki', format: 'pem' })
    const input = `${b64url('{"alg":"HS256"}')}.${b64url(JSON.stringify(PAYLOAD))}`
    const tag = createHmac('sha256', pem).update(input).digest('base64url')
    const allowed = new Set(['HS256', 'ES256'])
    rejects(() => verify(`${input}.${tag}`, p256.publicKey, allowed), 'ERR_JOSE_KEY_ALG_MISMATCH', /HMAC secret/)
  })

  it('refuses a symmetric key for a signature algorithm', () => {
    rejects(() => verify(es256(), mac), 'ERR_JOSE_KEY_ALG_MISMATCH')
  })

  it('refuses an alg outside the allow-list before looking at the key', () => {
    rejects(() => verify(es256(), p256.publicKey, new Set(['ES384'])), 'ERR_JOSE_ALG_NOT_ALLOWED')
    rejects(() => verify(signJws({ alg: 'HS256' }, PAYLOAD, macBytes), p256.publicKey, new Set(['ES256'])),
      'ERR_JOSE_ALG_NOT_ALLOWED')
  })

  it('reports unknown and missing algs', () => {
    rejects(() => verify(signJws({ alg: 'ES257' }, PAYLOAD, p256.privateKey, 'ES256')), 'ERR_JOSE_ALG_UNKNOWN')
    rejects(() => verify(signJws({ alg: 'es256' }, PAYLOAD, p256.privateKey, 'ES256')), 'ERR_JOSE_ALG_UNKNOWN')
    rejects(() => verify(signJws({ typ: 'JWT' }, PAYLOAD, p256.privateKey, 'ES256')), 'ERR_JOSE_HEADER_INVALID')
    rejects(() => verify(signJws({ alg: -7 }, PAYLOAD, p256.privateKey, 'ES256')), 'ERR_JOSE_HEADER_INVALID')
  })

  it('pairs ES256/384/512 with their own curve only', () => {
    rejects(() => verify(signJws({ alg: 'ES256' }, PAYLOAD, p384.privateKey, 'ES384'), p384.publicKey),
      'ERR_JOSE_KEY_ALG_MISMATCH')
    rejects(() => verify(signJws({ alg: 'ES512' }, PAYLOAD, p256.privateKey, 'ES256'), p256.publicKey),
      'ERR_JOSE_KEY_ALG_MISMATCH')
    rejects(() => verify(signJws({ alg: 'Ed25519' }, PAYLOAD, ed448.privateKey), ed448.publicKey),
      'ERR_JOSE_KEY_ALG_MISMATCH')
    const rs256 = signJws({ alg: 'RS256' }, PAYLOAD, rsa.privateKey)
    rejects(() => verify(rs256, p256.publicKey), 'ERR_JOSE_KEY_ALG_MISMATCH')
    rejects(() => verify(es256(), rsa.publicKey), 'ERR_JOSE_KEY_ALG_MISMATCH')
  })

  it("honours the key's own alg binding, JOSE name or COSE id", () => {
    const boundTo = (alg: string | number) => rebind(p256.publicKey, alg)
    assert.doesNotThrow(() => verify(es256(), boundTo('ES256')))
    assert.doesNotThrow(() => verify(es256(), boundTo(ALG.ES256)))
    assert.doesNotThrow(() => verify(es256(), boundTo(ALG.ESP256)))
    rejects(() => verify(es256(), boundTo('ES384')), 'ERR_JOSE_KEY_ALG_MISMATCH', /bound/)
    rejects(() => verify(es256(), boundTo(ALG.ES384)), 'ERR_JOSE_KEY_ALG_MISMATCH', /bound/)
    const edBound = rebind(ed25519.publicKey, 'EdDSA')
    assert.doesNotThrow(() => verify(signJws({ alg: 'Ed25519' }, PAYLOAD, ed25519.privateKey), edBound))
    const hs384 = secretKey(macBytes, { alg: 'HS384' })
    rejects(() => verify(signJws({ alg: 'HS256' }, PAYLOAD, macBytes), hs384), 'ERR_JOSE_KEY_ALG_MISMATCH')
    const hmac64 = secretKey(macBytes, { alg: ALG.HMAC_256_64 })
    rejects(() => verify(signJws({ alg: 'HS256' }, PAYLOAD, macBytes), hmac64), 'ERR_JOSE_KEY_ALG_MISMATCH')
  })

  it('refuses RSA keys under 2048 bits and HMAC keys shorter than the hash', () => {
    // keys.ts refuses the key at import, before any token meets it.
    rejects(() => generateJoseKey('RSA-1024'), 'ERR_KEY_UNSUPPORTED', /2048/)
    const short = new Uint8Array(randomBytes(16))
    rejects(() => verify(signJws({ alg: 'HS256' }, PAYLOAD, short), secretKey(short)), 'ERR_KEY_UNSUPPORTED')
  })

  it('checks the signature length, naming DER', () => {
    const token = es256()
    const input = token.slice(0, token.lastIndexOf('.'))
    const der = sign('sha256', Buffer.from(input), p256.privateKey).toString('base64url')
    rejects(() => verify(`${input}.${der}`), 'ERR_JOSE_SIGNATURE_INVALID', /64 required.*DER/)
    rejects(() => verify(`${input}.`), 'ERR_JOSE_SIGNATURE_INVALID', /is 0 bytes/)
    const [h, p, tag] = signJws({ alg: 'HS512' }, PAYLOAD, macBytes).split('.') as [string, string, string]
    const truncated = Buffer.from(tag, 'base64url').subarray(0, 32).toString('base64url')
    rejects(() => verify(`${h}.${p}.${truncated}`, mac), 'ERR_JOSE_SIGNATURE_INVALID', /MAC is 32 bytes; 64/)
  })

  it('rejects a tampered payload, a wrong key and a wrong MAC', () => {
    const [h, , s] = es256().split('.')
    rejects(() => verify(`${h}.${b64url('{"hello":"mars"}')}.${s}`), 'ERR_JOSE_SIGNATURE_INVALID', /does not verify/)
    rejects(() => verify(es256(), generateJoseKey('P-256').publicKey), 'ERR_JOSE_SIGNATURE_INVALID')
    const other = new Uint8Array(randomBytes(64))
    rejects(() => verify(signJws({ alg: 'HS256' }, PAYLOAD, other), mac), 'ERR_JOSE_SIGNATURE_INVALID')
  })

  it('never takes the key from jwk, x5c or jku headers', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = attacker.publicKey.export({ format: 'jwk' })
    const token = signJws({ alg: 'ES256', jwk, jku: 'https://attacker.example/jwks' }, PAYLOAD, attacker.privateKey)
    rejects(() => verify(token), 'ERR_JOSE_SIGNATURE_INVALID')
  })
})

describe('checkAllowList', () => {
  it('accepts table names only, as a Set', () => {
    assert.doesNotThrow(() => checkAllowList(new Set(['ES256', 'HS256'])))
    assert.throws(() => checkAllowList(new Set(['none'])), TypeError)
    assert.throws(() => checkAllowList(new Set(['ESP256'])), TypeError)
    assert.throws(() => checkAllowList(['ES256'] as never), TypeError)
    assert.throws(() => verify(es256(), p256.publicKey, new Set([-7 as never])), TypeError)
  })

  it('maps every JOSE row onto a COSE row that lists its name', () => {
    for (const [name, algorithm] of JOSE_ALGORITHMS) {
      assert.equal(algorithm.name, name)
      assert.ok(algorithm.cose.jose.includes(name), name)
    }
    assert.ok(signatureFor('ES256', 'x', p256.privateKey).length === 64)
  })
})
