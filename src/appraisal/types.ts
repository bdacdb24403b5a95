/** What one appraisal step produces for one attester (one EAR submodule). */

import { TRUST_CLAIMS as CLAIMS, type TrustClaim } from '../results/trust-vector.js'
import type { AttesterName } from '../results/ear.js'
import type { Tier } from '../results/trust-vector.js'
import type { AppraisalFacts } from '../policy/input.js'

export { TRUST_CLAIMS, type TrustClaim } from '../results/trust-vector.js'

/** Why a claim got its value: machine-readable (`code`) and for people (`detail`). */
export interface Reason {
  readonly claim: TrustClaim | 'status'
  readonly value: number
  readonly code: string
  readonly detail: string
}

export interface SubmodAppraisal {
  readonly vector: Partial<Record<TrustClaim, number>>
  readonly reasons: readonly Reason[]
  /** Claims that must be affirming for the submodule to be affirming. */
  readonly required: readonly TrustClaim[]
  /** The nonce found in the appraised Evidence. */
  readonly nonce?: Uint8Array
  /** Profile of the appraised Evidence. */
  readonly profile?: string
  /** The attester appraised (its UEID and the key that verified it), when its key was found. */
  readonly attester?: AttesterName
  /**
   * What a policy sees besides the vector (`src/policy/input.ts`): present only when the Evidence
   * of this submodule verified and was fresh, the only submodules a policy is applied to.
   */
  readonly facts?: AppraisalFacts
  /** Set by a policy that decided the status (or faulted); otherwise derived from the vector. */
  readonly status?: Tier
}

/**
 * A submodule where one finding decides every claim: 99 when the Evidence failed verification or
 * freshness, 1 when it could not be evaluated at all. The reason is given once, for the status.
 */
export function everyClaim(value: number, code: string, detail: string, required: readonly TrustClaim[]): SubmodAppraisal {
  const vector: Partial<Record<TrustClaim, number>> = {}
  for (const claim of CLAIMS) vector[claim] = value
  return { vector, reasons: [{ claim: 'status', value, code, detail }], required }
}
