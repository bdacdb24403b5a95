/**
 * Conformance of src/corim over the published CoRIM/CoMID vectors (every vector in test/vectors/
 * whose format is corim-* or comid, 23 today). Each vector checks its `expected.outcome`:
 * - `valid`: decodes, passes its profile, and maps (the mapped counts are asserted);
 * - `valid-signature` (and the signed `valid`): verifies with the vector's key on a clock inside
 *   the signature validity, and is refused as expired after it and as not yet valid before it;
 * - `invalid`: refused with the code (and message part) its reason describes;
 * - `parse-only`: decodes (no profile rules, no mapping asserted).
 * The runner (runner.test.ts) leaves exactly these formats to this file.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeComid } from '../../src/corim/comid.js'
import { decodeUnsignedCorim, processCorim, type CorimTrust } from '../../src/corim/corim.js'
import { mapCorim } from '../../src/corim/map.js'
import { CorimProfileRegistry, type CorimProfile } from '../../src/corim/profile.js'
import { BUILT_IN_PROFILES } from '../../src/corim/profiles/index.js'
import { importJwk } from '../../src/crypto/keys.js'
import type { ErrorCode } from '../../src/errors/codes.js'
import { VerifierError } from '../../src/errors/errors.js'
import { fromHex, toHex } from '../../src/util/bytes.js'
import { generateTestKey } from '../helpers/cose.js'
import { NEGATIVE, SIGNED_VECTORS_INSIDE, corimVectors, type CorimVector } from '../helpers/corim-vectors.js'

type Vector = CorimVector

// Selected by format, as runner.test.ts leaves them: a new CoRIM vector, whatever its file name, runs here.
const vectors: Vector[] = corimVectors()

const isText = (v: unknown) => typeof v === 'string'
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v)

/** Profiles the Veraison test suites register (profile_handling_test.go, example_profile_test.go). */
const TEST_PROFILE: CorimProfile = {
  ids: [{ type: 'uri', value: 'http://example.com/test-profile' }],
  name: 'veraison test profile',
  extensions: {
    corimMap: new Map([[-1, { name: 'Extension1', accepts: isText }]]),
    entity: new Map([[-1, { name: 'Address', accepts: isText }]]),
    measurementValues: new Map([[-1, { name: 'Timestamp', accepts: isInt }]]),
  },
}
const EXAMPLE_PROFILE: CorimProfile = {
  ids: [{ type: 'uri', value: 'http://example.com/example-profile' }],
  name: 'veraison example profile',
  extensions: {
    // The Go example profile does not define corim-map -1 (Go ignores it); Assay refuses undefined
    // extension keys, so the registration here declares it.
    corimMap: new Map([[-1, { name: 'extension', accepts: isText }]]),
    entity: new Map([[-1, { name: 'address', accepts: isText }]]),
    measurementValues: new Map([[-1, { name: 'timestamp', accepts: isInt }]]),
  },
  validate: (corim) => {
    for (const c of corim.comids) if (c.language !== 'en-GB') throw new VerifierError('ERR_CORIM_PROFILE_VIOLATION', 'language must be en-GB')
  },
}

function registry(extra: readonly CorimProfile[] = []): CorimProfileRegistry {
  return new CorimProfileRegistry([...BUILT_IN_PROFILES, ...extra])
}

/** Signature validity of the Veraison signed CoRIMs: 2021-12-31 .. 2025-12-31. */
const INSIDE = SIGNED_VECTORS_INSIDE
const AFTER = Date.UTC(2026, 0, 1) / 1000
const BEFORE = Date.UTC(2021, 0, 1) / 1000
const NOW = Date.UTC(2026, 11, 3) / 1000

/** What each `valid` vector maps to: counts per kind. */
const MAPPED: Readonly<Record<string, { psaRefs: number; components: number; anchors: number; generic: number }>> = {
  'veraison-corim-psa-profile-valid': { psaRefs: 1, components: 1, anchors: 1, generic: 0 },
  'veraison-services-corim-psa-valid': { psaRefs: 1, components: 3, anchors: 2, generic: 0 },
  'veraison-corim-unsigned-good': { psaRefs: 0, components: 0, anchors: 0, generic: 1 },
  'veraison-corim-unsigned-with-extensions': { psaRefs: 0, components: 0, anchors: 0, generic: 1 },
  'veraison-corim-signed-with-extensions': { psaRefs: 0, components: 0, anchors: 0, generic: 1 },
}

function rejects(fn: () => unknown, code: ErrorCode, includes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (includes !== undefined) assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`)
    return true
  })
}

function trustFor(v: Vector): CorimTrust {
  return { keys: v.key === null ? [] : [importJwk(v.key)], acceptUnsigned: true }
}

function profilesFor(v: Vector): CorimProfileRegistry {
  const known = v.verifier_inputs?.known_profiles ?? []
  return registry(known.includes('http://example.com/test-profile') ? [TEST_PROFILE] : [])
}

describe('CoRIM conformance vectors', () => {
  it('finds all 23 CoRIM/CoMID vectors, each with a handled outcome', () => {
    assert.ok(vectors.length >= 23, `${vectors.length} CoRIM/CoMID vectors`)
    for (const v of vectors) {
      assert.ok(['valid', 'valid-signature', 'invalid', 'parse-only'].includes(v.expected.outcome), `${v.id}: ${v.expected.outcome}`)
      if (v.expected.outcome === 'invalid') assert.ok(NEGATIVE[v.id] !== undefined, `${v.id} has no expected refusal`)
      if (v.expected.outcome === 'valid' && v.format.startsWith('corim-unsigned')) assert.ok(MAPPED[v.id] !== undefined, v.id)
    }
  })

  for (const v of vectors) {
    const bytes = fromHex(v.token_hex)
    const signed = v.format.startsWith('corim-signed')

    it(`${v.id} (${v.expected.outcome})`, () => {
      if (v.format.startsWith('comid')) {
        assert.equal(v.expected.outcome, 'parse-only')
        const comid = decodeComid(bytes)
        const tagId = v.decoded?.comid?.['1']?.['0']?.hex
        assert.equal(toHex(comid.tagId as Uint8Array), tagId)
        assert.equal(comid.digest.length, 32)
        return
      }
      const profiles = profilesFor(v)
      switch (v.expected.outcome) {
        case 'invalid': {
          const { code, includes } = NEGATIVE[v.id]!
          rejects(() => processCorim(bytes, { profiles, trust: trustFor(v), nowSeconds: signed ? INSIDE : NOW }), code, includes)
          return
        }
        case 'parse-only': {
          const extra = v.id === 'veraison-corim-unsigned-example-profile' ? [EXAMPLE_PROFILE] : []
          const { corim } = decodeUnsignedCorim(bytes, { profiles: registry(extra) })
          assert.ok(corim.comids.length > 0)
          if (extra.length > 0) {
            assert.equal(corim.entities.length, 0)
            assert.equal(corim.comids[0]!.entities[0]!.extensions.get(-1), '123 Fake Street')
            const timestamps = corim.comids[0]!.referenceTriples[0]!.measurements.map((m) => m.mval.extensions.get(-1))
            assert.deepEqual(timestamps, [1720782190, 1720782190, 1720782190])
          }
          return
        }
        case 'valid':
        case 'valid-signature': {
          const options = { profiles, trust: trustFor(v), nowSeconds: signed ? INSIDE : NOW }
          const { corim, profile } = processCorim(bytes, options)
          const mapped = mapCorim(corim, profile)
          const expected = MAPPED[v.id]
          if (expected !== undefined) {
            assert.equal(mapped.psaReferenceValues.length, expected.psaRefs)
            assert.equal(
              mapped.psaReferenceValues.reduce((n, r) => n + r.values.softwareComponents.length, 0),
              expected.components,
            )
            assert.equal(mapped.psaTrustAnchors.length, expected.anchors)
            assert.equal(mapped.corimReferenceValues.length, expected.generic)
          }
          if (signed) {
            assert.equal(corim.signature?.signer.name, 'ACME Ltd signing key')
            assert.equal(corim.signature?.validity?.notAfter, Date.UTC(2025, 11, 31) / 1000)
            rejects(() => processCorim(bytes, { ...options, nowSeconds: AFTER }), 'ERR_CORIM_EXPIRED')
            rejects(() => processCorim(bytes, { ...options, nowSeconds: BEFORE }), 'ERR_CORIM_NOT_YET_VALID')
            const other = generateTestKey('ES256').publicKey
            rejects(() => processCorim(bytes, { ...options, trust: { keys: [other] } }), 'ERR_CORIM_SIGNATURE')
            rejects(() => processCorim(bytes, { ...options, trust: {} }), 'ERR_CORIM_SIGNATURE')
          }
          return
        }
        default:
          assert.fail(`${v.id}: unhandled outcome ${v.expected.outcome}`)
      }
    })
  }

  it('maps the PSA vectors onto the appraisal shapes with their provenance', () => {
    const v = vectors.find((x) => x.id === 'veraison-services-corim-psa-valid')!
    const { corim, profile } = processCorim(fromHex(v.token_hex), { profiles: registry(), trust: { acceptUnsigned: true }, nowSeconds: NOW })
    const mapped = mapCorim(corim, profile)
    const ref = mapped.psaReferenceValues[0]!
    assert.equal(Buffer.from(ref.values.implementationId).toString(), 'acme-implementation-id-000000001')
    assert.deepEqual(
      ref.values.softwareComponents.map((c) => [c.measurementType, toHex(c.measurementValue).slice(0, 8), toHex(c.signerId).slice(0, 8)]),
      [
        ['BL', '87428fc5', '53787963'],
        ['PRoT', '02638299', '53787963'],
        ['ARoT', 'a3a5e715', '53787963'],
      ],
    )
    assert.equal(ref.provenance.corimId, '00000000-0000-0000-065a-0000000000001')
    assert.equal(ref.provenance.tagId, '43bbe37f-2e61-4b33-aed3-53cff1428b16')
    assert.equal(ref.provenance.tagVersion, 0)
    assert.equal(ref.provenance.profile, 'tag:arm.com,2025:psa#1.0.0')
    assert.equal(ref.values.source, 'corim:00000000-0000-0000-065a-0000000000001#43bbe37f-2e61-4b33-aed3-53cff1428b16@0')
    const instances = mapped.psaTrustAnchors.map((a) => toHex(a.anchor.instanceId).slice(0, 8))
    assert.deepEqual(instances, ['01ceebae', '014ca3e4'])
    for (const a of mapped.psaTrustAnchors) {
      assert.equal(a.anchor.key.crv, 'P-256')
      assert.deepEqual(a.anchor.implementationId, ref.values.implementationId)
      assert.equal(a.provenance.tagId, '366d0a0a-5988-45ed-8488-2f2a544f6242')
    }
  })

  it('refuses the extension vectors when their profile is not registered', () => {
    for (const id of ['veraison-corim-unsigned-with-extensions', 'veraison-corim-unsigned-example-profile']) {
      const v = vectors.find((x) => x.id === id)!
      rejects(() => decodeUnsignedCorim(fromHex(v.token_hex), { profiles: registry() }), 'ERR_CORIM_PROFILE_UNKNOWN')
    }
  })
})
