/**
 * The test attester's tokens (src/attester) are what Assay's own verifiers and appraisal read:
 * PSA tokens, EAT CWTs and EAT JWTs for each key type, appraised with the endorsements of the
 * reference-values document the attester prints for itself, come out affirming; changed claims,
 * another key or a reused nonce do not.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { appraiseEat, EAT_SUBMOD } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { appraisePsa } from '../../../src/appraisal/psa.js'
import { addReferenceValueDocument } from '../../../src/appraisal/reference-values.js'
import { resolveClaims } from '../../../src/attester/claims.js'
import { defaultKeyFile, generateDeviceKey, loadOrCreateDeviceKey, readDeviceKey, type DeviceAlg, type DeviceKey } from '../../../src/attester/keys.js'
import { referenceValuesFor } from '../../../src/attester/reference-values.js'
import { buildEatCwt, buildEatJwt, buildPsaToken } from '../../../src/attester/tokens.js'
import { importJwk } from '../../../src/crypto/keys.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { verifyEatCwt, verifyEatJws } from '../../../src/evidence/eat/verify-eat.js'
import { verifyPsaToken } from '../../../src/evidence/psa/verify.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { toHex } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const clock = fixedClock(NOW)

function setup(key: DeviceKey, claimsFile: unknown = {}) {
  const claims = resolveClaims(claimsFile, {}, key.deviceId)
  const doc = JSON.parse(JSON.stringify(referenceValuesFor(key, claims))) as unknown
  const endorsements = new MemoryEndorsements()
  const warnings: string[] = []
  addReferenceValueDocument(endorsements, doc, 'device.json', { warn: (w) => warnings.push(w) })
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  const deps = { endorsements, nonces: store.nonces, profiles: createDefaultProfiles(), clock }
  return { claims, doc, endorsements, warnings, deps }
}

async function issued(deps: ReturnType<typeof setup>['deps'], size = 32): Promise<Uint8Array> {
  const nonce = new Uint8Array(randomBytes(size))
  await deps.nonces.issue(TENANT, nonce, 300)
  return nonce
}

const ALGS: DeviceAlg[] = ['ES256', 'ES384', 'EdDSA']

describe('attester tokens', () => {
  for (const alg of ALGS) {
    describe(alg, () => {
      const key = generateDeviceKey(alg)

      it('prints a reference-values document Assay loads without warnings, binding the key to its UEID and class', () => {
        const { doc, warnings } = setup(key)
        assert.deepEqual(warnings, [])
        const eat = (doc as { eat: { keys: { kid: string; speaksFor: { ueids: string[] } }[] } }).eat
        assert.equal(eat.keys[0]!.kid, key.kid)
        assert.deepEqual(eat.keys[0]!.speaksFor.ueids, [toHex(key.ueid)])
        assert.equal('psa' in (doc as object), alg !== 'EdDSA')
      })

      it('EAT as a CWT verifies with verifyEatCwt and appraises as affirming', async () => {
        const { claims, deps, endorsements } = setup(key)
        const nonce = await issued(deps, 16)
        const token = buildEatCwt(key, claims.eat, { nonce, issuedAt: NOW })
        const verified = verifyEatCwt(token, { profiles: deps.profiles, keys: endorsements.eatKeys(TENANT), clock, expectedNonce: nonce })
        assert.deepEqual(verified.claims.ueid, key.ueid)
        assert.equal(verified.claims.swname, 'assay-attest-firmware')
        assert.equal(verified.attester.kid, key.kid)
        const out = await appraiseEat({ tenant: TENANT, token }, deps)
        assert.deepEqual(out[EAT_SUBMOD]!.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
        // The nonce was consumed: the same token again is a replay.
        const again = await appraiseEat({ tenant: TENANT, token }, deps)
        assert.equal(again[EAT_SUBMOD]!.vector['instance-identity'], 99)
      })

      it('EAT as a JWT verifies with verifyEatJws and appraises as affirming', async () => {
        const { claims, deps, endorsements } = setup(key)
        const nonce = await issued(deps)
        const token = buildEatJwt(key, claims.eat, { nonce, issuedAt: NOW })
        const verified = verifyEatJws(token, { profiles: deps.profiles, keys: endorsements.eatKeys(TENANT), clock })
        assert.deepEqual(verified.claims.ueid, key.ueid)
        assert.deepEqual(verified.claims.nonces, [nonce])
        const out = await appraiseEat({ tenant: TENANT, token: new TextEncoder().encode(token), envelope: 'jwt' }, deps)
        assert.deepEqual(out[EAT_SUBMOD]!.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
      })

      if (alg === 'EdDSA') {
        it('refuses to build a PSA token (RFC 9783 allows ECDSA only)', () => {
          const { claims } = setup(key)
          assert.throws(() => buildPsaToken(key, claims.psa, new Uint8Array(32)), /ES256 or ES384/)
        })
        return
      }

      it('PSA token verifies with verifyPsaToken and appraises as affirming', async () => {
        const { claims, deps, endorsements } = setup(key)
        const nonce = await issued(deps)
        const token = buildPsaToken(key, claims.psa, nonce)
        const { claims: psa } = verifyPsaToken(token, {
          resolveKey: ({ instanceId }) => endorsements.psaTrustAnchor(TENANT, toHex(instanceId))?.key,
          expectedNonce: nonce,
          clock,
        })
        assert.equal(psa.profile, 'tfm')
        assert.equal(psa.lifecycleState, 'secured')
        assert.deepEqual(psa.instanceId, key.ueid)
        assert.equal(psa.softwareComponents.length, 2)
        const out = await appraisePsa({ tenant: TENANT, token }, deps)
        assert.deepEqual(out.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
      })

      it('PSA token with a changed software component is not affirming under the first document', async () => {
        const { deps } = setup(key)
        const other = resolveClaims({ psa: { softwareComponents: [{ measurementType: 'BL', measurementValue: 'aa'.repeat(32), signerId: 'bb'.repeat(32) }] } }, {}, key.deviceId)
        const token = buildPsaToken(key, other.psa, await issued(deps))
        const out = await appraisePsa({ tenant: TENANT, token }, deps)
        assert.equal(out.vector.executables, 33)
      })
    })
  }

  it('submodules and measurements from a claims file are provisioned and appraised', async () => {
    const key = generateDeviceKey('ES256')
    const file = {
      eat: {
        measurements: [{ contentFormat: 258, body: 'a1b2c3' }],
        submods: { tee: { swname: 'tee-os', swversion: '2.0', measurements: [{ contentFormat: 258, body: '0102' }] } },
      },
    }
    const { claims, deps, doc } = setup(key, file)
    const rv = (doc as { eat: { referenceValues: { software: unknown[]; measurementDigests: string[] }[] } }).eat.referenceValues
    assert.equal(rv.length, 1, 'the submodule inherits its parent class: one class, two programs')
    assert.equal(rv[0]!.software.length, 2)
    assert.equal(rv[0]!.measurementDigests.length, 2)
    for (const build of ['cwt', 'jwt'] as const) {
      const nonce = await issued(deps)
      const out =
        build === 'cwt'
          ? await appraiseEat({ tenant: TENANT, token: buildEatCwt(key, claims.eat, { nonce, issuedAt: NOW }) }, deps)
          : await appraiseEat({ tenant: TENANT, token: new TextEncoder().encode(buildEatJwt(key, claims.eat, { nonce, issuedAt: NOW })), envelope: 'jwt' }, deps)
      assert.deepEqual(Object.keys(out).sort(), ['EAT', 'EAT/tee'])
      for (const sub of Object.values(out)) assert.deepEqual(sub.vector, { 'instance-identity': 2, hardware: 2, executables: 2 }, build)
    }
  })

  it('the example claims file (examples/attester-claims.json) gives affirming PSA, CWT and JWT Evidence', async () => {
    const key = generateDeviceKey('ES256')
    const file = JSON.parse(readFileSync(new URL('../../../examples/attester-claims.json', import.meta.url), 'utf8')) as unknown
    const { claims, deps } = setup(key, file)
    assert.equal(claims.eat.swname, 'example-firmware')
    assert.equal(claims.psa.softwareComponents.length, 2)
    const psa = await appraisePsa({ tenant: TENANT, token: buildPsaToken(key, claims.psa, await issued(deps)) }, deps)
    assert.deepEqual(psa.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    const cwt = await appraiseEat({ tenant: TENANT, token: buildEatCwt(key, claims.eat, { nonce: await issued(deps), issuedAt: NOW }) }, deps)
    const jwt = await appraiseEat(
      { tenant: TENANT, token: new TextEncoder().encode(buildEatJwt(key, claims.eat, { nonce: await issued(deps), issuedAt: NOW })), envelope: 'jwt' },
      deps,
    )
    for (const out of [cwt, jwt]) {
      assert.deepEqual(Object.keys(out).sort(), ['EAT', 'EAT/tee'])
      for (const sub of Object.values(out)) assert.deepEqual(sub.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    }
  })

  it('a token signed by another key is not verified by the printed document', async () => {
    const key = generateDeviceKey('ES256')
    const { claims, deps } = setup(key)
    const impostor = { ...generateDeviceKey('ES256'), kid: key.kid, ueid: key.ueid }
    const out = await appraiseEat({ tenant: TENANT, token: buildEatCwt(impostor, claims.eat, { nonce: await issued(deps), issuedAt: NOW }) }, deps)
    assert.equal(out[EAT_SUBMOD]!.vector['instance-identity'], 99)
  })

  it('two devices with default claims are two classes: both documents load into one store', () => {
    const endorsements = new MemoryEndorsements()
    for (const key of [generateDeviceKey('ES256'), generateDeviceKey('ES256')]) {
      addReferenceValueDocument(endorsements, JSON.parse(JSON.stringify(referenceValuesFor(key, resolveClaims({}, {}, key.deviceId)))), `${key.kid}.json`)
    }
  })

  it('claims: flags override the file, and bad values are named', () => {
    const id = new Uint8Array(32)
    const c = resolveClaims({ eat: { swname: 'from-file' } }, { swname: 'from-flag', lifecycle: 'non-psa-rot-debug', oemid: '0a0b0c' }, id)
    assert.equal(c.eat.swname, 'from-flag')
    assert.equal(c.psa.securityLifecycle, 0x4000)
    assert.deepEqual(c.eat.oemid, Uint8Array.of(10, 11, 12))
    assert.throws(() => resolveClaims({ psa: { implementationId: 'abcd' } }, {}, id), /claims psa\.implementationId: implementationId must be 32 bytes/)
    assert.throws(() => resolveClaims({ eat: { colour: 'red' } }, {}, id), /claims eat/)
    assert.throws(() => resolveClaims({}, { lifecycle: 'sleepy' }, id), /--lifecycle: security lifecycle "sleepy"/)
    assert.throws(() => resolveClaims({}, { dbgstat: 'on' }, id), /--dbgstat/)
    assert.throws(() => resolveClaims({}, { oemid: 'xyz' }, id), /--oemid: oemid "xyz"/)
    assert.throws(() => resolveClaims({}, { clientId: '0' }, id), /--client-id/)
  })

  describe('key files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-attester-'))
    after(() => rmSync(dir, { recursive: true, force: true }))

    it('generates a key once, mode 0600, and reads the same key back', () => {
      const file = join(dir, 'sub', 'device.jwk')
      const first = loadOrCreateDeviceKey(file, 'ES384')
      assert.equal(first.created, true)
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700)
      const second = loadOrCreateDeviceKey(file, undefined)
      assert.equal(second.created, false)
      assert.equal(second.key.alg, 'ES384')
      assert.equal(second.key.kid, first.key.kid)
      assert.deepEqual(second.key.ueid, first.key.ueid)
      assert.equal(importJwk(second.key.publicJwk).spkiSha256, toHex(first.key.deviceId))
    })

    it('refuses a key of another algorithm than asked for, and files that are not private keys', () => {
      const file = join(dir, 'ed.jwk')
      loadOrCreateDeviceKey(file, 'EdDSA')
      assert.throws(() => loadOrCreateDeviceKey(file, 'ES256'), /holds an EdDSA key, not ES256/)
      const pub = join(dir, 'public.jwk')
      writeFileSync(pub, JSON.stringify(generateDeviceKey('ES256').publicJwk))
      assert.throws(() => readDeviceKey(pub), /not a private P-256, P-384 or Ed25519 JWK/)
      const junk = join(dir, 'junk.jwk')
      writeFileSync(junk, 'not json')
      assert.throws(() => readDeviceKey(junk), /not a readable JSON key file/)
    })

    it('keeps keys under XDG_CONFIG_HOME, one file per algorithm', () => {
      assert.equal(defaultKeyFile('ES256', { XDG_CONFIG_HOME: '/x' }), '/x/assay/attester/es256.jwk')
      assert.match(defaultKeyFile('EdDSA', {}), /\.config\/assay\/attester\/eddsa\.jwk$/)
    })
  })
})
