/**
 * COSE header parameters (RFC 9052 §3, RFC 9360, RFC 9596, RFC 9597): labels, value types, and
 * the bucket rules shared by every COSE message Assay reads.
 */
import { VerifierError } from '../errors/errors.js'
import type { CborKey, CborMap, CborValue } from './cbor.js'

export const HEADER = Object.freeze({
  alg: 1,
  crit: 2,
  contentType: 3,
  kid: 4,
  iv: 5,
  partialIv: 6,
  cwtClaims: 15,
  typ: 16,
  x5bag: 32,
  x5chain: 33,
  x5t: 34,
  x5u: 35,
})

/**
 * Labels whose meaning Assay implements, so `crit` may name them. A caller that processes more
 * (for example a profile reading a private header) passes them as `understood`.
 */
const UNDERSTOOD: ReadonlySet<CborKey> = new Set<CborKey>([
  HEADER.alg,
  HEADER.contentType,
  HEADER.kid,
  HEADER.cwtClaims,
  HEADER.typ,
  HEADER.x5chain,
  HEADER.x5t,
])

const isBytes = (v: CborValue): v is Uint8Array => v instanceof Uint8Array
const isLabel = (v: CborValue): v is CborKey => typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string'
const isUint = (v: CborValue) => typeof v === 'number' && v >= 0
const isX509 = (v: CborValue) => isBytes(v) || (Array.isArray(v) && v.length >= 2 && v.every(isBytes))

/** Value-type rule for each header parameter Assay reads; other labels are carried, unchecked. */
const VALUE_RULES: ReadonlyMap<number, (v: CborValue) => boolean> = new Map<number, (v: CborValue) => boolean>([
  [HEADER.alg, (v) => typeof v === 'number' || typeof v === 'string'],
  [HEADER.crit, (v) => Array.isArray(v) && v.length > 0 && v.every(isLabel)],
  [HEADER.contentType, (v) => typeof v === 'string' || isUint(v)],
  [HEADER.kid, isBytes],
  [HEADER.iv, isBytes],
  [HEADER.partialIv, isBytes],
  [HEADER.cwtClaims, (v) => v instanceof Map],
  [HEADER.typ, (v) => typeof v === 'string' || isUint(v)],
  [HEADER.x5bag, isX509],
  [HEADER.x5chain, isX509],
  [HEADER.x5t, (v) => Array.isArray(v) && v.length === 2 && isLabel(v[0]!) && isBytes(v[1]!)],
  [HEADER.x5u, (v) => typeof v === 'string'],
])

export interface HeaderRules {
  /** Labels beyond Assay's own that the caller processes and so accepts in `crit`. */
  readonly understood?: ReadonlySet<CborKey>
}

/**
 * Checks both buckets of a COSE message: value types of known parameters, no label in both
 * buckets (RFC 9052 §3 SHOULD; Assay rejects), and `crit` (RFC 9052 §3.1): protected only,
 * non-empty, each label present in the protected bucket and understood.
 */
export function checkHeaders(protectedMap: CborMap, unprotectedMap: CborMap, rules: HeaderRules = {}): void {
  for (const [bucket, map] of [
    ['protected', protectedMap],
    ['unprotected', unprotectedMap],
  ] as const) {
    for (const [label, value] of map) {
      const rule = typeof label === 'number' ? VALUE_RULES.get(label) : undefined
      if (rule !== undefined && !rule(value)) {
        if (label === HEADER.crit) {
          throw new VerifierError('ERR_COSE_CRIT_INVALID', 'crit must be a non-empty array of labels (RFC 9052 §3.1)')
        }
        throw new VerifierError('ERR_COSE_HEADER_INVALID', `${bucket} header ${String(label)} has a value of the wrong type`)
      }
      if (bucket === 'unprotected' && protectedMap.has(label)) {
        throw new VerifierError('ERR_COSE_HEADER_OVERLAP', `header ${String(label)} is in both buckets (RFC 9052 §3)`)
      }
    }
  }
  if (unprotectedMap.has(HEADER.crit)) {
    throw new VerifierError('ERR_COSE_CRIT_INVALID', 'crit MUST be integrity protected (RFC 9052 §3.1)')
  }
  const crit = protectedMap.get(HEADER.crit) as readonly CborKey[] | undefined
  if (crit === undefined) return
  for (const label of crit) {
    if (!protectedMap.has(label)) {
      throw new VerifierError('ERR_COSE_CRIT_INVALID', `crit names ${String(label)}, which is not in the protected header`)
    }
    if (!UNDERSTOOD.has(label) && !(rules.understood?.has(label) ?? false)) {
      throw new VerifierError('ERR_COSE_CRIT_UNSUPPORTED', `crit names ${String(label)}, which this verifier does not implement`)
    }
  }
}
