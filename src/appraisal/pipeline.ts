/**
 * The appraisal pipeline: Evidence bytes and their media type in, one AR4SI appraisal per attester
 * out. Bad Evidence is a result here, never an exception; only verifier faults throw.
 *
 * | step | psa | eat (cwt, jwt, bundles) |
 * |---|---|---|
 * | select format (media type, sniffing) | registry | registry |
 * | strict parse, key lookup, signature, claims/profile | `evidence/psa/verify.ts` via `appraisePsa` | `evidence/eat/verify-eat.ts` via `appraiseEat` |
 * | exp, nbf, future iat (one skew) | `evidence/time-claims.ts` | `evidence/time-claims.ts` |
 * | freshness | session nonce, or a consumed verifier-issued nonce | the same; `iat` only without a nonce, where the profile allows |
 * | reference values → trust vector | `appraisePsa` | `appraiseEat` |
 * | policy (ASSAY_POLICIES_DIR) → final vector, reasons, status | `./policy.ts` | `./policy.ts` |
 *
 * A bug that Evidence triggers (an exception that is no `VerifierError`) is caught here and becomes
 * a verifier-malfunction result, so no Evidence throws past this layer.
 */
import { isVerifierError, VerifierError } from '../errors/errors.js'
import type { FormatId, FormatRegistry, FormatSelection } from '../evidence/registry.js'
import type { NonceStore, TenantId } from '../store/types.js'
import type { ProfileRegistry } from '../evidence/eat/profiles.js'
import type { Clock } from '../util/clock.js'
import { EAT_POLICY_ID, EAT_SUBMOD, appraiseEat, appraiseEatBundle } from './eat.js'
import { trackUsedDocuments, type Endorsements, type UsedDocument } from './endorsements.js'
import { PSA_POLICY_ID, PSA_SUBMOD, appraisePsa } from './psa.js'
import { everyClaim, type SubmodAppraisal } from './types.js'
import { VERIFIER_MALFUNCTION } from '../results/trust-vector.js'
import type { PolicySet } from '../policy/evaluate.js'
import { applyPolicies } from './policy.js'

export interface AppraisalRequest {
  readonly tenant: TenantId
  readonly mediaType: string
  readonly evidence: Uint8Array
  /** Nonce of the challenge/response session this Evidence answers. */
  readonly sessionNonce?: Uint8Array | undefined
}

export interface AppraisalDeps {
  readonly registry: FormatRegistry
  readonly endorsements: Endorsements
  readonly nonces: NonceStore
  readonly profiles: ProfileRegistry
  readonly clock: Clock
  /** Tolerated clock difference for exp, nbf and iat, in every format. @defaultValue DEFAULT_SKEW_SECONDS (60) */
  readonly skewSeconds?: number
  /**
   * Told of every verifier bug that Evidence triggered (an exception that is no `VerifierError`),
   * with its stack, before the appraisal is answered with a verifier-malfunction result.
   */
  readonly onEvidenceFault?: (err: VerifierError) => void
  /**
   * Appraisal policies (`policies/`, ASSAY_POLICIES_DIR), applied to each verified submodule after
   * the built-in comparison (`./policy.ts`). @defaultValue none: the built-in result stands
   */
  readonly policies?: PolicySet
}

export interface Appraisal {
  readonly submods: Readonly<Record<string, SubmodAppraisal>>
  readonly policyIds: readonly string[]
  /**
   * The nonce to echo in the result: the session nonce, else the Evidence nonce this verifier issued
   * and consumed for this appraisal. Never a nonce that was not verified.
   */
  readonly nonce?: Uint8Array | undefined
  /**
   * The stored documents (trust anchors, reference values, profiles), each at the version used, whose
   * answers this appraisal used, sorted by id. Empty when none was used or the endorsements do not
   * come from the endorsement store.
   */
  readonly endorsements?: readonly UsedDocument[]
}

/** Submodule name used when the Evidence is no format Assay implements. */
export const UNRECOGNIZED_SUBMOD = 'Evidence'

/**
 * Appraises one piece of Evidence. Bad Evidence is a result; a `VerifierError` fault (store, queue)
 * is thrown for the queue to retry. Any other exception is a bug the Evidence triggered: retrying the
 * same Evidence would only hit it again, so it is answered with a signed verifier-malfunction result
 * (every claim −1, status none) and reported through `deps.onEvidenceFault`.
 */
export async function appraise(request: AppraisalRequest, deps: AppraisalDeps): Promise<Appraisal> {
  const used = new Map<string, UsedDocument>()
  const appraisal = await appraiseTracked(request, { ...deps, endorsements: trackUsedDocuments(deps.endorsements, used) })
  const endorsements = [...used.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.version - b.version))
  return { ...appraisal, endorsements }
}

async function appraiseTracked(request: AppraisalRequest, deps: AppraisalDeps): Promise<Appraisal> {
  let selected: FormatSelection
  try {
    selected = deps.registry.select(request.mediaType, request.evidence)
  } catch (err) {
    if (!isVerifierError(err)) return malfunction(err, UNRECOGNIZED_SUBMOD, [], request, deps)
    if (err.family === 'fault') throw err
    return {
      submods: { [UNRECOGNIZED_SUBMOD]: everyClaim(1, err.code, err.message, ['instance-identity']) },
      policyIds: [],
      nonce: request.sessionNonce,
    }
  }
  const { format, expectedProfile } = selected
  try {
    const builtin = await appraiseFormat(format, expectedProfile, request, deps)
    if (deps.policies === undefined) return builtin
    const target = { tenant: request.tenant, mediaType: request.mediaType, format: format === 'psa' ? ('psa' as const) : ('eat' as const) }
    const { submods, applied, faults } = applyPolicies(builtin.submods, deps.policies, target)
    // A policy that failed is a verifier fault: the result says so, and so does the log.
    for (const fault of faults) deps.onEvidenceFault?.(new VerifierError('ERR_POLICY_EVALUATION', fault, { cause: fault }))
    return { ...builtin, submods, policyIds: [...builtin.policyIds, ...applied] }
  } catch (err) {
    if (isVerifierError(err)) throw err
    return format === 'psa'
      ? malfunction(err, PSA_SUBMOD, [PSA_POLICY_ID], request, deps)
      : malfunction(err, EAT_SUBMOD, [EAT_POLICY_ID], request, deps)
  }
}

function malfunction(err: unknown, name: string, policyIds: readonly string[], request: AppraisalRequest, deps: AppraisalDeps): Appraisal {
  const fault = new VerifierError('ERR_VERIFIER_EVIDENCE_UNHANDLED', undefined, { cause: err })
  deps.onEvidenceFault?.(fault)
  const what = err instanceof Error ? err.name : typeof err
  const detail = `the verifier failed on this Evidence (${what}) and could not appraise it`
  return {
    submods: { [name]: everyClaim(VERIFIER_MALFUNCTION, fault.code, detail, ['instance-identity', 'hardware', 'executables']) },
    policyIds,
    nonce: request.sessionNonce,
  }
}

async function appraiseFormat(
  format: FormatId,
  expectedProfile: string | undefined,
  request: AppraisalRequest,
  deps: AppraisalDeps,
): Promise<Appraisal> {
  switch (format) {
    case 'psa': {
      const submod = await appraisePsa(
        { tenant: request.tenant, token: request.evidence, expectedProfile, sessionNonce: request.sessionNonce },
        deps,
      )
      return { submods: { [PSA_SUBMOD]: submod }, policyIds: [PSA_POLICY_ID], nonce: request.sessionNonce ?? submod.nonce }
    }
    case 'eat-cwt':
    case 'eat-jwt':
    case 'eat-bundle-cbor':
    case 'eat-bundle-json': {
      const common = { tenant: request.tenant, expectedProfile, sessionNonce: request.sessionNonce }
      const submods =
        format === 'eat-bundle-cbor' || format === 'eat-bundle-json'
          ? await appraiseEatBundle({ ...common, bytes: request.evidence, kind: format === 'eat-bundle-cbor' ? 'cbor' : 'json' }, deps)
          : await appraiseEat({ ...common, token: request.evidence, envelope: format === 'eat-jwt' ? 'jwt' : 'cwt' }, deps)
      return { submods, policyIds: [EAT_POLICY_ID], nonce: request.sessionNonce ?? submods[EAT_SUBMOD]?.nonce }
    }
  }
}
