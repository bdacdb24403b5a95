/**
 * What a policy sees (docs/policies.md has the table): one stable shape per submodule, built from
 * what the built-in appraisal found, and nothing else: no clock, no store, no network.
 *
 * Values are plain CEL values: text, bool, int (every integer claim), lists and maps. Byte strings
 * are lower-case hex text, so a rule compares `claims.implementationId == "61636d65…"`. Every input
 * is bounded (`INPUT_LIMITS`): a claims-set beyond the bounds is not evaluated at all (the result is
 * a verifier fault), so no Evidence can make a rule iterate or match over more than the bounds.
 */
import { createHash } from 'node:crypto'
import { VerifierError } from '../errors/errors.js'
import { base64urlDecode } from '../util/base64url.js'
import { TRUST_CLAIMS, type Tier, type TrustClaim } from '../results/trust-vector.js'

export const INPUT_LIMITS = Object.freeze({
  /** Entries of any one list or map. */
  maxContainer: 64,
  /** Characters of any one text (a byte string's hex counts twice its length). */
  maxText: 4096,
  /** Nesting of lists and maps. */
  maxDepth: 8,
  /** Values in the whole input. */
  maxValues: 4096,
})

/** How the key that verified the Evidence was found (`key.source`). */
export type KeySourceFact = 'kid' | 'ueid' | 'x5chain' | 'pinned' | 'psa-instance-id'

/** One compared component (`reference.components[i]`). */
export interface ComponentFact {
  /** `software` (PSA software component, EAT swname/swversion), `measurement` or `manifest` (EAT digests). */
  readonly kind: 'software' | 'measurement' | 'manifest'
  readonly name: string
  readonly version: string
  /** Lower-case hex of the measurement value or SHA-256 digest; empty when there is none. */
  readonly measurement: string
  /** Lower-case hex of the PSA signer id; empty elsewhere. */
  readonly signer: string
  /** Whether a reference value matched it. */
  readonly matched: boolean
}

/** What the built-in appraisal found for one verified submodule, besides its vector. */
export interface AppraisalFacts {
  /** The verified claims-set, as decoded (`src/evidence/psa/claims.ts`, `src/evidence/eat/claims.ts`). */
  readonly claims: object
  readonly key: {
    readonly source: KeySourceFact
    readonly kid?: string | undefined
    readonly ueid?: Uint8Array | undefined
    /** Subject DN of the leaf certificate, for `x5chain` and `pinned`. */
    readonly chainSubject?: string | undefined
    /** Subject DN of the trust anchor the chain ended at (`x5chain`). */
    readonly anchorSubject?: string | undefined
  }
  readonly freshness: { readonly by: 'session-nonce' | 'verifier-nonce' | 'iat' | 'parent' }
  readonly reference: { readonly found: boolean; readonly source: string; readonly components: readonly ComponentFact[] }
}

/** The submodule around the facts. */
export interface InputContext {
  readonly tenant: string
  readonly format: 'psa' | 'eat'
  readonly mediaType: string
  readonly profile: string
  readonly submod: string
  readonly vector: Partial<Record<TrustClaim, number>>
  readonly status: Tier
  readonly reasons: readonly { readonly claim: string; readonly value: number; readonly code: string }[]
}

/** Claims left out of `claims`: appraised on their own (submods) or of no use to a rule and unbounded. */
const LEFT_OUT = new Set(['submods', 'extensions', 'cnf', 'profile'])

/**
 * Claims whose entries carry a body (EAT `measurements`, `manifests`: a CoSWID or SUIT manifest can
 * be kilobytes): given to a policy as `{ contentFormat, digest }`, the SHA-256 of the body in hex,
 * the same digest reference values list (a JSON body is base64url of the bytes).
 */
const DIGESTED = new Set(['measurements', 'manifests'])

function digested(value: unknown): unknown {
  if (!Array.isArray(value)) return value
  return value.map((entry: unknown) => {
    const { contentFormat, body } = (entry ?? {}) as { contentFormat?: unknown; body?: unknown }
    let bytes: Uint8Array | string = body instanceof Uint8Array ? body : String(body)
    if (typeof bytes === 'string') {
      try {
        bytes = base64urlDecode(bytes)
      } catch {
        // Not base64url: the text itself, as the built-in comparison digests it.
      }
    }
    return { contentFormat, digest: createHash('sha256').update(bytes).digest('hex') }
  })
}

/** A CEL input value. */
export type CelInputValue = null | boolean | bigint | number | string | readonly CelInputValue[] | { readonly [k: string]: CelInputValue }

class Budget {
  values = 0
}

function tooLarge(what: string): never {
  throw new VerifierError('ERR_POLICY_INPUT_TOO_LARGE', what)
}

/** Converts one decoded value to a CEL value within the bounds, or throws ERR_POLICY_INPUT_TOO_LARGE. */
export function toCelValue(value: unknown, depth = 0, budget = new Budget()): CelInputValue | undefined {
  if (++budget.values > INPUT_LIMITS.maxValues) tooLarge(`more than ${INPUT_LIMITS.maxValues} values`)
  if (depth > INPUT_LIMITS.maxDepth) tooLarge(`nested deeper than ${INPUT_LIMITS.maxDepth}`)
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined
    case 'boolean':
      return value
    case 'bigint':
      return value
    case 'number':
      return Number.isSafeInteger(value) ? BigInt(value) : value
    case 'string':
      if (value.length > INPUT_LIMITS.maxText) tooLarge(`a text longer than ${INPUT_LIMITS.maxText} characters`)
      return value
  }
  if (value === null) return null
  if (value instanceof Uint8Array) {
    if (value.length * 2 > INPUT_LIMITS.maxText) tooLarge(`a byte string longer than ${INPUT_LIMITS.maxText / 2} bytes`)
    return Buffer.from(value).toString('hex')
  }
  if (Array.isArray(value)) {
    if (value.length > INPUT_LIMITS.maxContainer) tooLarge(`a list of more than ${INPUT_LIMITS.maxContainer} entries`)
    return value.map((v) => toCelValue(v, depth + 1, budget) ?? null)
  }
  const entries: [string, unknown][] =
    value instanceof Map ? [...value].map(([k, v]) => [String(k), v]) : Object.entries(value as Record<string, unknown>)
  if (entries.length > INPUT_LIMITS.maxContainer) tooLarge(`a map of more than ${INPUT_LIMITS.maxContainer} entries`)
  const out: Record<string, CelInputValue> = {}
  for (const [k, v] of entries) {
    if (k.length > INPUT_LIMITS.maxText) tooLarge('a map key too long')
    const c = toCelValue(v, depth + 1, budget)
    if (c !== undefined) out[k] = c
  }
  return out
}

/**
 * The input a policy evaluates, as CEL bindings (the names are the top-level identifiers a rule
 * may use; `INPUT_SCHEMA` in `compile.ts` types each of them). Throws ERR_POLICY_INPUT_TOO_LARGE
 * when the claims exceed `INPUT_LIMITS`.
 */
export function policyInput(context: InputContext, facts: AppraisalFacts): Record<string, CelInputValue> {
  const budget = new Budget()
  const claims: Record<string, CelInputValue> = {}
  for (const [k, v] of Object.entries(facts.claims)) {
    if (LEFT_OUT.has(k)) continue
    const c = toCelValue(DIGESTED.has(k) ? digested(v) : v, 1, budget)
    if (c !== undefined) claims[k] = c
  }
  if (Object.keys(claims).length > INPUT_LIMITS.maxContainer) tooLarge(`more than ${INPUT_LIMITS.maxContainer} claims`)
  const vector: Record<string, bigint> = {}
  for (const claim of TRUST_CLAIMS) vector[claim] = BigInt(context.vector[claim] ?? 0)
  const k = facts.key
  return {
    tenant: context.tenant,
    format: context.format,
    mediaType: context.mediaType,
    profile: context.profile,
    submod: context.submod,
    claims,
    key: {
      source: k.source,
      kid: k.kid ?? '',
      ueid: k.ueid === undefined ? '' : (toCelValue(k.ueid, 1, budget) as string),
      attested: k.source === 'x5chain' || k.source === 'pinned',
      chainSubject: (toCelValue(k.chainSubject ?? '', 1, budget) as string),
      anchorSubject: (toCelValue(k.anchorSubject ?? '', 1, budget) as string),
    },
    freshness: { by: facts.freshness.by },
    reference: {
      found: facts.reference.found,
      source: toCelValue(facts.reference.source, 1, budget) as string,
      components: toCelValue(facts.reference.components, 1, budget) as CelInputValue[],
    },
    builtin: {
      vector,
      status: context.status,
      reasons: toCelValue(
        context.reasons.map((r) => ({ claim: r.claim, value: r.value, code: r.code })),
        1,
        budget,
      ) as CelInputValue[],
    },
  }
}
