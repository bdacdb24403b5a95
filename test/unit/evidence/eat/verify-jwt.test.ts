import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { CborTag, encodeCbor } from '../../../../src/cose/cbor.js'
import type { PublicKey, SecretKey } from '../../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import { EAT_JOSE_ALGORITHMS, verifyEatJwt, type JwtVerifyOptions } from '../../../../src/evidence/eat/verify-jwt.js'
import { base64urlEncode } from '../../../../src/util/base64url.js'
import { utf8 } from '../../../../src/util/bytes.js'
import { fixedClock } from '../../../../src/util/clock.js'
import { b64url, generateJoseKey, secretKey, signJws } from '../../jose/sign.js'

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

const NOW = 1_700_000_000
const clock = fixedClock(NOW)
const p256 = generateJoseKey('P-256')
const p384 = generateJoseKey('P-384')
const macBytes = new Uint8Array(randomBytes(32))
const NONCE = 'n-0S6_WzA2Mj'
const UEID = Uint8Array.of(0x01, ...randomBytes(16))
const HEADER = { alg: 'ES256', typ: 'eat+jwt' }

const claims = (extra: object = {}): Record<string, unknown> => ({
  eat_nonce: NONCE,
  ueid: base64urlEncode(UEID),
  iat: NOW - 10,
  nbf: NOW - 10,
  exp: NOW + 300,
  ...extra,
})

const es256 = (header: object | string = HEADER, payload: object | string = claims()) =>
  signJws(header, payload, p256.privateKey, 'ES256')

const run = (token: string, options: Partial<JwtVerifyOptions> = {}) =>
  verifyEatJwt(token, { key: p256.publicKey, algorithms: EAT_JOSE_ALGORITHMS, clock, ...options })

describe('verifyEatJwt', () => {
  it('verifies an ES256 EAT and decodes its JSON claims', () => {
    const verified = run(es256(), { expectedNonce: utf8(NONCE) })
    assert.equal(verified.algorithm.name, 'ES256')
    assert.deepEqual(verified.header, HEADER)
    assert.deepEqual(verified.claims.ueid, UEID)
    assert.deepEqual(verified.claims.nonces, [utf8(NONCE)])
    assert.equal(verified.claims.iat, NOW - 10)
  })

  it('accepts typ eat+jwt, application/eat+jwt and JWT (any case), or none', () => {
    for (const typ of ['eat+jwt', 'application/eat+jwt', 'JWT', 'jwt', 'Application/EAT+JWT', undefined]) {
      assert.doesNotThrow(() => run(es256({ alg: 'ES256', typ })), String(typ))
    }
    for (const typ of ['at+jwt', 'application/jwt', 'eat+cwt', 7]) {
      rejects(() => run(es256({ alg: 'ES256', typ })), 'ERR_JOSE_HEADER_INVALID', /typ/)
    }
  })

  it('verifies EdDSA, PS256 and, when allowed, HS256 with a secret', () => {
    const ed = generateJoseKey('Ed25519')
    const eddsa = signJws({ alg: 'EdDSA' }, claims(), ed.privateKey)
    assert.equal(run(eddsa, { key: ed.publicKey }).algorithm.name, 'EdDSA')
    const rsa = generateJoseKey('RSA-2048')
    const ps256 = signJws({ alg: 'PS256' }, claims(), rsa.privateKey)
    assert.equal(run(ps256, { key: rsa.publicKey }).algorithm.name, 'PS256')
    const hs = signJws({ alg: 'HS256' }, claims(), macBytes)
    const key: SecretKey = secretKey(macBytes)
    assert.equal(run(hs, { key, algorithms: new Set(['HS256']) }).algorithm.kind, 'mac')
    rejects(() => run(hs, { key }), 'ERR_JOSE_ALG_NOT_ALLOWED')
  })

  it('rejects alg none', () => {
    const token = `${b64url('{"alg":"none","typ":"eat+jwt"}')}.${b64url(JSON.stringify(claims()))}.`
    rejects(() => run(token), 'ERR_JOSE_ALG_NOT_ALLOWED', /none/)
  })

  it('rejects an HS256 header with the EC public key (algorithm confusion), even with HS256 allowed', () => {
    const pem = p256.publicKey.keyObject.export({ type: 'spki', format: 'pem' })
    const input = `${b64url('{"alg":"HS256","typ":"eat+jwt"}')}.${b64url(JSON.stringify(claims()))}`
    const token = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`
    rejects(() => run(token, { algorithms: new Set(['ES256', 'HS256']) }), 'ERR_JOSE_KEY_ALG_MISMATCH')
    rejects(() => run(token), 'ERR_JOSE_ALG_NOT_ALLOWED')
  })

  it('rejects an alg outside the allow-list', () => {
    rejects(() => run(es256(), { algorithms: new Set(['ES384', 'EdDSA']) }), 'ERR_JOSE_ALG_NOT_ALLOWED')
    const rsa = generateJoseKey('RSA-2048')
    rejects(() => run(signJws({ alg: 'RS256' }, claims(), rsa.privateKey), { key: rsa.publicKey }),
      'ERR_JOSE_ALG_NOT_ALLOWED')
  })

  it('rejects ES256 with a P-384 key', () => {
    const token = signJws(HEADER, claims(), p384.privateKey, 'ES384')
    rejects(() => run(token, { key: p384.publicKey }), 'ERR_JOSE_KEY_ALG_MISMATCH', /P-384/)
  })

  it('rejects a leading dot, four segments and padding', () => {
    const token = es256()
    const [h, p, s] = token.split('.') as [string, string, string]
    rejects(() => run(`.${token}`), 'ERR_JOSE_MALFORMED', /segments/)
    rejects(() => run(`${token}.${s}`), 'ERR_JOSE_MALFORMED', /segments/)
    rejects(() => run(`${h}.${p}.${s}==`), 'ERR_JOSE_MALFORMED', /base64url/)
    rejects(() => run(`${h}==.${p}.${s}`), 'ERR_JOSE_MALFORMED', /base64url/)
  })

  it('rejects a duplicate header member and a duplicate claim member', () => {
    rejects(() => run(es256('{"alg":"ES256","typ":"eat+jwt","alg":"ES256"}')), 'ERR_JOSE_MALFORMED', /duplicate/)
    const text = JSON.stringify(claims())
    const duplicated = es256(HEADER, `{"iat":1,${text.slice(1)}`)
    rejects(() => run(duplicated), 'ERR_JOSE_MALFORMED', /duplicate member name "iat"/)
  })

  it('rejects crit naming an unknown extension', () => {
    rejects(() => run(es256({ ...HEADER, crit: ['urn:example:ext'], 'urn:example:ext': true })),
      'ERR_JOSE_CRIT_UNSUPPORTED')
  })

  it('rejects a float iat', () => {
    const text = JSON.stringify(claims()).replace(`"iat":${NOW - 10}`, '"iat":1.69999999e+09')
    rejects(() => run(es256(HEADER, text)), 'ERR_CLAIMS_FLOAT_TIME')
  })

  it('rejects an expired or not yet valid token, within the skew', () => {
    rejects(() => run(es256(HEADER, claims({ exp: NOW }))), 'ERR_CLAIMS_EXPIRED')
    assert.doesNotThrow(() => run(es256(HEADER, claims({ exp: NOW })), { skewSeconds: 1 }))
    rejects(() => run(es256(HEADER, claims({ nbf: NOW + 60 }))), 'ERR_CLAIMS_NOT_YET_VALID')
  })

  it('compares the nonce text exactly as sent', () => {
    rejects(() => run(es256(), { expectedNonce: utf8('n-0S6_WzA2Mk') }), 'ERR_CLAIMS_NONCE_MISMATCH')
    // The text is not base64url-decoded: its decoded bytes are not the nonce.
    rejects(() => run(es256(), { expectedNonce: Buffer.from(NONCE, 'base64url') }), 'ERR_CLAIMS_NONCE_MISMATCH')
    const { eat_nonce: _nonce, ...noNonce } = claims()
    rejects(() => run(es256(HEADER, noNonce), { expectedNonce: utf8(NONCE) }), 'ERR_CLAIMS_NONCE_MISMATCH')
    const two = es256(HEADER, claims({ eat_nonce: ['other-nonce', NONCE] }))
    assert.doesNotThrow(() => run(two, { expectedNonce: utf8(NONCE) }))
  })

  it('rejects a payload that is not a claims-set, and nested JWTs', () => {
    rejects(() => run(es256(HEADER, '[1,2]')), 'ERR_JOSE_PAYLOAD_NOT_CLAIMS')
    rejects(() => run(es256(HEADER, 'not json')), 'ERR_JOSE_MALFORMED')
    rejects(() => run(es256({ ...HEADER, cty: 'JWT' }, claims())), 'ERR_JOSE_PAYLOAD_NOT_CLAIMS', /nested/)
    rejects(() => run(es256(HEADER, claims({ ueid: 'AQ==' }))), 'ERR_CLAIMS_INVALID', /^ueid/)
  })

  it('decodes JSON-Selector submods of each type', () => {
    const sign1 = [new Uint8Array(0), new Map(), new Uint8Array(1), new Uint8Array(64)]
    const cwt = new Uint8Array(encodeCbor(new CborTag(61, new CborTag(18, sign1))))
    const nestedJwt = signJws({ alg: 'ES256' }, { ueid: base64urlEncode(UEID) }, p256.privateKey)
    const bundle = [['JWT', nestedJwt], { tpm: b64url('{"dbgstat":"enabled"}') }]
    const digest = new Uint8Array(32).fill(7)
    const { claims: decoded } = run(
      es256(HEADER, claims({
        submods: {
          os: { swname: 'kernel', swversion: ['6.1'] },
          jwt: ['JWT', nestedJwt],
          cbor: ['CBOR', base64urlEncode(cwt)],
          bundle: ['BUNDLE', bundle],
          digest: ['DIGEST', [-16, base64urlEncode(digest)]],
        },
      })),
    )
    assert.deepEqual(decoded.submods, new Map([
      ['os', { kind: 'json-claims', claims: { swname: 'kernel', swversion: ['6.1'] } }],
      ['jwt', { kind: 'jwt', token: nestedJwt }],
      ['cbor', { kind: 'token', bytes: cwt }],
      ['bundle', { kind: 'json-bundle', value: bundle }],
      ['digest', { kind: 'digest', alg: -16, digest }],
    ]))
    // A nested JWT is verified on its own, with its own key: here the same one.
    const nested = decoded.submods!.get('jwt')
    assert.ok(nested?.kind === 'jwt')
    assert.deepEqual(run(nested.token).claims.ueid, UEID)
  })

  it('bounds the token size and refuses a bad allow-list as TypeError', () => {
    rejects(() => run(es256(), { maxBytes: 64 }), 'ERR_JOSE_MALFORMED', /limit/)
    assert.throws(() => run(es256(), { algorithms: new Set(['none']) }), TypeError)
    const key: PublicKey = p256.publicKey
    assert.throws(() => run(es256(), { key, algorithms: ['ES256'] as never }), TypeError)
  })
})
