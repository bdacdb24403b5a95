/**
 * JOSE algorithm table (RFC 7518 §3, RFC 8037, RFC 9864): each JWS `alg` name resolves to a row of
 * the COSE table (src/cose/algorithms.ts), which already holds scheme, hash, key type, curves and
 * sizes, so the two envelopes cannot drift apart. Nothing below this module enumerates algorithms.
 *
 * The pairing differs from COSE in one place: JOSE ES256, ES384 and ES512 are curve-specific
 * (RFC 7518 §3.4), so they resolve to the fully-specified rows ESP256/384/512, never to the
 * polymorphic ES* rows. `none` is not in the table: it is refused before any lookup.
 */
import { ALG, ALGORITHMS, MIN_RSA_BITS, type MacAlgorithm, type SignatureAlgorithm } from '../cose/algorithms.js'
import type { PublicKey, SecretKey } from '../crypto/keys.js'
import { VerifierError } from '../errors/errors.js'

/** A JWS algorithm verified with a public key. */
export interface JoseSignatureAlgorithm {
  readonly kind: 'signature'
  /** The JOSE `alg` name. */
  readonly name: string
  readonly cose: SignatureAlgorithm
}

/** A JWS algorithm verified with a symmetric key (HS256, HS384, HS512). */
export interface JoseMacAlgorithm {
  readonly kind: 'mac'
  readonly name: string
  readonly cose: MacAlgorithm
}

export type JoseAlgorithm = JoseSignatureAlgorithm | JoseMacAlgorithm

/** The unsecured-JWS `alg` (RFC 7518 §3.6): never accepted (RFC 8725 §3.2). */
export const ALG_NONE = 'none'

const JOSE_TO_COSE: readonly (readonly [string, number])[] = [
  ['ES256', ALG.ESP256],
  ['ES384', ALG.ESP384],
  ['ES512', ALG.ESP512],
  ['EdDSA', ALG.EdDSA],
  ['Ed25519', ALG.Ed25519],
  ['Ed448', ALG.Ed448],
  ['PS256', ALG.PS256],
  ['PS384', ALG.PS384],
  ['PS512', ALG.PS512],
  ['RS256', ALG.RS256],
  ['RS384', ALG.RS384],
  ['RS512', ALG.RS512],
  ['HS256', ALG.HMAC_256_256],
  ['HS384', ALG.HMAC_384_384],
  ['HS512', ALG.HMAC_512_512],
]

function joseRow(name: string, id: number): JoseAlgorithm {
  const cose = ALGORITHMS.get(id)
  // A table edit that breaks the correspondence must fail at load, not verify with the wrong row.
  if (cose === undefined || !cose.jose.includes(name)) {
    throw new Error(`COSE algorithm ${id} does not list JOSE ${name}`)
  }
  return Object.freeze(cose.kind === 'signature' ? { kind: 'signature', name, cose } : { kind: 'mac', name, cose })
}

/** Every JWS algorithm Assay can verify, by `alg` name (case-sensitive, RFC 7515 §4.1.1). */
export const JOSE_ALGORITHMS: ReadonlyMap<string, JoseAlgorithm> = new Map(
  JOSE_TO_COSE.map(([name, id]) => [name, joseRow(name, id)]),
)

/**
 * Checks an allow-list given as an option: a set of names from `JOSE_ALGORITHMS`, never `none`.
 * Misuse is a `TypeError`, not an Evidence error.
 */
export function checkAllowList(algorithms: ReadonlySet<string>): void {
  if (!(algorithms instanceof Set)) throw new TypeError('algorithms must be a Set of JOSE alg names')
  for (const name of algorithms as ReadonlySet<unknown>) {
    if (typeof name !== 'string' || !JOSE_ALGORITHMS.has(name)) {
      throw new TypeError(`algorithms lists ${JSON.stringify(name)}, which is not a JWS algorithm Assay verifies`)
    }
  }
}

/**
 * Resolves `alg` against the table, then the caller's allow-list.
 *
 * @throws VerifierError `ERR_JOSE_HEADER_INVALID` (missing or not text), `ERR_JOSE_ALG_NOT_ALLOWED`
 *   (`none`, or outside the allow-list), `ERR_JOSE_ALG_UNKNOWN`
 */
export function resolveJoseAlgorithm(alg: unknown, algorithms: ReadonlySet<string>): JoseAlgorithm {
  if (typeof alg !== 'string') {
    const message = alg === undefined ? 'JWS header has no alg (RFC 7515 §4.1.1)' : 'JWS alg is not text'
    throw new VerifierError('ERR_JOSE_HEADER_INVALID', message)
  }
  if (alg === ALG_NONE) {
    const message = 'alg none: unsecured JWS are never accepted (RFC 8725 §3.2)'
    throw new VerifierError('ERR_JOSE_ALG_NOT_ALLOWED', message)
  }
  const algorithm = JOSE_ALGORITHMS.get(alg)
  if (algorithm === undefined) {
    throw new VerifierError('ERR_JOSE_ALG_UNKNOWN', `alg ${JSON.stringify(alg.slice(0, 32))} is unknown`)
  }
  if (!algorithms.has(alg)) {
    throw new VerifierError('ERR_JOSE_ALG_NOT_ALLOWED', `alg ${alg} is not in the allow-list`)
  }
  return algorithm
}

/**
 * Whether a key's own `alg` binding admits `algorithm`: a JOSE name the row lists (EdDSA and
 * Ed25519 name the same thing on an Ed25519 key), or a COSE id whose row lists this JOSE name.
 */
function bindingAdmits(algorithm: JoseAlgorithm, bound: string | number | undefined): boolean {
  if (bound === undefined) return true
  if (typeof bound === 'string') return algorithm.cose.jose.includes(bound)
  return ALGORITHMS.get(bound)?.jose.includes(algorithm.name) ?? false
}

function mismatch(message: string): never {
  throw new VerifierError('ERR_JOSE_KEY_ALG_MISMATCH', message)
}

/**
 * Checks that `key` may verify `algorithm`: a public key for signatures and a secret for HS*, never
 * the other way round (RFC 8725 §2.1: a public key is never an HMAC secret); key type and curve
 * (ES* are curve-specific in JOSE); RSA and HMAC key sizes; the key's own `alg` binding.
 *
 * @throws VerifierError `ERR_JOSE_KEY_ALG_MISMATCH`, `ERR_KEY_UNSUPPORTED` (RSA under 2048 bits,
 *   an HMAC key shorter than the hash, RFC 7518 §3.2)
 */
export function checkJoseKey(algorithm: JoseAlgorithm, key: PublicKey | SecretKey): void {
  if (algorithm.kind === 'mac') {
    if (key.kind !== 'secret') {
      mismatch(`${algorithm.name} needs a symmetric key; a public key is never an HMAC secret (RFC 8725 §2.1)`)
    }
    if (key.length < algorithm.cose.minKeyLength && !key.shortKeyAccepted) {
      const bytes = algorithm.cose.minKeyLength
      const message = `${algorithm.name} needs a key of at least ${bytes} bytes (RFC 7518 §3.2)`
      throw new VerifierError('ERR_KEY_UNSUPPORTED', message)
    }
  } else {
    if (key.kind !== 'public') mismatch(`${algorithm.name} needs a public key, not a symmetric one`)
    const row = algorithm.cose
    if (key.kty !== row.kty) mismatch(`${algorithm.name} needs a ${row.kty} key, not ${key.kty}`)
    if (row.kty === 'RSA') {
      if ((key.modulusBits ?? 0) < MIN_RSA_BITS) {
        const message = `RSA key of ${key.modulusBits} bits; at least ${MIN_RSA_BITS} required`
        throw new VerifierError('ERR_KEY_UNSUPPORTED', message)
      }
    } else if (key.crv === undefined || !row.curves.includes(key.crv)) {
      mismatch(`${algorithm.name} is not used with a ${key.crv} key`)
    }
  }
  if (!bindingAdmits(algorithm, key.alg)) {
    mismatch(`key is bound to ${String(key.alg)}, the JWS uses ${algorithm.name}`)
  }
}
