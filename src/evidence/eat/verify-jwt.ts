/**
 * JWT verification (RFC 7519 §7.2) for EAT claims-sets with a key the caller already trusts, the
 * JSON twin of `verifyCwt`: compact JWS through src/jose (strict header, `alg` allow-list, key and
 * algorithm pairing, signature or HMAC), `typ` when present, the payload a strict-JSON object, the
 * claims decoded and type-checked by `decodeEatJsonClaims`, then time and nonce.
 *
 * Key selection by kid, x5c or UEID is the caller's job (the appraisal pipeline); this function
 * never takes a key from the token.
 */
import type { PublicKey, SecretKey } from '../../crypto/keys.js'
import { VerifierError } from '../../errors/errors.js'
import type { JoseAlgorithm } from '../../jose/algorithms.js'
import type { JsonObject } from '../../jose/json.js'
import { parseJwsCompact, verifyJws } from '../../jose/jws.js'
import { decodeJwtClaimsSet } from '../../jose/jwt.js'
import type { Clock } from '../../util/clock.js'
import { checkNonce, checkTimeClaims, type EatClaims } from './claims.js'
import { decodeEatJsonClaims } from './json-claims.js'

/** The JOSE names of `EAT_ALGORITHMS` (verify-cwt.ts): ECDSA, EdDSA and RSASSA-PSS; no HS*, no RS*. */
export const EAT_JOSE_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'Ed448',
  'PS256',
  'PS384',
  'PS512',
])

export const JWT_MAX_BYTES = 256 * 1024

/** `typ` values that declare an EAT or a plain JWT (RFC 9782; RFC 7519 §5.1), compared case-insensitively. */
const ACCEPTED_TYP: ReadonlySet<string> = new Set(['eat+jwt', 'application/eat+jwt', 'jwt'])

export interface JwtVerifyOptions {
  readonly key: PublicKey | SecretKey
  /** Allow-list of JOSE `alg` names; `none` may not be listed. */
  readonly algorithms: ReadonlySet<string>
  readonly clock: Clock
  /** @defaultValue 0 */
  readonly skewSeconds?: number
  /**
   * The nonce the verifier issued, as the UTF-8 bytes of its text: a JSON `eat_nonce` is text and is
   * compared exactly as sent, never base64url-decoded (see `decodeEatJsonClaims`).
   */
  readonly expectedNonce?: Uint8Array
  /** Upper bound on the token, in characters. @defaultValue JWT_MAX_BYTES */
  readonly maxBytes?: number
}

export interface VerifiedEatJwt {
  readonly claims: EatClaims
  /** The protected header, parsed strictly. */
  readonly header: JsonObject
  readonly algorithm: JoseAlgorithm
}

/**
 * Verifies an EAT sent as a JWT with a key the caller trusts.
 *
 * @throws VerifierError `ERR_JOSE_*` (see src/jose/jws.ts; a foreign `typ` is `ERR_JOSE_HEADER_INVALID`,
 *   a payload that is no claims-set `ERR_JOSE_PAYLOAD_NOT_CLAIMS`), `ERR_KEY_UNSUPPORTED`,
 *   `ERR_CLAIMS_INVALID`, `ERR_CLAIMS_FLOAT_TIME`, `ERR_CLAIMS_EXPIRED`, `ERR_CLAIMS_NOT_YET_VALID`,
 *   `ERR_CLAIMS_NONCE_MISMATCH`
 */
export function verifyEatJwt(token: string, options: JwtVerifyOptions): VerifiedEatJwt {
  const jws = parseJwsCompact(token, { maxBytes: options.maxBytes ?? JWT_MAX_BYTES })
  const typ = jws.header['typ']
  if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase()))) {
    const shown = typeof typ === 'string' ? JSON.stringify(typ.slice(0, 64)) : 'that is not text'
    const message = `JWS typ ${shown} is not eat+jwt, application/eat+jwt or JWT (RFC 9782, RFC 8725 §3.11)`
    throw new VerifierError('ERR_JOSE_HEADER_INVALID', message)
  }
  const verified = verifyJws(jws, options.key, { algorithms: options.algorithms })
  const claims = decodeEatJsonClaims(decodeJwtClaimsSet(verified))
  checkTimeClaims(claims, options.clock, { skewSeconds: options.skewSeconds ?? 0 })
  if (options.expectedNonce !== undefined) checkNonce(claims, options.expectedNonce)
  return { claims, header: verified.header, algorithm: verified.algorithm }
}
