/**
 * Selecting and applying a policy to one submodule's appraisal.
 *
 * Selection: of the policies whose selector matches (every field it names matches; an absent field
 * matches anything), the most specific wins: one naming the tenant beats one that does not, then
 * one naming claims, then profiles, then media types, then formats. Between equally specific
 * matches the lower id wins; two policies with the same selector are refused at load.
 *
 * Application: rules run in document order; the first rule that holds for a target (a claim or the
 * status) decides it, later rules for that target are skipped. A rule that sets a claim replaces the
 * built-in reasons for that claim with its own. Unless a rule sets it, the status is derived from
 * the final vector as before (`deriveStatus`); a status rule can only make it worse.
 *
 * Faults: a rule whose evaluation errs (a claim that is absent: use `has()`), returns no bool, or
 * evaluation that runs past the time bound ends the submodule as a verifier malfunction (every
 * claim −1, status none, reason ERR_POLICY_EVALUATION): never a hang, never a silent skip.
 */
import { isCelError } from '@bufbuild/cel'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { deriveStatus, isNoBetterThan, TIER_CODE, TRUST_CLAIMS, VERIFIER_MALFUNCTION, type Tier, type TrustClaim } from '../results/trust-vector.js'
import type { CompiledPolicy } from './compile.js'
import type { PolicySelector, RuleTarget } from './document.js'
import { policyInput, type AppraisalFacts, type InputContext } from './input.js'

/** What a selector is matched against. */
export interface PolicyTarget {
  readonly tenant: string
  readonly format: 'psa' | 'eat'
  /** Media type without parameters, lower case. */
  readonly mediaType: string
  readonly profile: string
  /** Selector claims as lower-case hex, where the Evidence has them. */
  readonly claims: { readonly implementationId?: string; readonly oemid?: string; readonly hwmodel?: string }
}

/** Specificity of a selector, compared field by field (`tenant` first). */
function specificity(s: PolicySelector): number[] {
  return [s.tenant, s.claims, s.profiles, s.mediaTypes, s.formats].map((f) => (f === undefined ? 0 : 1))
}

function matches(s: PolicySelector, t: PolicyTarget): boolean {
  if (s.tenant !== undefined && s.tenant !== t.tenant) return false
  if (s.formats !== undefined && !s.formats.includes(t.format)) return false
  if (s.profiles !== undefined && !s.profiles.includes(t.profile)) return false
  if (s.mediaTypes !== undefined && !s.mediaTypes.includes(t.mediaType)) return false
  for (const [claim, value] of Object.entries(s.claims ?? {})) {
    if (t.claims[claim as keyof PolicyTarget['claims']] !== value) return false
  }
  return true
}

/** A canonical text of a selector, to find two policies with the same one. */
function selectorKey(s: PolicySelector): string {
  const sorted = (l: readonly string[] | undefined) => (l === undefined ? null : [...l].sort())
  return JSON.stringify([s.tenant ?? null, sorted(s.formats), sorted(s.profiles), sorted(s.mediaTypes), s.claims ?? null])
}

/** The policies in force, and which one applies to a submodule. */
export class PolicySet {
  private readonly ordered: readonly CompiledPolicy[]

  /** Throws ERR_POLICY_CONFLICT for two policies with one id or one selector. */
  constructor(policies: readonly CompiledPolicy[]) {
    const ids = new Map<string, CompiledPolicy>()
    const selectors = new Map<string, CompiledPolicy>()
    for (const p of policies) {
      const same = ids.get(p.document.id)
      if (same !== undefined) throw new VerifierError('ERR_POLICY_CONFLICT', `two policies have the id ${p.document.id}`)
      ids.set(p.document.id, p)
      const key = selectorKey(p.document.selector)
      const other = selectors.get(key)
      if (other !== undefined) {
        throw new VerifierError('ERR_POLICY_CONFLICT', `policies ${other.document.id} and ${p.document.id} have the same selector: which applies would be arbitrary`)
      }
      selectors.set(key, p)
    }
    this.ordered = [...policies].sort((a, b) => {
      const sa = specificity(a.document.selector)
      const sb = specificity(b.document.selector)
      for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sb[i]! - sa[i]!
      return a.document.id < b.document.id ? -1 : 1
    })
  }

  get policies(): readonly CompiledPolicy[] {
    return this.ordered
  }

  /** The most specific policy whose selector matches, if any. */
  select(target: PolicyTarget): CompiledPolicy | undefined {
    return this.ordered.find((p) => matches(p.document.selector, target))
  }
}

/** A submodule's appraisal as the policy sees and changes it. */
export interface PolicySubject {
  readonly vector: Partial<Record<TrustClaim, number>>
  readonly reasons: readonly { readonly claim: TrustClaim | 'status'; readonly value: number; readonly code: string; readonly detail: string }[]
  readonly required: readonly TrustClaim[]
}

export interface PolicyResult {
  readonly vector: Partial<Record<TrustClaim, number>>
  readonly reasons: PolicySubject['reasons']
  /** Set only when a rule set the status, or evaluation faulted; otherwise derive it from the vector. */
  readonly status?: Tier
}

export interface EvaluateOptions {
  /** Milliseconds, monotonic. @defaultValue performance.now */
  readonly now?: () => number
  /** Longest a policy may run on one submodule, in ms. @defaultValue POLICY_TIME_BOUND_MS */
  readonly timeBoundMs?: number
}

/**
 * Default time bound of one policy on one submodule. Conditions are costed at load, so this is a
 * backstop: the costliest policy the cost bound admits (64 `matches` over 4,096-character texts)
 * was measured at about 60 ms warm and 200 ms on its first run, and a garbage-collection pause on a
 * busy worker must not turn a sound appraisal into a fault.
 */
export const POLICY_TIME_BOUND_MS = 1000

/** The verifier-malfunction result of a policy that could not be evaluated. */
export function policyFault(detail: string): PolicyResult {
  const vector: Partial<Record<TrustClaim, number>> = {}
  for (const claim of TRUST_CLAIMS) vector[claim] = VERIFIER_MALFUNCTION
  return { vector, reasons: [{ claim: 'status', value: VERIFIER_MALFUNCTION, code: 'ERR_POLICY_EVALUATION', detail }], status: 'none' }
}

/**
 * Applies `policy` to one verified submodule. Never throws for anything the Evidence or the policy
 * does: a failure is a verifier-malfunction result (`policyFault`).
 */
export function applyPolicy(
  policy: CompiledPolicy,
  subject: PolicySubject,
  context: Omit<InputContext, 'vector' | 'status' | 'reasons'>,
  facts: AppraisalFacts,
  options: EvaluateOptions = {},
): PolicyResult {
  // A policy without rules changes nothing: no input is built (the shipped defaults cost nothing).
  if (policy.rules.length === 0) return { vector: subject.vector, reasons: subject.reasons }
  const now = options.now ?? (() => performance.now())
  const bound = options.timeBoundMs ?? POLICY_TIME_BOUND_MS
  const name = `policy ${policy.document.id} version ${policy.document.version}`
  const started = now()
  let input: Record<string, unknown>
  try {
    input = policyInput({ ...context, vector: subject.vector, status: deriveStatus(subject.vector, { required: subject.required }), reasons: subject.reasons }, facts)
  } catch (err) {
    if (isVerifierError(err)) return policyFault(`${name} not evaluated: ${err.message}`)
    throw err
  }
  const decided = new Map<RuleTarget, { value: number | Tier; code: string; detail: string }>()
  for (const rule of policy.rules) {
    if (decided.has(rule.rule.set)) continue
    let result: unknown
    try {
      result = rule.evaluate(input)
    } catch (err) {
      result = err
    }
    if (now() - started > bound) return policyFault(`${name} ran past its time bound of ${bound} ms (rule ${rule.rule.name})`)
    if (isCelError(result) || result instanceof Error) {
      return policyFault(`${name}, rule ${rule.rule.name}: ${(result as Error).message.slice(0, 200)}`)
    }
    if (typeof result !== 'boolean') return policyFault(`${name}, rule ${rule.rule.name}: the condition is not a bool`)
    if (result) decided.set(rule.rule.set, { value: rule.value, code: rule.code, detail: rule.detail })
  }
  if (decided.size === 0) return { vector: subject.vector, reasons: subject.reasons }

  const vector = { ...subject.vector }
  const added: PolicySubject['reasons'][number][] = []
  for (const [target, d] of decided) {
    if (target === 'status') continue
    vector[target] = d.value as number
    added.push({ claim: target, value: d.value as number, code: d.code, detail: d.detail })
  }
  const reasons = [...subject.reasons.filter((r) => r.claim === 'status' || !decided.has(r.claim)), ...added]
  const status = decided.get('status')
  if (status === undefined) return { vector, reasons }
  const derived = deriveStatus(vector, { required: subject.required })
  const final = isNoBetterThan(status.value as Tier, derived) ? (status.value as Tier) : derived
  return { vector, reasons: [...reasons, { claim: 'status', value: TIER_CODE[final], code: status.code, detail: status.detail }], status: final }
}
