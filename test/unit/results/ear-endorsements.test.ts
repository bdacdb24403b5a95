/**
 * Assay's endorsements extension (`ear_assay_endorsements`, `ear.assay.endorsements`, CBOR −70102):
 * the documents an appraisal used, as `<id>@<version>`, written in every naming and encoding, read
 * back by the relying-party parser (and shown by `assay ear verify`), left out when empty; an outcome
 * or a received claim that is not a bounded list of `<id>@<version>` texts is refused.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeCbor, type CborMap } from '../../../src/cose/cbor.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { renderEar, earToJson } from '../../../src/main/commands/render.js'
import { parseEarClaimsCbor, parseEarClaimsJson } from '../../../src/results/claims.js'
import { EAR_CBOR_KEY, MAX_EAR_ENDORSEMENTS, earClaimsCbor, earClaimsJson, type AppraisalOutcome } from '../../../src/results/ear.js'
import { loadOutcome, storeOutcome } from '../../../src/results/stored.js'

const USED = ['psa-rv-0000@1', 'psa-ta-0102@2']
const OUTCOME: AppraisalOutcome = {
  iat: 1_767_225_600,
  verifier: { developer: 'https://assay.example', build: 'assay 0.1.0' },
  policyIds: ['urn:assay:policy:psa-builtin:1'],
  submods: { PSA: { vector: { 'instance-identity': 2 }, reasons: [] } },
  endorsements: USED,
}

const refused = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof VerifierError && e.code === 'ERR_EAR_CLAIMS_INVALID')

describe('EAR endorsements extension', () => {
  it('is written and read back in -03, Veraison naming and CBOR, and survives the stored outcome', () => {
    const ear03 = earClaimsJson(OUTCOME)
    assert.deepEqual(ear03['ear_assay_endorsements'], USED)
    assert.deepEqual(parseEarClaimsJson(JSON.stringify(ear03)).endorsements, USED)
    const veraison = earClaimsJson(OUTCOME, 'veraison')
    assert.deepEqual(veraison['ear.assay.endorsements'], USED)
    assert.deepEqual(parseEarClaimsJson(JSON.stringify(veraison)).endorsements, USED)
    const cbor = earClaimsCbor(OUTCOME)
    assert.deepEqual(cbor.get(EAR_CBOR_KEY.endorsements), USED)
    const parsed = parseEarClaimsCbor(encodeCbor(cbor))
    assert.deepEqual(parsed.endorsements, USED)
    assert.equal(parsed.extensions.has(EAR_CBOR_KEY.endorsements), false, 'a known claim, not an unknown extension')
    assert.deepEqual(loadOutcome(storeOutcome(OUTCOME)).endorsements, USED)
  })

  it('is shown by the CLI report and its JSON', () => {
    const claims = parseEarClaimsJson(JSON.stringify(earClaimsJson(OUTCOME)))
    assert.match(renderEar(claims), /^endorsements used: psa-rv-0000@1, psa-ta-0102@2$/m)
    assert.deepEqual(earToJson(claims)['endorsements'], USED)
  })

  it('is left out when no document was used', () => {
    for (const endorsements of [undefined, []]) {
      const claims = earClaimsJson({ ...OUTCOME, endorsements })
      assert.equal('ear_assay_endorsements' in claims, false)
      assert.equal(earClaimsCbor({ ...OUTCOME, endorsements }).has(EAR_CBOR_KEY.endorsements), false)
      assert.equal(parseEarClaimsJson(JSON.stringify(claims)).endorsements, undefined)
    }
  })

  it('refuses an outcome whose endorsements are not <id>@<version> texts', () => {
    for (const endorsements of [['no-version'], ['a@0'], ['a@1.5'], ['a b@1'], [`${'x'.repeat(257)}@1`], Array.from({ length: MAX_EAR_ENDORSEMENTS + 1 }, (_, i) => `d${i}@1`)]) {
      assert.throws(() => earClaimsJson({ ...OUTCOME, endorsements }), TypeError, JSON.stringify(endorsements).slice(0, 60))
    }
  })

  it('refuses a received claim that is not a bounded array of <id>@<version> texts', () => {
    const ear03 = earClaimsJson(OUTCOME)
    for (const bad of ['psa-ta@1', [1], ['x'], ['a@1', null], Array.from({ length: MAX_EAR_ENDORSEMENTS + 1 }, (_, i) => `d${i}@1`)]) {
      refused(() => parseEarClaimsJson(JSON.stringify({ ...ear03, ear_assay_endorsements: bad })))
    }
    const cbor = new Map(earClaimsCbor(OUTCOME)) as CborMap
    cbor.set(EAR_CBOR_KEY.endorsements, [new Uint8Array(3)])
    refused(() => parseEarClaimsCbor(encodeCbor(cbor)))
  })
})
