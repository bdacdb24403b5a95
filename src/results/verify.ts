/**
 * Offline verification of signed EARs, for relying parties and tests (specs.md §2.2, §5.3). The only
 * trust input is a JWKS the caller configured: keys are chosen from it by `kid`, never from the token
 * (`jwk`, `x5c`, `x5u`, `jku` headers are never used), and the algorithm is pinned to ES256 before any
 * key is touched, so `none`, HS* and every other JOSE/COSE algorithm are refused outright.
 *
 * The JWS mechanics are src/jose/jws.ts (`parseJwsCompact`, `verifyJws`); their `ERR_JOSE_*` errors
 * are re-issued with the `ERR_EAR_*` code of the step below, the original as `cause`.
 *
 * Checks in order, with the error each raises (JWT; the CWT differs where noted):
 *
 * 1. Exactly three canonical, unpadded base64url segments, a header that is a JSON object without
 *    duplicate members, and the JOSE header rules (`crit`, `b64`, `kid`, `x5c`) of src/jose (CWT:
 *    COSE_Sign1 tagged 18, optionally inside 61, strict structure): `ERR_EAR_MALFORMED`.
 * 2. `alg` is ES256 (CWT: in the protected header): `ERR_EAR_ALG_NOT_ALLOWED`.
 * 3. No `crit`; `kid` is text; `typ` is absent, JWT or eat+jwt (CWT: the header rules of src/cose):
 *    `ERR_EAR_MALFORMED`.
 * 4. The key is the JWKS entry with the token's `kid`; with no `kid`, every ES256 key of the JWKS is
 *    tried (CWT: the `kid` bytes read as UTF-8): `ERR_EAR_KEY_UNKNOWN`.
 * 5. The signature, 64-byte r‖s: `ERR_EAR_SIGNATURE_INVALID`.
 * 6. The claims-set, `parseEarClaimsJson` (CWT: `parseEarClaimsCbor`): `ERR_EAR_MALFORMED`,
 *    `ERR_EAR_FLOAT_TIME`, `ERR_EAR_CLAIMS_INVALID`.
 * 7. `exp`, `nbf` and `iat` against the clock, and the maximum age: `ERR_EAR_EXPIRED`,
 *    `ERR_EAR_NOT_YET_VALID`.
 * 8. The top-level `eat_nonce` against the expected nonce: `ERR_EAR_NONCE_MISMATCH`.
 */
import type { JsonWebKey } from 'node:crypto'
import { ALG } from '../cose/algorithms.js'
import { parseSign1, verifySign1, type UnverifiedSign1 } from '../cose/sign1.js'
import { constantTimeEqual } from '../crypto/compare.js'
import { importJwk, type PublicKey } from '../crypto/keys.js'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import type { JsonObject } from '../jose/json.js'
import { parseJwsCompact, verifyJws as verifyJoseJws, type UnverifiedJws } from '../jose/jws.js'
import { base64urlDecode } from '../util/base64url.js'
import { utf8 } from '../util/bytes.js'
import type { Clock } from '../util/clock.js'
import { MAX_EAR_BYTES, decodeUtf8, parseEarClaimsCbor, parseEarClaimsJson, type EarClaims } from './claims.js'

/** A JSON Web Key Set (RFC 7517 §5) of EAR verification keys, as a relying party configures it. */
export interface EarJwks {
  readonly keys: readonly JsonWebKey[]
}

export interface JwsVerifyOptions {
  /** The only JOSE algorithm accepted. @defaultValue 'ES256' */
  readonly expectedAlg?: 'ES256'
  /** Upper bound on the token. @defaultValue 256 KiB */
  readonly maxBytes?: number
}

export interface EarVerifyOptions extends JwsVerifyOptions {
  readonly clock: Clock
  /** Reject results whose `iat` is more than this many seconds old. @defaultValue no limit */
  readonly maxAgeSeconds?: number
  /**
   * The nonce the relying party sent. Text is compared with the result's `eat_nonce` text exactly (the
   * JSON nonce alphabet is not fixed, Corrections item 8); bytes are compared with the JSON text read as
   * base64url or base64, and with the CBOR bytes as they are. @defaultValue no nonce check
   */
  readonly expectedNonce?: Uint8Array | string
  /** Leeway for `exp`, `nbf`, a future `iat` and the maximum age. @defaultValue 0 */
  readonly clockToleranceSeconds?: number
}

/** A compact JWS whose ES256 signature verified with a JWKS key; its payload is not interpreted. */
export interface VerifiedJws {
  /** The protected header, parsed strictly. */
  readonly header: JsonObject
  readonly payload: Uint8Array
  /** `kid` of the JWKS entry that verified the signature, if it has one. */
  readonly kid: string | undefined
}

/** A signed EAR that passed every check. */
export interface VerifiedEar {
  readonly claims: EarClaims
  /** `kid` of the JWKS entry that verified the signature, if it has one. */
  readonly kid: string | undefined
}

const ACCEPTED_TYP = new Set(['jwt', 'application/jwt', 'eat+jwt', 'application/eat+jwt'])
const ES256_ONLY = { algorithms: new Set(['ES256']) } as const

function malformed(message: string, cause?: unknown): never {
  throw new VerifierError('ERR_EAR_MALFORMED', message, cause === undefined ? {} : { cause })
}

function checkExpectedAlg(alg: unknown): void {
  if (alg !== undefined && alg !== 'ES256') throw new TypeError(`expectedAlg must be 'ES256', got ${String(alg)}`)
}

/** A JWKS entry that may verify ES256: EC P-256, and no `alg`, `use` or `key_ops` saying otherwise. */
function isEs256Jwk(jwk: JsonWebKey): boolean {
  return (
    jwk.kty === 'EC' &&
    jwk.crv === 'P-256' &&
    (jwk.alg === undefined || jwk.alg === 'ES256') &&
    (jwk.use === undefined || jwk.use === 'sig') &&
    (jwk.key_ops === undefined || (Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
  )
}

/**
 * The JWKS keys that may verify a token with this `kid` (or without one). A JWKS entry without a
 * `kid` is only a candidate for a token without one. Throws `TypeError` for a JWKS that is not one.
 */
function candidateKeys(jwks: EarJwks, kid: string | undefined): PublicKey[] {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) {
    throw new TypeError('jwks must be a JSON Web Key Set: { keys: [...] }')
  }
  const out: PublicKey[] = []
  for (const jwk of jwks.keys) {
    if (typeof jwk !== 'object' || jwk === null) throw new TypeError('every JWKS entry must be a JWK object')
    if ('d' in jwk || 'k' in jwk) throw new TypeError('a verification JWKS must hold public keys only')
    if (!isEs256Jwk(jwk)) continue
    if (kid !== undefined && jwk.kid !== kid) continue
    try {
      out.push(importJwk(jwk, { alg: 'ES256', kid: typeof jwk.kid === 'string' ? jwk.kid : undefined }))
    } catch (cause) {
      const which = jwk.kid === undefined ? 'a JWKS entry' : `JWKS entry ${String(jwk.kid)}`
      throw new TypeError(`${which} cannot be imported`, { cause })
    }
  }
  if (out.length === 0) {
    const message =
      kid === undefined
        ? 'result has no kid and the configured JWKS has no ES256 key'
        : `no ES256 key in the configured JWKS has kid ${JSON.stringify(kid)}`
    throw new VerifierError('ERR_EAR_KEY_UNKNOWN', message)
  }
  return out
}

/**
 * Verifies a compact JWS with an ES256 key from `jwks` and returns its payload uninterpreted. This
 * is steps 1–5 of the list above; `verifyEarJwt` adds the claims checks. Use it alone only to look
 * at results that fail the EAR rules (for example a legacy floating-point `iat`).
 */
export function verifyJwsCompact(token: string, jwks: EarJwks, options: JwsVerifyOptions = {}): VerifiedJws {
  checkExpectedAlg(options.expectedAlg)
  let jws: UnverifiedJws
  try {
    jws = parseJwsCompact(token, { maxBytes: options.maxBytes ?? MAX_EAR_BYTES })
  } catch (cause) {
    throw fromJose(cause)
  }
  const { header } = jws
  const alg = header['alg']
  if (alg === undefined) malformed('JWS header has no alg (RFC 7515 §4.1.1)')
  if (alg !== 'ES256') {
    throw new VerifierError('ERR_EAR_ALG_NOT_ALLOWED', `alg ${JSON.stringify(alg)} is not allowed; only ES256`)
  }
  // src/jose understands crit ["b64"] with b64 true; an EAR uses no extension at all.
  if (header['crit'] !== undefined) {
    malformed('JWS crit names extensions this verifier does not implement (RFC 7515 §4.1.11)')
  }
  const typ = header['typ']
  if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase()))) {
    malformed(`JWS typ ${JSON.stringify(typ)} is not a JWT type`)
  }

  let lastError: VerifierError | undefined
  for (const key of candidateKeys(jwks, jws.kid)) {
    try {
      return { header, payload: verifyJoseJws(jws, key, ES256_ONLY).payload, kid: key.kid }
    } catch (cause) {
      if (!isVerifierError(cause, 'ERR_JOSE_SIGNATURE_INVALID')) throw fromJose(cause)
      lastError = cause
    }
  }
  throw new VerifierError('ERR_EAR_SIGNATURE_INVALID', lastError?.message, { cause: lastError })
}

/** The `ERR_EAR_*` error for an error from src/jose; anything else (a `TypeError` for bad options) as is. */
function fromJose(cause: unknown): unknown {
  if (!isVerifierError(cause)) return cause
  switch (cause.code) {
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_ALG_UNKNOWN':
      return new VerifierError('ERR_EAR_ALG_NOT_ALLOWED', `${cause.message}; only ES256`, { cause })
    case 'ERR_JOSE_SIGNATURE_INVALID':
    case 'ERR_JOSE_KEY_ALG_MISMATCH':
      return new VerifierError('ERR_EAR_SIGNATURE_INVALID', cause.message, { cause })
    default:
      return new VerifierError('ERR_EAR_MALFORMED', cause.message, { cause })
  }
}

/**
 * Verifies an EAR signed as a JWT: the JWS with a key from `jwks` (ES256 only), then the claims-set
 * (either naming, see `parseEarClaimsJson`), its times against `options.clock` and the nonce. Throws
 * `VerifierError` with an `ERR_EAR_*` code (see the list above), `TypeError` on bad options.
 */
export function verifyEarJwt(token: string, jwks: EarJwks, options: EarVerifyOptions): VerifiedEar {
  checkOptions(options)
  const { payload, kid } = verifyJwsCompact(token, jwks, options)
  const claims = parseEarClaimsJson(payload)
  checkClaims(claims, options)
  return { claims, kid }
}

/** CWT EARs: COSE_Sign1 tagged 18 (optionally inside tag 61), ES256 only, `alg` protected. */
const CWT_POLICY = { algorithms: new Set([ALG.ES256]), cwtTag: true, requireProtectedAlg: true } as const

/**
 * Verifies an EAR signed as a CWT (COSE_Sign1, ES256): key from `jwks` by `kid` (its bytes read as
 * UTF-8 text, as `signEarCwt` writes it), then the CBOR claims-set, times and nonce as `verifyEarJwt`
 * does. Failures of the COSE layer are reported with the matching `ERR_EAR_*` code, the original
 * error as `cause`.
 */
export function verifyEarCwt(token: Uint8Array, jwks: EarJwks, options: EarVerifyOptions): VerifiedEar {
  checkOptions(options)
  if (!(token instanceof Uint8Array)) malformed('CWT must be bytes')
  const maxBytes = options.maxBytes ?? MAX_EAR_BYTES
  let message: UnverifiedSign1
  try {
    message = parseSign1(token, { ...CWT_POLICY, maxBytes })
  } catch (cause) {
    throw fromCose(cause)
  }
  let kid: string | undefined
  if (message.kid !== undefined) {
    try {
      kid = decodeUtf8(message.kid, 'kid')
    } catch (cause) {
      throw new VerifierError('ERR_EAR_KEY_UNKNOWN', 'CWT kid is not UTF-8 text, so no JWKS key has it', { cause })
    }
  }
  const keys = candidateKeys(jwks, kid)
  let payload: Uint8Array | undefined
  let lastError: unknown
  for (const key of keys) {
    try {
      payload = verifySign1(message, key).payload
      kid = key.kid
      break
    } catch (cause) {
      lastError = cause
    }
  }
  if (payload === undefined) throw fromCose(lastError)
  const claims = parseEarClaimsCbor(payload)
  checkClaims(claims, options)
  return { claims, kid }
}

/** The `ERR_EAR_*` code for an error from src/cose. */
function fromCose(cause: unknown): VerifierError {
  if (!isVerifierError(cause)) return new VerifierError('ERR_EAR_MALFORMED', 'CWT cannot be parsed', { cause })
  switch (cause.code) {
    case 'ERR_COSE_ALG_NOT_ALLOWED':
    case 'ERR_COSE_ALG_UNKNOWN':
      return new VerifierError('ERR_EAR_ALG_NOT_ALLOWED', `${cause.message}; only ES256`, { cause })
    case 'ERR_COSE_SIGNATURE_INVALID':
    case 'ERR_COSE_SIGNATURE_LENGTH':
    case 'ERR_COSE_SIGNATURE_DER':
    case 'ERR_COSE_KEY_ALG_MISMATCH':
      return new VerifierError('ERR_EAR_SIGNATURE_INVALID', cause.message, { cause })
    default:
      return new VerifierError('ERR_EAR_MALFORMED', `CWT: ${cause.message}`, { cause })
  }
}

function checkOptions(options: EarVerifyOptions): void {
  if (typeof options !== 'object' || options === null || typeof options.clock?.nowSeconds !== 'function') {
    throw new TypeError('options.clock is required')
  }
  checkExpectedAlg(options.expectedAlg)
  for (const name of ['maxAgeSeconds', 'clockToleranceSeconds'] as const) {
    const v = options[name]
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw new TypeError(`${name} must be a non-negative integer`)
    }
  }
}

/** Steps 7 and 8: times against the clock, then the nonce. */
function checkClaims(claims: EarClaims, options: EarVerifyOptions): void {
  const now = options.clock.nowSeconds()
  const leeway = options.clockToleranceSeconds ?? 0
  if (claims.exp !== undefined && now >= claims.exp + leeway) {
    throw new VerifierError('ERR_EAR_EXPIRED', `result expired at ${claims.exp} (now ${now})`)
  }
  if (claims.nbf !== undefined && now + leeway < claims.nbf) {
    throw new VerifierError('ERR_EAR_NOT_YET_VALID', `result is not valid before ${claims.nbf} (now ${now})`)
  }
  if (now + leeway < claims.iat) {
    throw new VerifierError('ERR_EAR_NOT_YET_VALID', `result iat ${claims.iat} is in the future (now ${now})`)
  }
  const maxAge = options.maxAgeSeconds
  if (maxAge !== undefined && now - claims.iat > maxAge + leeway) {
    throw new VerifierError('ERR_EAR_EXPIRED', `result was issued at ${claims.iat}, more than ${maxAge} s ago`)
  }
  if (options.expectedNonce !== undefined && !nonceMatches(claims.nonce, options.expectedNonce)) {
    throw new VerifierError(
      'ERR_EAR_NONCE_MISMATCH',
      claims.nonce === undefined ? 'result carries no eat_nonce' : 'eat_nonce does not match the expected nonce',
    )
  }
}

const BASE64URL_TEXT = /^[A-Za-z0-9_-]+$/
const BASE64_TEXT = /^[A-Za-z0-9+/]+={0,2}$/

function nonceMatches(received: string | Uint8Array | undefined, expected: Uint8Array | string): boolean {
  if (received === undefined) return false
  if (typeof received === 'string') {
    if (typeof expected === 'string') return constantTimeEqual(utf8(received), utf8(expected))
    // Node's base64 decoder reads both alphabets; the patterns keep it from skipping stray characters.
    if (!BASE64URL_TEXT.test(received) && !BASE64_TEXT.test(received)) return false
    return constantTimeEqual(Buffer.from(received, 'base64'), expected)
  }
  if (typeof expected !== 'string') return constantTimeEqual(received, expected)
  let bytes: Uint8Array
  try {
    bytes = base64urlDecode(expected)
  } catch {
    return false
  }
  return constantTimeEqual(received, bytes)
}
