/**
 * The policy engine (src/policy): documents refused by the schema, conditions refused at compile
 * time with the rule and the position, every input visible to a condition, rule effects, status
 * derivation, the cost and size bounds, and the time bound that ends as a verifier fault.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { MAX_POLICY_COST, MAX_RULE_COST, PolicyCache, policyDigest, type CompiledPolicy } from '../../../src/policy/compile.js'
import { POLICY_LIMITS, validatePolicyDocument } from '../../../src/policy/document.js'
import { applyPolicy, PolicySet, type PolicySubject, type PolicyTarget } from '../../../src/policy/evaluate.js'
import { INPUT_LIMITS, type AppraisalFacts } from '../../../src/policy/input.js'
import { loadPolicyText } from '../../../src/policy/text.js'
import { isVerifierError } from '../../../src/errors/errors.js'

/** A policy document (YAML) with the given rules, as text. */
function policyText(rules: object[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ id: 'p', version: 1, selector: {}, rules, ...extra })
}
const rule = (when: string, set = 'configuration', to = 'warning', reason: unknown = { code: 'R', detail: 'because' }) => ({
  name: 'r1',
  when,
  set,
  to,
  reason,
})
const compile = (when: string, set?: string, to?: string): CompiledPolicy => loadPolicyText(policyText([rule(when, set, to)]), 'json')

/** Asserts that loading refuses with `code` and a message matching `message`. */
function refuses(text: string, code: string, message: RegExp, format: 'yaml' | 'json' = 'json'): void {
  assert.throws(
    () => loadPolicyText(text, format),
    (err: unknown) => {
      assert.ok(isVerifierError(err), String(err))
      assert.equal(err.code, code, err.message)
      assert.match(err.message, message)
      return true
    },
  )
}

const FACTS: AppraisalFacts = {
  claims: { dbgstat: 'enabled', ueid: Uint8Array.of(1, 2, 3), iat: 1_800_000_000, swname: 'fw', oemboot: true },
  key: { source: 'x5chain', ueid: Uint8Array.of(1, 2, 3), chainSubject: 'CN=device', anchorSubject: 'CN=root' },
  freshness: { by: 'verifier-nonce' },
  reference: {
    found: true,
    source: 'file:rv.json',
    components: [
      { kind: 'software', name: 'BL', version: '1.1', measurement: 'aa', signer: 'bb', matched: true },
      { kind: 'software', name: 'PRoT', version: '2.0', measurement: 'cc', signer: 'dd', matched: false },
    ],
  },
}
const CONTEXT = { tenant: 'lab', format: 'eat' as const, mediaType: 'application/eat+cwt', profile: 'urn:ietf:rfc:rfc9711', submod: 'EAT' }
const SUBJECT: PolicySubject = {
  vector: { 'instance-identity': 2, hardware: 2, executables: 33, configuration: 96 },
  reasons: [
    { claim: 'instance-identity', value: 2, code: 'EAT_KEY_VERIFIED', detail: 'k' },
    { claim: 'hardware', value: 2, code: 'EAT_HARDWARE_KNOWN', detail: 'h' },
    { claim: 'executables', value: 33, code: 'EAT_SOFTWARE_UNRECOGNIZED', detail: 's' },
    { claim: 'configuration', value: 96, code: 'EAT_DEBUG_ENABLED', detail: 'debug is enabled' },
  ],
  required: ['instance-identity', 'hardware', 'executables'],
}
const holds = (when: string, facts: AppraisalFacts = FACTS): boolean => {
  const result = applyPolicy(compile(when), SUBJECT, CONTEXT, facts)
  assert.notEqual(result.status, 'none', JSON.stringify(result.reasons))
  return result.vector.configuration === 32
}

describe('policy documents', () => {
  it('accepts YAML and JSON, and names the policy by id, version and the digest of its text', () => {
    const yaml = 'id: lab\nversion: 3\nselector: { tenant: lab }\nrules:\n  - name: a\n    when: "true"\n    set: status\n    to: warning\n    reason: text\n'
    const p = loadPolicyText(yaml, 'yaml')
    assert.equal(p.ref, `urn:assay:policy:lab:3#sha-256:${policyDigest(yaml)}`)
    assert.equal(p.rules[0]!.code, 'POLICY_RULE')
    assert.equal(loadPolicyText(policyText([]), 'json').document.id, 'p')
  })

  it('refuses unknown members, bad ids, unknown targets, unknown AR4SI values, and duplicate rule names', () => {
    refuses(policyText([], { extra: 1 }), 'ERR_POLICY_INVALID', /Unrecognized key/)
    refuses(policyText([], { id: 'Bad Id' }), 'ERR_POLICY_INVALID', /^id: /)
    refuses(policyText([], { version: 0 }), 'ERR_POLICY_INVALID', /^version: /)
    refuses(policyText([rule('true', 'colour')]), 'ERR_POLICY_INVALID', /rules\[0\]\.set \(rule "r1"\): set must be one of/)
    refuses(policyText([rule('true', 'hardware', 'approved')]), 'ERR_POLICY_INVALID', /approved is no AR4SI value of hardware; one of .*genuine/)
    refuses(policyText([rule('true', 'status', 'affirming')]), 'ERR_POLICY_INVALID', /affirming is no AR4SI value of status/)
    refuses(policyText([rule('true', 'hardware', 'genuine', { code: 'lower', detail: 'x' })]), 'ERR_POLICY_INVALID', /reason/)
    refuses(policyText([rule('true'), rule('false')]), 'ERR_POLICY_INVALID', /rule name r1 is used twice/)
    refuses(policyText([], { selector: { profiles: [] } }), 'ERR_POLICY_INVALID', /profiles must not be empty/)
    refuses(policyText([], { selector: { claims: { implementationId: 'XYZ' } } }), 'ERR_POLICY_INVALID', /lower-case hex/)
    refuses('id: [', 'ERR_POLICY_INVALID', /not YAML \(line 1/, 'yaml')
    refuses('a: &x 1\nb: *x\n', 'ERR_POLICY_INVALID', /alias/i, 'yaml')
    refuses('id: a\nid: b\n', 'ERR_POLICY_INVALID', /not YAML/, 'yaml')
    refuses('{', 'ERR_POLICY_INVALID', /not JSON/)
  })

  it('bounds the text, the rules and the condition length', () => {
    refuses(policyText([], { description: 'x'.repeat(POLICY_LIMITS.maxTextBytes) }), 'ERR_POLICY_TOO_LARGE', /larger than/)
    const many = Array.from({ length: POLICY_LIMITS.maxRules + 1 }, (_, i) => ({ ...rule('true'), name: `r${i}` }))
    refuses(policyText(many), 'ERR_POLICY_INVALID', /more than 64 rules/)
    refuses(policyText([rule(`${'true && '.repeat(200)}true`)]), 'ERR_POLICY_INVALID', /longer than 1024 characters/)
  })

  it('in YAML, a refusal also says where the field or the condition starts in the text', () => {
    const text = (to: string, when: string) =>
      `id: lab\nversion: 1\nselector: {}\nrules:\n  - name: a\n    when: 'true'\n    set: hardware\n    to: genuine\n    reason: r\n  - name: b\n    when: '${when}'\n    set: hardware\n    to: ${to}\n    reason: r\n`
    refuses(text('nope', 'true'), 'ERR_POLICY_INVALID', /^line 13, column 9: rules\[1\]\.to \(rule "b"\): nope is no AR4SI value of hardware/, 'yaml')
    refuses(text('unsafe', 'key.kid == 1'), 'ERR_POLICY_TYPE', /^line 11, column 11: rules\[1\] \(rule "b"\), when 1:9: == compares a string with an int/, 'yaml')
  })

  it('validatePolicyDocument names the rule of a bad field', () => {
    assert.throws(() => validatePolicyDocument({ id: 'a', version: 1, selector: {}, rules: [{ name: 'x', when: 'true', set: 'hardware', to: 'nope', reason: 'r' }] }), /rules\[0\]\.to \(rule "x"\)/)
  })
})

describe('policy compilation', () => {
  it('refuses syntax errors with the rule and line:column', () => {
    refuses(policyText([rule('tenant == "a" &&')]), 'ERR_POLICY_SYNTAX', /rules\[0\] \(rule "r1"\), when 1:\d+: /)
    refuses(policyText([rule('true\n  && (')]), 'ERR_POLICY_SYNTAX', /when 2:\d+/)
  })

  it('refuses unknown inputs, fields and functions, pointing at them', () => {
    refuses(policyText([rule('tenant == "a" && colour == 1')]), 'ERR_POLICY_UNKNOWN_INPUT', /when 1:18: unknown input colour/)
    refuses(policyText([rule('key.nope == "a"')]), 'ERR_POLICY_UNKNOWN_INPUT', /when 1:4: key has no field nope/)
    refuses(policyText([rule('builtin.vector["nope"] == 2')]), 'ERR_POLICY_UNKNOWN_INPUT', /vector has no field nope/)
    refuses(policyText([rule('reference.components.exists(c, c.colour == "x")')]), 'ERR_POLICY_UNKNOWN_INPUT', /component has no field colour/)
    refuses(policyText([rule('now() > 1')]), 'ERR_POLICY_UNKNOWN_INPUT', /unknown function now/)
    refuses(policyText([rule('tenant.lowerAscii() == "a"')]), 'ERR_POLICY_UNKNOWN_INPUT', /unknown function lowerAscii/)
  })

  it('refuses type errors: non-bool conditions, mismatched comparisons, fields of scalars, bad regular expressions', () => {
    refuses(policyText([rule('size(tenant)')]), 'ERR_POLICY_TYPE', /the condition is an int, not a bool/)
    refuses(policyText([rule('tenant == 1')]), 'ERR_POLICY_TYPE', /when 1:7: == compares a string with an int/)
    refuses(policyText([rule('tenant && true')]), 'ERR_POLICY_TYPE', /expects bool, not string/)
    refuses(policyText([rule('tenant.x == "a"')]), 'ERR_POLICY_TYPE', /cannot select x of a string/)
    refuses(policyText([rule('key.attested < 1')]), 'ERR_POLICY_TYPE', /compares a bool with an int/)
    refuses(policyText([rule('tenant.matches("(")')]), 'ERR_POLICY_TYPE', /invalid regular expression/)
    refuses(policyText([rule('tenant.matches(claims.pattern)')]), 'ERR_POLICY_TYPE', /when 1:22: the pattern of matches must be a string literal/)
  })

  it('refuses conditions whose worst-case cost is unbounded or too high', () => {
    const nested = 'reference.components.all(a, reference.components.all(b, reference.components.all(c, a.matched)))'
    refuses(policyText([rule(nested)]), 'ERR_POLICY_TOO_COSTLY', /nest deeper than 2/)
    // Two levels over inputs with a costly body: 64 × 64 × (regex scans) is over the bound.
    const wide = 'reference.components.all(a, reference.components.all(b, a.name.matches("^x") && b.name.contains(a.name)))'
    refuses(policyText([rule(wide)]), 'ERR_POLICY_TOO_COSTLY', new RegExp(`at most ${MAX_RULE_COST}`))
    // Each rule is under the bound, together they are not.
    const one = 'reference.components.exists(c, c.name.matches("(a+)+$"))'
    assert.ok(compile(one).rules[0]!.cost <= MAX_RULE_COST)
    refuses(policyText([{ ...rule(one), name: 'a' }, { ...rule(one), name: 'b' }]), 'ERR_POLICY_TOO_COSTLY', new RegExp(`at most ${MAX_POLICY_COST} per policy`))
    assert.ok(compile('reference.components.exists(c, !c.matched)').rules[0]!.cost < MAX_RULE_COST)
  })

  it('compiles once per (id, version, digest)', () => {
    const cache = new PolicyCache()
    const text = policyText([rule('true')])
    const a = loadPolicyText(text, 'json', cache)
    assert.equal(loadPolicyText(text, 'json', cache), a)
    assert.equal(cache.size, 1)
    const b = loadPolicyText(`${text}\n`, 'json', cache)
    assert.notEqual(b, a)
    assert.notEqual(b.digest, a.digest)
    assert.equal(cache.size, 2)
  })
})

describe('policy inputs', () => {
  it('every input is visible to a condition', () => {
    const visible = [
      'tenant == "lab"',
      'format == "eat"',
      'mediaType == "application/eat+cwt"',
      'profile == "urn:ietf:rfc:rfc9711"',
      'submod == "EAT"',
      'claims.dbgstat == "enabled"',
      'claims.ueid == "010203"',
      'claims.iat == 1800000000',
      'claims.oemboot',
      'has(claims.swname) && !has(claims.hwmodel)',
      'key.source == "x5chain"',
      'key.kid == ""',
      'key.ueid == "010203"',
      'key.attested',
      'key.chainSubject == "CN=device"',
      'key.anchorSubject == "CN=root"',
      'freshness.by == "verifier-nonce"',
      'reference.found',
      'reference.source == "file:rv.json"',
      'size(reference.components) == 2',
      'reference.components.exists(c, c.kind == "software" && c.name == "PRoT" && c.version == "2.0" && c.measurement == "cc" && c.signer == "dd" && !c.matched)',
      'builtin.vector["configuration"] == 96 && builtin.vector["file-system"] == 0',
      'builtin.status == "contraindicated"',
      'builtin.reasons.exists(r, r.claim == "executables" && r.value == 33 && r.code == "EAT_SOFTWARE_UNRECOGNIZED")',
      'claims.ueid.matches("^01") && "PRoT" in reference.components.map(c, c.name)',
    ]
    for (const when of visible) assert.equal(holds(when), true, when)
    assert.equal(holds('tenant == "other"'), false)
    assert.equal(holds('key.attested', { ...FACTS, key: { source: 'kid', kid: 'k1' } }), false)
    assert.equal(holds('key.kid == "k1" && key.source == "kid"', { ...FACTS, key: { source: 'kid', kid: 'k1' } }), true)
  })

  it('measurement and manifest bodies are given as their SHA-256, however large', () => {
    const body = new Uint8Array(64 * 1024).fill(1)
    const facts = { ...FACTS, claims: { measurements: [{ contentFormat: 1, body }], manifests: [{ contentFormat: 2, body: Buffer.from(body).toString('base64url') }] } }
    const digest = createHash('sha256').update(body).digest('hex')
    assert.equal(holds(`claims.measurements[0].digest == "${digest}" && claims.measurements[0].contentFormat == 1`, facts), true)
    assert.equal(holds(`claims.manifests[0].digest == "${digest}" && !has(claims.manifests[0].body)`, facts), true)
  })

  it('a claims-set beyond the input bounds is not evaluated: a verifier fault', () => {
    const big = { ...FACTS, claims: { list: Array.from({ length: INPUT_LIMITS.maxContainer + 1 }, () => 1) } }
    const result = applyPolicy(compile('true'), SUBJECT, CONTEXT, big)
    assert.equal(result.status, 'none')
    assert.equal(result.vector['instance-identity'], -1)
    assert.equal(result.reasons[0]!.code, 'ERR_POLICY_EVALUATION')
    assert.match(result.reasons[0]!.detail, /list of more than 64/)
    const long = { ...FACTS, claims: { swname: 'x'.repeat(INPUT_LIMITS.maxText + 1) } }
    assert.equal(applyPolicy(compile('true'), SUBJECT, CONTEXT, long).status, 'none')
  })
})

describe('policy effects', () => {
  it('a rule that holds sets its claim and replaces the built-in reason for it; the others stay', () => {
    const p = loadPolicyText(policyText([rule('claims.dbgstat == "enabled"', 'configuration', 'unsafe', { code: 'LAB_DEBUG', detail: 'lab' })]), 'json')
    const result = applyPolicy(p, SUBJECT, CONTEXT, FACTS)
    assert.deepEqual(result.vector, { ...SUBJECT.vector, configuration: 32 })
    assert.deepEqual(result.reasons, [...SUBJECT.reasons.slice(0, 3), { claim: 'configuration', value: 32, code: 'LAB_DEBUG', detail: 'lab' }])
    assert.equal(result.status, undefined, 'the status is derived from the vector')
  })

  it('a rule that does not hold changes nothing', () => {
    const result = applyPolicy(compile('false'), SUBJECT, CONTEXT, FACTS)
    assert.deepEqual(result, { vector: SUBJECT.vector, reasons: SUBJECT.reasons })
  })

  it('the first rule that holds for a target decides it', () => {
    const p = loadPolicyText(
      policyText([
        { ...rule('false', 'hardware', 'unsafe'), name: 'a' },
        { ...rule('true', 'hardware', 'contraindicated'), name: 'b' },
        { ...rule('true', 'hardware', 'genuine'), name: 'c' },
      ]),
      'json',
    )
    assert.equal(applyPolicy(p, SUBJECT, CONTEXT, FACTS).vector.hardware, 96)
  })

  it('a status rule can make the status worse, never better than the vector', () => {
    const clean: PolicySubject = { vector: { 'instance-identity': 2, hardware: 2, executables: 2 }, reasons: [], required: SUBJECT.required }
    const warn = applyPolicy(compile('!key.attested || true', 'status', 'warning'), clean, CONTEXT, FACTS)
    assert.equal(warn.status, 'warning')
    assert.deepEqual(warn.reasons.at(-1), { claim: 'status', value: 32, code: 'R', detail: 'because' })
    // The vector is contraindicated already: a warning status rule cannot improve it.
    const worse = applyPolicy(compile('true', 'status', 'warning'), SUBJECT, CONTEXT, FACTS)
    assert.equal(worse.status, 'contraindicated')
  })

  it('an evaluation error (an absent claim without has()) is a verifier fault, not a silent skip', () => {
    const result = applyPolicy(compile('claims.hwmodel == "ab"'), SUBJECT, CONTEXT, FACTS)
    assert.equal(result.status, 'none')
    assert.equal(result.reasons[0]!.code, 'ERR_POLICY_EVALUATION')
    assert.match(result.reasons[0]!.detail, /policy p version 1, rule r1/)
    assert.equal(applyPolicy(compile('claims.swname'), SUBJECT, CONTEXT, FACTS).status, 'none', 'a dyn condition that is no bool')
  })

  it('evaluation past the time bound ends as a verifier malfunction, naming the rule', () => {
    let t = 0
    const slowClock = () => (t += 40)
    const p = loadPolicyText(policyText([{ ...rule('false'), name: 'first' }, { ...rule('true', 'hardware', 'unsafe'), name: 'second' }]), 'json')
    const result = applyPolicy(p, SUBJECT, CONTEXT, FACTS, { now: slowClock, timeBoundMs: 50 })
    assert.equal(result.status, 'none')
    for (const v of Object.values(result.vector)) assert.equal(v, -1)
    assert.match(result.reasons[0]!.detail, /ran past its time bound of 50 ms \(rule second\)/)
  })

  it('a catastrophic regular expression on the longest text completes (RE2, linear time) and does not hold', () => {
    const facts = { ...FACTS, claims: { swname: `${'a'.repeat(INPUT_LIMITS.maxText - 1)}!` } }
    const result = applyPolicy(compile('claims.swname.matches("(a+)+$")'), SUBJECT, CONTEXT, facts)
    assert.deepEqual(result, { vector: SUBJECT.vector, reasons: SUBJECT.reasons })
  })
})

describe('policy selection', () => {
  const make = (id: string, selector: object) => loadPolicyText(JSON.stringify({ id, version: 1, selector, rules: [] }), 'json')
  const target: PolicyTarget = { tenant: 'lab', format: 'psa', mediaType: 'application/eat+cwt', profile: 'tag:psacertified.org,2023:psa#tfm', claims: { implementationId: 'aa' } }

  it('the most specific matching policy wins: tenant, then claims, then profile, then media type, then format', () => {
    const set = new PolicySet([
      make('any', {}),
      make('fmt', { formats: ['psa'] }),
      make('media', { mediaTypes: ['application/eat+cwt'] }),
      make('profile', { profiles: ['tag:psacertified.org,2023:psa#tfm'] }),
      make('impl', { claims: { implementationId: 'aa' } }),
      make('tenant', { tenant: 'lab' }),
    ])
    assert.equal(set.select(target)?.document.id, 'tenant')
    assert.equal(set.select({ ...target, tenant: 'other' })?.document.id, 'impl')
    assert.equal(set.select({ ...target, tenant: 'other', claims: {} })?.document.id, 'profile')
    assert.equal(set.select({ ...target, tenant: 'other', claims: {}, profile: '' })?.document.id, 'media')
    assert.equal(set.select({ ...target, tenant: 'other', claims: {}, profile: '', mediaType: 'application/psa' })?.document.id, 'fmt')
    assert.equal(set.select({ ...target, tenant: 'other', claims: {}, profile: '', mediaType: 'x/y', format: 'eat' })?.document.id, 'any')
    assert.equal(new PolicySet([make('fmt', { formats: ['eat'] })]).select(target), undefined)
  })

  it('selects by OEM id as hex bytes or as a PEN number', () => {
    const set = new PolicySet([make('pen', { claims: { oemid: 64242 } }), make('oui', { claims: { oemid: 'a1b2c3' } })])
    assert.equal(set.select({ ...target, claims: { oemid: 'pen:64242' } })?.document.id, 'pen')
    assert.equal(set.select({ ...target, claims: { oemid: 'a1b2c3' } })?.document.id, 'oui')
    assert.equal(set.select({ ...target, claims: {} }), undefined)
  })

  it('refuses two policies with one id or one selector', () => {
    assert.throws(() => new PolicySet([make('a', { formats: ['psa'] }), make('a', { formats: ['eat'] })]), /two policies have the id a/)
    assert.throws(() => new PolicySet([make('a', { formats: ['psa', 'eat'] }), make('b', { formats: ['eat', 'psa'] })]), /same selector/)
  })
})
