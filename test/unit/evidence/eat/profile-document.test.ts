/**
 * Operator-defined EAT profiles as documents (issue 9): what the schema accepts, what it refuses
 * (each refusal named by its path), and the profile a document becomes.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { ALG } from '../../../../src/cose/algorithms.js'
import {
  BUILT_IN_PROFILE_IDS,
  eatProfileDocumentSchema,
  eatProfileFromDocument,
  MAX_PROFILE_ID_LENGTH,
  PROFILE_DOCUMENT_NAMES,
} from '../../../../src/evidence/eat/profile-document.js'
import { ProfileRegistry, RFC9711_CONSTRAINED } from '../../../../src/evidence/eat/profiles.js'
import { VerifierError } from '../../../../src/errors/errors.js'

const VENDOR = 'tag:vendor.example,2026:sensor'
const valid = {
  id: VENDOR,
  envelopes: ['cwt', 'jwt'],
  coseAlgorithms: ['ES256', 'ESP256'],
  joseAlgorithms: ['ES256'],
  keySources: ['kid', 'pinned', 'x5chain', 'ueid'],
  mandatoryClaims: ['eat_nonce', 'ueid', 'oemid', 'hwmodel'],
  freshness: 'nonce',
}

/** The paths of the issues the schema raises for `doc` (empty when it accepts it). */
function refusedAt(doc: unknown): string[] {
  const parsed = eatProfileDocumentSchema.safeParse(doc)
  return parsed.success ? [] : [...new Set(parsed.error.issues.map((i) => i.path.join('.')))]
}

describe('EAT profile documents', () => {
  it('accepts a vendor profile and fills in the defaults', () => {
    const doc = eatProfileDocumentSchema.parse(valid)
    assert.equal(doc.maxAgeSeconds, 300)
    assert.equal(doc.allowIndefinite, false)
    assert.equal(doc.debugEnabled, 'contraindicated')
    assert.equal(doc.claimDependencies, true)
    assert.equal(doc.referenceValues, 'eat-class')
  })

  it('becomes a profile: COSE names to ids, claim names to fields, pinned to x5t', () => {
    const profile = eatProfileFromDocument(eatProfileDocumentSchema.parse(valid))
    assert.equal(profile.id, VENDOR)
    assert.deepEqual([...profile.coseAlgorithms], [ALG.ES256, ALG.ESP256])
    assert.deepEqual([...profile.joseAlgorithms], ['ES256'])
    assert.deepEqual(profile.keySources, ['kid', 'x5t', 'x5chain', 'ueid'])
    assert.deepEqual(profile.mandatoryClaims, ['nonces', 'ueid', 'oemid', 'hwmodel'])
    assert.deepEqual([...profile.envelopes], ['cwt', 'jwt'])
    assert.equal(profile.operatorDefined, true)
    assert.ok(Object.isFrozen(profile))
  })

  it('refuses algorithms Assay does not implement, none, and MACs', () => {
    assert.deepEqual(refusedAt({ ...valid, coseAlgorithms: ['ES256K'] }), ['coseAlgorithms.0'])
    assert.deepEqual(refusedAt({ ...valid, joseAlgorithms: ['none'] }), ['joseAlgorithms.0'])
    assert.deepEqual(refusedAt({ ...valid, joseAlgorithms: ['HS256'] }), ['joseAlgorithms.0'])
    assert.deepEqual(refusedAt({ ...valid, coseAlgorithms: ['HMAC 256/256'] }), ['coseAlgorithms.0'])
    assert.deepEqual(refusedAt({ ...valid, coseAlgorithms: [-7] }), ['coseAlgorithms.0'], 'names, not numbers')
    assert.deepEqual(refusedAt({ ...valid, joseAlgorithms: ['es256'] }), ['joseAlgorithms.0'], 'alg names are case-sensitive')
  })

  it('needs algorithms for each envelope it allows', () => {
    assert.deepEqual(refusedAt({ ...valid, coseAlgorithms: [] }), ['coseAlgorithms'])
    assert.deepEqual(refusedAt({ ...valid, envelopes: ['jwt'], coseAlgorithms: [], joseAlgorithms: [] }), ['joseAlgorithms'])
    assert.deepEqual(refusedAt({ ...valid, envelopes: ['cwt'], joseAlgorithms: [] }), [])
    assert.deepEqual(refusedAt({ ...valid, envelopes: ['cbor-bundle'] }), ['envelopes'])
    assert.deepEqual(refusedAt({ ...valid, envelopes: [] }), ['envelopes'])
    assert.deepEqual(refusedAt({ ...valid, envelopes: ['cwt', 'cwt'] }), ['envelopes'])
    assert.deepEqual(refusedAt({ ...valid, envelopes: ['cose'] }), ['envelopes.0'])
  })

  it('refuses unknown claims, key sources and fields, and duplicates', () => {
    assert.deepEqual(refusedAt({ ...valid, mandatoryClaims: ['psa-client-id'] }), ['mandatoryClaims.0'])
    assert.deepEqual(refusedAt({ ...valid, mandatoryClaims: ['ueid', 'ueid'] }), ['mandatoryClaims'])
    assert.deepEqual(refusedAt({ ...valid, keySources: ['jwk'] }), ['keySources.0'])
    assert.deepEqual(refusedAt({ ...valid, keySources: [] }), ['keySources'])
    assert.deepEqual(refusedAt({ ...valid, verifyNothing: true }), [''])
    assert.deepEqual(refusedAt({ ...valid, freshness: 'never' }), ['freshness'])
    assert.deepEqual(refusedAt({ ...valid, debugEnabled: 'ignore' }), ['debugEnabled'])
    assert.deepEqual(refusedAt({ ...valid, referenceValues: 'psa' }), ['referenceValues'])
    for (const field of ['id', 'envelopes', 'keySources', 'freshness']) {
      const { [field]: _dropped, ...rest } = valid as Record<string, unknown>
      assert.deepEqual(refusedAt(rest), [field], `${field} is required`)
    }
    assert.deepEqual(refusedAt([valid]), [''])
    assert.deepEqual(refusedAt(null), [''])
  })

  it('bounds maxAgeSeconds, the id and every list', () => {
    assert.deepEqual(refusedAt({ ...valid, freshness: 'time', maxAgeSeconds: 0 }), ['maxAgeSeconds'])
    assert.deepEqual(refusedAt({ ...valid, freshness: 'time', maxAgeSeconds: 86_401 }), ['maxAgeSeconds'])
    assert.deepEqual(refusedAt({ ...valid, freshness: 'either', maxAgeSeconds: 1.5 }), ['maxAgeSeconds'])
    assert.deepEqual(refusedAt({ ...valid, freshness: 'time', maxAgeSeconds: 86_400 }), [])
    assert.deepEqual(refusedAt({ ...valid, id: `urn:x:${'a'.repeat(MAX_PROFILE_ID_LENGTH)}` }), ['id'])
    assert.deepEqual(refusedAt({ ...valid, id: `urn:x:${'a'.repeat(MAX_PROFILE_ID_LENGTH - 6)}` }), [])
    assert.deepEqual(refusedAt({ ...valid, id: '' }), ['id'])
    assert.deepEqual(refusedAt({ ...valid, id: 'urn:has space' }), ['id'])
    assert.deepEqual(refusedAt({ ...valid, id: 'urn:"quoted"' }), ['id'])
    assert.deepEqual(refusedAt({ ...valid, id: 'urn:ünïcode' }), ['id'])
    assert.deepEqual(refusedAt({ ...valid, mandatoryClaims: new Array(10_000).fill('ueid') }), ['mandatoryClaims'])
    assert.deepEqual(refusedAt({ ...valid, comment: 'x'.repeat(1025) }), ['comment'])
  })

  it('refuses the id of every built-in profile, in any case', () => {
    for (const id of ['urn:ietf:rfc:rfc9711', 'URN:IETF:RFC:RFC9711', 'tag:psacertified.org,2023:psa#tfm', 'PSA_IOT_PROFILE_1', 'http://arm.com/psa/2.0.0']) {
      assert.deepEqual(refusedAt({ ...valid, id }), ['id'], id)
    }
    assert.ok(BUILT_IN_PROFILE_IDS.size >= 5)
  })

  it('resolves built-ins first, then the operator profile, and an unknown id stays unknown', () => {
    const registry = new ProfileRegistry([RFC9711_CONSTRAINED])
    const vendor = eatProfileFromDocument(eatProfileDocumentSchema.parse(valid))
    const asked: string[] = []
    const lookup = (id: string) => {
      asked.push(id)
      return id.toLowerCase() === VENDOR ? vendor : undefined
    }
    assert.equal(registry.resolve('urn:ietf:rfc:rfc9711', undefined, lookup), RFC9711_CONSTRAINED)
    assert.deepEqual(asked, [], 'a built-in is never looked up')
    assert.equal(registry.resolve(undefined, VENDOR.toUpperCase(), lookup), vendor)
    assert.throws(
      () => registry.resolve('urn:example:nobody', undefined, lookup),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_PROFILE_UNKNOWN',
    )
    assert.throws(
      () => registry.resolve(VENDOR, 'urn:example:nobody', lookup),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_PROFILE_MISMATCH',
    )
  })

  it('openapi.yaml lists exactly the names the schema accepts', () => {
    const spec = parse(readFileSync(new URL('../../../../openapi.yaml', import.meta.url), 'utf8')) as {
      components: { schemas: { EatProfileDocument: { properties: Record<string, { items?: { enum?: string[] } }> } } }
    }
    const properties = spec.components.schemas.EatProfileDocument.properties
    for (const [field, names] of Object.entries(PROFILE_DOCUMENT_NAMES)) {
      assert.deepEqual(properties[field]?.items?.enum, [...names], field)
    }
    assert.deepEqual(Object.keys(properties).sort(), Object.keys(eatProfileDocumentSchema.shape).sort())
  })
})
