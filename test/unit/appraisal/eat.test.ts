import assert from 'node:assert/strict'
import { createHash, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { appraiseEat, appraiseEatBundle, EAT_SUBMOD, type EatAppraisalDeps } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import { classKey, type SpeaksFor } from '../../../src/evidence/speaks-for.js'
import { CborTag, encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { eatProfileDocumentSchema, eatProfileFromDocument } from '../../../src/evidence/eat/profile-document.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { importSpki } from '../../../src/crypto/keys.js'
import { importPinnedCertificate } from '../../../src/crypto/keys.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki, hardwareModuleNameSan, NOW as PKI_NOW } from '../../helpers/pki.js'
import { createPublicKey } from 'node:crypto'

const NOW = 1_800_000_000
const TENANT = 'default'
const RFC9711 = 'urn:ietf:rfc:rfc9711'
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const device = generateTestKey('ES256')
const board = generateTestKey('ES256')
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(3))
const ANY: SpeaksFor = { ueids: 'any', classes: 'any' }
/** device-1 speaks for its own UEID and for the classes the tests below claim. */
const DEVICE_BINDING: SpeaksFor = {
  ueids: new Set([toHex(DEVICE_UEID)]),
  classes: new Set(['abcd', 'ef', 'ee', '09'].map((hw) => classKey(oemidKey(64242), hw))),
}

function endorsements(): MemoryEndorsements {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, DEVICE_BINDING)
  e.addEatKid(TENANT, toHex(utf8('board-1')), board.publicKey, DEVICE_BINDING)
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  return e
}

function deps(): EatAppraisalDeps & { store: ReturnType<typeof createMemoryStore>; endorsements: MemoryEndorsements } {
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  return { store, endorsements: endorsements(), nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(NOW) }
}

function claims(extra: [number, EncodableValue][] = [], drop: number[] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [265, RFC9711],
    [10, new Uint8Array(16).fill(7)],
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

function token(c: Map<number, EncodableValue>, key: TestKeyPair = device, kid = 'device-1'): Uint8Array {
  return signSign1(key, { protectedHeader: new Map<number, EncodableValue>([[1, key.coseAlg], [4, utf8(kid)]]), payload: encodeCbor(c), tag: 'cwt' })
}

async function appraise(t: Uint8Array, d = deps(), extra: { expectedProfile?: string; issue?: boolean } = {}) {
  if (extra.issue !== false) await d.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
  return appraiseEat({ tenant: TENANT, token: t, expectedProfile: extra.expectedProfile }, d)
}

describe('generic EAT appraisal', () => {
  it('affirms a token from a provisioned kid whose hardware and software match', async () => {
    const out = await appraise(token(claims()))
    const eat = out[EAT_SUBMOD]!
    assert.deepEqual(eat.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.equal(eat.profile, RFC9711)
  })

  it('unknown kid: instance-identity 97', async () => {
    const out = await appraise(token(claims(), device, 'nobody'))
    assert.deepEqual(out[EAT_SUBMOD]!.vector, { 'instance-identity': 97 })
    assert.equal(out[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_KEY_NOT_FOUND')
  })

  it('signed with another key than the kid names: every claim 99', async () => {
    const out = await appraise(token(claims(), generateTestKey('ES256')))
    assert.equal(out[EAT_SUBMOD]!.vector['instance-identity'], 99)
    assert.equal(out[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_COSE_SIGNATURE_INVALID')
  })

  it('unknown hwmodel: hardware 97; unapproved version: executables 33; oemboot false: 32', async () => {
    const hw = (await appraise(token(claims([[259, Uint8Array.of(9)]]))))[EAT_SUBMOD]!
    assert.equal(hw.vector.hardware, 97)
    const sw = (await appraise(token(claims([[271, ['9.9']]]))))[EAT_SUBMOD]!
    assert.equal(sw.vector.executables, 33)
    const boot = (await appraise(token(claims([[262, false]]))))[EAT_SUBMOD]!
    assert.equal(boot.vector.executables, 32)
  })

  it('debug enabled is contraindicated under the RFC 9711 profile', async () => {
    const out = (await appraise(token(claims([[263, 0]]))))[EAT_SUBMOD]!
    assert.equal(out.vector.configuration, 96)
  })

  it('a failed measurement result is contraindicated', async () => {
    const out = (await appraise(token(claims([[274, [['boot', [['stage1', 2]]]]]]))))[EAT_SUBMOD]!
    assert.equal(out.vector.executables, 96)
  })

  it('freshness: a replayed nonce, or no nonce under the RFC 9711 profile, is every claim 99', async () => {
    const d = deps()
    const t = token(claims())
    assert.equal((await appraise(t, d))[EAT_SUBMOD]!.vector.executables, 2)
    const replay = (await appraise(t, d, { issue: false }))[EAT_SUBMOD]!
    assert.equal(replay.reasons[0]!.code, 'ERR_CLAIMS_NONCE_REPLAYED')
    const noNonce = (await appraise(token(claims([], [10]))))[EAT_SUBMOD]!
    assert.equal(noNonce.reasons[0]!.code, 'ERR_PROFILE_CLAIM_MISSING')
  })

  it('the default profile accepts a recent iat instead of a nonce, and refuses an old one', async () => {
    const fresh = (await appraise(token(claims([], [265, 10])), deps(), { issue: false }))[EAT_SUBMOD]!
    assert.equal(fresh.vector['instance-identity'], 2)
    const old = (await appraise(token(claims([[6, NOW - 3600]], [265, 10])), deps(), { issue: false }))[EAT_SUBMOD]!
    assert.equal(old.vector['instance-identity'], 99)
  })

  it('profile: the media type and the claim must agree, and the profile must be known', async () => {
    const mismatch = (await appraise(token(claims()), deps(), { expectedProfile: 'urn:example:other' }))[EAT_SUBMOD]!
    assert.equal(mismatch.reasons[0]!.code, 'ERR_PROFILE_MISMATCH')
    const unknown = (await appraise(token(claims([[265, 'urn:example:unknown']]))))[EAT_SUBMOD]!
    assert.equal(unknown.reasons[0]!.code, 'ERR_PROFILE_UNKNOWN')
  })

  it('an algorithm the profile does not accept', async () => {
    const ed = generateTestKey('EdDSA-Ed25519')
    const d = deps()
    d.endorsements.addEatKid(TENANT, toHex(utf8('ed-1')), ed.publicKey, ANY)
    const out = (await appraise(token(claims(), ed, 'ed-1'), d))[EAT_SUBMOD]!
    assert.equal(out.reasons[0]!.code, 'ERR_COSE_ALG_NOT_ALLOWED')
  })

  it('submodules: a nested claims-set and a nested token each get their own submodule', async () => {
    const boardToken = token(claims([[270, 'fw'], [271, ['1.2']]], [265, 10]), board, 'board-1')
    const out = await appraise(
      token(
        claims([
          [266, new Map<string, EncodableValue>([
            ['tee', new Map<number, EncodableValue>([[258, 64242], [259, HWMODEL], [270, 'fw'], [271, ['1.2']]])],
            ['board', boardToken],
          ])],
        ]),
      ),
    )
    assert.deepEqual(Object.keys(out).sort(), ['EAT', 'EAT/board', 'EAT/tee'])
    assert.equal(out['EAT/tee']!.vector.hardware, 2)
    assert.equal(out['EAT/tee']!.reasons[0]!.code, 'EAT_COVERED_BY_PARENT')
    assert.equal(out['EAT/board']!.vector['instance-identity'], 2)
  })

  it('a nested token with a bad signature makes only its own submodule contraindicated', async () => {
    const forged = token(claims([], [265, 10]), generateTestKey('ES256'), 'board-1')
    const out = await appraise(token(claims([[266, new Map<string, EncodableValue>([['board', forged]])]])))
    assert.equal(out['EAT']!.vector['instance-identity'], 2)
    assert.equal(out['EAT/board']!.vector['instance-identity'], 99)
    assert.equal(out['EAT/board']!.reasons[0]!.code, 'ERR_COSE_SIGNATURE_INVALID')
  })

  it('bounds how many submodules one token may carry', async () => {
    const many = new Map<string, EncodableValue>()
    for (let i = 0; i < 40; i++) many.set(`s${i}`, new Map<number, EncodableValue>([[270, 'fw']]))
    const out = await appraise(token(claims([[266, many]])))
    assert.equal(out['EAT/*']!.reasons[0]!.code, 'EAT_SUBMODS_LIMIT')
  })

  it('keys by UEID when the token has no kid', async () => {
    const d = deps()
    const ueid = Uint8Array.of(1, ...new Uint8Array(16).fill(5))
    const other = generateTestKey('ES256')
    d.endorsements.addEatUeid(TENANT, toHex(ueid), other.publicKey, new Set([classKey(oemidKey(64242), 'abcd')]))
    await d.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
    const t = signSign1(other, { payload: encodeCbor(claims([[256, ueid]])), tag: 'cwt' })
    const out = await appraiseEat({ tenant: TENANT, token: t }, d)
    assert.equal(out[EAT_SUBMOD]!.vector['instance-identity'], 2)
  })

  it('matches a measurement digest whether the body came as CBOR bytes or as JSON base64url', async () => {
    const body = new Uint8Array([0xa1, 0x00, 0x63, 0x66, 0x77, 0x31])
    const digest = createHash('sha256').update(body).digest('hex')
    const withDigest = () => {
      const d = deps()
      d.endorsements.addEatReferenceValues(TENANT, oemidKey(64242), 'ef', {
        software: new Map(),
        measurementDigests: new Set([digest]),
        source: 'test',
      })
      return d
    }
    const cbor = token(claims([[259, Uint8Array.of(0xef)], [273, [[258, body]]]], [270, 271]))
    assert.equal((await appraise(cbor, withDigest()))[EAT_SUBMOD]!.vector.executables, 2)

    const json: Record<string, unknown> = {
      eat_nonce: Buffer.from(new Uint8Array(16).fill(7)).toString('base64url'),
      oemid: 64242,
      hwmodel: Buffer.from([0xef]).toString('base64url'),
      measurements: [[258, Buffer.from(body).toString('base64url')]],
      iat: NOW,
    }
    const jwt = (claimsSet: Record<string, unknown>) => {
      const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'device-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(claimsSet)).toString('base64url')}`
      return utf8(`${input}.${sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)
    }
    const d = withDigest()
    await d.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
    const out = await appraiseEat({ tenant: TENANT, token: jwt(json), envelope: 'jwt' }, d)
    assert.equal(out[EAT_SUBMOD]!.vector.executables, 2, JSON.stringify(out[EAT_SUBMOD]!.reasons))
    // The RFC 9711 constrained profile is CBOR only: the same claims as a JWT under it are refused.
    const constrained = await appraiseEat({ tenant: TENANT, token: jwt({ ...json, eat_profile: RFC9711 }), envelope: 'jwt' }, withDigest())
    assert.equal(constrained[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('appraises a CBOR detached bundle: each detached claims-set bound by its digest gets its own submodule', async () => {
    const detached = encodeCbor(new Map<number, EncodableValue>([[258, 64242], [259, HWMODEL], [270, 'fw'], [271, ['1.2']]]))
    const digest = new Uint8Array(createHash('sha256').update(detached).digest())
    const main = token(claims([[266, new Map<string, EncodableValue>([['TEE', [-16, digest]]])]], [265]))
    const bundle = (tee: Uint8Array) => encodeCbor(new CborTag(602, [main, new Map([['TEE', tee]])] as never))
    const d = deps()
    await d.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
    const out = await appraiseEatBundle({ tenant: TENANT, bytes: bundle(detached), kind: 'cbor' }, d)
    assert.equal(out['EAT']!.vector.executables, 2)
    assert.equal(out['EAT/TEE']!.vector.hardware, 2)
    assert.equal(out['EAT/TEE']!.reasons[0]!.code, 'EAT_COVERED_BY_PARENT')

    const tampered = new Uint8Array(detached)
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1
    const d2 = deps()
    await d2.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
    const bad = await appraiseEatBundle({ tenant: TENANT, bytes: bundle(tampered), kind: 'cbor' }, d2)
    assert.equal(bad['EAT']!.vector['instance-identity'], 2)
    assert.equal(bad['EAT/TEE']!.reasons[0]!.code, 'ERR_BUNDLE_DIGEST_MISMATCH')

    const constrained = token(claims([[266, new Map<string, EncodableValue>([['TEE', [-16, digest]]])]]))
    const d3 = deps()
    await d3.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
    const refused = await appraiseEatBundle(
      { tenant: TENANT, bytes: encodeCbor(new CborTag(602, [constrained, new Map([['TEE', detached]])] as never)), kind: 'cbor' },
      d3,
    )
    assert.equal(refused['EAT']!.reasons[0]!.code, 'ERR_PROFILE_CLAIM_INVALID', 'the RFC 9711 profile allows no bundles')
    const garbage = await appraiseEatBundle({ tenant: TENANT, bytes: encodeCbor([1, 2]), kind: 'cbor' }, deps())
    assert.equal(garbage['EAT']!.vector['instance-identity'], 99)
  })

  it('compares manifests (e.g. CoSWID) by digest when the reference values list them', async () => {
    const coswid = new Uint8Array([0xa2, 0x00, 0x61, 0x78, 0x0c, 0x01])
    const d = deps()
    d.endorsements.addEatReferenceValues(TENANT, oemidKey(64242), 'ee', {
      software: new Map(),
      measurementDigests: new Set(),
      manifestDigests: new Set([createHash('sha256').update(coswid).digest('hex')]),
      source: 'test',
    })
    const good = (await appraise(token(claims([[259, Uint8Array.of(0xee)], [272, [[258, coswid]]]])), d))[EAT_SUBMOD]!
    assert.equal(good.vector.executables, 2)
    const d2 = deps()
    d2.endorsements.addEatReferenceValues(TENANT, oemidKey(64242), 'ee', {
      software: new Map(),
      measurementDigests: new Set(),
      manifestDigests: new Set(['00'.repeat(32)]),
      source: 'test',
    })
    const bad = (await appraise(token(claims([[259, Uint8Array.of(0xee)], [272, [[258, coswid]]]])), d2))[EAT_SUBMOD]!
    assert.equal(bad.vector.executables, 33)
    assert.match(bad.reasons.find((r) => r.claim === 'executables')!.detail, /1 manifests match no reference digest/)
  })

  describe('identity bound to the key (speaksFor)', () => {
    const OTHER_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(9))

    it('a kid key claiming a UEID it may not speak for: instance-identity 96, contraindicated', async () => {
      const out = (await appraise(token(claims([[256, OTHER_UEID]]))))[EAT_SUBMOD]!
      assert.equal(out.vector['instance-identity'], 96)
      const reason = out.reasons.find((r) => r.claim === 'instance-identity')!
      assert.equal(reason.code, 'EAT_UEID_NOT_BOUND')
      assert.equal(out.reasons.filter((r) => r.claim === 'instance-identity').length, 1, 'no contradicting "verified" reason')
    })

    it('a kid key claiming a class it may not speak for, even one with reference values: hardware 96', async () => {
      const d = deps()
      d.endorsements.addEatReferenceValues(TENANT, oemidKey(64242), '77', { software: new Map([['fw', 'any']]), measurementDigests: new Set(), source: 'test' })
      const out = (await appraise(token(claims([[259, Uint8Array.of(0x77)]])), d))[EAT_SUBMOD]!
      assert.equal(out.vector.hardware, 96)
      assert.equal(out.vector.executables, 33)
      assert.equal(out.reasons.find((r) => r.claim === 'hardware')!.code, 'EAT_CLASS_NOT_BOUND')
      // An oemid it may not speak for is a class it may not speak for.
      const pen = (await appraise(token(claims([[258, 1234]]))))[EAT_SUBMOD]!
      assert.equal(pen.vector.hardware, 96)
    })

    it('a key provisioned with speaksFor "any" may claim any UEID and class', async () => {
      const d = deps()
      const free = generateTestKey('ES256')
      d.endorsements.addEatKid(TENANT, toHex(utf8('free-1')), free.publicKey, ANY)
      const out = (await appraise(token(claims([[256, OTHER_UEID]]), free, 'free-1'), d))[EAT_SUBMOD]!
      assert.deepEqual(out.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    })

    it('a UEID key is bound to its UEID and to its classes', async () => {
      const d = deps()
      const ueid = Uint8Array.of(1, ...new Uint8Array(16).fill(5))
      const own = generateTestKey('ES256')
      d.endorsements.addEatUeid(TENANT, toHex(ueid), own.publicKey, new Set([classKey(oemidKey(64242), 'ef')]))
      await d.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const t = signSign1(own, { payload: encodeCbor(claims([[256, ueid]])), tag: 'cwt' })
      const out = (await appraiseEat({ tenant: TENANT, token: t }, d))[EAT_SUBMOD]!
      assert.equal(out.vector.hardware, 96, 'class abcd is not one it may claim')
      assert.equal(out.vector['instance-identity'], 2)
      assert.deepEqual(out.attester, { keySource: 'ueid', ueid, spkiS256: new Uint8Array(Buffer.from(own.publicKey.spkiSha256, 'hex')) })
    })

    it('a claims-set nested in a token is held to the same binding', async () => {
      const out = await appraise(
        token(
          claims([
            [266, new Map<string, EncodableValue>([
              ['tee', new Map<number, EncodableValue>([[258, 64242], [259, Uint8Array.of(0x55)], [270, 'fw']])],
              ['radio', new Map<number, EncodableValue>([[256, OTHER_UEID], [270, 'fw']])],
            ])],
          ]),
        ),
      )
      assert.equal(out['EAT']!.vector.hardware, 2)
      assert.equal(out['EAT/tee']!.vector.hardware, 96)
      assert.equal(out['EAT/radio']!.vector['instance-identity'], 96)
    })

    it('names the attester: its UEID and the kid that verified it', async () => {
      const out = (await appraise(token(claims())))[EAT_SUBMOD]!
      assert.deepEqual(out.attester, {
        keySource: 'kid',
        kid: 'device-1',
        ueid: DEVICE_UEID,
        spkiS256: new Uint8Array(Buffer.from(device.publicKey.spkiSha256, 'hex')),
      })
    })

    it('x5chain: an anchor bound to UEIDs refuses others when the certificate names no device', async () => {
      const pki = await buildPki()
      const leafKey: TestKeyPair = {
        privateKey: pki.leaf.privateKey,
        publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
        coseAlg: -7,
        hash: 'sha256',
      }
      const chainToken = (ueid: Uint8Array) =>
        signSign1(leafKey, {
          protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]),
          payload: encodeCbor(claims([[256, ueid], [6, PKI_NOW]], [265])),
          tag: 'cwt',
        })
      const run = async (binding: SpeaksFor, ueid: Uint8Array) => {
        const store = createMemoryStore({ nowMs: () => PKI_NOW * 1000 })
        const e = endorsements()
        e.addEatAnchor(TENANT, pki.anchors[0]!, binding)
        await store.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
        const d = { endorsements: e, nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(PKI_NOW) }
        return (await appraiseEat({ tenant: TENANT, token: chainToken(ueid) }, d))[EAT_SUBMOD]!
      }
      const bound: SpeaksFor = { ueids: new Set([toHex(DEVICE_UEID)]), classes: DEVICE_BINDING.classes }
      const good = await run(bound, DEVICE_UEID)
      assert.deepEqual(good.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
      assert.equal(good.attester?.keySource, 'x5chain')
      assert.deepEqual(good.attester?.x5tS256, new Uint8Array(createHash('sha256').update(pki.leaf.der).digest()))
      const other = await run(bound, OTHER_UEID)
      assert.equal(other.vector['instance-identity'], 96)
      assert.equal(other.reasons.find((r) => r.claim === 'instance-identity')!.code, 'EAT_UEID_NOT_BOUND')
      const open = await run({ ueids: 'any', classes: 'any' }, OTHER_UEID)
      assert.equal(open.vector['instance-identity'], 2)
    })

    it('x5chain: a certificate naming a device outside its anchor binding is refused even without a ueid claim', async () => {
      const named = Uint8Array.of(1, ...new Uint8Array(16).fill(0x42))
      const pki = await buildPki({ leaf: { extensions: [hardwareModuleNameSan([named])] } })
      const leafKey: TestKeyPair = {
        privateKey: pki.leaf.privateKey,
        publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
        coseAlg: -7,
        hash: 'sha256',
      }
      const t = signSign1(leafKey, {
        protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]),
        payload: encodeCbor(claims([[6, PKI_NOW]], [256, 265])),
        tag: 'cwt',
      })
      const store = createMemoryStore({ nowMs: () => PKI_NOW * 1000 })
      const e = endorsements()
      e.addEatAnchor(TENANT, pki.anchors[0]!, { ueids: new Set([toHex(DEVICE_UEID)]), classes: 'any' })
      await store.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const d = { endorsements: e, nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(PKI_NOW) }
      const out = (await appraiseEat({ tenant: TENANT, token: t }, d))[EAT_SUBMOD]!
      assert.equal(out.vector['instance-identity'], 96)
      assert.deepEqual(out.attester?.ueid, named, 'the result names the device the certificate names')
    })

    it('a pinned certificate speaks only for its binding, and is named by its thumbprint', async () => {
      const pki = await buildPki()
      const leafKey: TestKeyPair = {
        privateKey: pki.leaf.privateKey,
        publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
        coseAlg: -7,
        hash: 'sha256',
      }
      const thumb = new Uint8Array(createHash('sha256').update(pki.leaf.der).digest())
      const t = (ueid: Uint8Array) =>
        signSign1(leafKey, {
          protectedHeader: new Map<number, EncodableValue>([[1, -7], [34, [-16, thumb]]]),
          payload: encodeCbor(claims([[256, ueid], [6, PKI_NOW]], [265])),
          tag: 'cwt',
        })
      const store = createMemoryStore({ nowMs: () => PKI_NOW * 1000 })
      const e = endorsements()
      e.addEatPinnedCertificate(TENANT, importPinnedCertificate(pki.leaf.der), { ueids: new Set([toHex(DEVICE_UEID)]), classes: DEVICE_BINDING.classes })
      const d = { endorsements: e, nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(PKI_NOW) }
      await store.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const good = (await appraiseEat({ tenant: TENANT, token: t(DEVICE_UEID) }, d))[EAT_SUBMOD]!
      assert.equal(good.vector['instance-identity'], 2)
      assert.deepEqual(good.attester, { keySource: 'x5t', ueid: DEVICE_UEID, x5tS256: thumb, spkiS256: new Uint8Array(Buffer.from(leafKey.publicKey.spkiSha256, 'hex')) })
      // A used nonce stays used for its lifetime: the second token is appraised against a fresh store.
      const again = createMemoryStore({ nowMs: () => PKI_NOW * 1000 })
      await again.nonces.issue(TENANT, new Uint8Array(16).fill(7), 60)
      const bad = (await appraiseEat({ tenant: TENANT, token: t(OTHER_UEID) }, { ...d, nonces: again.nonces }))[EAT_SUBMOD]!
      assert.equal(bad.vector['instance-identity'], 96)
    })
  })
})

describe('generic EAT appraisal under an operator-defined profile (issue 9)', () => {
  const VENDOR = 'tag:vendor.example,2026:sensor'
  const vendorProfile = (overrides: Record<string, unknown> = {}) =>
    eatProfileFromDocument(
      eatProfileDocumentSchema.parse({
        id: VENDOR,
        envelopes: ['cwt'],
        coseAlgorithms: ['ES256'],
        keySources: ['kid'],
        mandatoryClaims: ['eat_nonce', 'ueid', 'swname'],
        freshness: 'nonce',
        ...overrides,
      }),
    )
  const withVendor = (overrides: Record<string, unknown> = {}) => {
    const d = deps()
    d.endorsements.addEatProfile(TENANT, vendorProfile(overrides))
    return d
  }
  const vendorClaims = (extra: [number, EncodableValue][] = [], drop: number[] = []) => claims([[265, VENDOR], ...extra], drop)

  it('is unknown until the tenant has the profile, then appraised by it; the result names the profile', async () => {
    const before = (await appraise(token(vendorClaims())))[EAT_SUBMOD]!
    assert.equal(before.reasons[0]!.code, 'ERR_PROFILE_UNKNOWN')
    const out = (await appraise(token(vendorClaims()), withVendor()))[EAT_SUBMOD]!
    assert.deepEqual(out.vector, { 'instance-identity': 2, hardware: 2, executables: 2 })
    assert.equal(out.profile, VENDOR)
    // Another tenant's profile is not this tenant's.
    const other = deps()
    other.endorsements.addEatProfile('acme', vendorProfile())
    assert.equal((await appraise(token(vendorClaims()), other))[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_PROFILE_UNKNOWN')
  })

  it('named by the media type only, it is the profile used and named', async () => {
    const out = (await appraise(token(claims([], [265])), withVendor(), { expectedProfile: VENDOR.toUpperCase() }))[EAT_SUBMOD]!
    assert.equal(out.vector['instance-identity'], 2)
    assert.equal(out.profile, VENDOR)
  })

  it('refuses an algorithm, a key source or an envelope the profile does not allow, and a missing mandatory claim', async () => {
    const es384 = generateTestKey('ES384')
    const d = withVendor()
    d.endorsements.addEatKid(TENANT, toHex(utf8('device-384')), es384.publicKey, DEVICE_BINDING)
    const alg = (await appraise(token(vendorClaims(), es384, 'device-384'), d))[EAT_SUBMOD]!
    assert.equal(alg.reasons[0]!.code, 'ERR_COSE_ALG_NOT_ALLOWED')
    assert.match(alg.reasons[0]!.detail, /not allowed by profile tag:vendor\.example,2026:sensor/)

    const missing = (await appraise(token(vendorClaims([], [270])), withVendor()))[EAT_SUBMOD]!
    assert.equal(missing.vector['instance-identity'], 99)
    assert.equal(missing.reasons[0]!.code, 'ERR_PROFILE_CLAIM_MISSING')

    const ueidOnly = (await appraise(token(vendorClaims()), withVendor({ keySources: ['ueid'] })))[EAT_SUBMOD]!
    assert.equal(ueidOnly.reasons[0]!.code, 'ERR_KEY_NOT_FOUND', 'a kid is not a key source of this profile')

    const jwtOnly = withVendor({ envelopes: ['jwt'], coseAlgorithms: [], joseAlgorithms: ['ES256'] })
    assert.equal((await appraise(token(vendorClaims()), jwtOnly))[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_PROFILE_CLAIM_INVALID')
  })

  it('applies its freshness, debug and reference-value rules', async () => {
    const noNonce = (await appraise(token(vendorClaims([], [10])), withVendor({ mandatoryClaims: [] }), { issue: false }))[EAT_SUBMOD]!
    assert.equal(noNonce.reasons[0]!.code, 'ERR_PROFILE_CLAIM_MISSING', 'freshness nonce: an iat is not enough')
    const timeFresh = withVendor({ mandatoryClaims: [], freshness: 'time', maxAgeSeconds: 60 })
    assert.equal((await appraise(token(vendorClaims([[6, NOW - 30]], [10])), timeFresh, { issue: false }))[EAT_SUBMOD]!.vector.executables, 2)
    const stale = (await appraise(token(vendorClaims([[6, NOW - 120]], [10])), timeFresh, { issue: false }))[EAT_SUBMOD]!
    assert.equal(stale.reasons[0]!.code, 'ERR_CLAIMS_STALE')

    const debug = (await appraise(token(vendorClaims([[263, 0]])), withVendor({ debugEnabled: 'warning' })))[EAT_SUBMOD]!
    assert.equal(debug.vector.configuration, 32)

    const identityOnly = (await appraise(token(vendorClaims([[259, Uint8Array.of(9)]])), withVendor({ referenceValues: 'none' })))[EAT_SUBMOD]!
    assert.deepEqual(identityOnly.vector, { 'instance-identity': 2 })
    assert.deepEqual(identityOnly.required, ['instance-identity'])
    const unbound = (await appraise(token(vendorClaims([[259, Uint8Array.of(0x77)]])), withVendor({ referenceValues: 'none' })))[EAT_SUBMOD]!
    assert.equal(unbound.vector.hardware, 96, 'a class the key may not speak for still counts against it')
  })
})
