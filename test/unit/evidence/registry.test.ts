import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { formatMediaType, parseMediaType } from '../../../src/evidence/media-type.js'
import { sniffEnvelope, sniffProfile } from '../../../src/evidence/sniff.js'
import { fromHex, utf8 } from '../../../src/util/bytes.js'
import { readVector } from '../../helpers/vectors.js'

const vector = (id: string) =>
  fromHex(readVector<{ token_hex: string }>(id).token_hex)

const PSA_TFM = vector('rfc9783-a1-psa-sign1')
const PSA_MAC0 = vector('rfc9783-a2-psa-mac0')
const PSA_LEGACY = vector('veraison-psatoken-tfm-legacy-psa-iot-profile-1')
const CWT_8392 = vector('rfc8392-a3-signed-cwt-es256')
const CWT_TAG61_MAC = vector('rfc8392-a4-maced-cwt-tag61')

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof VerifierError && e.code === code)
}

describe('media types', () => {
  it('parses essence and parameters, quoted or not, case-insensitively', () => {
    const m = parseMediaType('Application/EAT+CWT ;  EAT_Profile="tag:psacertified.org,2023:psa#tfm"')
    assert.equal(m.essence, 'application/eat+cwt')
    assert.equal(m.parameters.get('eat_profile'), 'tag:psacertified.org,2023:psa#tfm')
    assert.equal(parseMediaType('application/eat+cwt; eat_profile=2.999.1').parameters.get('eat_profile'), '2.999.1')
    assert.equal(parseMediaType('a/b; x="q\\"uote"; y=z').parameters.get('x'), 'q"uote')
  })
  it('rejects malformed media types', () => {
    for (const bad of ['', 'application', '/cbor', 'application/', 'app lication/cbor', 'a/b; x', 'a/b; x="open', 'a/b; x=1; x=2', 'a/b; x=a b', 'a/b; x="v" junk', 'a/' + 'b'.repeat(2000)]) {
      rejects(() => parseMediaType(bad), 'ERR_MEDIA_TYPE_MALFORMED')
    }
  })
  it('quotes eat_profile only when it is not a token', () => {
    assert.equal(formatMediaType('application/eat+cwt', '2.999.1'), 'application/eat+cwt; eat_profile=2.999.1')
    assert.equal(formatMediaType('application/eat+cwt', 'tag:x,2023:y#z'), 'application/eat+cwt; eat_profile="tag:x,2023:y#z"')
  })
})

describe('envelope sniffing', () => {
  it('recognises COSE, CWT, bundle, UCCS and JWS envelopes from their first bytes', () => {
    assert.deepEqual(sniffEnvelope(PSA_TFM), { envelope: 'cose-sign1', cwtTagged: false })
    assert.deepEqual(sniffEnvelope(PSA_MAC0), { envelope: 'cose-mac0', cwtTagged: false })
    assert.deepEqual(sniffEnvelope(CWT_TAG61_MAC), { envelope: 'cose-mac0', cwtTagged: true })
    assert.equal(sniffEnvelope(fromHex('d8628440a0f680')).envelope, 'cose-other')
    assert.equal(sniffEnvelope(fromHex('d9025a82')).envelope, 'eat-bundle')
    assert.equal(sniffEnvelope(fromHex('d90259a0')).envelope, 'uccs')
    assert.equal(sniffEnvelope(fromHex('d9d9f7d28440')).envelope, 'cose-sign1')
    assert.equal(sniffEnvelope(fromHex('8440a0f640')).envelope, 'cose-untagged')
    assert.equal(sniffEnvelope(utf8('eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln')).envelope, 'jws-compact')
    assert.equal(sniffEnvelope(utf8('{"eat_nonce":"x"}')).envelope, 'json')
    assert.equal(sniffEnvelope(fromHex('d903e7a0')).envelope, 'unknown')
    assert.equal(sniffEnvelope(new Uint8Array(0)).envelope, 'unknown')
  })
  it('reads the profile claim of an unverified payload, or nothing', () => {
    assert.equal(sniffProfile(PSA_TFM), 'tag:psacertified.org,2023:psa#tfm')
    assert.equal(sniffProfile(PSA_LEGACY), 'PSA_IOT_PROFILE_1')
    assert.equal(sniffProfile(CWT_8392), undefined)
    assert.equal(sniffProfile(PSA_TFM.subarray(0, 40)), undefined)
  })
})

describe('format registry', () => {
  const registry = createDefaultRegistry()

  it('selects PSA from the RFC 9783 media types, keeping the profile the token must match', () => {
    const tfm = registry.select('application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"', PSA_TFM)
    assert.deepEqual([tfm.format, tfm.expectedProfile, tfm.by], ['psa', 'tag:psacertified.org,2023:psa#tfm', 'media-type'])
    const legacy = registry.select('application/eat+cwt; eat_profile="TAG:psacertified.org,2019:psa#legacy"', PSA_LEGACY)
    assert.equal(legacy.format, 'psa')
    assert.equal(registry.select('application/psa-attestation-token', PSA_LEGACY).expectedProfile, undefined)
  })
  it('sniffs a generic media type down to the token profile', () => {
    for (const [token, ct] of [
      [PSA_TFM, 'application/eat+cwt'],
      [PSA_MAC0, 'application/cose'],
      [PSA_LEGACY, 'application/cbor'],
    ] as const) {
      const s = registry.select(ct, token)
      assert.deepEqual([s.format, s.by, s.expectedProfile], ['psa', 'sniffing', undefined])
    }
  })
  it('sends a CWT that names no PSA profile to generic EAT, under application/eat+cwt and application/cwt', () => {
    for (const ct of ['application/eat+cwt', 'application/cwt']) {
      const s = registry.select(ct, CWT_8392)
      assert.deepEqual([s.format, s.by], ['eat-cwt', 'sniffing'])
    }
    const rfc9711 = registry.select('application/eat+cwt; eat_profile="urn:ietf:rfc:rfc9711"', CWT_8392)
    assert.deepEqual([rfc9711.format, rfc9711.expectedProfile], ['eat-cwt', 'urn:ietf:rfc:rfc9711'])
  })

  it('refuses a generic media type whose Evidence is no implemented format', () => {
    rejects(() => registry.select('application/cbor', CWT_8392), 'ERR_EVIDENCE_UNRECOGNIZED')
    rejects(() => registry.select('application/eat+cwt', fromHex('d9025a80')), 'ERR_EVIDENCE_UNRECOGNIZED')
    rejects(() => registry.select('application/cbor', fromHex('a0')), 'ERR_EVIDENCE_UNRECOGNIZED')
    rejects(() => registry.select('application/cbor', new Uint8Array(0)), 'ERR_EVIDENCE_UNRECOGNIZED')
  })
  it('refuses unregistered media types and unknown profiles with 415', () => {
    assert.equal(registry.select('application/eat+jwt', utf8('eyJhbGciOiJFUzI1NiJ9.e30.c2ln')).format, 'eat-jwt')
    for (const ct of ['application/json', 'text/plain', 'application/cwt; eat_profile="urn:example:nope"', 'application/jwt']) {
      assert.throws(
        () => registry.select(ct, PSA_TFM),
        (e: unknown) => e instanceof VerifierError && e.code === 'ERR_MEDIA_TYPE_UNSUPPORTED' && e.status === 415,
      )
    }
  })
  it('leaves an eat_profile no binding names to the EAT appraisal (operator profiles, issue 9)', () => {
    for (const [ct, format] of [
      ['application/eat+cwt; eat_profile="tag:vendor.example,2026:sensor"', 'eat-cwt'],
      ['application/eat+jwt; eat_profile="urn:example:nope"', 'eat-jwt'],
      ['application/eat-bun+cbor; eat_profile=2.999.1', 'eat-bundle-cbor'],
      ['application/eat-bun+json; eat_profile=2.999.1', 'eat-bundle-json'],
    ] as const) {
      const selected = registry.select(ct, PSA_TFM)
      assert.equal(selected.format, format)
      assert.equal(selected.expectedProfile, parseMediaType(ct).parameters.get('eat_profile'))
    }
    // A built-in binding still wins: the PSA TF-M profile goes to PSA.
    assert.equal(registry.select('application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"', PSA_TFM).format, 'psa')
  })
  it('lists every accepted media type for a 415 Accept header', () => {
    const accepted = registry.accepted()
    assert.ok(accepted.includes('application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'))
    assert.ok(accepted.includes('application/eat+cwt; eat_profile="tag:psacertified.org,2019:psa#legacy"'))
    assert.ok(accepted.includes('application/psa-attestation-token'))
    assert.ok(accepted.includes('application/eat+cwt'))
  })
})
