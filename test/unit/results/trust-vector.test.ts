import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CONFIGURATION,
  CRYPTO_FAILED,
  EXECUTABLES,
  HARDWARE,
  INSTANCE_IDENTITY,
  NO_CLAIM,
  TIER_CODE,
  TRUST_CLAIMS,
  TRUST_CLAIM_KEY,
  UNEXPECTED_EVIDENCE,
  VERIFIER_MALFUNCTION,
  deriveStatus,
  isNoBetterThan,
  tierFromCode,
  tierOf,
  worstTier,
  type Tier,
  type TrustVector,
} from '../../../src/results/trust-vector.js'

describe('AR4SI claims and values', () => {
  it('numbers the eight claims 0..7 in draft order', () => {
    assert.equal(TRUST_CLAIMS.length, 8)
    TRUST_CLAIMS.forEach((claim, i) => assert.equal(TRUST_CLAIM_KEY[claim], i))
    assert.equal(TRUST_CLAIM_KEY['instance-identity'], 0)
    assert.equal(TRUST_CLAIM_KEY['sourced-data'], 7)
  })

  it('names the standard values of specs.md §6.2', () => {
    assert.deepEqual([NO_CLAIM, UNEXPECTED_EVIDENCE, VERIFIER_MALFUNCTION, CRYPTO_FAILED], [0, 1, -1, 99])
    assert.deepEqual(INSTANCE_IDENTITY, { recognized: 2, untrustworthy: 96, unrecognized: 97 })
    const executables = { approvedRuntime: 2, approvedBoot: 3, unsafe: 32, unrecognized: 33, contraindicated: 96 }
    assert.deepEqual(EXECUTABLES, executables)
    assert.deepEqual(CONFIGURATION, { approved: 2, safe: 3, unsafe: 32, unavailable: 36, unsupportable: 96 })
    assert.deepEqual(HARDWARE, { genuine: 2, unsafe: 32, contraindicated: 96, unrecognized: 97 })
    assert.ok(Object.isFrozen(EXECUTABLES))
  })

  it('codes tiers 0, 2, 32, 96 and reads only those codes back', () => {
    assert.deepEqual(TIER_CODE, { none: 0, affirming: 2, warning: 32, contraindicated: 96 })
    for (const [tier, code] of Object.entries(TIER_CODE)) assert.equal(tierFromCode(code), tier)
    for (const other of [1, 3, 33, 97, -1, '2', null]) assert.equal(tierFromCode(other), undefined)
  })
})

describe('tierOf', () => {
  const cases: ReadonlyArray<[number, Tier]> = [
    [0, 'none'],
    [1, 'none'],
    [-1, 'none'],
    [2, 'affirming'],
    [31, 'affirming'],
    [-2, 'affirming'],
    [-32, 'affirming'],
    [32, 'warning'],
    [95, 'warning'],
    [-33, 'warning'],
    [-96, 'warning'],
    [96, 'contraindicated'],
    [127, 'contraindicated'],
    [-97, 'contraindicated'],
    [-128, 'contraindicated'],
  ]
  for (const [value, tier] of cases) {
    it(`puts ${value} in ${tier}`, () => assert.equal(tierOf(value), tier))
  }

  it('covers every signed 8-bit value', () => {
    for (let v = -128; v <= 127; v++) assert.ok(TIER_CODE[tierOf(v)] !== undefined)
  })

  it('refuses values outside -128..127 and non-integers with TypeError', () => {
    for (const bad of [128, -129, 1.5, Number.NaN, Infinity]) assert.throws(() => tierOf(bad), TypeError)
  })
})

describe('worstTier and isNoBetterThan', () => {
  it('orders affirming > none > warning > contraindicated', () => {
    assert.equal(worstTier(['affirming', 'none']), 'none')
    assert.equal(worstTier(['none', 'warning']), 'warning')
    assert.equal(worstTier(['warning', 'contraindicated', 'affirming']), 'contraindicated')
    assert.equal(worstTier([]), 'affirming')
    assert.ok(isNoBetterThan('warning', 'none'))
    assert.ok(isNoBetterThan('none', 'none'))
    assert.ok(!isNoBetterThan('affirming', 'none'))
    assert.ok(!isNoBetterThan('none', 'warning'))
  })
})

describe('deriveStatus (Corrections item 3)', () => {
  const affirming: TrustVector = { 'instance-identity': 2, 'executables': 3, 'hardware': 2 }

  it('is affirming when every present claim affirms', () => {
    assert.equal(deriveStatus(affirming), 'affirming')
  })

  it('treats 0 as an absent claim', () => {
    assert.equal(deriveStatus({ ...affirming, configuration: 0 }), 'affirming')
  })

  it('is none for an empty or all-0 vector', () => {
    assert.equal(deriveStatus({}), 'none')
    assert.equal(deriveStatus({ hardware: 0 }), 'none')
  })

  it('is contraindicated when any claim is, whatever else the vector holds', () => {
    assert.equal(deriveStatus({ ...affirming, executables: 96, configuration: 32, hardware: -1 }), 'contraindicated')
    assert.equal(deriveStatus({ ...affirming, 'instance-identity': CRYPTO_FAILED }), 'contraindicated')
    assert.equal(deriveStatus({ ...affirming, hardware: -100 }), 'contraindicated')
  })

  it('is warning when any claim warns and none is contraindicated', () => {
    assert.equal(deriveStatus({ ...affirming, executables: EXECUTABLES.unrecognized }), 'warning')
    assert.equal(deriveStatus({ ...affirming, configuration: -50 }), 'warning')
    assert.equal(deriveStatus({ ...affirming, configuration: 32, hardware: -1 }), 'warning')
  })

  it('is never affirming with a verifier malfunction, unlike "highest tier wins"', () => {
    const vector = { ...affirming, configuration: VERIFIER_MALFUNCTION }
    const veraison = Math.max(...Object.values(vector).map((v) => TIER_CODE[tierOf(v)]))
    assert.equal(veraison, TIER_CODE.affirming)
    assert.equal(deriveStatus(vector), 'none')
  })

  it('is never affirming with unexpected evidence (1)', () => {
    assert.equal(deriveStatus({ ...affirming, 'file-system': UNEXPECTED_EVIDENCE }), 'none')
  })

  it('accepts non-standard affirming values', () => {
    assert.equal(deriveStatus({ hardware: -2, executables: -32 }), 'affirming')
  })

  it('is none when a required claim is absent, 0 or 1', () => {
    const required = ['instance-identity', 'hardware', 'executables', 'configuration'] as const
    assert.equal(deriveStatus(affirming, { required }), 'none')
    assert.equal(deriveStatus({ ...affirming, configuration: 0 }, { required }), 'none')
    assert.equal(deriveStatus({ ...affirming, configuration: 1 }, { required }), 'none')
    assert.equal(deriveStatus({ ...affirming, configuration: 2 }, { required }), 'affirming')
  })

  it('lets a warning beat a missing required claim', () => {
    assert.equal(deriveStatus({ executables: 32 }, { required: ['hardware'] }), 'warning')
  })

  it('refuses unknown claims, bad values and unknown required claims with TypeError', () => {
    assert.throws(() => deriveStatus({ firmware: 2 } as TrustVector), TypeError)
    assert.throws(() => deriveStatus({ hardware: 200 }), TypeError)
    assert.throws(() => deriveStatus({ hardware: 2.5 }), TypeError)
    assert.throws(() => deriveStatus({ hardware: 2 }, { required: ['firmware' as never] }), TypeError)
  })
})
