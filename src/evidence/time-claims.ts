/**
 * The CWT/JWT time claims (RFC 8392 §3.1.4–§3.1.6, RFC 7519 §4.1.4–§4.1.6), checked the same way for
 * every Evidence format: generic EAT (CBOR and JSON) and PSA tokens alike. One clock, one skew.
 */
import { CborFloat, type CborMap } from '../cose/cbor.js'
import { VerifierError } from '../errors/errors.js'
import type { Clock } from '../util/clock.js'

/** Skew the appraisal pipeline applies when the operator sets none (`clockSkewSeconds`). */
export const DEFAULT_SKEW_SECONDS = 60

/** The time claims of a claims-set, as NumericDates; absent claims are not required here. */
export interface TimeClaims {
  readonly exp?: number | bigint
  readonly nbf?: number | bigint
  readonly iat?: number | bigint
}

export interface TimeCheckOptions {
  /** Tolerated clock difference between attester and verifier, in seconds. @defaultValue 0 */
  readonly skewSeconds?: number
}

/**
 * Checks exp, nbf and iat against the injected clock: rejects when now ≥ exp + skew, when
 * now + skew < nbf, or when iat lies more than skew in the future (a token cannot be issued later
 * than it is received). Absent claims are not required here; profiles decide.
 *
 * @throws VerifierError `ERR_CLAIMS_EXPIRED`, `ERR_CLAIMS_NOT_YET_VALID`
 * @throws RangeError when `skewSeconds` is negative or not finite (misuse, not Evidence)
 */
export function checkTimeClaims(claims: TimeClaims, clock: Clock, opts: TimeCheckOptions = {}): void {
  const skew = opts.skewSeconds ?? 0
  if (!Number.isFinite(skew) || skew < 0) throw new RangeError('skewSeconds must be finite and non-negative')
  const now = clock.nowSeconds()
  if (claims.exp !== undefined && now >= Number(claims.exp) + skew) {
    throw new VerifierError('ERR_CLAIMS_EXPIRED', `exp (4) is ${claims.exp}; now is ${now} (skew ${skew} s)`)
  }
  if (claims.nbf !== undefined && now + skew < Number(claims.nbf)) {
    throw new VerifierError('ERR_CLAIMS_NOT_YET_VALID', `nbf (5) is ${claims.nbf}; now is ${now} (skew ${skew} s)`)
  }
  if (claims.iat !== undefined && Number(claims.iat) > now + skew) {
    throw new VerifierError('ERR_CLAIMS_NOT_YET_VALID', `iat (6) is ${claims.iat}, in the future; now is ${now} (skew ${skew} s)`)
  }
}

/** CWT claim keys of the time claims (RFC 8392 §4). */
const KEY = { exp: 4, nbf: 5, iat: 6 } as const

/**
 * Reads exp, nbf and iat (keys 4, 5, 6) from a CBOR claims-set whose other claims follow another
 * layout (PSA). exp and nbf are integers or finite floats (RFC 8392 §2); iat is an integer, since an
 * EAT MUST NOT carry a floating-point iat (RFC 9711 §4.3.1).
 *
 * @throws VerifierError `ERR_CLAIMS_INVALID` (not a NumericDate), `ERR_CLAIMS_FLOAT_TIME` (a float iat)
 */
export function readCwtTimeClaims(payload: CborMap): TimeClaims {
  const out: { exp?: number | bigint; nbf?: number | bigint; iat?: number | bigint } = {}
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = payload.get(KEY[name])
    if (value === undefined) continue
    if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) {
      out[name] = value
    } else if (value instanceof CborFloat && name === 'iat') {
      throw new VerifierError('ERR_CLAIMS_FLOAT_TIME', 'iat (6) is a float; an EAT MUST NOT carry a floating-point iat (RFC 9711 §4.3.1)')
    } else if (value instanceof CborFloat && Number.isFinite(value.value)) {
      out[name] = value.value
    } else {
      throw new VerifierError('ERR_CLAIMS_INVALID', `${name} (${KEY[name]}) is not a NumericDate (RFC 8392 §2)`)
    }
  }
  return out
}
