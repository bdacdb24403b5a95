/**
 * Compiles a validated policy document: each rule's CEL condition is parsed by `@bufbuild/cel`,
 * then checked here against the input schema (the library's own type checker is not part of its
 * public API), costed, and planned once. A compiled policy is keyed by (id, version, digest of its
 * text), so a policy is compiled once however often it is evaluated.
 *
 * Refused, with the rule and the position (line:column inside the condition):
 * - syntax errors (ERR_POLICY_SYNTAX);
 * - an identifier, field or function that is not in the input schema or the allow-list
 *   (ERR_POLICY_UNKNOWN_INPUT): `INPUT_SCHEMA` names every input, `FUNCTIONS` every function;
 * - type errors the schema can see (ERR_POLICY_TYPE): a condition that is not boolean, `&&` on a
 *   text, comparing an int with a text, a field of a text, an invalid regular expression;
 * - conditions whose worst-case cost exceeds the bound (ERR_POLICY_TOO_COSTLY).
 *
 * Cost. CEL has no loops but its macros (`all`, `exists`, `exists_one`, `map`, `filter`) iterate.
 * The cost of a condition is counted over its syntax tree: one unit per node, `COSTLY_FUNCTIONS`
 * more for text scans, and the body of a macro times the most entries its range can have
 * (`INPUT_LIMITS.maxContainer` for an input, the length of a literal list). Macros nest at most
 * `MAX_MACRO_DEPTH` deep, a rule and a whole policy may cost at most `MAX_RULE_COST` and
 * `MAX_POLICY_COST`. Regular expressions are RE2 (linear time, no backtracking), literal, and
 * compiled once; every text is at most `INPUT_LIMITS.maxText` characters, so the cost bounds the time. Evaluation still measures it and turns an overrun into a verifier fault.
 */
import { createHash } from 'node:crypto'
import { celEnv, parse, plan, type CelResult } from '@bufbuild/cel'
import { RE2JS } from '@bufbuild/re2'
import { VerifierError } from '../errors/errors.js'
import type { ErrorCode } from '../errors/codes.js'
import { TRUST_CLAIMS } from '../results/trust-vector.js'
import { ruleValue, type PolicyDocument, type PolicyRule } from './document.js'
import { INPUT_LIMITS } from './input.js'

/** Deepest nesting of macros (`all`, `exists`, `map`, …) in one condition. */
export const MAX_MACRO_DEPTH = 2
/**
 * Most cost units one condition, and all the conditions of one policy together, may reach in the
 * worst case (see the module comment). Measured: a plain node costs about 0.07 µs, a `matches` on a
 * text of the longest length about 1 ms (5,000 units), so a policy at the bound runs in about
 * 60–120 ms at worst (200 ms cold), under the time bound (`POLICY_TIME_BOUND_MS`, 1 s).
 */
export const MAX_RULE_COST = 500_000
export const MAX_POLICY_COST = 500_000

/** A checked type: scalar kinds, lists, maps, schema objects, or `dyn` (known only at run time). */
type Type =
  | { readonly k: 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'dyn' }
  | { readonly k: 'list'; readonly elem: Type }
  | { readonly k: 'map'; readonly value: Type }
  | { readonly k: 'object'; readonly name: string; readonly fields: Readonly<Record<string, Type>> }

const T = {
  bool: { k: 'bool' },
  int: { k: 'int' },
  uint: { k: 'uint' },
  double: { k: 'double' },
  string: { k: 'string' },
  bytes: { k: 'bytes' },
  null: { k: 'null' },
  dyn: { k: 'dyn' },
} as const
const listOf = (elem: Type): Type => ({ k: 'list', elem })
const object = (name: string, fields: Record<string, Type>): Type => ({ k: 'object', name, fields })

const COMPONENT = object('component', {
  kind: T.string,
  name: T.string,
  version: T.string,
  measurement: T.string,
  signer: T.string,
  matched: T.bool,
})
const VECTOR = object('vector', Object.fromEntries(TRUST_CLAIMS.map((c) => [c, T.int])))

/** Every input a condition may name, with its type (docs/policies.md has the table). */
export const INPUT_SCHEMA: Readonly<Record<string, Type>> = Object.freeze({
  tenant: T.string,
  format: T.string,
  mediaType: T.string,
  profile: T.string,
  submod: T.string,
  claims: { k: 'map', value: T.dyn },
  key: object('key', {
    source: T.string,
    kid: T.string,
    ueid: T.string,
    attested: T.bool,
    chainSubject: T.string,
    anchorSubject: T.string,
  }),
  freshness: object('freshness', { by: T.string }),
  reference: object('reference', { found: T.bool, source: T.string, components: listOf(COMPONENT) }),
  builtin: object('builtin', {
    vector: VECTOR,
    status: T.string,
    reasons: listOf(object('reason', { claim: T.string, value: T.int, code: T.string })),
  }),
})

/** Functions and operators a condition may call (anything else is refused). */
const FUNCTIONS = new Set([
  '_&&_', '_||_', '!_', '_?_:_', '@not_strictly_false',
  '_==_', '_!=_', '_<_', '_<=_', '_>_', '_>=_',
  '_+_', '_-_', '_*_', '_/_', '_%_', '-_',
  '_[_]', '@in',
  'size', 'contains', 'startsWith', 'endsWith', 'matches',
  'int', 'uint', 'double', 'string', 'bytes', 'bool', 'dyn',
])
/** Extra cost of functions that scan a text (at most `INPUT_LIMITS.maxText` characters). */
const COSTLY_FUNCTIONS: Readonly<Record<string, number>> = { matches: 5000, contains: 200, startsWith: 20, endsWith: 20, '_+_': 20 }

/** The subset of the CEL syntax tree (cel.expr.Expr) this checker reads. */
interface Expr {
  readonly id: bigint
  readonly exprKind:
    | { readonly case: 'constExpr'; readonly value: { readonly constantKind: { readonly case: string | undefined; readonly value?: unknown } } }
    | { readonly case: 'identExpr'; readonly value: { readonly name: string } }
    | { readonly case: 'selectExpr'; readonly value: { readonly operand?: Expr; readonly field: string; readonly testOnly: boolean } }
    | { readonly case: 'callExpr'; readonly value: { readonly target?: Expr; readonly function: string; readonly args: readonly Expr[] } }
    | { readonly case: 'listExpr'; readonly value: { readonly elements: readonly Expr[] } }
    | {
        readonly case: 'structExpr'
        readonly value: {
          readonly messageName: string
          readonly entries: readonly { readonly keyKind: { readonly case: string | undefined; readonly value?: unknown }; readonly value?: Expr }[]
        }
      }
    | {
        readonly case: 'comprehensionExpr'
        readonly value: {
          readonly iterVar: string
          readonly iterVar2: string
          readonly iterRange?: Expr
          readonly accuVar: string
          readonly accuInit?: Expr
          readonly loopCondition?: Expr
          readonly loopStep?: Expr
          readonly result?: Expr
        }
      }
    | { readonly case: undefined; readonly value?: undefined }
}

export interface CompiledRule {
  readonly rule: PolicyRule
  /** The value the rule sets: AR4SI integer for a claim, a tier for the status. */
  readonly value: ReturnType<typeof ruleValue>
  readonly code: string
  readonly detail: string
  /** Worst-case cost units of its condition. */
  readonly cost: number
  readonly evaluate: (bindings: Record<string, unknown>) => CelResult
}

export interface CompiledPolicy {
  readonly document: PolicyDocument
  /** SHA-256 of the document text, lower-case hex. */
  readonly digest: string
  /** How the EAR names it: `urn:assay:policy:<id>:<version>#sha-256:<digest>`. */
  readonly ref: string
  readonly rules: readonly CompiledRule[]
}

/** The EAR policy id of a policy: id and version in a URN, the digest of its text as the fragment. */
export function policyRef(id: string, version: number, digest: string): string {
  return `urn:assay:policy:${id}:${version}#sha-256:${digest}`
}

/** Line and column (1-based) of a character offset in a text. */
function lineColumn(text: string, offset: number): string {
  let line = 1
  let column = 1
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++
      column = 1
    } else column++
  }
  return `${line}:${column}`
}

class RuleError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly offset: number,
    message: string,
  ) {
    super(message)
  }
}

const isNumeric = (t: Type) => t.k === 'int' || t.k === 'uint' || t.k === 'double'
const describe = (t: Type): string => (t.k === 'object' ? t.name : t.k === 'list' ? `list(${describe(t.elem)})` : t.k)
/** `a string`, `an int`: a type with its article, for messages. */
const aType = (t: Type): string => `${/^[aeiou]/.test(describe(t)) ? 'an' : 'a'} ${describe(t)}`

/** Checks and costs one parsed condition against INPUT_SCHEMA. */
class Checker {
  private readonly scopes: Map<string, Type>[] = []
  private depth = 0

  constructor(private readonly positions: Readonly<Record<string, number>>) {}

  private at(e: Expr): number {
    return this.positions[String(e.id)] ?? 0
  }

  private fail(code: ErrorCode, e: Expr, message: string): never {
    throw new RuleError(code, this.at(e), message)
  }

  /** The type of `e` and its worst-case cost; `range` is the most entries a list value can hold. */
  check(e: Expr): { type: Type; cost: number; range: number } {
    const kind = e.exprKind
    switch (kind.case) {
      case 'constExpr': {
        const c = kind.value.constantKind
        const type: Type =
          c.case === 'boolValue' ? T.bool
          : c.case === 'int64Value' ? T.int
          : c.case === 'uint64Value' ? T.uint
          : c.case === 'doubleValue' ? T.double
          : c.case === 'stringValue' ? T.string
          : c.case === 'bytesValue' ? T.bytes
          : c.case === 'nullValue' ? T.null
          : this.fail('ERR_POLICY_TYPE', e, `unsupported constant ${String(c.case)}`)
        return { type, cost: 1, range: 0 }
      }
      case 'identExpr': {
        const name = kind.value.name
        for (let i = this.scopes.length - 1; i >= 0; i--) {
          const t = this.scopes[i]!.get(name)
          if (t !== undefined) return { type: t, cost: 1, range: INPUT_LIMITS.maxContainer }
        }
        const t = Object.hasOwn(INPUT_SCHEMA, name) ? INPUT_SCHEMA[name] : undefined
        if (t === undefined) this.fail('ERR_POLICY_UNKNOWN_INPUT', e, `unknown input ${name}; inputs are ${Object.keys(INPUT_SCHEMA).join(', ')}`)
        return { type: t, cost: 1, range: INPUT_LIMITS.maxContainer }
      }
      case 'selectExpr': {
        const { operand, field, testOnly } = kind.value
        const inner = this.check(operand!)
        const type = this.field(inner.type, field, e)
        return { type: testOnly ? T.bool : type, cost: inner.cost + 1, range: INPUT_LIMITS.maxContainer }
      }
      case 'listExpr': {
        let cost = 1
        let elem: Type | undefined
        for (const el of kind.value.elements) {
          const c = this.check(el)
          cost += c.cost
          elem = elem === undefined || elem.k === c.type.k ? c.type : T.dyn
        }
        return { type: listOf(elem ?? T.dyn), cost, range: kind.value.elements.length }
      }
      case 'structExpr': {
        if (kind.value.messageName !== '') this.fail('ERR_POLICY_UNKNOWN_INPUT', e, `message types are not available (${kind.value.messageName})`)
        let cost = 1
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === 'mapKey') cost += this.check(entry.keyKind.value as Expr).cost
          cost += this.check(entry.value!).cost
        }
        return { type: { k: 'map', value: T.dyn }, cost, range: kind.value.entries.length }
      }
      case 'comprehensionExpr':
        return this.comprehension(e, kind.value)
      case 'callExpr':
        return this.call(e, kind.value)
      default:
        return this.fail('ERR_POLICY_SYNTAX', e, 'empty expression')
    }
  }

  private field(type: Type, field: string, e: Expr): Type {
    switch (type.k) {
      case 'object': {
        const t = Object.hasOwn(type.fields, field) ? type.fields[field] : undefined
        if (t === undefined) {
          this.fail('ERR_POLICY_UNKNOWN_INPUT', e, `${type.name} has no field ${field}; it has ${Object.keys(type.fields).join(', ')}`)
        }
        return t
      }
      case 'map':
        return type.value
      case 'dyn':
        return T.dyn
      default:
        return this.fail('ERR_POLICY_TYPE', e, `cannot select ${field} of ${aType(type)}`)
    }
  }

  private comprehension(e: Expr, c: Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value']): { type: Type; cost: number; range: number } {
    if (++this.depth > MAX_MACRO_DEPTH) {
      this.fail('ERR_POLICY_TOO_COSTLY', e, `macros (all, exists, exists_one, map, filter) nest deeper than ${MAX_MACRO_DEPTH}`)
    }
    const range = this.check(c.iterRange!)
    let elem: Type
    if (range.type.k === 'list') elem = range.type.elem
    else if (range.type.k === 'map' || range.type.k === 'object') elem = T.string
    else if (range.type.k === 'dyn') elem = T.dyn
    else return this.fail('ERR_POLICY_TYPE', c.iterRange!, `cannot iterate over ${aType(range.type)}`)
    const init = this.check(c.accuInit!)
    this.scopes.push(new Map([[c.accuVar, init.type.k === 'list' ? listOf(T.dyn) : init.type]]))
    this.scopes.push(new Map([[c.iterVar, elem]]))
    const condition = this.check(c.loopCondition!)
    const step = this.check(c.loopStep!)
    this.scopes.pop()
    const result = this.check(c.result!)
    this.scopes.pop()
    this.depth--
    const entries = Math.max(range.range, 1)
    return {
      type: result.type,
      cost: range.cost + init.cost + entries * (condition.cost + step.cost) + result.cost,
      range: entries,
    }
  }

  private call(e: Expr, c: Extract<Expr['exprKind'], { case: 'callExpr' }>['value']): { type: Type; cost: number; range: number } {
    const fn = c.function
    if (!FUNCTIONS.has(fn)) this.fail('ERR_POLICY_UNKNOWN_INPUT', e, `unknown function ${fn}`)
    const args = [...(c.target === undefined ? [] : [c.target]), ...c.args]
    const checked = args.map((a) => this.check(a))
    const types = checked.map((a) => a.type)
    const cost = 1 + (COSTLY_FUNCTIONS[fn] ?? 0) + checked.reduce((s, a) => s + a.cost, 0)
    const range = checked.reduce((s, a) => s + a.range, 0)
    const want = (i: number, ...kinds: Type['k'][]) => {
      const t = types[i]
      if (t === undefined) this.fail('ERR_POLICY_TYPE', e, `${fn} takes more arguments`)
      if (t.k !== 'dyn' && !kinds.includes(t.k)) this.fail('ERR_POLICY_TYPE', args[i]!, `${fn.replace(/^_|_$/g, '').replaceAll('_', ' ')} expects ${kinds.join(' or ')}, not ${describe(t)}`)
    }
    const arity = (n: number) => {
      if (args.length !== n) this.fail('ERR_POLICY_TYPE', e, `${fn} takes ${n} argument(s), not ${args.length}`)
    }
    const same = (a: Type, b: Type) => a.k === 'dyn' || b.k === 'dyn' || a.k === b.k || (isNumeric(a) && isNumeric(b)) || a.k === 'null' || b.k === 'null'
    const out = (type: Type) => ({ type, cost, range })
    switch (fn) {
      case '_&&_':
      case '_||_':
        arity(2)
        want(0, 'bool')
        want(1, 'bool')
        return out(T.bool)
      case '!_':
      case '@not_strictly_false':
        arity(1)
        want(0, 'bool')
        return out(T.bool)
      case '_?_:_':
        arity(3)
        want(0, 'bool')
        return out(types[1]!.k === types[2]!.k ? types[1]! : T.dyn)
      case '_==_':
      case '_!=_':
        arity(2)
        if (!same(types[0]!, types[1]!)) this.fail('ERR_POLICY_TYPE', e, `${fn.replaceAll('_', '')} compares ${aType(types[0]!)} with ${aType(types[1]!)}`)
        return out(T.bool)
      case '_<_':
      case '_<=_':
      case '_>_':
      case '_>=_':
        arity(2)
        want(0, 'int', 'uint', 'double', 'string', 'bytes', 'bool')
        if (!same(types[0]!, types[1]!) || types[1]!.k === 'null') {
          this.fail('ERR_POLICY_TYPE', e, `${fn.replaceAll('_', '')} compares ${aType(types[0]!)} with ${aType(types[1]!)}`)
        }
        return out(T.bool)
      case '_+_':
        arity(2)
        want(0, 'int', 'uint', 'double', 'string', 'bytes', 'list')
        if (!same(types[0]!, types[1]!)) this.fail('ERR_POLICY_TYPE', e, `+ adds ${aType(types[0]!)} and ${aType(types[1]!)}`)
        return types[0]!.k === 'list' ? { type: listOf(T.dyn), cost, range } : out(types[0]!.k === 'dyn' ? types[1]! : types[0]!)
      case '_-_':
      case '_*_':
      case '_/_':
      case '_%_':
        arity(2)
        want(0, 'int', 'uint', 'double')
        want(1, 'int', 'uint', 'double')
        return out(types[0]!.k === 'dyn' ? types[1]! : types[0]!)
      case '-_':
        arity(1)
        want(0, 'int', 'double')
        return out(types[0]!)
      case '_[_]': {
        arity(2)
        const [t, i] = types as [Type, Type]
        if (t.k === 'list') {
          want(1, 'int', 'uint')
          return out(t.elem)
        }
        if (t.k === 'map') return out(t.value)
        if (t.k === 'object') {
          const key = args[1]!.exprKind
          if (key.case === 'constExpr' && key.value.constantKind.case === 'stringValue') return out(this.field(t, String(key.value.constantKind.value), args[1]!))
          want(1, 'string')
          return out(T.dyn)
        }
        if (t.k === 'dyn') return out(T.dyn)
        return this.fail('ERR_POLICY_TYPE', e, `cannot index ${aType(t)} (with ${aType(i)})`)
      }
      case '@in':
        arity(2)
        want(1, 'list', 'map', 'object')
        return out(T.bool)
      case 'size':
        arity(1)
        want(0, 'string', 'bytes', 'list', 'map', 'object')
        return out(T.int)
      case 'contains':
      case 'startsWith':
      case 'endsWith':
        arity(2)
        want(0, 'string')
        want(1, 'string')
        return out(T.bool)
      case 'matches': {
        arity(2)
        want(0, 'string')
        want(1, 'string')
        // Patterns are literals: compiled here, once (a bad one is refused at load), and never taken
        // from the Evidence, whose text could otherwise make every evaluation compile a new one.
        const pattern = args[1]!.exprKind
        if (pattern.case !== 'constExpr' || pattern.value.constantKind.case !== 'stringValue') {
          this.fail('ERR_POLICY_TYPE', args[1]!, 'the pattern of matches must be a string literal')
        }
        try {
          compilePattern(String(pattern.value.constantKind.value))
        } catch (err) {
          this.fail('ERR_POLICY_TYPE', args[1]!, `invalid regular expression: ${(err instanceof Error ? err.message : String(err)).slice(0, 200)}`)
        }
        return out(T.bool)
      }
      case 'int':
      case 'uint':
      case 'double':
      case 'string':
      case 'bytes':
      case 'bool':
        arity(1)
        return out(T[fn])
      case 'dyn':
        arity(1)
        return out(T.dyn)
      default:
        return this.fail('ERR_POLICY_UNKNOWN_INPUT', e, `unknown function ${fn}`)
    }
  }
}

/** Most distinct `matches` patterns kept compiled (the policies loaded name at most 64 × 64 × ~100). */
const MAX_PATTERNS = 4096
const patterns = new Map<string, RE2JS>()

/**
 * An RE2 pattern, compiled once: the library's own `matches` compiles its pattern on every call
 * (1–2 ms for a pattern with groups), which would dominate a rule run over a list.
 */
function compilePattern(pattern: string): RE2JS {
  let re = patterns.get(pattern)
  if (re === undefined) {
    re = RE2JS.compile(pattern)
    if (patterns.size >= MAX_PATTERNS) patterns.delete(patterns.keys().next().value!)
    patterns.set(pattern, re)
  }
  return re
}

const ENV = celEnv({ re2: { compile: (pattern: string) => compilePattern(pattern) } })

/** Compiles one rule, or throws a `VerifierError` naming the rule and the position in its condition. */
function compileRule(rule: PolicyRule, index: number): CompiledRule {
  const where = (position: string) => `rules[${index}] (rule "${rule.name}"), when ${position}`
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(rule.when)
  } catch (err) {
    const location = (err as { location?: { start?: { line?: number; column?: number } } }).location?.start
    const position = location?.line === undefined ? '1:1' : `${location.line}:${location.column}`
    const message = ((err as { rawMessage?: string }).rawMessage ?? (err instanceof Error ? err.message : String(err))).slice(0, 200)
    throw new VerifierError('ERR_POLICY_SYNTAX', `${where(position)}: ${message}`, { path: `rules[${index}].when` })
  }
  const positions: Record<string, number> = {}
  for (const [id, offset] of Object.entries(parsed.sourceInfo?.positions ?? {})) positions[id] = Number(offset)
  let checked: { type: Type; cost: number }
  try {
    checked = new Checker(positions).check(parsed.expr as unknown as Expr)
  } catch (err) {
    if (!(err instanceof RuleError)) throw err
    throw new VerifierError(err.code, `${where(lineColumn(rule.when, err.offset))}: ${err.message}`, { path: `rules[${index}].when` })
  }
  if (checked.type.k !== 'bool' && checked.type.k !== 'dyn') {
    throw new VerifierError('ERR_POLICY_TYPE', `${where('1:1')}: the condition is ${aType(checked.type)}, not a bool`, { path: `rules[${index}].when` })
  }
  if (checked.cost > MAX_RULE_COST) {
    throw new VerifierError('ERR_POLICY_TOO_COSTLY', `${where('1:1')}: may cost ${checked.cost} units; at most ${MAX_RULE_COST}`, {
      path: `rules[${index}].when`,
    })
  }
  const evaluate = plan(ENV, parsed) as (bindings: Record<string, unknown>) => CelResult
  const reason = typeof rule.reason === 'string' ? { code: 'POLICY_RULE', detail: rule.reason } : rule.reason
  return { rule, value: ruleValue(rule), code: reason.code, detail: reason.detail, cost: checked.cost, evaluate }
}

/** SHA-256 of a policy's text, lower-case hex. */
export function policyDigest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Compiles a validated document whose text had `digest`. Throws the first rule's problem. */
export function compilePolicy(document: PolicyDocument, digest: string): CompiledPolicy {
  const rules = document.rules.map((r, i) => compileRule(r, i))
  const total = rules.reduce((n, r) => n + r.cost, 0)
  if (total > MAX_POLICY_COST) {
    throw new VerifierError('ERR_POLICY_TOO_COSTLY', `the rules together may cost ${total} units; at most ${MAX_POLICY_COST} per policy`)
  }
  return { document, digest, ref: policyRef(document.id, document.version, digest), rules }
}

/** Compiled policies by (id, version, digest): a policy is compiled once, however often it is loaded. */
export class PolicyCache {
  private readonly compiled = new Map<string, CompiledPolicy>()

  constructor(private readonly maxEntries = 1024) {}

  get(document: PolicyDocument, digest: string): CompiledPolicy {
    const key = `${document.id}\u0000${document.version}\u0000${digest}`
    const hit = this.compiled.get(key)
    if (hit !== undefined) return hit
    const fresh = compilePolicy(document, digest)
    if (this.compiled.size >= this.maxEntries) this.compiled.delete(this.compiled.keys().next().value!)
    this.compiled.set(key, fresh)
    return fresh
  }

  get size(): number {
    return this.compiled.size
  }
}
