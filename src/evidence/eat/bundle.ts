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
import type { EatClaims, EatSubmodule } from './claims.js'

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
  const digests = new Map<string, Extract<EatSubmodule, { kind: 'digest' }>>()
  for (const [label, s] of main.submods ?? []) if (s.kind === 'digest') digests.set(label, s)
  if (digests.size === 0) throw new VerifierError('ERR_BUNDLE_MALFORMED', 'the main token carries no detached-submodule digest')
  const out = new Map<string, CborMap>()
  for (const [label, bytes] of bundle.detached) {
    const expected = digests.get(label)
    if (expected === undefined) throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `no digest in the main token for ${label}`)
    const hash = HASHES.get(expected.alg)
    if (hash === undefined) throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `digest algorithm ${String(expected.alg)} is not supported`)
    const actual = createHash(hash).update(bytes).digest()
    if (actual.length !== expected.digest.length || !actual.equals(expected.digest)) {
      throw new VerifierError('ERR_BUNDLE_DIGEST_MISMATCH', `the ${label} claims-set does not match its digest`)
    }
    const claims = decodeCbor(bytes, { maxDepth: 16 })
    if (!(claims instanceof Map)) throw new VerifierError('ERR_BUNDLE_MALFORMED', `the ${label} claims-set is not a map`)
    out.set(label, claims)
  }
  return out
}
