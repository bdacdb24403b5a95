import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeUnsignedCorim, oidToDotted, processCorim, type CorimProcessOptions } from '../../../src/corim/corim.js'
import { CorimProfileRegistry } from '../../../src/corim/profile.js'
import { builtInProfiles } from '../../../src/corim/profiles/index.js'
import { encodeCbor } from '../../../src/cose/cbor.js'
import { importCertificateKey } from '../../../src/crypto/keys.js'
import { X509TrustStore, validateChain } from '../../../src/crypto/x509.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { fromHex } from '../../../src/util/bytes.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'
import { PSA, comidMap, corimBytes, corimMeta, epoch, map, psaClass, psaComponent, psaCorim, signCorim, tag, type CborIn } from '../../helpers/corim.js'
import { NOW as PKI_NOW, buildPki } from '../../helpers/pki.js'

function rejects(fn: () => unknown, code: ErrorCode, includes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (includes !== undefined) assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`)
    return true
  })
}

const signer = generateTestKey('ES256')
const other = generateTestKey('ES256')
const iak = generateTestKey('ES256')
const NOW = 1_750_000_000
const profiles = builtInProfiles()
const comid = comidMap(map([0, [[map([0, psaClass()]), [psaComponent()]]]]))
const unsigned = (extra: [number | string, CborIn][] = [], profile?: string) => corimBytes([comid], extra, profile)
const options = (trust: CorimProcessOptions['trust'], nowSeconds = NOW): CorimProcessOptions => ({ profiles, trust, nowSeconds })

describe('unsigned CoRIM', () => {
  it('decodes id, tags, dependent rims, entities, validity and the digest', () => {
    const bytes = unsigned([
      [2, [map([0, tag(32, 'https://acme.example/rim')], [1, [1, fromHex('00'.repeat(32))]])]],
      [4, map([0, epoch(NOW - 10)], [1, epoch(NOW + 10)])],
      [5, [map([0, 'ACME'], [2, [1, 2]])]],
    ])
    const { corim, profile } = processCorim(bytes, options({ acceptUnsigned: true }))
    assert.equal(profile, undefined)
    assert.equal(corim.id, 'test-corim')
    assert.equal(corim.comids.length, 1)
    assert.deepEqual(corim.dependentRims[0]!.href, ['https://acme.example/rim'])
    assert.equal(corim.dependentRims[0]!.thumbprints[0]!.alg, 'sha-256')
    assert.deepEqual(corim.validity, { notBefore: NOW - 10, notAfter: NOW + 10 })
    assert.equal(corim.entities[0]!.name, 'ACME')
    assert.equal(corim.digest.length, 32)
    assert.equal(corim.signature, undefined)
  })

  it('checks rim-validity against the injected clock', () => {
    const bytes = unsigned([[4, map([0, epoch(NOW - 10)], [1, epoch(NOW + 10)])]])
    rejects(() => processCorim(bytes, options({ acceptUnsigned: true }, NOW + 11)), 'ERR_CORIM_EXPIRED', 'rim-validity')
    rejects(() => processCorim(bytes, options({ acceptUnsigned: true }, NOW - 11)), 'ERR_CORIM_NOT_YET_VALID', 'rim-validity')
    rejects(() => processCorim(unsigned([[4, map([1, NOW])]]), options({ acceptUnsigned: true })), 'ERR_CORIM_MALFORMED', 'epoch time')
    rejects(() => processCorim(unsigned([[4, map([0, epoch(NOW)], [1, epoch(NOW - 1)])]]), options({ acceptUnsigned: true })), 'ERR_CORIM_MALFORMED', 'not-before is after')
  })

  it('is refused unless the caller accepts unsigned CoRIMs', () => {
    rejects(() => processCorim(unsigned(), options({})), 'ERR_CORIM_SIGNATURE', 'unsigned CoRIM refused')
    rejects(() => processCorim(unsigned(), options({ keys: [signer.publicKey] })), 'ERR_CORIM_SIGNATURE')
  })

  it('refuses a wrong top-level tag, an untagged map and other concise tags by name', () => {
    const inner = map([0, 'x'], [1, [tag(506, encodeCbor(comid))]])
    rejects(() => processCorim(encodeCbor(inner), options({ acceptUnsigned: true })), 'ERR_CORIM_MALFORMED', 'untagged')
    rejects(() => processCorim(encodeCbor(tag(500, inner)), options({ acceptUnsigned: true })), 'ERR_CORIM_MALFORMED', 'tag 500')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(506, inner)), { profiles }), 'ERR_CORIM_MALFORMED', '506 (CoMID)')
    const coswid = encodeCbor(tag(501, map([0, 'x'], [1, [tag(505, encodeCbor(map([0, 'sw'])))]])))
    rejects(() => decodeUnsignedCorim(coswid, { profiles }), 'ERR_CORIM_UNSUPPORTED', '505 (CoSWID)')
    const cotl = encodeCbor(tag(501, map([0, 'x'], [1, [tag(508, encodeCbor(map([0, 'tl'])))]])))
    rejects(() => decodeUnsignedCorim(cotl, { profiles }), 'ERR_CORIM_UNSUPPORTED', '508 (CoTL)')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([0, 'x'], [1, [encodeCbor(comid)]]))), { profiles }), 'ERR_CORIM_MALFORMED', 'tagged concise tag')
  })

  it('refuses missing id or tags, an empty tag list, too many tags and unknown keys', () => {
    const t = [tag(506, encodeCbor(comid))]
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([1, t]))), { profiles }), 'ERR_CORIM_MALFORMED', 'corim-id')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([0, 'x']))), { profiles }), 'ERR_CORIM_MALFORMED', 'corim-map{1}')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([0, 'x'], [1, []]))), { profiles }), 'ERR_CORIM_MALFORMED', 'must not be empty')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([0, 'x'], [1, [t[0]!, t[0]!]]))), { profiles, maxTags: 1 }), 'ERR_CORIM_MALFORMED', 'at most 1')
    rejects(() => decodeUnsignedCorim(unsigned([[6, 'x']]), { profiles }), 'ERR_CORIM_UNSUPPORTED', 'corim-map key 6')
    rejects(() => decodeUnsignedCorim(unsigned([[-1, 'x']]), { profiles }), 'ERR_CORIM_UNSUPPORTED', 'extension -1')
    rejects(() => decodeUnsignedCorim(encodeCbor(tag(501, map([0, new Uint8Array(3)], [1, t]))), { profiles }), 'ERR_CORIM_MALFORMED', 'UUID')
  })

  it('refuses oversized input and a bad CoMID inside, naming where', () => {
    rejects(() => decodeUnsignedCorim(unsigned(), { profiles, maxBytes: 32 }), 'ERR_CORIM_MALFORMED', 'limit is 32')
    const broken = encodeCbor(tag(501, map([0, 'x'], [1, [tag(506, fromHex('a101'))]])))
    rejects(() => decodeUnsignedCorim(broken, { profiles }), 'ERR_CORIM_MALFORMED', 'corim-map{1}[0]')
  })

  it('rejects the whole CoRIM for an unknown profile, URI or OID, unless it is registered', () => {
    rejects(() => decodeUnsignedCorim(unsigned([], 'http://example.com/nope'), { profiles }), 'ERR_CORIM_PROFILE_UNKNOWN', 'http://example.com/nope')
    const oid = encodeCbor(tag(501, map([0, 'x'], [1, [tag(506, encodeCbor(comid))]], [3, tag(111, fromHex('2b0601040182a0590102'))])))
    rejects(() => decodeUnsignedCorim(oid, { profiles }), 'ERR_CORIM_PROFILE_UNKNOWN', '1.3.6.1.4.1.36953.1.2')
    const registered = new CorimProfileRegistry([{ ids: [{ type: 'oid', value: '1.3.6.1.4.1.36953.1.2' }], name: 'mine' }])
    assert.equal(decodeUnsignedCorim(oid, { profiles: registered }).profile?.name, 'mine')
    const badType = encodeCbor(tag(501, map([0, 'x'], [1, [tag(506, encodeCbor(comid))]], [3, tag(37, new Uint8Array(16))])))
    rejects(() => decodeUnsignedCorim(badType, { profiles }), 'ERR_CORIM_UNSUPPORTED', 'profile of type tag 37')
  })

  it('reads OIDs in dotted form and refuses non-minimal arcs', () => {
    assert.equal(oidToDotted(fromHex('2a864886f70d'), 'p'), '1.2.840.113549')
    assert.equal(oidToDotted(fromHex('8837'), 'p'), '2.999')
    rejects(() => oidToDotted(fromHex('2a8001'), 'p'), 'ERR_CORIM_MALFORMED', 'leading 0x80')
    rejects(() => oidToDotted(fromHex('2a86'), 'p'), 'ERR_CORIM_MALFORMED', 'ends inside')
  })

  it('applies the profile rules after decoding', () => {
    const bad = corimBytes([comidMap(map([0, [[map([0, psaClass(new Uint8Array(31))]), [psaComponent()]]]]))], [], PSA)
    assert.equal(decodeUnsignedCorim(bad, { profiles }).corim.comids.length, 1)
    rejects(() => processCorim(bad, options({ acceptUnsigned: true })), 'ERR_CORIM_PROFILE_VIOLATION', 'exactly 32 bytes')
  })
})

describe('signed CoRIM', () => {
  const payload = psaCorim(iak)
  const signed = signCorim(signer, { payload, meta: corimMeta(NOW - 100, NOW + 100) })

  it('verifies with a provisioning key the caller trusts and records the signer', () => {
    const { corim, profile } = processCorim(signed, options({ keys: [other.publicKey, signer.publicKey] }))
    assert.equal(profile?.name, 'PSA endorsement profile')
    assert.deepEqual(corim.signature?.signer, { name: 'ACME', uri: 'https://acme.example' })
    assert.deepEqual(corim.signature?.validity, { notBefore: NOW - 100, notAfter: NOW + 100 })
    assert.equal(corim.signature?.keySpkiSha256, signer.publicKey.spkiSha256)
  })

  it('refuses a CoRIM no trusted key verifies, and never uses a key from the CoRIM', () => {
    rejects(() => processCorim(signed, options({ keys: [other.publicKey] })), 'ERR_CORIM_SIGNATURE', 'does not verify')
    rejects(() => processCorim(signed, options({ keys: [] })), 'ERR_CORIM_SIGNATURE', 'no trusted key')
    rejects(() => processCorim(signed, options({ keys: [generateTestKey('EdDSA-Ed25519').publicKey] })), 'ERR_CORIM_SIGNATURE', 'no trusted key')
    // The IAK inside the CoRIM is not a provisioning key.
    rejects(() => processCorim(signed, options({ keys: [iak.publicKey] })), 'ERR_CORIM_SIGNATURE')
    const tampered = Uint8Array.from(signed)
    tampered[tampered.length - 80] = tampered[tampered.length - 80]! ^ 1
    rejects(() => processCorim(tampered, options({ keys: [signer.publicKey] })), 'ERR_CORIM_SIGNATURE')
  })

  it('checks the signature validity against the injected clock', () => {
    const trust = { keys: [signer.publicKey] }
    rejects(() => processCorim(signed, options(trust, NOW + 101)), 'ERR_CORIM_EXPIRED', 'signature validity')
    rejects(() => processCorim(signed, options(trust, NOW - 101)), 'ERR_CORIM_NOT_YET_VALID', 'signature validity')
  })

  it('accepts CWT claims instead of corim-meta, and requires them to agree when both are present', () => {
    const cwtOnly = signCorim(signer, { payload, meta: null, cwt: map([1, 'ACME'], [2, 'test-corim'], [4, NOW + 5]) })
    assert.equal(processCorim(cwtOnly, options({ keys: [signer.publicKey] })).corim.signature?.signer.name, 'ACME')
    rejects(() => processCorim(cwtOnly, options({ keys: [signer.publicKey] }, NOW + 6)), 'ERR_CORIM_EXPIRED', 'CWT')
    const disagree = signCorim(signer, { payload, cwt: map([1, 'Mallory']) })
    rejects(() => processCorim(disagree, options({ keys: [signer.publicKey] })), 'ERR_CORIM_MALFORMED', 'disagrees')
    const wrongSub = signCorim(signer, { payload, meta: null, cwt: map([1, 'ACME'], [2, 'another']) })
    rejects(() => processCorim(wrongSub, options({ keys: [signer.publicKey] })), 'ERR_CORIM_MALFORMED', 'sub')
  })

  it('refuses a wrong content type, missing metadata, detached or hash-envelope payloads', () => {
    const trust = { keys: [signer.publicKey] }
    rejects(() => processCorim(signCorim(signer, { payload, contentType: 'application/cbor' }), options(trust)), 'ERR_CORIM_MALFORMED', 'content type')
    rejects(() => processCorim(signCorim(signer, { payload, meta: null }), options(trust)), 'ERR_CORIM_MALFORMED', 'corim-meta (8) or CWT claims')
    rejects(() => processCorim(signCorim(signer, { payload, extraProtected: [[258, -16]] }), options(trust)), 'ERR_CORIM_UNSUPPORTED', 'hash-envelope')
    const header = map([1, signer.coseAlg], [3, 'application/rim+cbor'], [8, encodeCbor(corimMeta(NOW - 1, NOW + 1))])
    rejects(() => processCorim(signSign1(signer, { protectedHeader: header as never, payload: null }), options(trust)), 'ERR_CORIM_UNSUPPORTED', 'detached')
    const metaUnprotected = signSign1(signer, {
      protectedHeader: map([1, signer.coseAlg], [3, 'application/rim+cbor'], [15, map([1, 'ACME'])]) as never,
      unprotectedHeader: map([8, encodeCbor(corimMeta(NOW - 1, NOW + 1))]) as never,
      payload,
    })
    rejects(() => processCorim(metaUnprotected, options(trust)), 'ERR_CORIM_MALFORMED', 'protected header')
    rejects(() => processCorim(signCorim(signer, { payload, meta: map([0, map([0, ''])]) }), options(trust)), 'ERR_CORIM_MALFORMED', 'signer-name')
  })

  it('refuses a payload that is not a tagged 501 CoRIM, and COSE faults under CoRIM codes', () => {
    const trust = { keys: [signer.publicKey] }
    rejects(() => processCorim(signCorim(signer, { payload: encodeCbor(comid) }), options(trust)), 'ERR_CORIM_MALFORMED', 'expected 501')
    rejects(() => processCorim(signSign1(signer, { protectedHeader: map([1, -999]) as never, payload }), options(trust)), 'ERR_CORIM_UNSUPPORTED')
    rejects(() => processCorim(signSign1(signer, { protectedHeader: new Uint8Array([0x01]), payload }), options(trust)), 'ERR_CORIM_MALFORMED')
  })

  it('verifies through a protected x5chain only with the caller check, never the chain alone', async () => {
    const pki = await buildPki()
    const other = await buildPki()
    const leafSigner = { ...signer, privateKey: pki.leaf.privateKey, publicKey: importCertificateKey(pki.leaf.der) }
    const chained = signCorim(leafSigner, { payload, meta: corimMeta(PKI_NOW - 100, PKI_NOW + 100), extraProtected: [[33, pki.chain as CborIn]] })
    const at = (store: X509TrustStore) => (chain: readonly Uint8Array[], now: number) => validateChain(chain, store, now).leafKey
    rejects(() => processCorim(chained, options({ keys: [signer.publicKey] }, PKI_NOW)), 'ERR_CORIM_SIGNATURE', 'no certificate roots')
    const { corim } = processCorim(chained, options({ x5chain: at(new X509TrustStore(pki.anchors)) }, PKI_NOW))
    assert.equal(corim.signature?.keySpkiSha256, leafSigner.publicKey.spkiSha256)
    rejects(() => processCorim(chained, options({ x5chain: at(new X509TrustStore(other.anchors)) }, PKI_NOW)), 'ERR_CORIM_SIGNATURE', 'x5chain is not trusted')
    // A chain only in the unprotected bucket identifies nothing: the caller's keys decide.
    const unprotectedChain = signSign1(leafSigner, {
      protectedHeader: map([1, -7], [3, 'application/rim+cbor'], [8, encodeCbor(corimMeta(PKI_NOW - 100, PKI_NOW + 100))]) as never,
      unprotectedHeader: map([33, pki.chain as CborIn]) as never,
      payload,
    })
    rejects(() => processCorim(unprotectedChain, options({ keys: [signer.publicKey], x5chain: at(new X509TrustStore(pki.anchors)) }, PKI_NOW)), 'ERR_CORIM_SIGNATURE')
  })

})
