/**
 * AR4SI trustworthiness claims, values and tiers (draft-ietf-rats-ar4si; specs.md §6), and the
 * rule Assay uses to turn a trustworthiness vector into an `ear_status`.
 */

/** The eight AR4SI trustworthiness claims, in CBOR key order 0..7 (specs.md §6.2). */
export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const

export type TrustClaim = (typeof TRUST_CLAIMS)[number]

/** A trustworthiness vector: claim name → AR4SI value (int −128..127). Absent means "no claim". */
export type TrustVector = Partial<Readonly<Record<TrustClaim, number>>>

/** CBOR map key of each claim in `ear_trustworthiness_vector` (specs.md §6.3). */
export const TRUST_CLAIM_KEY: Readonly<Record<TrustClaim, number>> = Object.freeze({
  'instance-identity': 0,
  'configuration': 1,
  'executables': 2,
  'file-system': 3,
  'hardware': 4,
  'runtime-opaque': 5,
  'storage-opaque': 6,
  'sourced-data': 7,
})

/** Whether `name` is one of the eight trustworthiness claims. */
export function isTrustClaim(name: unknown): name is TrustClaim {
  return typeof name === 'string' && Object.hasOwn(TRUST_CLAIM_KEY, name)
}

/** Tier names as EAR's JSON serialization writes them. */
export type Tier = 'none' | 'affirming' | 'warning' | 'contraindicated'

/** Tier codes as EAR's CBOR serialization writes them (`ear_status` 1000). */
export const TIER_CODE: Readonly<Record<Tier, 0 | 2 | 32 | 96>> = Object.freeze({
  none: 0,
  affirming: 2,
  warning: 32,
  contraindicated: 96,
})

export type TierCode = (typeof TIER_CODE)[Tier]

/** The tier a CBOR status code denotes, or undefined for any other integer. */
export function tierFromCode(code: unknown): Tier | undefined {
  switch (code) {
    case 0:
      return 'none'
    case 2:
      return 'affirming'
    case 32:
      return 'warning'
    case 96:
      return 'contraindicated'
    default:
      return undefined
  }
}

/** Whether `name` is a tier name. */
export function isTier(name: unknown): name is Tier {
  return typeof name === 'string' && Object.hasOwn(TIER_CODE, name)
}

// Standard values (specs.md §6.2). Values shared by every claim first.

/** No claim is made (insufficient evidence). Relying parties treat it like an absent claim. */
export const NO_CLAIM = 0
/** The Evidence holds elements the verifier cannot evaluate. */
export const UNEXPECTED_EVIDENCE = 1
/** The verifier failed while appraising this claim. */
export const VERIFIER_MALFUNCTION = -1
/** Cryptographic validation of the Evidence failed (defined for every claim). */
export const CRYPTO_FAILED = 99

export const INSTANCE_IDENTITY = Object.freeze({
  /** Recognized and not known to be compromised. */
  recognized: 2,
  /** Recognized, but its key indicates an untrustworthy device. */
  untrustworthy: 96,
  /** Not recognized, though it should have been. */
  unrecognized: 97,
})

export const CONFIGURATION = Object.freeze({
  /** Known and approved configuration. */
  approved: 2,
  /** No known vulnerabilities. */
  safe: 3,
  /** Known vulnerabilities. */
  unsafe: 32,
  /** Security-relevant configuration elements are unavailable to the verifier. */
  unavailable: 36,
  /** Unacceptable vulnerabilities. */
  unsupportable: 96,
})

export const EXECUTABLES = Object.freeze({
  /** Only approved objects loaded during and after boot. */
  approvedRuntime: 2,
  /** Only approved executables loaded during boot. */
  approvedBoot: 3,
  /** Recognized, but some have known bugs or vulnerabilities. */
  unsafe: 32,
  /** Unrecognized objects in runtime memory. */
  unrecognized: 33,
  /** Contraindicated objects loaded. */
  contraindicated: 96,
})

export const FILE_SYSTEM = Object.freeze({
  approved: 2,
  unrecognized: 32,
  contraindicated: 96,
})

export const HARDWARE = Object.freeze({
  /** Genuine and supported. */
  genuine: 2,
  /** Genuine, with known vulnerabilities. */
  unsafe: 32,
  /** Recognized but contraindicated. */
  contraindicated: 96,
  /** Not recognized, though it should have been. */
  unrecognized: 97,
})

export const RUNTIME_OPAQUE = Object.freeze({
  /** Memory encrypted in TEE(s), opaque to OS, VMM and peers. */
  encrypted: 2,
  /** Isolated but not encrypted: a root operator may see it. */
  isolated: 32,
  /** Unacceptably visible. */
  visible: 96,
})

export const STORAGE_OPAQUE = Object.freeze({
  /** Secrets encrypted with keys only an HSM or TEE holds. */
  hwKeysEncrypted: 2,
  /** Secrets encrypted without hardware-backed keys. */
  swKeysEncrypted: 32,
  /** Secrets stored unencrypted. */
  unencrypted: 96,
})

export const SOURCED_DATA = Object.freeze({
  /** All essential data from attesters whose latest appraisal was clean. */
  trusted: 2,
  /** Unattested sources, or sources with warnings. */
  untrusted: 32,
  contraindicated: 96,
})

/** Whether `value` is a valid AR4SI claim value: a signed 8-bit integer. */
export function isTrustValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= -128 && value <= 127
}

/**
 * The tier of one claim value (specs.md §6.1), standard and non-standard ranges alike:
 * 0, 1, −1 → none; 2..31 and −2..−32 → affirming; 32..95 and −33..−96 → warning;
 * 96..127 and −97..−128 → contraindicated. Throws `TypeError` outside −128..127.
 */
export function tierOf(value: number): Tier {
  if (!isTrustValue(value)) throw new TypeError(`AR4SI value must be an integer in -128..127, got ${value}`)
  if (value >= 96 || value <= -97) return 'contraindicated'
  if (value >= 32 || value <= -33) return 'warning'
  if (value >= 2 || value <= -2) return 'affirming'
  return 'none'
}

/** Goodness order of tiers for "no better than": affirming > none > warning > contraindicated. */
const RANK: Readonly<Record<Tier, number>> = { affirming: 3, none: 2, warning: 1, contraindicated: 0 }

/** The worst of some tiers (affirming when there are none, the identity of "worst"). */
export function worstTier(tiers: Iterable<Tier>): Tier {
  let worst: Tier = 'affirming'
  for (const t of tiers) if (RANK[t] < RANK[worst]) worst = t
  return worst
}

/** Whether `status` is no better than `bound` in the order affirming > none > warning > contraindicated. */
export function isNoBetterThan(status: Tier, bound: Tier): boolean {
  return RANK[status] <= RANK[bound]
}

export interface DeriveStatusOptions {
  /** Claims that must be present with an affirming value for the status to be affirming. */
  readonly required?: readonly TrustClaim[]
}

/**
 * Derives `ear_status` from a trustworthiness vector. Assay's rule (specs.md Corrections item 3,
 * EAR-03: status is never better than the worst claim), in order:
 *
 * 1. any claim in the contraindicated tier → `contraindicated`;
 * 2. else any claim in the warning tier → `warning`;
 * 3. else a verifier malfunction (−1) or unexpected evidence (1) anywhere, or a required claim that
 *    is absent or 0 → `none` (not appraised: never affirming);
 * 4. else at least one affirming claim → `affirming`; an empty or all-0 vector → `none`.
 *
 * A value of 0 counts as absent (AR4SI: relying parties treat "no claim" like an absent claim).
 * This is deliberately not Veraison's "highest tier code wins" (specs.md §6.1), which makes
 * `{instance-identity: 2, executables: -1}` affirming. Throws `TypeError` on a value outside
 * −128..127 or a claim name that is not one of the eight.
 */
export function deriveStatus(vector: TrustVector, options: DeriveStatusOptions = {}): Tier {
  const required = options.required ?? []
  for (const claim of required) {
    if (!isTrustClaim(claim)) throw new TypeError(`unknown required claim ${JSON.stringify(claim)}`)
  }
  let worst: Tier = 'affirming'
  let unappraised = false
  let affirmed = false
  for (const [claim, value] of Object.entries(vector)) {
    if (!isTrustClaim(claim)) throw new TypeError(`unknown trustworthiness claim ${JSON.stringify(claim)}`)
    if (value === undefined) continue
    const tier = tierOf(value)
    if (tier === 'none') unappraised ||= value !== NO_CLAIM
    else if (tier === 'affirming') affirmed = true
    else worst = worstTier([worst, tier])
  }
  if (worst !== 'affirming') return worst
  for (const claim of required) {
    const value = vector[claim]
    if (value === undefined || value === NO_CLAIM) unappraised = true
  }
  return unappraised || !affirmed ? 'none' : 'affirming'
}
