/**
 * Appraisal policy documents (issue 11): the shape an operator writes, in YAML or JSON, validated
 * with zod, and the AR4SI names a rule may use. Pure: the text comes in, a validated document (or a
 * `VerifierError` naming the field) comes out; `compile.ts` turns it into something to evaluate.
 *
 * ```yaml
 * id: lab-debug
 * version: 1
 * selector: { tenant: lab, formats: [eat] }
 * rules:
 *   - name: debug-is-a-warning
 *     when: 'has(claims.dbgstat) && claims.dbgstat == "enabled"'
 *     set: configuration
 *     to: warning
 *     reason: { code: LAB_DEBUG_ACCEPTED, detail: debug builds are expected in the lab }
 * ```
 *
 * Every list and text has a bound (`POLICY_LIMITS`), so a document can be refused before any of
 * it is compiled.
 */
import { z } from 'zod'
import { VerifierError } from '../errors/errors.js'
import {
  CONFIGURATION,
  EXECUTABLES,
  FILE_SYSTEM,
  HARDWARE,
  INSTANCE_IDENTITY,
  NO_CLAIM,
  RUNTIME_OPAQUE,
  SOURCED_DATA,
  STORAGE_OPAQUE,
  TRUST_CLAIMS,
  type Tier,
  type TrustClaim,
} from '../results/trust-vector.js'

/** Bounds of a policy document and of what its rules may cost. */
export const POLICY_LIMITS = Object.freeze({
  /** Bytes of the document text (YAML or JSON). */
  maxTextBytes: 64 * 1024,
  /** Rules in one document. */
  maxRules: 64,
  /** Characters of one rule's CEL condition. */
  maxExpressionLength: 1024,
  /** Entries of each selector list. */
  maxSelectorEntries: 16,
  /** Characters of a reason's detail. */
  maxDetailLength: 256,
})

/** What a rule may set: one AR4SI trustworthiness claim, or the submodule's status. */
export type RuleTarget = TrustClaim | 'status'

/** Names every claim accepts: the tiers' standard values (draft-ietf-rats-ar4si §2.3.1). */
const COMMON_VALUES: Readonly<Record<string, number>> = { 'no-claim': NO_CLAIM, affirming: 2, warning: 32, contraindicated: 96 }

/** `approvedRuntime` → `approved-runtime`. */
const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
const named = (values: Readonly<Record<string, number>>): Readonly<Record<string, number>> =>
  Object.freeze({ ...COMMON_VALUES, ...Object.fromEntries(Object.entries(values).map(([k, v]) => [kebab(k), v])) })

/**
 * The AR4SI values a rule may set, by claim and name: `affirming` (2), `warning` (32),
 * `contraindicated` (96), `no-claim` (0) for every claim, and each claim's own names from
 * draft-ietf-rats-ar4si (`src/results/trust-vector.ts`). Verifier findings (−1 verifier
 * malfunction, 1 unexpected evidence, 99 cryptographic validation failed) are not a policy's to set.
 */
export const AR4SI_VALUE_NAMES: Readonly<Record<TrustClaim, Readonly<Record<string, number>>>> = Object.freeze({
  'instance-identity': named(INSTANCE_IDENTITY),
  configuration: named(CONFIGURATION),
  executables: named(EXECUTABLES),
  'file-system': named(FILE_SYSTEM),
  hardware: named(HARDWARE),
  'runtime-opaque': named(RUNTIME_OPAQUE),
  'storage-opaque': named(STORAGE_OPAQUE),
  'sourced-data': named(SOURCED_DATA),
})

/**
 * The status names a rule may set. A status rule can only make the status worse than the vector
 * makes it (EAR: the status is never better than the worst claim), so `affirming` is not one.
 */
export const STATUS_NAMES: readonly Tier[] = ['warning', 'contraindicated', 'none']

/** The evidence formats a selector may name. */
export const POLICY_FORMATS = ['psa', 'eat'] as const
export type PolicyFormat = (typeof POLICY_FORMATS)[number]

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/
const HEX = /^(?:[0-9a-f]{2}){1,64}$/
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
/** No C0 control character and no DEL: texts end up in logs and results. */
const noControl = (s: string) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)

const list = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item)
    .min(1, `${what} must not be empty (leave it out to match any)`)
    .max(POLICY_LIMITS.maxSelectorEntries, `${what} holds more than ${POLICY_LIMITS.maxSelectorEntries} entries`)

const selectorSchema = z
  .object({
    tenant: z.string().regex(TENANT, 'tenant must be a tenant id').optional(),
    formats: list(z.enum(POLICY_FORMATS), 'formats').optional(),
    profiles: list(z.string().min(1).max(256).refine(noControl, 'control characters'), 'profiles').optional(),
    mediaTypes: list(
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/, 'a media type without parameters, in lower case'),
      'mediaTypes',
    ).optional(),
    claims: z
      .object({
        implementationId: z.string().regex(HEX, 'implementationId must be lower-case hex').optional(),
        // An OEM id is bytes (IEEE OUI, random) in hex, or a Private Enterprise Number as a number.
        oemid: z
          .union([z.string().regex(HEX, 'oemid must be lower-case hex'), z.number().int().min(0).max(2 ** 32 - 1)])
          .transform((v) => (typeof v === 'number' ? `pen:${v}` : v))
          .optional(),
        hwmodel: z.string().regex(HEX, 'hwmodel must be lower-case hex').optional(),
      })
      .strict()
      .refine((c) => Object.keys(c).length > 0, 'claims must name at least one claim (leave it out to match any)')
      .optional(),
  })
  .strict()

const reasonSchema = z.union([
  z.string().min(1).max(POLICY_LIMITS.maxDetailLength).refine(noControl, 'control characters'),
  z
    .object({
      code: z.string().regex(CODE, 'reason code must be upper-case letters, digits and _ (at most 64)'),
      detail: z.string().min(1).max(POLICY_LIMITS.maxDetailLength).refine(noControl, 'control characters'),
    })
    .strict(),
])

const ruleSchema = z
  .object({
    name: z.string().regex(ID, 'rule name must be lower-case letters, digits, ".", "_" or "-" (at most 64)'),
    when: z.string().min(1).max(POLICY_LIMITS.maxExpressionLength, `when is longer than ${POLICY_LIMITS.maxExpressionLength} characters`),
    set: z.enum([...TRUST_CLAIMS, 'status'] as [RuleTarget, ...RuleTarget[]], {
      message: `set must be one of ${[...TRUST_CLAIMS, 'status'].join(', ')}`,
    }),
    to: z.string().min(1).max(64),
    reason: reasonSchema,
  })
  .strict()
  .superRefine((rule, ctx) => {
    const names: readonly string[] = rule.set === 'status' ? STATUS_NAMES : Object.keys(AR4SI_VALUE_NAMES[rule.set])
    if (!names.includes(rule.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `${rule.to} is no AR4SI value of ${rule.set}; one of ${names.join(', ')}` })
    }
  })

export const policyDocumentSchema = z
  .object({
    id: z.string().regex(ID, 'id must be lower-case letters, digits, ".", "_" or "-" (at most 64)'),
    version: z.number().int().min(1).max(2 ** 31 - 1),
    description: z.string().max(1024).optional(),
    selector: selectorSchema,
    rules: z.array(ruleSchema).max(POLICY_LIMITS.maxRules, `more than ${POLICY_LIMITS.maxRules} rules`),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const seen = new Set<string>()
    doc.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name ${r.name} is used twice` })
      seen.add(r.name)
    })
  })

export type PolicyDocument = z.infer<typeof policyDocumentSchema>
export type PolicyRule = PolicyDocument['rules'][number]
export type PolicySelector = PolicyDocument['selector']

/** The value a rule sets: an AR4SI integer for a claim, a tier for the status. */
export function ruleValue(rule: PolicyRule): number | Tier {
  return rule.set === 'status' ? (rule.to as Tier) : AR4SI_VALUE_NAMES[rule.set][rule.to]!
}

/** A field path as messages name it: `rules[2].to`. */
function pathText(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`
  return out || '(root)'
}

/**
 * Validates a parsed document (the result of a YAML or JSON parser). The message names the first
 * problem's field and, for a rule, its name; `locate` may add where the field is in the text
 * (`line 12, column 9: `).
 */
export function validatePolicyDocument(value: unknown, locate: (path: readonly PropertyKey[]) => string = () => ''): PolicyDocument {
  const parsed = policyDocumentSchema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const [first, index] = issue.path
  let where = locate(issue.path) + pathText(issue.path)
  if (first === 'rules' && typeof index === 'number' && Array.isArray((value as { rules?: unknown })?.rules)) {
    const name = ((value as { rules: unknown[] }).rules[index] as { name?: unknown } | undefined)?.name
    if (typeof name === 'string') where += ` (rule ${JSON.stringify(name.slice(0, 64))})`
  }
  throw new VerifierError('ERR_POLICY_INVALID', `${where}: ${issue.message}`, { path: pathText(issue.path) })
}
