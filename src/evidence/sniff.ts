/**
 * Envelope sniffing for generic media types (`application/cbor`, `application/eat+cwt` without a
 * profile, …): what kind of container the bytes are, from their first bytes only (specs.md §0).
 * A sniff result picks a parser; it never vouches for anything.
 */
import { decodeCbor, peekTag, type CborMap } from '../cose/cbor.js'

export type Envelope =
  | 'cose-sign1'
  | 'cose-mac0'
  | 'cose-other'
  | 'cose-untagged'
  | 'eat-bundle'
  | 'uccs'
  | 'jws-compact'
  | 'json'
  | 'unknown'

export interface SniffResult {
  readonly envelope: Envelope
  /** Whether the CWT tag 61 wrapped the message. */
  readonly cwtTagged: boolean
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

export function sniffEnvelope(input: Uint8Array): SniffResult {
  let offset = 0
  let cwtTagged = false
  let head = peekTag(input)
  if (head?.tag === 55799) {
    offset = head.next
    head = peekTag(input, offset)
  }
  if (head?.tag === 61) {
    cwtTagged = true
    head = peekTag(input, head.next)
  }
  if (head !== undefined) {
    switch (head.tag) {
      case 18:
        return { envelope: 'cose-sign1', cwtTagged }
      case 17:
        return { envelope: 'cose-mac0', cwtTagged }
      case 16:
      case 96:
      case 97:
      case 98:
        return { envelope: 'cose-other', cwtTagged }
      case 601:
        return { envelope: 'uccs', cwtTagged }
      case 602:
        return { envelope: 'eat-bundle', cwtTagged }
      default:
        return { envelope: 'unknown', cwtTagged }
    }
  }
  const first = input[offset]
  if (first === 0x84) return { envelope: 'cose-untagged', cwtTagged }
  if (first === 0x7b) return { envelope: 'json', cwtTagged }
  if (first === 0x65 && input.length < 64 * 1024) {
    const text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1').trim()
    if (JWS_COMPACT.test(text)) return { envelope: 'jws-compact', cwtTagged }
  }
  return { envelope: 'unknown', cwtTagged }
}

/** Profile claim keys: EAT `eat_profile` (265) and the legacy PSA profile claim (-75000). */
const PROFILE_KEYS = [265, -75000] as const

/**
 * Reads the profile claim of a COSE_Sign1/Mac0 payload WITHOUT verifying anything, to choose a
 * format when the media type does not say. Returns undefined when it cannot be read.
 */
export function sniffProfile(input: Uint8Array): string | undefined {
  try {
    let offset = 0
    for (let head = peekTag(input); head !== undefined; head = peekTag(input, offset)) offset = head.next
    const message = decodeCbor(input.subarray(offset))
    if (!Array.isArray(message) || message.length !== 4 || !(message[2] instanceof Uint8Array)) return undefined
    const payload = decodeCbor(message[2] as Uint8Array)
    if (!(payload instanceof Map)) return undefined
    for (const key of PROFILE_KEYS) {
      const value = (payload as CborMap).get(key)
      if (typeof value === 'string') return value
    }
    return undefined
  } catch {
    return undefined
  }
}
