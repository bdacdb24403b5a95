/**
 * How an appraisal outcome is kept in the result store: JSON, with byte strings as base64url. The
 * stored outcome is what results are re-rendered from (another form or naming), so it keeps
 * everything the EAR needs and nothing else.
 */
import { base64urlDecode, base64urlEncode } from '../util/base64url.js'
import type { AppraisalOutcome, AttesterName, EarReason, KeySourceName, SubmodOutcome } from './ear.js'
import type { Tier, TrustVector } from './trust-vector.js'

export interface StoredSubmod {
  readonly vector: TrustVector
  readonly status?: Tier
  readonly profile?: string
  readonly nonce?: string
  readonly reasons: readonly EarReason[]
  readonly attester?: StoredAttester
}

/** `AttesterName` with byte strings as base64url. */
export interface StoredAttester {
  readonly ueid?: string
  readonly keySource: KeySourceName
  readonly kid?: string
  readonly x5tS256?: string
  readonly spkiS256?: string
}

export interface StoredOutcome {
  readonly iat: number
  readonly exp?: number
  readonly nonce?: string
  readonly verifier: { readonly developer: string; readonly build: string }
  readonly policyIds: readonly string[]
  readonly submods: Readonly<Record<string, StoredSubmod>>
  readonly rawEvidence?: string
  readonly endorsements?: readonly string[]
}

const b64 = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : base64urlEncode(bytes))
const bytes = (text: string | undefined) => (text === undefined ? undefined : base64urlDecode(text))

function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k]
  return o
}

function storeAttester(a: AttesterName | undefined): StoredAttester | undefined {
  if (a === undefined) return undefined
  return defined({ ueid: b64(a.ueid), keySource: a.keySource, kid: a.kid, x5tS256: b64(a.x5tS256), spkiS256: b64(a.spkiS256) })
}

function loadAttester(a: StoredAttester | undefined): AttesterName | undefined {
  if (a === undefined) return undefined
  return defined({ ueid: bytes(a.ueid), keySource: a.keySource, kid: a.kid, x5tS256: bytes(a.x5tS256), spkiS256: bytes(a.spkiS256) })
}

export function storeOutcome(outcome: AppraisalOutcome): StoredOutcome {
  const submods: Record<string, StoredSubmod> = {}
  for (const [name, s] of Object.entries(outcome.submods)) {
    submods[name] = defined({
      vector: s.vector,
      status: s.status,
      profile: s.profile,
      nonce: b64(s.nonce),
      reasons: s.reasons,
      attester: storeAttester(s.attester),
    })
  }
  return defined({
    iat: outcome.iat,
    exp: outcome.exp,
    nonce: b64(outcome.nonce),
    verifier: outcome.verifier,
    policyIds: outcome.policyIds,
    submods,
    rawEvidence: b64(outcome.rawEvidence),
    endorsements: outcome.endorsements,
  })
}

export function loadOutcome(stored: StoredOutcome): AppraisalOutcome {
  const submods: Record<string, SubmodOutcome> = {}
  for (const [name, s] of Object.entries(stored.submods)) {
    submods[name] = defined({
      vector: s.vector,
      status: s.status,
      profile: s.profile,
      nonce: bytes(s.nonce),
      reasons: s.reasons,
      attester: loadAttester(s.attester),
    })
  }
  return defined({
    iat: stored.iat,
    exp: stored.exp,
    nonce: bytes(stored.nonce),
    verifier: stored.verifier,
    policyIds: stored.policyIds,
    submods,
    rawEvidence: bytes(stored.rawEvidence),
    endorsements: stored.endorsements,
  })
}
