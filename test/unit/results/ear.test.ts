import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CborFloat, decodeCbor, encodeCbor, type CborMap } from '../../../src/cose/cbor.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { parseEarClaimsCbor, parseEarClaimsJson } from '../../../src/results/claims.js'
import {
  EAR_CBOR_KEY,
  EAR_PROFILE,
  earClaimsCbor,
  earClaimsJson,
  type AppraisalOutcome,
  type EarNaming,
} from '../../../src/results/ear.js'
import { CRYPTO_FAILED, EXECUTABLES } from '../../../src/results/trust-vector.js'
import { base64urlEncode } from '../../../src/util/base64url.js'
import { concatBytes, fromHex, toHex } from '../../../src/util/bytes.js'

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

const nonce = new Uint8Array(32).fill(0xab)
const REASON = {
  claim: 'executables',
  value: 33,
  code: 'ERR_SW_COMPONENT_UNKNOWN',
  detail: 'BL 1.2.3 is not a reference value',
} as const
const evidenceNonce = new Uint8Array(16).fill(0x01)

const OUTCOME: AppraisalOutcome = {
  iat: 1_767_225_600,
  exp: 1_767_229_200,
  nonce,
  verifier: { developer: 'https://assay.example', build: 'assay 0.1.0' },
  policyIds: ['urn:assay:policy:base:1', 'urn:assay:policy:psa-builtin:1'],
  submods: {
    PSA: {
      vector: { 'hardware': 2, 'instance-identity': 2, 'executables': EXECUTABLES.unrecognized },
      profile: 'tag:psacertified.org,2023:psa#tfm',
      nonce: evidenceNonce,
      reasons: [REASON],
    },
    TPM: { vector: {}, reasons: [] },
  },
  rawEvidence: Uint8Array.of(0xde, 0xad, 0xbe, 0xef),
}

/** A JSON claims-set as a test edits it, and one of its submodules ("PSA" unless named). */
type Claims = Record<string, unknown>
const psaOf = (claims: Claims, label = 'PSA'): Claims => (claims['submods'] as Record<string, Claims>)[label]!

describe('earClaimsJson', () => {
  it('writes the -03 claims-set', () => {
    assert.deepEqual(earClaimsJson(OUTCOME), {
      eat_profile: 'tag:ietf.org,2026:rats/ear#03',
      iat: 1_767_225_600,
      exp: 1_767_229_200,
      ear_verifier_id: { developer: 'https://assay.example', build: 'assay 0.1.0' },
      ear_status: 'warning',
      eat_nonce: base64urlEncode(nonce),
      ear_raw_evidence: '3q2-7w',
      submods: {
        PSA: {
          ear_status: 'warning',
          ear_trustworthiness_vector: { 'instance-identity': 2, 'executables': 33, 'hardware': 2 },
          ear_appraisal_policy_ids: ['urn:assay:policy:base:1', 'urn:assay:policy:psa-builtin:1'],
          eat_profile: 'tag:psacertified.org,2023:psa#tfm',
          eat_nonce: 'AQEBAQEBAQEBAQEBAQEBAQ',
          ear_assay_reasons: [{ ...REASON }],
        },
        TPM: {
          ear_status: 'none',
          ear_appraisal_policy_ids: ['urn:assay:policy:base:1', 'urn:assay:policy:psa-builtin:1'],
        },
      },
    })
  })

  it('writes the Veraison claims-set: dotted names, last policy id, no top-level status', () => {
    assert.deepEqual(earClaimsJson(OUTCOME, 'veraison'), {
      'eat_profile': 'tag:github.com,2023:veraison/ear',
      'iat': 1_767_225_600,
      'exp': 1_767_229_200,
      'ear.verifier-id': { developer: 'https://assay.example', build: 'assay 0.1.0' },
      'eat_nonce': base64urlEncode(nonce),
      'ear.raw-evidence': '3q2-7w',
      'submods': {
        PSA: {
          'ear.status': 'warning',
          'ear.trustworthiness-vector': { 'instance-identity': 2, 'executables': 33, 'hardware': 2 },
          'ear.appraisal-policy-id': 'urn:assay:policy:psa-builtin:1',
          'ear.assay.reasons': [{ ...REASON }],
        },
        TPM: { 'ear.status': 'none', 'ear.appraisal-policy-id': 'urn:assay:policy:psa-builtin:1' },
      },
    })
  })

  it('uses a given status when it is no better than the vector, and the worst one at the top', () => {
    const outcome = {
      ...OUTCOME,
      submods: { a: { vector: { hardware: 2 }, status: 'contraindicated' as const, reasons: [] } },
    }
    const claims = earClaimsJson(outcome)
    assert.equal(claims['ear_status'], 'contraindicated')
    assert.equal(psaOf(claims, 'a')['ear_status'], 'contraindicated')
  })

  it('keeps a __proto__ label as an own member', () => {
    const claims = earClaimsJson({ ...OUTCOME, submods: { ['__proto__']: { vector: { hardware: 2 }, reasons: [] } } })
    const submods = claims['submods'] as object
    assert.ok(Object.hasOwn(submods, '__proto__'))
    assert.equal(Object.getPrototypeOf(submods), Object.prototype)
    assert.equal(parseEarClaimsJson(JSON.stringify(claims)).submods.get('__proto__')?.status, 'affirming')
  })

  it('refuses malformed outcomes with TypeError', () => {
    const psa = OUTCOME.submods['PSA']!
    const bad: Array<[string, unknown]> = [
      ['no submods', { ...OUTCOME, submods: {} }],
      ['value above 127', { ...OUTCOME, submods: { a: { vector: { hardware: 128 }, reasons: [] } } }],
      ['value below -128', { ...OUTCOME, submods: { a: { vector: { hardware: -129 }, reasons: [] } } }],
      ['fractional value', { ...OUTCOME, submods: { a: { vector: { hardware: 2.5 }, reasons: [] } } }],
      ['unknown claim', { ...OUTCOME, submods: { a: { vector: { firmware: 2 }, reasons: [] } } }],
      ['status better than vector', { ...OUTCOME, submods: { a: { ...psa, status: 'affirming' } } }],
      ['unknown status', { ...OUTCOME, submods: { a: { ...psa, status: 'great' } } }],
      ['empty label', { ...OUTCOME, submods: { '': psa } }],
      ['short nonce', { ...OUTCOME, nonce: new Uint8Array(7) }],
      ['long submod nonce', { ...OUTCOME, submods: { a: { ...psa, nonce: new Uint8Array(65) } } }],
      ['float iat', { ...OUTCOME, iat: 1.5 }],
      ['exp before iat', { ...OUTCOME, exp: OUTCOME.iat - 1 }],
      ['empty developer', { ...OUTCOME, verifier: { developer: '', build: 'x' } }],
      ['empty policy id', { ...OUTCOME, policyIds: [''] }],
      ['malformed reason', { ...OUTCOME, submods: { a: { ...psa, reasons: [{ ...REASON, claim: 'x' }] } } }],
    ]
    for (const [name, outcome] of bad) {
      assert.throws(() => earClaimsJson(outcome as AppraisalOutcome), TypeError, name)
      assert.throws(() => earClaimsCbor(outcome as AppraisalOutcome), TypeError, name)
    }
    assert.throws(() => earClaimsJson(OUTCOME, 'ear-02' as EarNaming), TypeError)
  })
})

describe('earClaimsCbor', () => {
  it('writes the integer-keyed claims-set of specs.md §5.2', () => {
    const K = EAR_CBOR_KEY
    const policies = ['urn:assay:policy:base:1', 'urn:assay:policy:psa-builtin:1']
    const reasons = [
      new Map<string, unknown>([
        ['claim', 'executables'],
        ['value', 33],
        ['code', 'ERR_SW_COMPONENT_UNKNOWN'],
        ['detail', 'BL 1.2.3 is not a reference value'],
      ]),
    ]
    assert.deepEqual(
      earClaimsCbor(OUTCOME),
      new Map<number, unknown>([
        [265, EAR_PROFILE.ear03],
        [6, 1_767_225_600],
        [4, 1_767_229_200],
        [1004, new Map<number, string>([[0, 'https://assay.example'], [1, 'assay 0.1.0']])],
        [1000, 32],
        [10, nonce],
        [1002, OUTCOME.rawEvidence],
        [
          266,
          new Map<string, unknown>([
            [
              'PSA',
              new Map<number, unknown>([
                [1000, 32],
                [1001, new Map([[0, 2], [2, 33], [4, 2]])],
                [1003, policies],
                [265, 'tag:psacertified.org,2023:psa#tfm'],
                [10, evidenceNonce],
                [K.reasons, reasons],
              ]),
            ],
            ['TPM', new Map<number, unknown>([[1000, 0], [1003, policies]])],
          ]),
        ],
      ]),
    )
    assert.equal(K.reasons, -70100)
  })

  it('equals the strict decoding of its own encoding', () => {
    const claims = earClaimsCbor(OUTCOME)
    assert.deepEqual(decodeCbor(encodeCbor(claims)), claims)
  })
})

describe('EAR claims round trips', () => {
  for (const naming of ['ear-03', 'veraison'] as const) {
    it(`JSON, ${naming} naming`, () => {
      const claims = parseEarClaimsJson(JSON.stringify(earClaimsJson(OUTCOME, naming)))
      assert.equal(claims.encoding, 'json')
      assert.equal(claims.naming, naming)
      assert.equal(claims.iat, OUTCOME.iat)
      assert.equal(claims.exp, OUTCOME.exp)
      assert.deepEqual(claims.verifier, OUTCOME.verifier)
      assert.equal(claims.nonce, base64urlEncode(nonce))
      assert.deepEqual(claims.rawEvidence, OUTCOME.rawEvidence)
      assert.equal(claims.status, naming === 'ear-03' ? 'warning' : undefined)
      const psa = claims.submods.get('PSA')!
      assert.equal(psa.status, 'warning')
      assert.deepEqual(psa.vector, { 'instance-identity': 2, 'executables': 33, 'hardware': 2 })
      assert.deepEqual(psa.policyIds, naming === 'ear-03' ? OUTCOME.policyIds : ['urn:assay:policy:psa-builtin:1'])
      assert.deepEqual(psa.reasons, OUTCOME.submods['PSA']!.reasons)
      assert.equal(psa.profile, naming === 'ear-03' ? 'tag:psacertified.org,2023:psa#tfm' : undefined)
      assert.equal(psa.extensions.size, 0)
      assert.equal(claims.submods.get('TPM')?.status, 'none')
      assert.equal(claims.submods.get('TPM')?.vector, undefined)
      assert.equal(claims.extensions.size, 0)
    })
  }

  it('CBOR', () => {
    const claims = parseEarClaimsCbor(encodeCbor(earClaimsCbor(OUTCOME)))
    assert.equal(claims.encoding, 'cbor')
    assert.equal(claims.naming, 'ear-03')
    assert.equal(claims.status, 'warning')
    assert.deepEqual(claims.nonce, nonce)
    assert.deepEqual(claims.rawEvidence, OUTCOME.rawEvidence)
    const psa = claims.submods.get('PSA')!
    assert.deepEqual(psa.vector, { 'instance-identity': 2, 'executables': 33, 'hardware': 2 })
    assert.deepEqual(psa.nonce, evidenceNonce)
    assert.deepEqual(psa.policyIds, OUTCOME.policyIds)
    assert.deepEqual(psa.reasons, OUTCOME.submods['PSA']!.reasons)
    assert.equal(claims.submods.get('TPM')?.status, 'none')
  })
})


describe('parseEarClaimsJson rejections', () => {
  const base = (): Claims => earClaimsJson(OUTCOME)
  const parse = (claims: unknown) => () => parseEarClaimsJson(JSON.stringify(claims))

  it('requires eat_profile, iat, verifier id and a non-empty submods with statuses', () => {
    for (const name of ['eat_profile', 'iat', 'ear_verifier_id', 'submods']) {
      const claims = base()
      delete claims[name]
      rejects(parse(claims), 'ERR_EAR_CLAIMS_INVALID')
    }
    rejects(parse({ ...base(), submods: {} }), 'ERR_EAR_CLAIMS_INVALID', /at least one/)
    const claims = base()
    delete psaOf(claims)['ear_status']
    rejects(parse(claims), 'ERR_EAR_CLAIMS_INVALID')
    rejects(parse({ ...base(), ear_verifier_id: { developer: 'x' } }), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('refuses a profile it does not know, and dotted names under the -03 profile', () => {
    const other = { ...base(), eat_profile: 'tag:example.com,2026:other' }
    rejects(parse(other), 'ERR_EAR_CLAIMS_INVALID', /not an EAR profile/)
    const dotted = earClaimsJson(OUTCOME, 'veraison')
    rejects(parse({ ...dotted, eat_profile: EAR_PROFILE.ear03 }), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('refuses iat, exp and nbf written with a fraction or exponent', () => {
    const text = JSON.stringify(base())
    for (const [from, to] of [
      ['"iat":1767225600', '"iat":1.7672256e+09'],
      ['"iat":1767225600', '"iat":1767225600.0'],
      ['"exp":1767229200', '"exp":1767229200.5'],
    ] as const) {
      rejects(() => parseEarClaimsJson(text.replace(from, to)), 'ERR_EAR_FLOAT_TIME')
    }
    rejects(parse({ ...base(), nbf: 1e30 }), 'ERR_EAR_FLOAT_TIME')
    rejects(parse({ ...base(), iat: '1767225600' }), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('refuses a status better than the vector or than the worst submodule', () => {
    const claims = base()
    psaOf(claims)['ear_status'] = 'affirming'
    rejects(parse(claims), 'ERR_EAR_CLAIMS_INVALID', /better than the vector/)
    rejects(parse({ ...base(), ear_status: 'affirming' }), 'ERR_EAR_CLAIMS_INVALID', /worst submodule/)
    assert.doesNotThrow(parse({ ...base(), ear_status: 'contraindicated' }))
  })

  it('refuses malformed vectors', () => {
    for (const vector of [{}, { firmware: 2 }, { hardware: 128 }, { hardware: 2.5 }, { hardware: '2' }, [2]]) {
      const claims = base()
      psaOf(claims)['ear_trustworthiness_vector'] = vector
      psaOf(claims)['ear_status'] = 'none'
      rejects(parse(claims), 'ERR_EAR_CLAIMS_INVALID')
    }
  })

  it('keeps JSON nonces as received, 8..88 characters of any alphabet', () => {
    assert.equal(parseEarClaimsJson(JSON.stringify({ ...base(), eat_nonce: 'abc+/=-_' })).nonce, 'abc+/=-_')
    assert.equal(parseEarClaimsJson(JSON.stringify({ ...base(), eat_nonce: 'x'.repeat(88) })).nonce, 'x'.repeat(88))
    rejects(parse({ ...base(), eat_nonce: 'x'.repeat(7) }), 'ERR_EAR_CLAIMS_INVALID')
    rejects(parse({ ...base(), eat_nonce: 'x'.repeat(89) }), 'ERR_EAR_CLAIMS_INVALID')
    rejects(parse({ ...base(), eat_nonce: 12345678 }), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('checks policy ids per naming', () => {
    const claims = base()
    psaOf(claims)['ear_appraisal_policy_ids'] = 'urn:one'
    rejects(parse(claims), 'ERR_EAR_CLAIMS_INVALID')
    const dotted = earClaimsJson(OUTCOME, 'veraison')
    psaOf(dotted)['ear.appraisal-policy-id'] = ['urn:one']
    rejects(parse(dotted), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('keeps unknown claims as extensions', () => {
    const claims = parseEarClaimsJson(JSON.stringify({ ...base(), 'ear.veraison.tee-info': { x: 1.5 } }))
    assert.deepEqual(claims.extensions.get('ear.veraison.tee-info'), { x: 1.5 })
  })

  it('refuses duplicate members, non-objects and bad UTF-8 as malformed', () => {
    const text = JSON.stringify(base())
    rejects(() => parseEarClaimsJson(text.replace('{"eat_profile"', '{"iat":1,"eat_profile"')), 'ERR_EAR_MALFORMED')
    rejects(() => parseEarClaimsJson('[]'), 'ERR_EAR_MALFORMED')
    rejects(() => parseEarClaimsJson(Uint8Array.of(0x7b, 0xff, 0x7d)), 'ERR_EAR_MALFORMED')
  })
})

describe('parseEarClaimsCbor rejections', () => {
  const base = () => earClaimsCbor(OUTCOME) as CborMap

  it('refuses a float iat', () => {
    const claims = base()
    claims.set(6, new CborFloat(1_767_225_600))
    rejects(() => parseEarClaimsCbor(claims), 'ERR_EAR_FLOAT_TIME')
    // encodeCbor refuses an integral CborFloat (its codec would write an integer), so the float64 head is patched in.
    claims.set(6, 0x01020304)
    const bytes = encodeCbor(claims)
    const at = toHex(bytes).indexOf('061a01020304') / 2
    assert.ok(at > 0)
    const patched = concatBytes(bytes.subarray(0, at + 1), fromHex('fb41da556e40000000'), bytes.subarray(at + 6))
    rejects(() => parseEarClaimsCbor(patched), 'ERR_EAR_FLOAT_TIME')
  })

  it('refuses tier codes that are not tiers, and inconsistent statuses', () => {
    const claims = base()
    claims.set(1000, 1)
    rejects(() => parseEarClaimsCbor(claims), 'ERR_EAR_CLAIMS_INVALID')
    claims.set(1000, 2)
    rejects(() => parseEarClaimsCbor(claims), 'ERR_EAR_CLAIMS_INVALID', /worst submodule/)
  })

  it('refuses vector keys outside 0..7 and short nonces', () => {
    const claims = base()
    const psa = (claims.get(266) as CborMap).get('PSA') as CborMap
    psa.set(1001, new Map([[8, 2]]))
    rejects(() => parseEarClaimsCbor(claims), 'ERR_EAR_CLAIMS_INVALID')
    const other = base()
    other.set(10, new Uint8Array(7))
    rejects(() => parseEarClaimsCbor(other), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('reports undecodable bytes as malformed', () => {
    rejects(() => parseEarClaimsCbor(Uint8Array.of(0xa1, 0x01)), 'ERR_EAR_MALFORMED')
    rejects(() => parseEarClaimsCbor(encodeCbor([1, 2])), 'ERR_EAR_MALFORMED')
  })

  it('reads Veraison single-text policy ids under 1003 only with a Veraison profile', () => {
    const claims = base()
    claims.set(265, EAR_PROFILE.veraison)
    ;((claims.get(266) as CborMap).get('PSA') as CborMap).set(1003, 'urn:one')
    assert.deepEqual(parseEarClaimsCbor(claims).submods.get('PSA')?.policyIds, ['urn:one'])
    claims.set(265, EAR_PROFILE.ear03)
    rejects(() => parseEarClaimsCbor(claims), 'ERR_EAR_CLAIMS_INVALID')
  })

  it('still accepts crypto-failed contraindicated vectors', () => {
    const outcome = { ...OUTCOME, submods: { a: { vector: { 'instance-identity': CRYPTO_FAILED }, reasons: [] } } }
    assert.equal(parseEarClaimsCbor(earClaimsCbor(outcome)).status, 'contraindicated')
  })
})

describe('the attester extension (ear_assay_attester, -70101)', () => {
  const attester = {
    ueid: Uint8Array.of(1, ...new Uint8Array(16).fill(7)),
    keySource: 'x5chain',
    x5tS256: new Uint8Array(32).fill(0x11),
    spkiS256: new Uint8Array(32).fill(0x22),
  } as const
  const withAttester: AppraisalOutcome = { ...OUTCOME, submods: { ...OUTCOME.submods, EAT: { vector: { 'instance-identity': 2 }, reasons: [], attester } } }

  it('is written per submodule in both namings and in CBOR, and read back the same', () => {
    for (const naming of ['ear-03', 'veraison'] as const) {
      const json = earClaimsJson(withAttester, naming)
      const name = naming === 'ear-03' ? 'ear_assay_attester' : 'ear.assay.attester'
      assert.deepEqual(psaOf(json, 'EAT')[name], {
        'ueid': base64urlEncode(attester.ueid),
        'key-source': 'x5chain',
        'x5t#S256': base64urlEncode(attester.x5tS256),
        'spki#S256': base64urlEncode(attester.spkiS256),
      })
      const parsed = parseEarClaimsJson(JSON.stringify(json))
      assert.deepEqual(parsed.submods.get('EAT')!.attester, attester)
      assert.equal(parsed.submods.get('EAT')!.extensions.size, 0, 'not left as an unknown extension')
      assert.equal(parsed.submods.get('PSA')!.attester, undefined)
    }
    const cbor = earClaimsCbor(withAttester)
    const eat = (cbor.get(EAR_CBOR_KEY.submods) as CborMap).get('EAT') as CborMap
    assert.ok((eat.get(-70101) as CborMap).get('ueid') instanceof Uint8Array)
    const decoded = parseEarClaimsCbor(encodeCbor(cbor))
    assert.deepEqual(decoded.submods.get('EAT')!.attester, attester)
  })

  it('names a kid as text', () => {
    const kid: AppraisalOutcome = { ...OUTCOME, submods: { K: { vector: {}, reasons: [], attester: { keySource: 'kid', kid: 'sensor-7' } } } }
    assert.deepEqual(parseEarClaimsJson(JSON.stringify(earClaimsJson(kid))).submods.get('K')!.attester, { keySource: 'kid', kid: 'sensor-7' })
  })

  it('refuses a malformed attester, when writing (TypeError) and when reading (ERR_EAR_CLAIMS_INVALID)', () => {
    const bad = (a: unknown): AppraisalOutcome => ({ ...OUTCOME, submods: { X: { vector: {}, reasons: [], attester: a as never } } })
    assert.throws(() => earClaimsJson(bad({ keySource: 'guess' })), TypeError)
    assert.throws(() => earClaimsJson(bad({ keySource: 'kid', ueid: new Uint8Array(3) })), TypeError)
    assert.throws(() => earClaimsCbor(bad({ keySource: 'x5t', x5tS256: new Uint8Array(20) })), TypeError)

    const json = earClaimsJson(withAttester)
    const edit = (change: (a: Record<string, unknown>) => void) => {
      const copy = JSON.parse(JSON.stringify(json)) as Claims
      change(psaOf(copy, 'EAT')['ear_assay_attester'] as Record<string, unknown>)
      return JSON.stringify(copy)
    }
    rejects(() => parseEarClaimsJson(edit((a) => (a['key-source'] = 'guess'))), 'ERR_EAR_CLAIMS_INVALID', /key-source/)
    rejects(() => parseEarClaimsJson(edit((a) => (a['x5t#S256'] = 'AAAA'))), 'ERR_EAR_CLAIMS_INVALID', /x5t#S256 must be 32 bytes/)
    rejects(() => parseEarClaimsJson(edit((a) => (a['ueid'] = '!!'))), 'ERR_EAR_CLAIMS_INVALID', /ueid/)
    rejects(() => parseEarClaimsJson(edit((a) => (a['kid'] = 7))), 'ERR_EAR_CLAIMS_INVALID', /kid/)
    const notMap = JSON.parse(JSON.stringify(json)) as Claims
    psaOf(notMap, 'EAT')['ear_assay_attester'] = 'x'
    rejects(() => parseEarClaimsJson(JSON.stringify(notMap)), 'ERR_EAR_CLAIMS_INVALID', /attester is not a map/)

    const cbor = earClaimsCbor(withAttester)
    ;(((cbor.get(EAR_CBOR_KEY.submods) as CborMap).get('EAT') as CborMap).get(-70101) as CborMap).set('ueid', 'text')
    rejects(() => parseEarClaimsCbor(encodeCbor(cbor)), 'ERR_EAR_CLAIMS_INVALID', /ueid/)
  })
})
