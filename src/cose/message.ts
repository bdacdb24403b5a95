/**
 * What COSE_Sign1 and COSE_Mac0 share: the envelope tags (RFC 9052 §2, RFC 8392 §7.2), the
 * 4-element array, and the two header buckets. Nothing here touches a key.
 */
import { VerifierError, isVerifierError } from '../errors/errors.js'
import { decodeCbor, peekTag, type CborKey, type CborMap } from './cbor.js'
import { ALGORITHMS, type CoseAlgorithm } from './algorithms.js'
import { HEADER, checkHeaders } from './headers.js'

export type CoseKind = 'sign1' | 'mac0'

export const COSE_TAG = Object.freeze({ encrypt0: 16, mac0: 17, sign1: 18, encrypt: 96, mac: 97, sign: 98 })
export const CWT_TAG = 61
export const SELF_DESCRIBED_CBOR_TAG = 55799

const TAG_NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'COSE_Encrypt0'],
  [17, 'COSE_Mac0'],
  [18, 'COSE_Sign1'],
  [96, 'COSE_Encrypt'],
  [97, 'COSE_Mac'],
  [98, 'COSE_Sign'],
])
const KIND_TAG: Readonly<Record<CoseKind, number>> = { sign1: COSE_TAG.sign1, mac0: COSE_TAG.mac0 }

export interface EnvelopePolicy {
  /** Accept the message without its COSE tag (the application context says what it is). @defaultValue false */
  readonly untagged?: boolean
  /** Accept the CWT tag 61 around the tagged message. @defaultValue false */
  readonly cwtTag?: boolean
  /** Upper bound on the whole message. @defaultValue 256 KiB */
  readonly maxBytes?: number
}

export interface MessagePolicy extends EnvelopePolicy {
  /** COSE algorithm ids this profile accepts; anything else is rejected before any key is used. */
  readonly algorithms: ReadonlySet<number>
  /** Reject `alg` in the unprotected bucket (RFC 9052 §3.1 says it SHOULD be protected). @defaultValue true */
  readonly requireProtectedAlg?: boolean
  /** Extra header labels the caller processes, so `crit` may name them. */
  readonly understood?: ReadonlySet<CborKey>
}

/** A parsed COSE_Sign1 or COSE_Mac0 whose signature or tag has NOT been checked. */
export interface UnverifiedMessage<A extends CoseAlgorithm> {
  readonly tagged: boolean
  /** Whether the CWT tag 61 wrapped the message. */
  readonly cwtTagged: boolean
  /** The protected bucket exactly as received; what the signature covers. */
  readonly protectedBytes: Uint8Array
  readonly protectedHeader: CborMap
  readonly unprotectedHeader: CborMap
  /** `null` when the payload is detached. */
  readonly payload: Uint8Array | null
  /** Signature (Sign1) or MAC tag (Mac0). */
  readonly signature: Uint8Array
  readonly algorithm: A
  /** `kid` header, if any: a lookup hint, never a trust decision. */
  readonly kid: Uint8Array | undefined
}

/** Strips the envelope tags and returns the offset of the untagged 4-array. */
function unwrap(input: Uint8Array, kind: CoseKind, policy: EnvelopePolicy): { offset: number; tagged: boolean; cwt: boolean } {
  let offset = 0
  let cwt = false
  let head = peekTag(input, offset)
  if (head?.tag === SELF_DESCRIBED_CBOR_TAG) {
    offset = head.next
    head = peekTag(input, offset)
  }
  if (head?.tag === CWT_TAG) {
    if (!(policy.cwtTag ?? false)) throw new VerifierError('ERR_COSE_WRONG_TAG', 'CWT tag 61 is not accepted by this profile')
    cwt = true
    offset = head.next
    head = peekTag(input, offset)
    if (head === undefined) throw new VerifierError('ERR_COSE_UNTAGGED', 'CWT tag 61 must wrap a tagged COSE message (RFC 8392 §6)')
  }
  if (head === undefined) {
    if (!(policy.untagged ?? false)) throw new VerifierError('ERR_COSE_UNTAGGED', `untagged message; expected tag ${KIND_TAG[kind]}`)
    return { offset, tagged: false, cwt }
  }
  if (head.tag !== KIND_TAG[kind]) {
    const name = typeof head.tag === 'number' ? TAG_NAMES.get(head.tag) : undefined
    throw new VerifierError(
      'ERR_COSE_WRONG_TAG',
      `tag ${String(head.tag)}${name === undefined ? '' : ` (${name})`}; expected ${KIND_TAG[kind]}`,
    )
  }
  return { offset: head.next, tagged: true, cwt }
}

function decodeProtected(bytes: Uint8Array): CborMap {
  if (bytes.length === 0) return new Map()
  let value
  try {
    value = decodeCbor(bytes)
  } catch (cause) {
    if (isVerifierError(cause, 'ERR_CBOR_DUPLICATE_KEY')) {
      throw new VerifierError('ERR_COSE_HEADER_DUPLICATE_LABEL', `protected header: ${cause.message}`, { cause })
    }
    throw new VerifierError('ERR_COSE_PROTECTED_NOT_MAP', 'protected header is not a well-formed map', { cause })
  }
  if (!(value instanceof Map)) throw new VerifierError('ERR_COSE_PROTECTED_NOT_MAP', 'protected header is not a map')
  return value
}

/**
 * Parses a COSE_Sign1 or COSE_Mac0 strictly (specs.md §1.6 checklist items 1–6): envelope tags,
 * structure, both header buckets, `crit`, and the algorithm against the allow-list.
 */
export function parseMessage<A extends CoseAlgorithm>(
  input: Uint8Array,
  kind: CoseKind,
  policy: MessagePolicy,
): UnverifiedMessage<A> {
  const maxBytes = policy.maxBytes ?? 256 * 1024
  if (input.length > maxBytes) {
    throw new VerifierError('ERR_CBOR_TOO_LARGE', `message is ${input.length} bytes; the limit is ${maxBytes}`)
  }
  const { offset, tagged, cwt } = unwrap(input, kind, policy)
  let body
  try {
    body = decodeCbor(offset === 0 ? input : input.subarray(offset), { maxBytes })
  } catch (cause) {
    // Only the unprotected bucket can hold a map at this level, so a duplicate key is a header label.
    if (isVerifierError(cause, 'ERR_CBOR_DUPLICATE_KEY')) {
      throw new VerifierError('ERR_COSE_HEADER_DUPLICATE_LABEL', `unprotected header: ${cause.message}`, { cause })
    }
    throw cause
  }
  if (!Array.isArray(body) || body.length !== 4) {
    throw new VerifierError('ERR_COSE_MALFORMED', `${kind === 'sign1' ? 'COSE_Sign1' : 'COSE_Mac0'} must be a 4-element array`)
  }
  const [protectedBytes, unprotectedHeader, payload, signature] = body as unknown[]
  if (!(protectedBytes instanceof Uint8Array)) {
    throw new VerifierError('ERR_COSE_PROTECTED_NOT_MAP', 'protected header must be a byte string wrapping a map')
  }
  if (!(unprotectedHeader instanceof Map)) throw new VerifierError('ERR_COSE_MALFORMED', 'unprotected header must be a map')
  if (payload !== null && !(payload instanceof Uint8Array)) {
    throw new VerifierError('ERR_COSE_MALFORMED', 'payload must be a byte string or nil')
  }
  if (!(signature instanceof Uint8Array)) throw new VerifierError('ERR_COSE_MALFORMED', 'signature or tag must be a byte string')

  const protectedHeader = decodeProtected(protectedBytes)
  checkHeaders(protectedHeader, unprotectedHeader as CborMap, { understood: policy.understood })
  const algorithm = resolveAlgorithm<A>(protectedHeader, unprotectedHeader as CborMap, kind, policy)
  const kid = (protectedHeader.get(HEADER.kid) ?? unprotectedHeader.get(HEADER.kid)) as Uint8Array | undefined

  return {
    tagged,
    cwtTagged: cwt,
    // RFC 9052 §4.4: with no protected attributes the Sig_structure carries h''; an encoded empty
    // map (h'A0') is read the same way, as the COSE WG examples require (sign-pass-01).
    protectedBytes: protectedHeader.size === 0 ? new Uint8Array(0) : protectedBytes,
    protectedHeader,
    unprotectedHeader: unprotectedHeader as CborMap,
    payload: payload as Uint8Array | null,
    signature,
    algorithm,
    kid,
  }
}

function resolveAlgorithm<A extends CoseAlgorithm>(
  protectedHeader: CborMap,
  unprotectedHeader: CborMap,
  kind: CoseKind,
  policy: MessagePolicy,
): A {
  let alg = protectedHeader.get(HEADER.alg)
  if (alg === undefined) {
    alg = unprotectedHeader.get(HEADER.alg)
    if (alg === undefined) throw new VerifierError('ERR_COSE_ALG_MISSING', 'no alg header parameter')
    if (policy.requireProtectedAlg ?? true) {
      throw new VerifierError('ERR_COSE_ALG_UNPROTECTED', 'alg must be in the protected header for this profile')
    }
  }
  const algorithm = typeof alg === 'number' ? ALGORITHMS.get(alg) : undefined
  if (algorithm === undefined) throw new VerifierError('ERR_COSE_ALG_UNKNOWN', `unknown algorithm ${JSON.stringify(alg)}`)
  const expectedKind = kind === 'sign1' ? 'signature' : 'mac'
  if (algorithm.kind !== expectedKind || !policy.algorithms.has(algorithm.id)) {
    throw new VerifierError('ERR_COSE_ALG_NOT_ALLOWED', `${algorithm.name} (${algorithm.id}) is not allowed here`)
  }
  return algorithm as A
}
