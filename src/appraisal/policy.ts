/**
 * Step 7 of the pipeline (architecture.md): the appraisal policy, between the built-in comparison
 * with reference values and the result. Each submodule whose Evidence verified and was fresh gets
 * the most specific policy that selects it (`src/policy/evaluate.ts`); the others (a failed
 * signature, a stale nonce, an unknown format) keep the built-in result, which no policy may soften.
 *
 * The result names every policy it applied after the built-in one, as
 * `urn:assay:policy:<id>:<version>#sha-256:<digest of the policy text>`.
 */
import { applyPolicy, type EvaluateOptions, type PolicySet, type PolicyTarget } from '../policy/evaluate.js'
import { toHex } from '../util/bytes.js'
import type { SubmodAppraisal } from './types.js'

export interface PolicyRequest {
  readonly tenant: string
  readonly mediaType: string
  readonly format: 'psa' | 'eat'
}

/** A selector claim as a selector writes it: bytes in lower-case hex, an OEM's PEN as `pen:<n>`. */
function selectorClaim(claims: object, name: string): string | undefined {
  const value = (claims as Record<string, unknown>)[name]
  if (value instanceof Uint8Array) return toHex(value)
  return name === 'oemid' && typeof value === 'number' ? `pen:${value}` : undefined
}

/** Media type without parameters, lower case: what a selector's `mediaTypes` names. */
export function mediaTypeEssence(mediaType: string): string {
  return (mediaType.split(';')[0] ?? '').trim().toLowerCase()
}

/**
 * Applies the selected policy to each verified submodule. Returns the submodules (changed where a
 * rule held), the references of the policies applied, in first-applied order, and what failed
 * (a verifier-malfunction submodule each, for the operator's log).
 */
export function applyPolicies(
  submods: Readonly<Record<string, SubmodAppraisal>>,
  policies: PolicySet,
  request: PolicyRequest,
  options: EvaluateOptions = {},
): { submods: Record<string, SubmodAppraisal>; applied: string[]; faults: string[] } {
  const out: Record<string, SubmodAppraisal> = {}
  const applied: string[] = []
  const faults: string[] = []
  const mediaType = mediaTypeEssence(request.mediaType)
  for (const [name, submod] of Object.entries(submods)) {
    const facts = submod.facts
    if (facts === undefined) {
      out[name] = submod
      continue
    }
    const claims: Record<string, string> = {}
    for (const claim of ['implementationId', 'oemid', 'hwmodel']) {
      const hex = selectorClaim(facts.claims, claim)
      if (hex !== undefined) claims[claim] = hex
    }
    const target: PolicyTarget = { tenant: request.tenant, format: request.format, mediaType, profile: submod.profile ?? '', claims }
    const policy = policies.select(target)
    if (policy === undefined) {
      out[name] = submod
      continue
    }
    if (!applied.includes(policy.ref)) applied.push(policy.ref)
    const result = applyPolicy(policy, submod, { tenant: request.tenant, format: request.format, mediaType, profile: target.profile, submod: name }, facts, options)
    out[name] = { ...submod, vector: result.vector, reasons: result.reasons, ...(result.status === undefined ? {} : { status: result.status }) }
    const fault = result.reasons.find((r) => r.code === 'ERR_POLICY_EVALUATION')
    if (fault !== undefined) faults.push(`${name}: ${fault.detail}`)
  }
  return { submods: out, applied, faults }
}
