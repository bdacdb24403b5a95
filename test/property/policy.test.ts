/**
 * Property: for any claims-set (any names, nesting, sizes up to and past the input bounds), applying
 * a policy never throws; it returns a vector of AR4SI values with a reason for every claim a rule set,
 * or a verifier-malfunction result. The example policies of `policies/examples` and rules that read
 * claims of every type are applied. FUZZ_RUNS runs (default 200), FUZZ_SEED replays one.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { loadPolicyDir } from '../../src/appraisal/policy-files.js'
import { applyPolicy, type PolicySubject } from '../../src/policy/evaluate.js'
import type { AppraisalFacts } from '../../src/policy/input.js'
import { loadPolicyText } from '../../src/policy/text.js'
import { isTrustValue, TRUST_CLAIMS } from '../../src/results/trust-vector.js'
import { REPO_ROOT } from '../helpers/vectors.js'

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200)
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED'])

const READER = loadPolicyText(
  JSON.stringify({
    id: 'reader',
    version: 1,
    selector: {},
    rules: [
      { name: 'a', when: 'has(claims.dbgstat) && claims.dbgstat == "enabled"', set: 'configuration', to: 'unsafe', reason: 'a' },
      { name: 'b', when: 'has(claims.swname) && string(claims.swname).matches("^(a+)+$")', set: 'executables', to: 'unsafe', reason: 'b' },
      { name: 'c', when: 'claims.exists(k, k.startsWith("x")) || size(claims) > 3', set: 'hardware', to: 'unsafe', reason: 'c' },
      { name: 'd', when: 'has(claims.iat) && claims.iat > 5', set: 'status', to: 'warning', reason: 'd' },
    ],
  }),
  'json',
)
const POLICIES = [READER, ...loadPolicyDir(`${REPO_ROOT}policies/examples`).loaded.map((l) => l.policy)]
const SUBJECT: PolicySubject = { vector: { 'instance-identity': 2, hardware: 2, executables: 33 }, reasons: [], required: ['instance-identity'] }
const CONTEXT = { tenant: 'lab', format: 'eat' as const, mediaType: 'application/eat+cwt', profile: '', submod: 'EAT' }

const leaf = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('enabled', 'disabled', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 40 }),
)
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 70 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 6 })),
})).v
const claims = fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('dbgstat', 'swname', 'iat', 'ueid')), value, { maxKeys: 10 })

describe('policy properties', () => {
  it('any claims-set: evaluation never throws and yields AR4SI values, or a verifier fault', () => {
    fc.assert(
      fc.property(claims, fc.integer({ min: 0, max: POLICIES.length - 1 }), (c, i) => {
        const facts: AppraisalFacts = { claims: c, key: { source: 'kid' }, freshness: { by: 'iat' }, reference: { found: false, source: '', components: [] } }
        const result = applyPolicy(POLICIES[i]!, SUBJECT, CONTEXT, facts)
        for (const claim of TRUST_CLAIMS) {
          const v = result.vector[claim]
          assert.ok(v === undefined || isTrustValue(v), `${claim} = ${v}`)
        }
        if (result.status === 'none' && result.reasons[0]?.code === 'ERR_POLICY_EVALUATION') return
        for (const claim of TRUST_CLAIMS) {
          if (result.vector[claim] !== SUBJECT.vector[claim]) assert.ok(result.reasons.some((r) => r.claim === claim))
        }
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    )
  })
})
