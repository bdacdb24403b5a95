/**
 * JWS compact serialization (RFC 7515 §3.1, §5.2), verified under BCP 225 (RFC 8725).
 * `parseJwsCompact` does every check that needs no key; the caller then picks the key from its own
 * trust store, never from the token, and `verifyJws` checks algorithm, key and signature.
 *
 * Checks, in order, and the code each raises:
 *
 * 1. Text within `maxBytes`; exactly three segments; header and payload non-empty; each segment
 *    canonical unpadded base64url; the header UTF-8 strict JSON (src/jose/json.ts), an object with no
 *    duplicate members: `ERR_JOSE_MALFORMED`.
 * 2. `crit` a non-empty list of distinct, unregistered names present in the header; `b64` a boolean
 *    listed in `crit`; `kid` text; `x5c` standard-base64 certificates: `ERR_JOSE_HEADER_INVALID`.
 * 3. Every `crit` name understood. Only `b64: true` is (the ordinary encoding); unencoded payloads
 *    (RFC 7797 `b64: false`) are not supported: `ERR_JOSE_CRIT_UNSUPPORTED`.
 * 4. (verifyJws) `alg` text, not `none`, in the table, in the allow-list: `ERR_JOSE_HEADER_INVALID`,
 *    `ERR_JOSE_ALG_NOT_ALLOWED`, `ERR_JOSE_ALG_UNKNOWN`.
 * 5. (verifyJws) Key kind, type, curve, size and own `alg` binding: `ERR_JOSE_KEY_ALG_MISMATCH`,
 *    `ERR_KEY_UNSUPPORTED`.
 * 6. (verifyJws) Signature or MAC length, then its value: `ERR_JOSE_SIGNATURE_INVALID`.
 *
 * `jwk`, `jku`, `x5u` and `x5c` never supply a key (RFC 8725 §3.10): `x5c` and `kid` are exposed as
 * lookup hints only. An empty payload segment is refused because detached content is not supported.
 */
import type { PublicKey, SecretKey } from '../crypto/keys.js'
import { verifyHmac, verifySignature } from '../crypto/verify.js'
import { signatureLength } from '../cose/algorithms.js'
import { VerifierError } from '../errors/errors.js'
import { base64urlDecode, base64urlEncode } from '../util/base64url.js'
import { checkAllowList, checkJoseKey, resolveJoseAlgorithm, type JoseAlgorithm } from './algorithms.js'
import { isJsonObject, parseStrictJsonUtf8, type JsonObject } from './json.js'

/** Upper bound on a compact JWS, in characters. @defaultValue 262144 (256 KiB) */
export const JWS_MAX_BYTES = 256 * 1024

export interface JwsParseOptions {
  /** Upper bound on the token, in characters (compact JWS is ASCII). @defaultValue JWS_MAX_BYTES */
  readonly maxBytes?: number
}

/** A compact JWS that passed every keyless check. Nothing in it is authenticated yet. */
export interface UnverifiedJws {
  /** The protected header, parsed strictly. */
  readonly header: JsonObject
  /** The header segment as received. */
  readonly protectedB64: string
  readonly payload: Uint8Array
  /** The payload segment as received. */
  readonly payloadB64: string
  readonly signature: Uint8Array
  /** ASCII of `protectedB64 '.' payloadB64`, the bytes the signature covers (RFC 7515 §5.1). */
  readonly signingInput: Uint8Array
  /** `kid`, a lookup hint. */
  readonly kid: string | undefined
  /** `x5c` as DER certificates, end-entity first (RFC 7515 §4.1.6): a hint to validate, never a key. */
  readonly x5c: readonly Uint8Array[] | undefined
}

declare const verifiedBrand: unique symbol

/** A JWS whose signature or MAC verified with a key the caller trusts. Only `verifyJws` makes one. */
export interface VerifiedJws {
  readonly [verifiedBrand]: true
  readonly header: JsonObject
  readonly payload: Uint8Array
  readonly algorithm: JoseAlgorithm
  readonly key: PublicKey | SecretKey
}

export interface JwsVerifyOptions {
  /** JOSE `alg` names accepted, checked before the key is touched. `none` may not be listed. */
  readonly algorithms: ReadonlySet<string>
}

/** Header parameters RFC 7515 §4.1 registers for JWS: `crit` may not list them (§4.1.11). */
const REGISTERED = new Set(['alg', 'jku', 'jwk', 'kid', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'typ', 'cty', 'crit'])

const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

function malformed(message: string, cause?: unknown): never {
  throw new VerifierError('ERR_JOSE_MALFORMED', message, cause === undefined ? {} : { cause })
}

function headerInvalid(message: string): never {
  throw new VerifierError('ERR_JOSE_HEADER_INVALID', message)
}

/** Strict unpadded base64url: the alphabet, no padding, and the canonical encoding of its bytes. */
function segment(text: string, name: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = base64urlDecode(text)
  } catch (cause) {
    return malformed(`JWS ${name} is not unpadded base64url`, cause)
  }
  if (base64urlEncode(bytes) !== text) malformed(`JWS ${name} is not canonical base64url`)
  return bytes
}

function parseHeader(bytes: Uint8Array): JsonObject {
  const header = parseStrictJsonUtf8(bytes, 'JWS header')
  if (!isJsonObject(header)) malformed('JWS header is not a JSON object')
  return header
}

/** RFC 7515 §4.1.11 and RFC 7797 §6. Only `b64: true` (the ordinary encoding) is understood. */
function checkCrit(header: JsonObject): void {
  const crit = header['crit']
  const b64 = header['b64']
  let listed: readonly string[] = []
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0 || !crit.every((n): n is string => typeof n === 'string')) {
      headerInvalid('JWS crit must be a non-empty array of names (RFC 7515 §4.1.11)')
    }
    if (new Set(crit).size !== crit.length) headerInvalid('JWS crit lists a name twice')
    for (const name of crit) {
      const shown = JSON.stringify(name.slice(0, 32))
      if (REGISTERED.has(name)) headerInvalid(`JWS crit lists ${shown}, a registered parameter (RFC 7515 §4.1.11)`)
      if (!Object.hasOwn(header, name)) headerInvalid(`JWS crit lists ${shown}, absent from the header`)
    }
    for (const name of crit) {
      if (name !== 'b64') {
        const shown = JSON.stringify(name.slice(0, 32))
        const message = `JWS crit lists ${shown}, an extension this verifier does not process`
        throw new VerifierError('ERR_JOSE_CRIT_UNSUPPORTED', message)
      }
    }
    listed = crit
  }
  if (b64 !== undefined) {
    if (typeof b64 !== 'boolean') headerInvalid('JWS b64 is not a boolean (RFC 7797 §3)')
    if (!listed.includes('b64')) headerInvalid('JWS b64 is present but not listed in crit (RFC 7797 §6)')
    if (!b64) {
      const message = 'JWS crit lists b64 with b64 false: unencoded payloads (RFC 7797) are not supported'
      throw new VerifierError('ERR_JOSE_CRIT_UNSUPPORTED', message)
    }
  }
}

/** `x5c`: a non-empty array of canonical standard base64 (not base64url) DER certificates. */
function parseX5c(value: unknown): Uint8Array[] {
  if (!Array.isArray(value) || value.length === 0) {
    headerInvalid('JWS x5c must be a non-empty array (RFC 7515 §4.1.6)')
  }
  return value.map((cert: unknown, i) => {
    if (typeof cert !== 'string' || cert.length % 4 !== 0 || !STANDARD_BASE64.test(cert)) {
      headerInvalid(`JWS x5c[${i}] is not standard base64 (RFC 7515 §4.1.6)`)
    }
    const der = Buffer.from(cert, 'base64')
    if (der.toString('base64') !== cert) headerInvalid(`JWS x5c[${i}] is not canonical base64`)
    return new Uint8Array(der.buffer, der.byteOffset, der.byteLength)
  })
}

/**
 * Parses a compact JWS and checks everything that needs no key (steps 1–3 above). The result
 * is untrusted: pick the key from configuration, then call `verifyJws`.
 *
 * @throws VerifierError `ERR_JOSE_MALFORMED`, `ERR_JOSE_HEADER_INVALID`, `ERR_JOSE_CRIT_UNSUPPORTED`
 */
export function parseJwsCompact(token: string, options: JwsParseOptions = {}): UnverifiedJws {
  const maxBytes = options.maxBytes ?? JWS_MAX_BYTES
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new TypeError('maxBytes must be a positive integer')
  if (typeof token !== 'string') malformed('JWS compact serialization must be text')
  if (token.length > maxBytes) malformed(`JWS is ${token.length} characters; the limit is ${maxBytes}`)
  const parts = token.split('.')
  if (parts.length !== 3) malformed(`JWS compact serialization has ${parts.length} segments, not 3`)
  const [protectedB64, payloadB64, signatureB64] = parts as [string, string, string]
  if (protectedB64.length === 0 || payloadB64.length === 0) malformed('JWS header or payload segment is empty')
  const header = parseHeader(segment(protectedB64, 'header'))
  const payload = segment(payloadB64, 'payload')
  const signature = segment(signatureB64, 'signature')

  checkCrit(header)
  const kid = header['kid']
  if (kid !== undefined && typeof kid !== 'string') headerInvalid('JWS kid is not text')
  const x5c = header['x5c'] === undefined ? undefined : parseX5c(header['x5c'])
  // The segments are validated base64url, so latin1 is their exact ASCII.
  const signingInput = new Uint8Array(Buffer.from(`${protectedB64}.${payloadB64}`, 'latin1'))
  return { header, protectedB64, payload, payloadB64, signature, signingInput, kid, x5c }
}

/**
 * Verifies a parsed JWS with a key the caller trusts: `alg` through the allow-list and the table,
 * the key against the algorithm, then the signature (ECDSA as r||s, RFC 7518 §3.4) or the MAC
 * (constant-time). Throws `TypeError` for an allow-list that names unknown algorithms or `none`.
 *
 * @throws VerifierError `ERR_JOSE_HEADER_INVALID`, `ERR_JOSE_ALG_NOT_ALLOWED`, `ERR_JOSE_ALG_UNKNOWN`,
 *   `ERR_JOSE_KEY_ALG_MISMATCH`, `ERR_KEY_UNSUPPORTED`, `ERR_JOSE_SIGNATURE_INVALID`
 */
export function verifyJws(jws: UnverifiedJws, key: PublicKey | SecretKey, options: JwsVerifyOptions): VerifiedJws {
  checkAllowList(options.algorithms)
  const algorithm = resolveJoseAlgorithm(jws.header['alg'], options.algorithms)
  checkJoseKey(algorithm, key)
  const { signature, signingInput } = jws

  let valid: boolean
  if (algorithm.kind === 'mac' && key.kind === 'secret') {
    const { hash, tagLength } = algorithm.cose
    checkLength(algorithm, signature, tagLength)
    valid = verifyHmac(hash, tagLength, key, signingInput, signature)
  } else if (algorithm.kind === 'signature' && key.kind === 'public') {
    checkLength(algorithm, signature, signatureLength(key.crv, key.modulusBits))
    valid = verifySignature(algorithm.cose, key, signingInput, signature)
  } else {
    // checkJoseKey has refused this pairing already; fail closed should it ever change.
    const message = `${algorithm.name} cannot be verified with a ${key.kind} key`
    throw new VerifierError('ERR_JOSE_KEY_ALG_MISMATCH', message)
  }
  if (!valid) {
    const what = algorithm.kind === 'mac' ? 'MAC' : 'signature'
    throw new VerifierError('ERR_JOSE_SIGNATURE_INVALID', `${algorithm.name} ${what} does not verify`)
  }
  return { header: jws.header, payload: jws.payload, algorithm, key } as VerifiedJws
}

function checkLength(algorithm: JoseAlgorithm, signature: Uint8Array, expected: number): void {
  if (signature.length === expected) return
  const what = algorithm.kind === 'mac' ? 'MAC' : 'signature'
  let hint = ''
  if (algorithm.kind === 'signature' && algorithm.cose.scheme === 'ecdsa') {
    // DER (a SEQUENCE, 0x30) is the usual interoperability mistake; say so.
    hint = signature[0] === 0x30 ? ' (r||s, RFC 7518 §3.4; this looks DER-encoded)' : ' (r||s, RFC 7518 §3.4)'
  }
  const message = `${algorithm.name} ${what} is ${signature.length} bytes; ${expected} required${hint}`
  throw new VerifierError('ERR_JOSE_SIGNATURE_INVALID', message)
}
