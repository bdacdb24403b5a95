import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto'
import { describe, it } from 'node:test'
import { CborTag, decodeCbor, encodeCbor, type CborMap, type CborValue } from '../../../src/cose/cbor.js'
import { sigStructure1 } from '../../../src/cose/structure.js'
import { generateEs256Key, jwkThumbprint } from '../../../src/crypto/sign.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { earClaimsCbor, earClaimsJson, type AppraisalOutcome } from '../../../src/results/ear.js'
import { createEarSigner, signEarCwt, signEarJwt, signJwtClaims } from '../../../src/results/sign.js'
import { verifyEarCwt, verifyEarJwt, verifyJwsCompact, type EarJwks } from '../../../src/results/verify.js'
import { base64urlEncode } from '../../../src/util/base64url.js'
import { utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

const IAT = 1_767_225_600
const clock = fixedClock(IAT + 10)
const nonce = new Uint8Array(32).fill(0x5a)

const OUTCOME: AppraisalOutcome = {
  iat: IAT,
  exp: IAT + 3600,
  nonce,
  verifier: { developer: 'https://assay.example', build: 'assay 0.1.0' },
  policyIds: ['urn:assay:policy:psa-builtin:1'],
  submods: {
    PSA: {
      vector: { 'instance-identity': 2, 'executables': 2, 'hardware': 2 },
      reasons: [],
    },
  },
}

const key = generateEs256Key()
const signer = createEarSigner(key)
const publicJwk = (k = key, kid: string | null = k.thumbprint): JsonWebKey => ({
  ...k.publicJwk,
  ...(kid === null ? {} : { kid }),
  alg: 'ES256',
  use: 'sig',
})
const jwks: EarJwks = { keys: [publicJwk()] }

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url')

/** A compact JWS over arbitrary header and payload text, signed ES256 with `privateKey`. */
function jws(header: object | string, payload: object | string, privateKey: KeyObject = key.privateKey): string {
  const h = b64(typeof header === 'string' ? header : JSON.stringify(header))
  const p = b64(typeof payload === 'string' ? payload : JSON.stringify(payload))
  const sig = sign('sha256', Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${h}.${p}.${sig.toString('base64url')}`
}

const HEADER = { alg: 'ES256', typ: 'JWT', kid: key.thumbprint }
/** The JSON claims of OUTCOME, for a test to edit. */
type Claims = Record<string, unknown>
const claims = (): Claims => earClaimsJson(OUTCOME)

describe('signEarJwt', () => {
  it('produces a compact JWS with the ES256 header, kid and the EAR media type', () => {
    const { token, mediaType } = signEarJwt(OUTCOME, signer)
    assert.equal(mediaType, 'application/eat+jwt; eat_profile="tag:ietf.org,2026:rats/ear#03"')
    const [h, p, s] = token.split('.') as [string, string, string]
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), HEADER)
    assert.deepEqual(JSON.parse(Buffer.from(p, 'base64url').toString()), earClaimsJson(OUTCOME))
    const signature = Buffer.from(s, 'base64url')
    assert.equal(signature.length, 64)
    const signed = Buffer.from(`${h}.${p}`)
    assert.ok(verify('sha256', signed, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }, signature))
    assert.equal(signer.kid, jwkThumbprint(key.publicJwk))
  })

  it('writes the Veraison profile in the media type for Veraison naming', () => {
    const { token, mediaType } = signEarJwt(OUTCOME, signer, 'veraison')
    assert.equal(mediaType, 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"')
    assert.equal(verifyEarJwt(token, jwks, { clock }).claims.naming, 'veraison')
  })

  it('refuses an empty kid and malformed outcomes with TypeError', () => {
    assert.throws(() => createEarSigner(key, ''), TypeError)
    assert.throws(() => signEarJwt({ ...OUTCOME, submods: {} }, signer), TypeError)
  })
})

describe('verifyEarJwt', () => {
  it('verifies a signed EAR with the JWKS alone', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    const { claims: verified, kid } = verifyEarJwt(token, jwks, { clock, expectedNonce: nonce, maxAgeSeconds: 60 })
    assert.equal(kid, key.thumbprint)
    assert.equal(verified.iat, IAT)
    assert.equal(verified.status, 'affirming')
    assert.equal(verified.submods.get('PSA')?.status, 'affirming')
    assert.equal(verifyEarJwt(token, jwks, { clock, expectedNonce: base64urlEncode(nonce) }).kid, key.thumbprint)
  })

  it('picks the key by kid among several', () => {
    const other = generateEs256Key()
    const { token } = signEarJwt(OUTCOME, signer)
    assert.equal(verifyEarJwt(token, { keys: [publicJwk(other), publicJwk()] }, { clock }).kid, key.thumbprint)
  })

  it('tries every ES256 key when the token has no kid', () => {
    const other = generateEs256Key()
    const token = jws({ alg: 'ES256', typ: 'JWT' }, claims())
    const keys = [publicJwk(other), publicJwk(key, null)]
    assert.equal(verifyEarJwt(token, { keys }, { clock }).kid, undefined)
  })

  it('rejects alg none', () => {
    const token = `${b64('{"alg":"none"}')}.${b64(JSON.stringify(claims()))}.`
    rejects(() => verifyEarJwt(token, jwks, { clock }), 'ERR_EAR_ALG_NOT_ALLOWED')
  })

  it('rejects HS256, even with the public key as the HMAC secret', () => {
    const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.thumbprint }))
    const p = b64(JSON.stringify(claims()))
    const secret = JSON.stringify(publicJwk())
    const mac = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')
    rejects(() => verifyEarJwt(`${h}.${p}.${mac}`, jwks, { clock }), 'ERR_EAR_ALG_NOT_ALLOWED')
  })

  it('rejects other asymmetric algorithms', () => {
    for (const alg of ['ES384', 'ES512', 'EdDSA', 'RS256', 'PS256', 'es256']) {
      rejects(() => verifyEarJwt(jws({ ...HEADER, alg }, claims()), jwks, { clock }), 'ERR_EAR_ALG_NOT_ALLOWED')
    }
  })

  it('rejects a kid the JWKS does not have', () => {
    rejects(() => verifyEarJwt(jws({ ...HEADER, kid: 'nope' }, claims()), jwks, { clock }), 'ERR_EAR_KEY_UNKNOWN')
  })

  it('ignores JWKS entries that are not ES256 signing keys', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
    for (const entry of [
      { ...publicJwk(), alg: 'ES384' },
      { ...publicJwk(), use: 'enc' },
      { ...publicJwk(), key_ops: ['encrypt'] },
      { ...p384, kid: key.thumbprint },
    ]) {
      const { token } = signEarJwt(OUTCOME, signer)
      rejects(() => verifyEarJwt(token, { keys: [entry] }, { clock }), 'ERR_EAR_KEY_UNKNOWN')
    }
  })

  it('never takes the key from a jwk header', () => {
    const attacker = generateEs256Key()
    const token = jws({ alg: 'ES256', typ: 'JWT', jwk: attacker.publicJwk }, claims(), attacker.privateKey)
    rejects(() => verifyEarJwt(token, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID')
    const withKid = jws({ ...HEADER, jwk: attacker.publicJwk }, claims(), attacker.privateKey)
    rejects(() => verifyEarJwt(withKid, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID')
  })

  it('rejects a tampered payload', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    const [h, , s] = token.split('.')
    const forged = { ...claims(), iat: IAT + 1 }
    const tampered = `${h}.${b64(JSON.stringify(forged))}.${s}`
    rejects(() => verifyEarJwt(tampered, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID')
  })

  it('rejects signatures of the wrong length or in DER', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    const input = token.slice(0, token.lastIndexOf('.'))
    const der = sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')
    rejects(() => verifyEarJwt(`${input}.${der}`, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID', /64/)
    rejects(() => verifyEarJwt(`${input}.`, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID')
  })

  it('rejects anything but exactly three segments', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    const [h, p, s] = token.split('.') as [string, string, string]
    for (const bad of [`${token}.x`, `${token}.`, `.${token}`, `${h}.${p}`, `${h}..${p}.${s}`, `..`, '']) {
      rejects(() => verifyEarJwt(bad, jwks, { clock }), 'ERR_EAR_MALFORMED')
    }
  })

  it('rejects padding, the standard alphabet and non-canonical base64url', () => {
    const spaces = [0, 1, 2].find((n) => b64(JSON.stringify(HEADER) + ' '.repeat(n)).length % 4 === 2)!
    const token = jws(JSON.stringify(HEADER) + ' '.repeat(spaces), claims())
    const [h, p, s] = token.split('.') as [string, string, string]
    assert.doesNotThrow(() => verifyEarJwt(token, jwks, { clock }))
    rejects(() => verifyEarJwt(`${h}==.${p}.${s}`, jwks, { clock }), 'ERR_EAR_MALFORMED', /base64url/)
    rejects(() => verifyEarJwt(`${h}.${p}.${s}=`, jwks, { clock }), 'ERR_EAR_MALFORMED')
    rejects(() => verifyEarJwt(`${h}.${p.replace(/-/g, '+')}+.${s}`, jwks, { clock }), 'ERR_EAR_MALFORMED')
    // 64 bytes leave 4 unused bits in the last character: setting one decodes to the same bytes.
    const last = s.at(-1)!
    assert.ok('AQgw'.includes(last))
    const sibling = String.fromCharCode(last.charCodeAt(0) + 1)
    const token2 = `${h}.${p}.${s.slice(0, -1)}${sibling}`
    rejects(() => verifyEarJwt(token2, jwks, { clock }), 'ERR_EAR_MALFORMED', /canonical/)
  })

  it('rejects duplicate header members, also in the payload', () => {
    const dupHeader = `{"alg":"ES256","typ":"JWT","kid":"${key.thumbprint}","alg":"ES256"}`
    rejects(() => verifyEarJwt(jws(dupHeader, claims()), jwks, { clock }), 'ERR_EAR_MALFORMED', /duplicate/)
    const text = JSON.stringify(claims())
    rejects(() => verifyEarJwt(jws(HEADER, `{"iat":1,${text.slice(1)}`), jwks, { clock }), 'ERR_EAR_MALFORMED')
  })

  it('rejects crit, a non-text kid, a foreign typ and a header that is not an object', () => {
    const withHeader = (header: object | string) => () => verifyEarJwt(jws(header, claims()), jwks, { clock })
    rejects(withHeader({ ...HEADER, crit: ['b64'], b64: false }), 'ERR_EAR_MALFORMED', /crit/)
    rejects(withHeader({ ...HEADER, kid: 7 }), 'ERR_EAR_MALFORMED')
    rejects(withHeader({ ...HEADER, typ: 'at+jwt' }), 'ERR_EAR_MALFORMED')
    rejects(withHeader('["ES256"]'), 'ERR_EAR_MALFORMED')
    rejects(withHeader({ typ: 'JWT' }), 'ERR_EAR_MALFORMED')
    assert.doesNotThrow(withHeader({ ...HEADER, typ: 'application/eat+jwt' }))
  })

  it('rejects iat written as a float, as in the EAR draft example', () => {
    const text = JSON.stringify(claims()).replace(`"iat":${IAT}`, '"iat":1.7672256e+09')
    const token = jws(HEADER, text)
    assert.doesNotThrow(() => verifyJwsCompact(token, jwks))
    rejects(() => verifyEarJwt(token, jwks, { clock }), 'ERR_EAR_FLOAT_TIME')
    const fraction = JSON.stringify(claims()).replace(`"iat":${IAT}`, `"iat":${IAT}.0`)
    rejects(() => verifyEarJwt(jws(HEADER, fraction), jwks, { clock }), 'ERR_EAR_FLOAT_TIME')
  })

  it('rejects an expired result, and one older than the maximum age', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    rejects(() => verifyEarJwt(token, jwks, { clock: fixedClock(IAT + 3600) }), 'ERR_EAR_EXPIRED')
    assert.doesNotThrow(() => verifyEarJwt(token, jwks, { clock: fixedClock(IAT + 3600), clockToleranceSeconds: 5 }))
    rejects(() => verifyEarJwt(token, jwks, { clock: fixedClock(IAT + 61), maxAgeSeconds: 60 }), 'ERR_EAR_EXPIRED')
  })

  it('rejects a result from the future or before its nbf', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    rejects(() => verifyEarJwt(token, jwks, { clock: fixedClock(IAT - 1) }), 'ERR_EAR_NOT_YET_VALID')
    assert.doesNotThrow(() => verifyEarJwt(token, jwks, { clock: fixedClock(IAT - 1), clockToleranceSeconds: 1 }))
    rejects(() => verifyEarJwt(jws(HEADER, { ...claims(), nbf: IAT + 20 }), jwks, { clock }), 'ERR_EAR_NOT_YET_VALID')
  })

  it('rejects missing or empty submods, and a submod without status', () => {
    const { submods: _, ...noSubmods } = claims()
    rejects(() => verifyEarJwt(jws(HEADER, noSubmods), jwks, { clock }), 'ERR_EAR_CLAIMS_INVALID')
    rejects(() => verifyEarJwt(jws(HEADER, { ...claims(), submods: {} }), jwks, { clock }), 'ERR_EAR_CLAIMS_INVALID')
    const noStatus = claims()
    delete (noStatus['submods'] as Record<string, Claims>)['PSA']!['ear_status']
    rejects(() => verifyEarJwt(jws(HEADER, noStatus), jwks, { clock }), 'ERR_EAR_CLAIMS_INVALID')
    rejects(() => verifyEarJwt(jws(HEADER, {}), jwks, { clock }), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('rejects a wrong or missing nonce', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    const wrong = new Uint8Array(nonce)
    wrong[0] = wrong[0]! ^ 1
    rejects(() => verifyEarJwt(token, jwks, { clock, expectedNonce: wrong }), 'ERR_EAR_NONCE_MISMATCH')
    const wrongText = base64urlEncode(wrong)
    rejects(() => verifyEarJwt(token, jwks, { clock, expectedNonce: wrongText }), 'ERR_EAR_NONCE_MISMATCH')
    const { nonce: _, ...noNonce } = OUTCOME
    const unfresh = signEarJwt(noNonce, signer).token
    const run = () => verifyEarJwt(unfresh, jwks, { clock, expectedNonce: nonce })
    rejects(run, 'ERR_EAR_NONCE_MISMATCH', /no eat_nonce/)
  })

  it('compares a byte nonce with standard base64 text too', () => {
    const token = jws(HEADER, { ...claims(), eat_nonce: Buffer.from(nonce).toString('base64') })
    assert.doesNotThrow(() => verifyEarJwt(token, jwks, { clock, expectedNonce: nonce }))
  })

  it('reports bad options and a bad JWKS as TypeError', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    assert.throws(() => verifyEarJwt(token, jwks, {} as never), TypeError)
    assert.throws(() => verifyEarJwt(token, jwks, { clock, expectedAlg: 'HS256' as never }), TypeError)
    assert.throws(() => verifyEarJwt(token, jwks, { clock, maxAgeSeconds: -1 }), TypeError)
    assert.throws(() => verifyEarJwt(token, [] as never, { clock }), TypeError)
    const priv = { ...publicJwk(), d: 'AAAA' }
    assert.throws(() => verifyEarJwt(token, { keys: [priv] }, { clock }), TypeError)
  })

  it('bounds the token size', () => {
    const { token } = signEarJwt(OUTCOME, signer)
    rejects(() => verifyEarJwt(token, jwks, { clock, maxBytes: 100 }), 'ERR_EAR_MALFORMED')
  })

  it('signs claims it is handed as they are (signJwtClaims)', () => {
    const token = signJwtClaims({ hello: 'world' }, signer)
    const { payload, header } = verifyJwsCompact(token, jwks)
    assert.deepEqual(JSON.parse(Buffer.from(payload).toString()), { hello: 'world' })
    assert.equal(header['kid'], key.thumbprint)
  })
})

describe('signEarCwt and verifyEarCwt', () => {
  it('signs a tagged COSE_Sign1 with protected {1: -7, 4: kid} over the CBOR claims', () => {
    const { token, mediaType } = signEarCwt(OUTCOME, signer)
    assert.equal(mediaType, 'application/eat+cwt; eat_profile="tag:ietf.org,2026:rats/ear#03"')
    assert.equal(token[0], 0xd2)
    const message = decodeCbor(token, { allowedTags: new Set([18]) }) as CborTag
    const [protectedBytes, unprotected, payload] = message.value as [Uint8Array, Map<number, unknown>, Uint8Array]
    assert.deepEqual(decodeCbor(protectedBytes), new Map<number, unknown>([[1, -7], [4, utf8(key.thumbprint)]]))
    assert.equal(unprotected.size, 0)
    assert.deepEqual(decodeCbor(payload), earClaimsCbor(OUTCOME))
  })

  it('verifies with the JWKS alone', () => {
    const { token } = signEarCwt(OUTCOME, signer)
    const { claims: verified, kid } = verifyEarCwt(token, jwks, { clock, expectedNonce: nonce })
    assert.equal(kid, key.thumbprint)
    assert.equal(verified.encoding, 'cbor')
    assert.equal(verified.status, 'affirming')
    assert.deepEqual(verified.nonce, nonce)
  })

  /** A COSE_Sign1 over arbitrary protected header and claims, signed with `privateKey`. */
  function cwt(alg: number, kid: Uint8Array, claimsMap: CborMap, tag = 18): Uint8Array {
    const protectedBytes = encodeCbor(new Map<number, CborValue>([[1, alg], [4, kid]]))
    const payload = encodeCbor(claimsMap)
    const toBeSigned = sigStructure1(protectedBytes, new Uint8Array(0), payload)
    const sig = sign('sha256', toBeSigned, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    return encodeCbor(new CborTag(tag, [protectedBytes, new Map(), payload, new Uint8Array(sig)]))
  }
  const kidBytes = utf8(key.thumbprint)

  it('rejects a tampered payload', () => {
    const token = signEarCwt(OUTCOME, signer).token
    const i = Buffer.from(token).indexOf(Buffer.from('assay 0.1.0'))
    const tampered = new Uint8Array(token)
    tampered[i] = tampered[i]! ^ 0x20
    rejects(() => verifyEarCwt(tampered, jwks, { clock }), 'ERR_EAR_SIGNATURE_INVALID')
  })

  it('rejects an unknown kid, other algorithms and untagged or wrongly tagged messages', () => {
    const run = (token: Uint8Array) => () => verifyEarCwt(token, jwks, { clock })
    const claimsMap = earClaimsCbor(OUTCOME)
    rejects(run(cwt(-7, utf8('nope'), claimsMap)), 'ERR_EAR_KEY_UNKNOWN')
    rejects(run(cwt(-35, kidBytes, claimsMap)), 'ERR_EAR_ALG_NOT_ALLOWED')
    rejects(run(cwt(5, kidBytes, claimsMap)), 'ERR_EAR_ALG_NOT_ALLOWED')
    const valid = cwt(-7, kidBytes, claimsMap)
    assert.doesNotThrow(run(valid))
    rejects(run(valid.subarray(1)), 'ERR_EAR_MALFORMED')
    rejects(run(cwt(-7, kidBytes, claimsMap, 17)), 'ERR_EAR_MALFORMED')
  })

  it('rejects claims that break the EAR rules, expiry and a wrong nonce', () => {
    const noSubmods = earClaimsCbor(OUTCOME)
    noSubmods.delete(266)
    rejects(() => verifyEarCwt(cwt(-7, kidBytes, noSubmods), jwks, { clock }), 'ERR_EAR_CLAIMS_INVALID')
    const { token } = signEarCwt(OUTCOME, signer)
    rejects(() => verifyEarCwt(token, jwks, { clock: fixedClock(IAT + 3600) }), 'ERR_EAR_EXPIRED')
    rejects(() => verifyEarCwt(token, jwks, { clock, expectedNonce: new Uint8Array(32) }), 'ERR_EAR_NONCE_MISMATCH')
  })
})
