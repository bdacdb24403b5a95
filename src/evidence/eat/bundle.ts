/**
 * CBOR Detached EAT Bundle (RFC 9711 §5, tag 602; specs.md §3.5):
 * `602([ main-token, { + label => bstr .cbor Claims-Set } ])`.
 *
 * The main token is verified like any EAT; each detached claims-set is bound to it by the digest in
 * the main token's submodule of the same label, computed over the exact bytes received (no
 * re-encoding). A detached claims-set without a digest to match, or a digest that does not match, is
 * refused: nothing unsigned rides along.
 */
import { createHash } from 'node:crypto'
import { decodeCbor, peekTag, type CborMap } from '../../cose/cbor.js'
import { VerifierError } from '../../errors/errors.js'
import { isJsonObject, parseStrictJsonUtf8, type JsonValue } from '../../jose/json.js'
import { base64urlDecode } from '../../util/base64url.js'
import type { EatClaims } from './claims.js'
import { decodeEatJsonClaims } from './json-claims.js'

export const BUNDLE_TAG = 602
export const BUNDLE_MAX_BYTES = 256 * 1024

/** COSE hash algorithms a detached digest may use, by id and by the text names RFC 9711 allows. */
const HASHES: ReadonlyMap<number | string, 'sha256' | 'sha384' | 'sha512'> = new Map<number | string, 'sha256' | 'sha384' | 'sha512'>([
  [-16, 'sha256'],
  [-43, 'sha384'],
  [-44, 'sha512'],
  ['SHA-256', 'sha256'],
  ['SHA-384', 'sha384'],
  ['SHA-512', 'sha512'],
])

export interface UnverifiedBundle {
  /** The main token's bytes: a tagged CWT to verify as EAT. */
  readonly mainToken: Uint8Array
  /** Detached claims-sets by label, as the exact bytes received. */
  readonly detached: ReadonlyMap<string, Uint8Array>
}

/** The detached claims-set `bytes` must hash to the digest in the main token's submodule `label`. */
function checkDigest(main: EatClaims, label: string, bytes: Uint8Array): void {
  const submod = main.submods?.get(label)
  if (submod?.kind !== 'digest') throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `no digest in the main token for ${label}`)
  const hash = HASHES.get(submod.alg)
  if (hash === undefined) throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `digest algorithm ${String(submod.alg)} is not supported`)
  const actual = createHash(hash).update(bytes).digest()
  if (actual.length !== submod.digest.length || !actual.equals(submod.digest)) {
    throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `the ${label} claims-set does not match its digest`)
  }
}

/** Parses the bundle envelope; verifies nothing. */
export function parseCborBundle(input: Uint8Array): UnverifiedBundle {
  if (input.length > BUNDLE_MAX_BYTES) throw new VerifierError('ERR_CBOR_TOO_LARGE', 'bundle exceeds the size limit')
  const head = peekTag(input)
  if (head?.tag !== BUNDLE_TAG) throw new VerifierError('ERR_COSE_WRONG_TAG', `a CBOR EAT bundle is tag ${BUNDLE_TAG}`)
  const body = decodeCbor(input.subarray(head.next), { maxDepth: 4 })
  if (!Array.isArray(body) || body.length !== 2) throw new VerifierError('ERR_BUNDLE_MALFORMED', 'bundle must be [main-token, detached claims-sets]')
  const [main, detached] = body as unknown[]
  if (!(main instanceof Uint8Array) || peekTag(main) === undefined) {
    throw new VerifierError('ERR_BUNDLE_MALFORMED', 'the main token must be a byte string holding a tagged token')
  }
  if (peekTag(main)?.tag === BUNDLE_TAG) throw new VerifierError('ERR_BUNDLE_MALFORMED', 'the main token must not be a bundle itself')
  if (!(detached instanceof Map) || detached.size === 0) {
    throw new VerifierError('ERR_BUNDLE_MALFORMED', 'detached claims-sets must be a non-empty map')
  }
  const out = new Map<string, Uint8Array>()
  for (const [label, bytes] of detached as CborMap) {
    if (typeof label !== 'string' || !(bytes instanceof Uint8Array)) {
      throw new VerifierError('ERR_BUNDLE_MALFORMED', 'each detached claims-set is label (text) => bstr')
    }
    out.set(label, bytes)
  }
  return { mainToken: main, detached: out }
}

/**
 * Checks every detached claims-set against the digest of the same label in the (verified) main
 * token's submods and returns them decoded as CBOR maps, by label.
 */
export function bindDetachedClaims(main: EatClaims, bundle: UnverifiedBundle): Map<string, CborMap> {
  const out = new Map<string, CborMap>()
  for (const [label, bytes] of bundle.detached) {
    checkDigest(main, label, bytes)
    const claims = decodeCbor(bytes, { maxDepth: 16 })
    if (!(claims instanceof Map)) throw new VerifierError('ERR_BUNDLE_MALFORMED', `the ${label} claims-set is not a map`)
    out.set(label, claims)
  }
  return out
}

/** A JSON Detached EAT Bundle (RFC 9711 §5): `[ [type, main-token], { + label => base64url claims } ]`. */
export interface UnverifiedJsonBundle {
  /** The main token: a JWT, or (type "CBOR") the bytes of a tagged CBOR token. */
  readonly main: { readonly type: 'JWT'; readonly token: string } | { readonly type: 'CBOR'; readonly bytes: Uint8Array }
  /** Detached claims-sets by label, as the bytes the base64url text decodes to. */
  readonly detached: ReadonlyMap<string, Uint8Array>
}

/** Parses the JSON bundle envelope (already strict-JSON-parsed); verifies nothing. */
export function parseJsonBundle(value: JsonValue): UnverifiedJsonBundle {
  if (!Array.isArray(value) || value.length !== 2) throw new VerifierError('ERR_BUNDLE_MALFORMED', 'bundle must be [main-token, detached claims-sets]')
  const [selector, detached] = value as [JsonValue, JsonValue]
  if (!Array.isArray(selector) || selector.length !== 2 || typeof selector[1] !== 'string') {
    throw new VerifierError('ERR_BUNDLE_MALFORMED', 'the main token must be a JSON-Selector ["JWT" | "CBOR", text]')
  }
  const [type, text] = selector as [JsonValue, string]
  let main: UnverifiedJsonBundle['main']
  if (type === 'JWT') main = { type, token: text }
  else if (type === 'CBOR') main = { type, bytes: decodeB64url(text, 'the CBOR main token') }
  else throw new VerifierError('ERR_BUNDLE_MALFORMED', 'the main token of a bundle is "JWT" or "CBOR", never a bundle or a digest')
  if (!isJsonObject(detached) || Object.keys(detached).length === 0) {
    throw new VerifierError('ERR_BUNDLE_MALFORMED', 'detached claims-sets must be a non-empty object')
  }
  const out = new Map<string, Uint8Array>()
  for (const [label, b64] of Object.entries(detached)) {
    if (typeof b64 !== 'string') throw new VerifierError('ERR_BUNDLE_MALFORMED', `the ${label} claims-set must be base64url text`)
    out.set(label, decodeB64url(b64, `the ${label} claims-set`))
  }
  return { main, detached: out }
}

function decodeB64url(text: string, what: string): Uint8Array {
  try {
    return base64urlDecode(text)
  } catch {
    throw new VerifierError('ERR_BUNDLE_MALFORMED', `${what} is not base64url`)
  }
}

/**
 * Checks every detached claims-set of a JSON bundle against its digest in the (verified) main token
 * and returns them decoded, by label: the digest covers the base64url-decoded bytes.
 */
export function bindDetachedJsonClaims(main: EatClaims, bundle: UnverifiedJsonBundle): Map<string, EatClaims> {
  const out = new Map<string, EatClaims>()
  for (const [label, bytes] of bundle.detached) {
    checkDigest(main, label, bytes)
    const parsed = parseStrictJsonUtf8(bytes, `the ${label} claims-set`)
    if (!isJsonObject(parsed)) throw new VerifierError('ERR_BUNDLE_MALFORMED', `the ${label} claims-set is not a JSON object`)
    out.set(label, decodeEatJsonClaims(parsed))
  }
  return out
}
