/**
 * The shipped default policies (`policies/psa-default.yaml`, `policies/eat-default.yaml`) reproduce
 * today's results exactly. Each case below is appraised once by the pipeline with the built-in
 * comparison only; the same submodules then go through the default policies, and every vector,
 * reason list and status must be identical, while the EAR names the default policy. The cases:
 * every published vector of `test/vectors/` offered as Evidence under each media type, the PSA and
 * generic EAT cases of the appraisal unit tests (matches, mismatches, unknown hardware and software,
 * debug, failed measurements, freshness, submodules, bundles), and a property over arbitrary
 * built-in results.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import { appraise, type Appraisal, type AppraisalDeps } from '../../../src/appraisal/pipeline.js'
import { applyPolicies } from '../../../src/appraisal/policy.js'
import { loadPolicyDir } from '../../../src/appraisal/policy-files.js'
import type { SubmodAppraisal } from '../../../src/appraisal/types.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { classKey, type SpeaksFor } from '../../../src/evidence/speaks-for.js'
import { deriveStatus, TRUST_CLAIMS, type TrustClaim } from '../../../src/results/trust-vector.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { fromHex, toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { readVector, REPO_ROOT, vectorFiles } from '../../helpers/vectors.js'
import { PolicySet } from '../../../src/policy/evaluate.js'
import { loadPolicyText } from '../../../src/policy/text.js'
import type { VerifierError } from '../../../src/errors/errors.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const DEFAULTS = loadPolicyDir(`${REPO_ROOT}policies`).set
const PSA_MEDIA = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const EAT_MEDIA = 'application/eat+cwt'

const device = generateTestKey('ES256')
const stranger = generateTestKey('ES256')
const psaKey = generateTestKey('ES256')
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(3))
const BINDING: SpeaksFor = { ueids: new Set([toHex(DEVICE_UEID)]), classes: new Set(['abcd', 'ef'].map((hw) => classKey(oemidKey(64242), hw))) }
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = fromHex('00'.repeat(32))
const NONCE = new Uint8Array(32).fill(1)
const EAT_NONCE = new Uint8Array(16).fill(7)

function endorsements(): MemoryEndorsements {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, BINDING)
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  e.addPsaTrustAnchor(TENANT, INSTANCE, { instanceId: fromHex(INSTANCE), key: psaKey.publicKey, implementationId: IMPL, source: 't' })
  e.addPsaReferenceValues(TENANT, toHex(IMPL), {
    implementationId: IMPL,
    source: 't',
    softwareComponents: [{ measurementType: 'PRoT', measurementValue: new Uint8Array(32).fill(3), signerId: new Uint8Array(32).fill(4) }],
  })
  return e
}

/** One appraisal by the pipeline, built-in comparison only (no `policies`). */
async function builtin(
  evidence: Uint8Array,
  mediaType: string,
  options: { sessionNonce?: Uint8Array; issue?: boolean; policies?: PolicySet; onEvidenceFault?: (err: VerifierError) => void } = {},
): Promise<Appraisal> {
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  if (options.issue !== false) await store.nonces.issue(TENANT, EAT_NONCE, 60)
  const deps: AppraisalDeps = {
    registry: createDefaultRegistry(),
    endorsements: endorsements(),
    nonces: store.nonces,
    profiles: createDefaultProfiles(),
    clock: fixedClock(NOW),
    ...(options.policies === undefined ? {} : { policies: options.policies }),
    ...(options.onEvidenceFault === undefined ? {} : { onEvidenceFault: options.onEvidenceFault }),
  }
  return appraise({ tenant: TENANT, mediaType, evidence, sessionNonce: options.sessionNonce }, deps)
}

const view = (s: SubmodAppraisal) => ({ vector: s.vector, reasons: s.reasons, status: s.status ?? deriveStatus(s.vector, { required: s.required }) })

/** Applies the defaults to a built-in result; asserts nothing changed; returns how many submodules a policy saw. */
function assertUnchanged(result: Appraisal, mediaType: string, label: string): number {
  const format = Object.keys(result.submods).some((n) => n === 'PSA') ? 'psa' : 'eat'
  const { submods, applied } = applyPolicies(result.submods, DEFAULTS, { tenant: TENANT, mediaType, format })
  assert.deepEqual(Object.keys(submods), Object.keys(result.submods), label)
  let seen = 0
  for (const [name, s] of Object.entries(result.submods)) {
    assert.deepEqual(view(submods[name]!), view(s), `${label}: ${name}`)
    if (s.facts !== undefined) seen++
  }
  assert.equal(applied.length, seen > 0 ? 1 : 0, label)
  if (seen > 0) assert.match(applied[0]!, new RegExp(`^urn:assay:policy:${format}-default:1#sha-256:[0-9a-f]{64}$`), label)
  return seen
}

function eatClaims(extra: [number, EncodableValue][] = [], drop: number[] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [265, 'urn:ietf:rfc:rfc9711'],
    [10, EAT_NONCE],
    [256, DEVICE_UEID],
    [258, 64242],
    [259, HWMODEL],
    [262, true],
    [263, 3],
    [270, 'fw'],
    [271, ['1.2', 1]],
    [6, NOW],
  ])
  for (const k of drop) m.delete(k)
  for (const [k, v] of extra) m.set(k, v)
  return m
}

const eatToken = (c: Map<number, EncodableValue>, key: TestKeyPair = device, kid = 'device-1'): Uint8Array =>
  signSign1(key, { protectedHeader: new Map<number, EncodableValue>([[1, key.coseAlg], [4, utf8(kid)]]), payload: encodeCbor(c), tag: 'cwt' })

function psaToken(edit: (claims: Map<number, EncodableValue>) => void = () => {}): Uint8Array {
  const vector = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
  const outer = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(2396, IMPL)
  claims.set(256, fromHex(INSTANCE))
  claims.set(10, NONCE)
  claims.set(2399, [new Map<number, EncodableValue>([[1, 'PRoT'], [2, new Uint8Array(32).fill(3)], [5, new Uint8Array(32).fill(4)]])])
  edit(claims)
  return signSign1(psaKey, { payload: encodeCbor(claims) })
}

describe('the shipped default policies reproduce the built-in results', () => {
  it('loads exactly the two defaults, one per format', () => {
    assert.deepEqual(DEFAULTS.policies.map((p) => p.document.id).sort(), ['eat-default', 'psa-default'])
  })

  it('every published vector, as Evidence under each media type', async () => {
    let cases = 0
    for (const file of vectorFiles()) {
      const v = readVector<Record<string, unknown>>(file.replace(/\.json$/, ''))
      const hex = [v['token_hex'], v['cbor_hex'], v['bytes_hex']].find((x): x is string => typeof x === 'string')
      if (hex === undefined) continue
      for (const mediaType of [EAT_MEDIA, PSA_MEDIA, 'application/eat+jwt']) {
        assertUnchanged(await builtin(fromHex(hex), mediaType, { sessionNonce: NONCE }), mediaType, `${file} as ${mediaType}`)
        cases++
      }
    }
    assert.ok(cases >= 30, `${cases} vector cases`)
  })

  it('the PSA appraisal cases', async () => {
    const cases: [string, Uint8Array][] = [
      ['matches', psaToken()],
      ['unknown software component', psaToken((c) => c.set(2399, [new Map<number, EncodableValue>([[1, 'BL'], [2, new Uint8Array(32).fill(9)], [5, new Uint8Array(32).fill(4)]])]))],
      ['another Implementation ID', psaToken((c) => c.set(2396, fromHex('11'.repeat(32))))],
      ['lifecycle not secured', psaToken((c) => c.set(2395, 0x1000))],
      ['lifecycle debug', psaToken((c) => c.set(2395, 0x3001))],
      ['unknown Instance ID', psaToken((c) => c.set(256, fromHex('01' + '09'.repeat(32))))],
      ['wrong nonce', psaToken((c) => c.set(10, new Uint8Array(32).fill(2)))],
    ]
    let verified = 0
    for (const [label, token] of cases) verified += assertUnchanged(await builtin(token, PSA_MEDIA, { sessionNonce: NONCE }), PSA_MEDIA, label)
    assert.ok(verified >= 4, `${verified} verified PSA cases`)
  })

  it('the generic EAT appraisal cases', async () => {
    const nestedToken = eatToken(eatClaims([], [10, 265]))
    const cases: [string, Uint8Array, { issue?: boolean }?][] = [
      ['matches', eatToken(eatClaims())],
      ['unknown kid', eatToken(eatClaims(), device, 'nobody')],
      ['signed with another key', eatToken(eatClaims(), stranger)],
      ['unknown hwmodel', eatToken(eatClaims([[259, Uint8Array.of(0xef)]]))],
      ['unapproved version', eatToken(eatClaims([[271, ['9.9', 1]]]))],
      ['oemboot false', eatToken(eatClaims([[262, false]]))],
      ['debug enabled', eatToken(eatClaims([[263, 0]]))],
      ['a failed measurement', eatToken(eatClaims([[275, [['boot', [[['fw'], 2]]]]]]))],
      ['a UEID the key may not speak for', eatToken(eatClaims([[256, Uint8Array.of(1, ...new Uint8Array(16).fill(9))]]))],
      ['no nonce issued', eatToken(eatClaims()), { issue: false }],
      ['submodules: a claims-set and a token', eatToken(eatClaims([[266, new Map<string, EncodableValue>([['inner', new Map<number, EncodableValue>([[270, 'fw'], [271, ['1.2', 1]], [258, 64242], [259, HWMODEL]])], ['nested', nestedToken]])]]))],
    ]
    let verified = 0
    for (const [label, token, options] of cases) verified += assertUnchanged(await builtin(token, EAT_MEDIA, options), EAT_MEDIA, label)
    assert.ok(verified >= 8, `${verified} verified EAT submodules`)
  })

  it('any built-in result: a property over vectors, reasons and facts', () => {
    const value = fc.integer({ min: -128, max: 127 })
    const vector = fc.dictionary(fc.constantFrom(...TRUST_CLAIMS), value) as fc.Arbitrary<Partial<Record<TrustClaim, number>>>
    const reason = fc.record({ claim: fc.constantFrom<TrustClaim | 'status'>(...TRUST_CLAIMS, 'status'), value, code: fc.string(), detail: fc.string() })
    const claims = fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.uint8Array({ maxLength: 8 })), { maxKeys: 8 })
    const submod = fc.record({
      vector,
      reasons: fc.array(reason, { maxLength: 6 }),
      required: fc.subarray([...TRUST_CLAIMS]),
      facts: fc.record({
        claims,
        key: fc.record({ source: fc.constantFrom('kid' as const, 'ueid' as const, 'x5chain' as const, 'pinned' as const, 'psa-instance-id' as const) }),
        freshness: fc.record({ by: fc.constantFrom('session-nonce' as const, 'verifier-nonce' as const, 'iat' as const, 'parent' as const) }),
        reference: fc.record({ found: fc.boolean(), source: fc.string(), components: fc.constant([]) }),
      }),
    })
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), submod, { minKeys: 1, maxKeys: 3 }), fc.constantFrom('psa' as const, 'eat' as const), (submods, format) => {
        const { submods: out } = applyPolicies(submods, DEFAULTS, { tenant: TENANT, mediaType: EAT_MEDIA, format })
        for (const [name, s] of Object.entries(submods)) assert.deepEqual(view(out[name]!), view(s))
      }),
      { numRuns: 200 },
    )
  })
})

describe('the pipeline applies the selected policy', () => {
  const policy = (when: string) =>
    new PolicySet([loadPolicyText(JSON.stringify({ id: 'lab', version: 4, selector: { formats: ['eat'] }, rules: [{ name: 'r', when, set: 'configuration', to: 'unsafe', reason: { code: 'LAB', detail: 'lab' } }] }), 'json')])

  it('after the built-in comparison, naming the policy after the built-in one', async () => {
    const result = await builtin(eatToken(eatClaims([[263, 0]])), EAT_MEDIA, { policies: policy('claims.dbgstat == "enabled"') })
    assert.equal(result.submods['EAT']!.vector.configuration, 32)
    assert.equal(result.policyIds[0], 'urn:assay:policy:eat-builtin:1')
    assert.match(result.policyIds[1]!, /^urn:assay:policy:lab:4#sha-256:[0-9a-f]{64}$/)
  })

  it('not to Evidence that failed verification, which keeps its result and names no policy', async () => {
    const result = await builtin(eatToken(eatClaims([[263, 0]]), stranger), EAT_MEDIA, { policies: policy('true') })
    assert.equal(result.submods['EAT']!.vector.configuration, 99)
    assert.deepEqual(result.policyIds, ['urn:assay:policy:eat-builtin:1'])
  })

  it('a policy that fails is a verifier malfunction in the result and a fault in the log', async () => {
    const faults: VerifierError[] = []
    const result = await builtin(eatToken(eatClaims()), EAT_MEDIA, { policies: policy('claims.absent == 1'), onEvidenceFault: (e) => faults.push(e) })
    const eat = result.submods['EAT']!
    assert.equal(eat.status, 'none')
    assert.equal(eat.vector['instance-identity'], -1)
    assert.deepEqual(faults.map((f) => f.code), ['ERR_POLICY_EVALUATION'])
    assert.match(faults[0]!.message, /^EAT: policy lab version 4, rule r: /)
  })
})
