import 'reflect-metadata'
import assert from 'node:assert/strict'
import { generateKeyPairSync, sign, verify, webcrypto, type KeyObject } from 'node:crypto'
import { before, describe, it } from 'node:test'
import * as x509 from '@peculiar/x509'
import {
  MAX_CERTIFICATE_BYTES,
  MAX_CHAIN_BYTES,
  validateChain,
  X509TrustStore,
  type X509Anchor,
  type X509TrustStoreOptions,
} from '../../../src/crypto/x509.js'
import { children, readTlv } from '../../../src/crypto/x509-der.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import {
  authorityKeyId,
  buildPki,
  DAY,
  derTlv,
  generateP256,
  hardwareModuleNameSan,
  HOUR,
  issue,
  makeCrl,
  NOW,
  opaqueExtension,
  rsaSpki,
  subjectKeyId,
  YEAR,
  type CryptoKeyPair,
  type PkiFault,
  type TestPki,
} from '../../helpers/pki.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

function rejectsConfig(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CONFIG_INVALID')
}

const storeOf = (anchors: readonly X509Anchor[]) => new X509TrustStore(anchors)
/** A device certificate under the standard intermediate. */
const leafOf = (p: TestPki) => ({ subject: 'CN=Dev', issuer: p.intermediate })

let pki: TestPki
let store: X509TrustStore

before(async () => {
  pki = await buildPki()
  store = storeOf(pki.anchors)
})

describe('validateChain: a good chain', () => {
  it('validates leaf + intermediate (anchor omitted) and returns the leaf key', () => {
    const result = validateChain(pki.chain, store, NOW)
    const data = new TextEncoder().encode('evidence signed by the device key')
    const signature = sign('sha256', data, { key: pki.leaf.privateKey, dsaEncoding: 'ieee-p1363' })
    assert.ok(verify('sha256', data, { key: result.leafKey.keyObject, dsaEncoding: 'ieee-p1363' }, signature))
    assert.equal(result.leafKey.crv, 'P-256')
    assert.equal(result.leaf.subject, 'CN=Assay Test Device')
    assert.equal(result.leaf.serialHex, pki.leaf.serialHex)
    assert.equal(result.leaf.notAfter, NOW + YEAR)
    assert.equal(result.leaf.ueid, undefined)
    assert.equal(result.anchorSubject, 'CN=Assay Test Root, O=Assay Test')
    assert.deepEqual(result.path, [pki.leaf.der, pki.intermediate.der])
  })

  it('validates the full chain with the anchor sent last, and leaves the anchor out of the path', () => {
    const result = validateChain(pki.fullChain, storeOf(pki.anchors), NOW)
    assert.deepEqual(result.path, [pki.leaf.der, pki.intermediate.der])
  })

  it('validates a leaf issued directly by the anchor', async () => {
    const leaf = await issue({ subject: 'CN=Direct Device', issuer: pki.root })
    assert.deepEqual(validateChain([leaf.der], store, NOW).path, [leaf.der])
  })

  it('finds the right anchor among several, including two with the same name', async () => {
    const sameName = await issue({ subject: 'CN=Assay Test Root, O=Assay Test', ca: true })
    const other = await issue({ subject: 'CN=Unrelated Root', ca: true })
    const many = storeOf([{ der: other.der }, { der: sameName.der }, ...pki.anchors])
    assert.equal(many.size, 3)
    assert.equal(validateChain(pki.chain, many, NOW).anchorSubject, 'CN=Assay Test Root, O=Assay Test')
  })

  it('accepts a leaf without keyUsage, a leaf that is a CA, and a CA without keyUsage', async () => {
    const intermediate = await issue({ subject: 'CN=No KU CA', issuer: pki.root, ca: true, keyUsage: null })
    const leaf = await issue({ subject: 'CN=Dev', issuer: intermediate, keyUsage: null, ca: true })
    assert.ok(validateChain([leaf.der, intermediate.der], store, NOW))
  })

  it('accepts validity bounds inclusively (RFC 5280 §4.1.2.5)', async () => {
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, notBefore: NOW, notAfter: NOW + 10 })
    const s = storeOf(pki.anchors)
    assert.ok(validateChain([leaf.der, pki.intermediate.der], s, NOW))
    s.clearCache()
    assert.ok(validateChain([leaf.der, pki.intermediate.der], s, NOW + 10))
  })

  it('does not alias the caller buffers', () => {
    const chain = pki.chain.map((c) => Uint8Array.from(c))
    const s = storeOf(pki.anchors)
    const result = validateChain(chain, s, NOW)
    chain[0]!.fill(0)
    assert.deepEqual(result.path[0], pki.leaf.der)
    rejects(() => validateChain(chain, s, NOW), 'ERR_X509_MALFORMED')
  })
})

describe('validateChain: rejections', () => {
  const cases: ReadonlyArray<[PkiFault, ErrorCode]> = [
    ['expired-leaf', 'ERR_X509_EXPIRED'],
    ['not-yet-valid-leaf', 'ERR_X509_NOT_YET_VALID'],
    ['leaf-key-usage', 'ERR_X509_KEY_USAGE'],
    ['intermediate-key-usage', 'ERR_X509_KEY_USAGE'],
    ['intermediate-not-ca', 'ERR_X509_NOT_CA'],
    ['intermediate-no-basic-constraints', 'ERR_X509_NOT_CA'],
    ['root-path-length-0', 'ERR_X509_PATH_LENGTH'],
    ['unknown-root', 'ERR_X509_UNKNOWN_ANCHOR'],
    ['revoked-serial', 'ERR_X509_REVOKED'],
    ['crl-revoked', 'ERR_X509_REVOKED'],
    ['self-signed-leaf', 'ERR_X509_UNKNOWN_ANCHOR'],
  ]
  for (const [fault, code] of cases) {
    it(`${fault} → ${code}`, async () => {
      const broken = await buildPki({ fault })
      rejects(() => validateChain(broken.chain, storeOf(broken.anchors), NOW), code)
    })
  }

  it('no anchors → ERR_X509_NO_ANCHOR, whatever the chain', () => {
    const empty = storeOf([])
    assert.equal(empty.size, 0)
    rejects(() => validateChain(pki.chain, empty, NOW), 'ERR_X509_NO_ANCHOR')
    rejects(() => validateChain([], empty, NOW), 'ERR_X509_NO_ANCHOR')
  })

  it('an empty chain, more than 8 certificates, or a non-array → ERR_X509_MALFORMED', () => {
    rejects(() => validateChain([], store, NOW), 'ERR_X509_MALFORMED')
    const nine = Array.from({ length: 9 }, () => pki.intermediate.der)
    rejects(() => validateChain([pki.leaf.der, ...nine.slice(1)], store, NOW), 'ERR_X509_MALFORMED')
    rejects(() => validateChain('x' as never, store, NOW), 'ERR_X509_MALFORMED')
  })

  it('bytes that are not one DER certificate → ERR_X509_MALFORMED', () => {
    const der = pki.leaf.der
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(1, 2, 3),
      der.subarray(0, der.length - 1),
      Uint8Array.of(...der, 0),
      Uint8Array.of(0x30, 0x80, ...der.subarray(4), 0, 0),
    ]
    for (const b of bad) rejects(() => validateChain([b, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
    rejects(() => validateChain(['not bytes' as never], store, NOW), 'ERR_X509_MALFORMED')
    rejects(() => validateChain([new Uint8Array(20_000)], store, NOW), 'ERR_X509_MALFORMED')
  })

  it('a self-signed leaf that is a provisioned anchor → ERR_X509_SELF_SIGNED_LEAF', async () => {
    rejects(() => validateChain([pki.root.der], store, NOW), 'ERR_X509_SELF_SIGNED_LEAF')
    rejects(() => validateChain([pki.root.der, pki.root.der], store, NOW), 'ERR_X509_SELF_SIGNED_LEAF')
    const selfSigned = await issue({ subject: 'CN=Self Device' })
    const trusting = storeOf([{ der: selfSigned.der }])
    rejects(() => validateChain([selfSigned.der], trusting, NOW), 'ERR_X509_SELF_SIGNED_LEAF')
  })

  it('a self-signed leaf that copies an anchor name → ERR_X509_UNKNOWN_ANCHOR', async () => {
    // keyUsage fit for a leaf and a CA, so that only the anchor's signature can tell it apart.
    const { digitalSignature, keyCertSign } = x509.KeyUsageFlags
    const keyUsage = digitalSignature | keyCertSign
    const impostor = await issue({ subject: 'CN=Assay Test Root, O=Assay Test', ca: true, keyUsage })
    rejects(() => validateChain([impostor.der], store, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    const leaf = await issue({ subject: 'CN=Dev', issuer: impostor })
    rejects(() => validateChain([leaf.der, impostor.der], store, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    rejects(() => validateChain([leaf.der], store, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
  })

  it('issuer name not equal to the next subject → ERR_X509_NAME_CHAINING', async () => {
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, issuerName: 'CN=Somebody Else' })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_X509_NAME_CHAINING')
    const other = await buildPki({ root: { subject: 'CN=Other Root' } })
    const both = storeOf([...pki.anchors, ...other.anchors])
    const crossed = [pki.leaf.der, pki.intermediate.der, other.root.der]
    rejects(() => validateChain(crossed, both, NOW), 'ERR_X509_NAME_CHAINING')
  })

  it('compares names as DER: the same text in another string type does not chain', async () => {
    const intermediate = await issue({ subject: [{ CN: [{ utf8String: 'Int' }] }], issuer: pki.root, ca: true })
    const printable = [{ CN: [{ printableString: 'Int' }] }]
    const leaf = await issue({ subject: 'CN=Dev', issuer: intermediate, issuerName: printable })
    assert.equal(leaf.cert.issuer, intermediate.cert.subject)
    rejects(() => validateChain([leaf.der, intermediate.der], store, NOW), 'ERR_X509_NAME_CHAINING')
  })

  it('a signature by another key under the right name → ERR_X509_SIGNATURE_INVALID', async () => {
    const stranger = await generateP256()
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, signWith: stranger.privateKey })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_X509_SIGNATURE_INVALID')
  })

  it('a flipped bit in the signature → ERR_X509_SIGNATURE_INVALID', () => {
    const tampered = Uint8Array.from(pki.leaf.der)
    tampered[tampered.length - 5]! ^= 0x01
    rejects(() => validateChain([tampered, pki.intermediate.der], store, NOW), 'ERR_X509_SIGNATURE_INVALID')
  })

  it('a signature algorithm outside the allow-list (ECDSA with SHA-1) → ERR_X509_ALG_NOT_ALLOWED', async () => {
    const sha1 = { name: 'ECDSA', hash: 'SHA-1' }
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, signingAlgorithm: sha1 })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_X509_ALG_NOT_ALLOWED')
  })

  it('an unprocessed critical extension → ERR_X509_EXTENSION_UNSUPPORTED; non-critical is ignored', async () => {
    const critical = await issue({ ...leafOf(pki), extensions: [opaqueExtension('1.2.3.4.5', true)] })
    rejects(() => validateChain([critical.der, pki.intermediate.der], store, NOW), 'ERR_X509_EXTENSION_UNSUPPORTED')
    const nameConstraints = await issue({
      subject: 'CN=NC CA',
      issuer: pki.root,
      ca: true,
      extensions: [opaqueExtension('2.5.29.30', true)],
    })
    const leaf = await issue({ subject: 'CN=Dev', issuer: nameConstraints })
    rejects(() => validateChain([leaf.der, nameConstraints.der], store, NOW), 'ERR_X509_EXTENSION_UNSUPPORTED')
    const benign = await issue({ ...leafOf(pki), extensions: [opaqueExtension('1.2.3.4.5', false)] })
    assert.ok(validateChain([benign.der, pki.intermediate.der], store, NOW))
  })

  it('a duplicated extension → ERR_X509_MALFORMED', async () => {
    const leaf = await issue({
      subject: 'CN=Dev',
      issuer: pki.intermediate,
      extensions: [opaqueExtension('1.2.3.4.5', false), opaqueExtension('1.2.3.4.5', false)],
    })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
  })

  it('an anchor without cA → ERR_X509_NOT_CA; an anchor without keyCertSign → ERR_X509_KEY_USAGE', async () => {
    const notCa = await buildPki({ root: { ca: false, keyUsage: x509.KeyUsageFlags.keyCertSign } })
    rejects(() => validateChain(notCa.chain, storeOf(notCa.anchors), NOW), 'ERR_X509_NOT_CA')
    const noCertSign = await buildPki({ root: { keyUsage: x509.KeyUsageFlags.digitalSignature } })
    rejects(() => validateChain(noCertSign.chain, storeOf(noCertSign.anchors), NOW), 'ERR_X509_KEY_USAGE')
  })

  it('enforces pathLenConstraint on intermediates and accepts a path that fits', async () => {
    const int1 = await issue({ subject: 'CN=Int 1', issuer: pki.root, ca: true, pathLength: 0 })
    const int2 = await issue({ subject: 'CN=Int 2', issuer: int1, ca: true })
    const leaf = await issue({ subject: 'CN=Dev', issuer: int2 })
    rejects(() => validateChain([leaf.der, int2.der, int1.der], store, NOW), 'ERR_X509_PATH_LENGTH')
    const roomy = await issue({ subject: 'CN=Int 1', issuer: pki.root, ca: true, pathLength: 1, keys: int1.keys })
    assert.ok(validateChain([leaf.der, int2.der, roomy.der], store, NOW))
    const tight = await buildPki({ root: { pathLength: 1 } })
    assert.ok(validateChain(tight.chain, storeOf(tight.anchors), NOW))
  })

  it('an expired or not yet valid intermediate or anchor fails the path', async () => {
    const oldInt = await buildPki({ intermediate: { notBefore: NOW - 3 * YEAR, notAfter: NOW - DAY } })
    rejects(() => validateChain(oldInt.chain, storeOf(oldInt.anchors), NOW), 'ERR_X509_EXPIRED')
    const oldRoot = await buildPki({ root: { notBefore: NOW - 20 * YEAR, notAfter: NOW - 1 } })
    rejects(() => validateChain(oldRoot.chain, storeOf(oldRoot.anchors), NOW), 'ERR_X509_EXPIRED')
    const youngRoot = await buildPki({ root: { notBefore: NOW + HOUR, notAfter: NOW + 10 * YEAR } })
    rejects(() => validateChain(youngRoot.chain, storeOf(youngRoot.anchors), NOW), 'ERR_X509_NOT_YET_VALID')
  })

  it('an unsupported leaf key → ERR_KEY_UNSUPPORTED', async () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey
    const spki = new Uint8Array(k1.export({ type: 'spki', format: 'der' }))
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, spki })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_KEY_UNSUPPORTED')
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
    const weak = await issue({
      subject: 'CN=Dev',
      issuer: pki.intermediate,
      spki: new Uint8Array(rsa1024.export({ type: 'spki', format: 'der' })),
    })
    rejects(() => validateChain([weak.der, pki.intermediate.der], store, NOW), 'ERR_KEY_UNSUPPORTED')
  })
})

/** Rebuilds `der` with tbs field `index` replaced, and signs it again with `key` (ECDSA-SHA256). */
function replaceTbsField(der: Uint8Array, index: number, field: Uint8Array, key: KeyObject): Uint8Array {
  const [tbs, algorithm] = children(der, readTlv(der, 0, der.length))
  const fields = children(der, tbs!).map((t) => der.subarray(t.start, t.end))
  fields[index] = field
  const newTbs = derTlv(0x30, ...fields)
  const signature = sign('sha256', newTbs, { key, dsaEncoding: 'der' })
  const algorithmDer = der.subarray(algorithm!.start, algorithm!.end)
  return derTlv(0x30, newTbs, algorithmDer, derTlv(0x03, Uint8Array.of(0), signature))
}

describe('validateChain: other algorithms and odd encodings', () => {
  it('validates chains signed with RSASSA-PKCS1-v1_5 SHA-256 and with Ed25519', async () => {
    const rsaAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    const rsaKeys = await webcrypto.subtle.generateKey(
      { ...rsaAlg, modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1) },
      true,
      ['sign', 'verify'],
    )
    const rsaRoot = await issue({ subject: 'CN=RSA Root', ca: true, keys: rsaKeys, signingAlgorithm: rsaAlg })
    const rsaLeaf = await issue({ subject: 'CN=Dev', issuer: rsaRoot, signingAlgorithm: rsaAlg })
    assert.equal(validateChain([rsaLeaf.der], storeOf([{ der: rsaRoot.der }]), NOW).leafKey.crv, 'P-256')

    const ed25519 = { name: 'Ed25519' }
    const edKeys = (await webcrypto.subtle.generateKey(ed25519, true, ['sign', 'verify'])) as CryptoKeyPair
    const edRoot = await issue({ subject: 'CN=Ed Root', ca: true, keys: edKeys, signingAlgorithm: ed25519 })
    const edLeaf = await issue({ subject: 'CN=Dev', issuer: edRoot, signingAlgorithm: ed25519 })
    assert.ok(validateChain([edLeaf.der], storeOf([{ der: edRoot.der }]), NOW))

    // An anchor of another key type under the same name never verifies the certificate.
    const ecRsaName = await issue({ subject: 'CN=RSA Root', ca: true })
    rejects(() => validateChain([rsaLeaf.der], storeOf([{ der: ecRsaName.der }]), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    const ecEdName = await issue({ subject: 'CN=Ed Root', ca: true })
    rejects(() => validateChain([edLeaf.der], storeOf([{ der: ecEdName.der }]), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    const ecLeaf = await issue({ subject: 'CN=Dev', issuer: ecEdName })
    rejects(() => validateChain([ecLeaf.der], storeOf([{ der: edRoot.der }]), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    rejects(() => validateChain([ecLeaf.der], storeOf([{ der: rsaRoot.der }]), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
  })

  it('basicConstraints that do not decode, or a negative pathLenConstraint → ERR_X509_MALFORMED', async () => {
    const garbage = await issue({ ...leafOf(pki), extensions: [new x509.Extension('2.5.29.19', true, derTlv(0x04))] })
    rejects(() => validateChain([garbage.der, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
    const negative = derTlv(0x30, derTlv(0x01, Uint8Array.of(0xff)), derTlv(0x02, Uint8Array.of(0xff)))
    const bc = new x509.Extension('2.5.29.19', true, negative)
    const ca = await issue({ subject: 'CN=Neg CA', issuer: pki.root, extensions: [bc] })
    const leaf = await issue({ subject: 'CN=Dev', issuer: ca })
    rejects(() => validateChain([leaf.der, ca.der], store, NOW), 'ERR_X509_MALFORMED')
  })

  it('a subject Name that does not decode → ERR_X509_MALFORMED (leaf) or ERR_CONFIG_INVALID (anchor)', async () => {
    const bogusName = derTlv(0x30, derTlv(0x04, Uint8Array.of(1)))
    const leaf = replaceTbsField(pki.leaf.der, 5, bogusName, pki.intermediate.privateKey)
    rejects(() => validateChain([leaf, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
    const root = replaceTbsField(pki.root.der, 5, bogusName, pki.root.privateKey)
    rejectsConfig(() => storeOf([{ der: root }]))
  })
})

describe('validateChain: revocation', () => {
  it('normalises revoked serials (case, leading zeros, colons) and applies them to intermediates', async () => {
    const colons = pki.intermediate.serialHex.toUpperCase().match(/../g)!.join(':')
    const s = storeOf([{ der: pki.root.der, revokedSerials: new Set([`00:${colons}`]) }])
    rejects(() => validateChain(pki.chain, s, NOW), 'ERR_X509_REVOKED')
  })

  it('a current CRL from the anchor listing the intermediate → ERR_X509_REVOKED', async () => {
    const crl = await makeCrl({ issuer: pki.root, serials: [pki.intermediate.serialHex] })
    rejects(() => validateChain(pki.chain, storeOf([{ der: pki.root.der, crl }]), NOW), 'ERR_X509_REVOKED')
  })

  it('a current CRL that lists other serials lets the chain through', async () => {
    const crl = await makeCrl({ issuer: pki.intermediate, serials: ['0badc0de'] })
    assert.ok(validateChain(pki.chain, storeOf([{ der: pki.root.der, crl }]), NOW))
  })

  it('a CRL whose issuer is not in the path does not apply', async () => {
    const other = await buildPki({ intermediate: { subject: 'CN=Other Intermediate' } })
    const crl = await makeCrl({ issuer: other.intermediate, serials: [pki.leaf.serialHex], nextUpdate: NOW - 1 })
    assert.ok(validateChain(pki.chain, storeOf([{ der: pki.root.der, crl }]), NOW))
  })

  it('a CRL with a bad signature → ERR_X509_CRL_INVALID', async () => {
    const stranger = await generateP256()
    const crl = await makeCrl({ issuer: pki.intermediate, signWith: stranger.privateKey })
    rejects(() => validateChain(pki.chain, storeOf([{ der: pki.root.der, crl }]), NOW), 'ERR_X509_CRL_INVALID')
  })

  it('a CRL past nextUpdate or before thisUpdate → ERR_X509_CRL_INVALID', async () => {
    const stale = await makeCrl({ issuer: pki.root, thisUpdate: NOW - 2 * DAY, nextUpdate: NOW })
    rejects(() => validateChain(pki.chain, storeOf([{ der: pki.root.der, crl: stale }]), NOW), 'ERR_X509_CRL_INVALID')
    const early = await makeCrl({ issuer: pki.root, thisUpdate: NOW + 1, nextUpdate: NOW + DAY })
    rejects(() => validateChain(pki.chain, storeOf([{ der: pki.root.der, crl: early }]), NOW), 'ERR_X509_CRL_INVALID')
  })

  it('a CRL issuer whose keyUsage lacks cRLSign → ERR_X509_CRL_INVALID', async () => {
    const keyUsage = x509.KeyUsageFlags.keyCertSign
    const intermediate = await issue({ subject: 'CN=No CRL Sign', issuer: pki.root, ca: true, keyUsage })
    const leaf = await issue({ subject: 'CN=Dev', issuer: intermediate })
    const crl = await makeCrl({ issuer: intermediate })
    const s = storeOf([{ der: pki.root.der, crl }])
    rejects(() => validateChain([leaf.der, intermediate.der], s, NOW), 'ERR_X509_CRL_INVALID')
  })
})

describe('validateChain: cache', () => {
  it('returns the same result on a hit and re-checks the clock', () => {
    const s = storeOf(pki.anchors)
    const first = validateChain(pki.chain, s, NOW)
    assert.equal(validateChain(pki.chain, s, NOW + 1), first)
    assert.equal(validateChain(pki.chain.map((c) => Uint8Array.from(c)), s, NOW), first)
    rejects(() => validateChain(pki.chain, s, pki.leaf.cert.notAfter.getTime() / 1000 + 1), 'ERR_X509_EXPIRED')
    rejects(() => validateChain(pki.chain, s, NOW - 2 * DAY), 'ERR_X509_NOT_YET_VALID')
    assert.equal(validateChain(pki.chain, s, NOW), first)
  })

  it('re-checks CRL currency on a hit', async () => {
    const crl = await makeCrl({ issuer: pki.intermediate, nextUpdate: NOW + HOUR })
    const s = storeOf([{ der: pki.root.der, crl }])
    assert.ok(validateChain(pki.chain, s, NOW))
    rejects(() => validateChain(pki.chain, s, NOW + HOUR), 'ERR_X509_CRL_INVALID')
  })

  it('never caches a failure, and a failure at one time does not block a later success', () => {
    const s = storeOf(pki.anchors)
    rejects(() => validateChain(pki.chain, s, NOW + 20 * YEAR), 'ERR_X509_EXPIRED')
    assert.ok(validateChain(pki.chain, s, NOW))
  })

  it('keys the cache on every byte: a chain that differs in one byte is validated afresh', () => {
    const s = storeOf(pki.anchors)
    validateChain(pki.chain, s, NOW)
    const tampered = Uint8Array.from(pki.leaf.der)
    tampered[tampered.length - 5]! ^= 0x01
    rejects(() => validateChain([tampered, pki.intermediate.der], s, NOW), 'ERR_X509_SIGNATURE_INVALID')
    const anchorSigned = Uint8Array.from(pki.intermediate.der)
    anchorSigned[anchorSigned.length - 5]! ^= 0x01
    // The anchor's signature on the last certificate is what makes the anchor known.
    rejects(() => validateChain([pki.leaf.der, anchorSigned], s, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
  })

  it('is per store: a chain validated under one store is unknown to another', async () => {
    validateChain(pki.chain, store, NOW)
    const other = await buildPki()
    rejects(() => validateChain(pki.chain, storeOf(other.anchors), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
  })

  it('is bounded and can be disabled', () => {
    const tiny = new X509TrustStore(pki.anchors, { cacheLimit: 1 })
    const a = validateChain(pki.chain, tiny, NOW)
    validateChain(pki.fullChain, tiny, NOW)
    assert.notEqual(validateChain(pki.chain, tiny, NOW), a)
    const none = new X509TrustStore(pki.anchors, { cacheLimit: 0 })
    assert.notEqual(validateChain(pki.chain, none, NOW), validateChain(pki.chain, none, NOW))
  })

  it('clearCache forgets validated paths', () => {
    const s = storeOf(pki.anchors)
    const first = validateChain(pki.chain, s, NOW)
    s.clearCache()
    assert.notEqual(validateChain(pki.chain, s, NOW), first)
  })
})

describe('validateChain: UEID', () => {
  it('reads hwSerialNum of a subjectAltName hardwareModuleName otherName', async () => {
    const ueid = Uint8Array.of(0x01, ...new Uint8Array(32).fill(0xab))
    const leaf = await issue({ ...leafOf(pki), extensions: [hardwareModuleNameSan([ueid])] })
    const result = validateChain([leaf.der, pki.intermediate.der], store, NOW)
    assert.deepEqual(result.leaf.ueid, ueid)
    assert.equal(result.leaf.ueidSource, 'hardwareModuleName')
  })

  it('reads a subject serialNumber attribute that is hex of 7..33 bytes', async () => {
    const subject: x509.JsonNameParams = [{ CN: ['Dev'] }, { '2.5.4.5': ['02AABBCCDDEEFF01'] }]
    const leaf = await issue({ subject, issuer: pki.intermediate })
    const result = validateChain([leaf.der, pki.intermediate.der], store, NOW)
    assert.deepEqual(result.leaf.ueid, Uint8Array.of(0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01))
    assert.equal(result.leaf.ueidSource, 'subjectSerialNumber')
  })

  it('prefers the hardwareModuleName over the subject serialNumber', async () => {
    const ueid = Uint8Array.of(1, 2, 3, 4, 5, 6, 7)
    const leaf = await issue({
      subject: [{ CN: ['Dev'] }, { '2.5.4.5': ['0102030405060708'] }],
      issuer: pki.intermediate,
      extensions: [hardwareModuleNameSan([ueid])],
    })
    assert.deepEqual(validateChain([leaf.der, pki.intermediate.der], store, NOW).leaf.ueid, ueid)
  })

  it('ignores values that are not hex or not 7..33 bytes', async () => {
    for (const serial of ['SN-12345', '010203040506', '01'.repeat(34), '0102030405060708a']) {
      const leaf = await issue({ subject: [{ CN: ['Dev'] }, { '2.5.4.5': [serial] }], issuer: pki.intermediate })
      assert.equal(validateChain([leaf.der, pki.intermediate.der], store, NOW).leaf.ueid, undefined, serial)
    }
    const short = await issue({ ...leafOf(pki), extensions: [hardwareModuleNameSan([Uint8Array.of(1, 2)])] })
    assert.equal(validateChain([short.der, pki.intermediate.der], store, NOW).leaf.ueid, undefined)
  })

  it('refuses a leaf that names two different devices → ERR_X509_MALFORMED', async () => {
    const san = hardwareModuleNameSan([new Uint8Array(16).fill(1), new Uint8Array(16).fill(2)])
    const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, extensions: [san] })
    rejects(() => validateChain([leaf.der, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
  })

  it('accepts a critical subjectAltName', async () => {
    const san = hardwareModuleNameSan([new Uint8Array(16).fill(3)], true)
    const leaf = await issue({ ...leafOf(pki), extensions: [san] })
    assert.ok(validateChain([leaf.der, pki.intermediate.der], store, NOW).leaf.ueid)
  })
})

describe('X509TrustStore', () => {
  it('counts its anchors', () => {
    assert.equal(store.size, 1)
  })

  it('refuses an anchor that is not a DER certificate', () => {
    rejectsConfig(() => storeOf([{ der: Uint8Array.of(0x30, 0x00) }]))
    rejectsConfig(() => storeOf([{ der: 'pem' as never }]))
  })

  it('refuses the same anchor twice', () => {
    rejectsConfig(() => storeOf([...pki.anchors, ...pki.anchors]))
  })

  it('refuses a revoked serial that is not hex', () => {
    rejectsConfig(() => storeOf([{ der: pki.root.der, revokedSerials: new Set(['xyz']) }]))
    rejectsConfig(() => storeOf([{ der: pki.root.der, revokedSerials: new Set([17 as never]) }]))
  })

  it('refuses a CRL that is malformed, has no nextUpdate, or has a critical extension', async () => {
    rejectsConfig(() => storeOf([{ der: pki.root.der, crl: Uint8Array.of(1, 2, 3) }]))
    const forever = await makeCrl({ issuer: pki.root, nextUpdate: null })
    rejectsConfig(() => storeOf([{ der: pki.root.der, crl: forever }]))
    const deltaIndicator = new x509.Extension('2.5.29.27', true, derTlv(0x02, Uint8Array.of(1)))
    const delta = await makeCrl({ issuer: pki.root, extensions: [deltaIndicator] })
    rejectsConfig(() => storeOf([{ der: pki.root.der, crl: delta }]))
  })

  it('refuses an anchor with an unprocessed critical extension or an unsupported key', async () => {
    const nc = await issue({ subject: 'CN=NC Root', ca: true, extensions: [opaqueExtension('2.5.29.30', true)] })
    rejectsConfig(() => storeOf([{ der: nc.der }]))
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey
    const signer = await generateP256()
    const odd = await issue({
      subject: 'CN=K1 Root',
      ca: true,
      spki: new Uint8Array(k1.export({ type: 'spki', format: 'der' })),
      signWith: signer.privateKey,
    })
    rejectsConfig(() => storeOf([{ der: odd.der }]))
  })

  it('refuses a look-alike store object and a non-finite clock', () => {
    assert.throws(() => validateChain(pki.chain, { size: 1 } as never, NOW), TypeError)
    assert.throws(() => validateChain(pki.chain, store, Number.NaN), TypeError)
  })
})

/** Signature verifications `store` has run so far. */
const verifications = (s: X509TrustStore) => s.stats().signatureVerifications

/** Runs `fn`, which must fail with `code`, and returns how many signatures it verified. */
function costOfRefusal(s: X509TrustStore, fn: () => unknown, code: ErrorCode): number {
  const before = verifications(s)
  rejects(fn, code)
  return verifications(s) - before
}

const keyId = (byte: number) => new Uint8Array(20).fill(byte)

/** A store that has validated the standard chain: the anchor → intermediate link is known. */
function knowing(): X509TrustStore {
  const s = storeOf(pki.anchors)
  validateChain(pki.chain, s, NOW)
  return s
}

describe('validateChain: cost bounds (issue 7 item 9)', () => {
  it('refuses an RSA key over 4096 bits or with e ≠ 65537 in the chain, before it verifies anything', async () => {
    for (const spki of [rsaSpki(4097), rsaSpki(2048, 3), rsaSpki(16_384)]) {
      const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, spki })
      rejects(() => validateChain([leaf.der, pki.intermediate.der], storeOf(pki.anchors), NOW), 'ERR_KEY_UNSUPPORTED')
      const s = knowing()
      assert.equal(costOfRefusal(s, () => validateChain([leaf.der, pki.intermediate.der], s, NOW), 'ERR_KEY_UNSUPPORTED'), 0)
      // The same key as an intermediate's, where it would verify the certificate below.
      const signer = await generateP256()
      const int = await issue({ subject: 'CN=Big Int', issuer: pki.root, ca: true, spki })
      const below = await issue({ subject: 'CN=Dev', issuer: int, signWith: signer.privateKey })
      assert.equal(costOfRefusal(s, () => validateChain([below.der, int.der], s, NOW), 'ERR_KEY_UNSUPPORTED'), 0)
    }
  })

  it('accepts RSA keys of 2048 and 4096 bits with e = 65537 as far as the key checks go', async () => {
    for (const bits of [2048, 4096]) {
      const leaf = await issue({ subject: 'CN=Dev', issuer: pki.intermediate, spki: rsaSpki(bits) })
      assert.equal(validateChain([leaf.der, pki.intermediate.der], store, NOW).leafKey.modulusBits, bits)
    }
  })

  it('refuses an RSA anchor over 4096 bits or with e = 3 at load', async () => {
    const signer = await generateP256()
    for (const spki of [rsaSpki(4097), rsaSpki(2048, 3)]) {
      const root = await issue({ subject: 'CN=RSA Root', ca: true, spki, signWith: signer.privateKey })
      rejectsConfig(() => storeOf([{ der: root.der }]))
    }
  })

  it(`refuses a chain of more than ${MAX_CHAIN_BYTES} bytes in all, though each certificate is small enough`, async () => {
    const padding = (n: number) => new x509.Extension('1.2.3.4.5', false, derTlv(0x04, new Uint8Array(n)))
    const int1 = await issue({ subject: 'CN=Int 1', issuer: pki.root, ca: true, extensions: [padding(5600)] })
    const int2 = await issue({ subject: 'CN=Int 2', issuer: int1, ca: true, extensions: [padding(5600)] })
    const leaf = await issue({ subject: 'CN=Dev', issuer: int2, extensions: [padding(5600)] })
    const chain = [leaf.der, int2.der, int1.der]
    assert.ok(chain.every((c) => c.length < MAX_CERTIFICATE_BYTES) && chain.reduce((n, c) => n + c.length, 0) > MAX_CHAIN_BYTES)
    rejects(() => validateChain(chain, storeOf(pki.anchors), NOW), 'ERR_X509_MALFORMED')
    const s = storeOf(pki.anchors)
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_MALFORMED'), 0)
    assert.throws(() => validateChain(chain, s, NOW), /at most 16384/)
    // The same path without the padding validates.
    const slim = await issue({ subject: 'CN=Dev', issuer: int2 })
    assert.ok(validateChain([slim.der, int2.der, int1.der], s, NOW))
  })

  it('refuses more than 16 extensions, or an OID longer than 64 octets', async () => {
    const many = Array.from({ length: 17 }, (_, i) => opaqueExtension(`1.2.3.4.${i + 1}`, false))
    const crowded = await issue({ ...leafOf(pki), extensions: many })
    rejects(() => validateChain([crowded.der, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
    const longOid = `1.2.${Array.from({ length: 70 }, () => '1').join('.')}`
    const odd = await issue({ ...leafOf(pki), extensions: [opaqueExtension(longOid, false)] })
    rejects(() => validateChain([odd.der, pki.intermediate.der], store, NOW), 'ERR_X509_MALFORMED')
    const enough = await issue({ ...leafOf(pki), extensions: many.slice(0, 15) })
    assert.ok(validateChain([enough.der, pki.intermediate.der], store, NOW))
  })

  it('finds no anchor by name before any signature, even when every signature is forged', async () => {
    const stranger = await generateP256()
    const elsewhere = await buildPki({ root: { subject: 'CN=Unprovisioned Root' } })
    const forgedLeaf = await issue({ subject: 'CN=Dev', issuer: elsewhere.intermediate, signWith: stranger.privateKey })
    const s = storeOf(pki.anchors)
    const chain = [forgedLeaf.der, elsewhere.intermediate.der]
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_UNKNOWN_ANCHOR'), 0)
  })

  it('finds no anchor by key identifier before any signature', async () => {
    const root = await issue({ subject: 'CN=KI Root', ca: true, extensions: [subjectKeyId(keyId(1))] })
    const impostorKeys = await generateP256()
    // Names the provisioned root but carries the key identifier of another key.
    const int = await issue({
      subject: 'CN=KI Int',
      issuer: root,
      ca: true,
      keys: impostorKeys,
      signWith: impostorKeys.privateKey,
      extensions: [authorityKeyId(keyId(2)), subjectKeyId(keyId(3))],
    })
    const stranger = await generateP256()
    const leaf = await issue({ subject: 'CN=Dev', issuer: int, signWith: stranger.privateKey, extensions: [authorityKeyId(keyId(3))] })
    // Leaf-up verification would stop at the forged leaf instead.
    rejects(() => validateChain([leaf.der, int.der], storeOf([{ der: root.der }]), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    const s = storeOf([{ der: root.der }])
    assert.equal(costOfRefusal(s, () => validateChain([leaf.der, int.der], s, NOW), 'ERR_X509_UNKNOWN_ANCHOR'), 0)
  })

  it('picks the anchor among anchors of one name by key identifier, trying no other key', async () => {
    const [k1, k2] = [await generateP256(), await generateP256()]
    const name = 'CN=Twin Root'
    const r1 = await issue({ subject: name, ca: true, keys: k1, extensions: [subjectKeyId(keyId(1))] })
    const r2 = await issue({ subject: name, ca: true, keys: k2, extensions: [subjectKeyId(keyId(2))] })
    const leaf = await issue({ subject: 'CN=Dev', issuer: r2, extensions: [authorityKeyId(keyId(2))] })
    const s = storeOf([{ der: r1.der }, { der: r2.der }])
    assert.ok(validateChain([leaf.der], s, NOW))
    assert.equal(verifications(s), 1)
  })

  it('refuses a key identifier that does not match the next certificate → ERR_X509_NAME_CHAINING', async () => {
    const int = await issue({ subject: 'CN=KI Int', issuer: pki.root, ca: true, extensions: [subjectKeyId(keyId(7))] })
    const leaf = await issue({ subject: 'CN=Dev', issuer: int, extensions: [authorityKeyId(keyId(8))] })
    rejects(() => validateChain([leaf.der, int.der], storeOf(pki.anchors), NOW), 'ERR_X509_NAME_CHAINING')
    const s = storeOf(pki.anchors)
    // The anchor's signature on the intermediate, and none on the leaf.
    assert.equal(costOfRefusal(s, () => validateChain([leaf.der, int.der], s, NOW), 'ERR_X509_NAME_CHAINING'), 1)
    const matching = await issue({ subject: 'CN=Dev', issuer: int, extensions: [authorityKeyId(keyId(7))] })
    assert.ok(validateChain([matching.der, int.der], s, NOW))
  })

  it('checks cA, keyUsage, pathLen and validity of a link before its signature', async () => {
    const stranger = await generateP256()
    const notCa = await issue({ subject: 'CN=Not CA', issuer: pki.root, ca: false, keyUsage: x509.KeyUsageFlags.keyCertSign })
    const forged = await issue({ subject: 'CN=Dev', issuer: notCa, signWith: stranger.privateKey })
    rejects(() => validateChain([forged.der, notCa.der], storeOf(pki.anchors), NOW), 'ERR_X509_NOT_CA')
    const s = storeOf(pki.anchors)
    assert.equal(costOfRefusal(s, () => validateChain([forged.der, notCa.der], s, NOW), 'ERR_X509_NOT_CA'), 0)
    const oldInt = await issue({ subject: 'CN=Old Int', issuer: pki.root, ca: true, notAfter: NOW - 1 })
    const below = await issue({ subject: 'CN=Dev', issuer: oldInt, signWith: stranger.privateKey })
    assert.equal(costOfRefusal(s, () => validateChain([below.der, oldInt.der], s, NOW), 'ERR_X509_EXPIRED'), 0)
    // Below a link already known, a forged leaf's own faults come before its signature.
    const known = knowing()
    const expired = await issue({ ...leafOf(pki), notAfter: NOW - 1, signWith: stranger.privateKey })
    assert.equal(costOfRefusal(known, () => validateChain([expired.der, pki.intermediate.der], known, NOW), 'ERR_X509_EXPIRED'), 0)
    const noSign = await issue({ ...leafOf(pki), keyUsage: x509.KeyUsageFlags.keyAgreement, signWith: stranger.privateKey })
    assert.equal(costOfRefusal(known, () => validateChain([noSign.der, pki.intermediate.der], known, NOW), 'ERR_X509_KEY_USAGE'), 0)
  })

  it('never parses the certificates below a forged link', async () => {
    const stranger = await generateP256()
    const forgedTop = await issue({ subject: 'CN=Int', issuer: pki.root, ca: true, signWith: stranger.privateKey })
    const s = storeOf(pki.anchors)
    // Garbage below the forged top certificate: the walk stops at the anchor's signature.
    const chain = [Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00), forgedTop.der]
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_UNKNOWN_ANCHOR'), 1)
  })

  it('verifies from the anchor down: a forgery next to the anchor costs one verification', async () => {
    const stranger = await generateP256()
    // Every certificate below is genuine for its issuer, but the top one is not the anchor's.
    const int1 = await issue({ subject: 'CN=Int 1', issuer: pki.root, ca: true, signWith: stranger.privateKey })
    const int2 = await issue({ subject: 'CN=Int 2', issuer: int1, ca: true })
    const int3 = await issue({ subject: 'CN=Int 3', issuer: int2, ca: true })
    const leaf = await issue({ subject: 'CN=Dev', issuer: int3, signWith: stranger.privateKey })
    const chain = [leaf.der, int3.der, int2.der, int1.der]
    rejects(() => validateChain(chain, storeOf(pki.anchors), NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    const s = storeOf(pki.anchors)
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_UNKNOWN_ANCHOR'), 1)
  })

  it('remembers verified links: a forgery below genuine certificates costs one verification', async () => {
    const s = storeOf(pki.anchors)
    validateChain(pki.chain, s, NOW)
    assert.equal(verifications(s), 2)
    const stranger = await generateP256()
    const forged = await issue({ ...leafOf(pki), signWith: stranger.privateKey })
    const chain = [forged.der, pki.intermediate.der]
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_SIGNATURE_INVALID'), 1)
    // A new genuine device under the same intermediate costs one verification too.
    const fresh = await issue(leafOf(pki))
    validateChain([fresh.der, pki.intermediate.der], s, NOW)
    assert.equal(verifications(s), 4)
  })
})

describe('validateChain: failure cache', () => {
  const forgedChain = async () => {
    const stranger = await generateP256()
    const forged = await issue({ ...leafOf(pki), signWith: stranger.privateKey })
    return [forged.der, pki.intermediate.der]
  }
  const storeWith = (options: X509TrustStoreOptions) => new X509TrustStore(pki.anchors, options)

  it('refuses a repeated hostile chain from the cache, with the same code and message and no signature', async () => {
    const chain = await forgedChain()
    const s = storeWith({})
    let first: VerifierError | undefined
    try {
      validateChain(chain, s, NOW)
    } catch (e) {
      first = e as VerifierError
    }
    assert.equal(first?.code, 'ERR_X509_SIGNATURE_INVALID')
    for (let i = 0; i < 3; i++) {
      assert.equal(costOfRefusal(s, () => validateChain(chain.map((c) => Uint8Array.from(c)), s, NOW + i), 'ERR_X509_SIGNATURE_INVALID'), 0)
    }
    assert.throws(() => validateChain(chain, s, NOW), (e: unknown) => (e as Error).message === first?.message)
    assert.equal(s.stats().failureCacheHits, 4)
  })

  it('forgets a failure after failureCacheSeconds of the validation clock, and is bounded in entries', async () => {
    const chain = await forgedChain()
    const s = storeWith({ failureCacheSeconds: 60 })
    const run = (now: number) => costOfRefusal(s, () => validateChain(chain, s, now), 'ERR_X509_SIGNATURE_INVALID')
    // The first refusal verifies the intermediate and then the forged leaf; the link from the
    // anchor to the intermediate is remembered after that.
    assert.equal(run(NOW), 2)
    assert.equal(run(NOW + 59), 0)
    assert.equal(run(NOW + 60), 1)
    assert.equal(run(NOW - 1), 1)

    const tiny = storeWith({ failureCacheLimit: 1 })
    const other = await forgedChain()
    const runTiny = (c: Uint8Array[]) => costOfRefusal(tiny, () => validateChain(c, tiny, NOW), 'ERR_X509_SIGNATURE_INVALID')
    assert.equal(runTiny(chain), 2)
    assert.equal(runTiny(other), 1)
    assert.equal(runTiny(other), 0)
    assert.equal(runTiny(chain), 1)
    const none = storeWith({ failureCacheLimit: 0 })
    assert.equal(costOfRefusal(none, () => validateChain(chain, none, NOW), 'ERR_X509_SIGNATURE_INVALID'), 2)
    assert.equal(costOfRefusal(none, () => validateChain(chain, none, NOW), 'ERR_X509_SIGNATURE_INVALID'), 1)
  })

  it('never caches a failure that time can undo: a not-yet-valid leaf validates once it is valid', async () => {
    const young = await buildPki({ fault: 'not-yet-valid-leaf' })
    const s = new X509TrustStore(young.anchors, { failureCacheSeconds: 10 * DAY })
    rejects(() => validateChain(young.chain, s, NOW), 'ERR_X509_NOT_YET_VALID')
    assert.ok(validateChain(young.chain, s, NOW + HOUR))
  })

  it('never caches a failure when an anchor was passed over for its validity', async () => {
    // A root re-issued under a new key that becomes valid in an hour: a device certified under
    // the new key must validate from then on, though the old root of the same name refused it.
    const name = 'CN=Rolling Root'
    const oldRoot = await issue({ subject: name, ca: true })
    const newRoot = await issue({ subject: name, ca: true, notBefore: NOW + HOUR, notAfter: NOW + 10 * YEAR })
    const leaf = await issue({ subject: 'CN=Dev', issuer: newRoot, notBefore: NOW - DAY })
    const s = new X509TrustStore([{ der: oldRoot.der }, { der: newRoot.der }], { failureCacheSeconds: 10 * DAY })
    assert.throws(() => validateChain([leaf.der], s, NOW), VerifierError)
    assert.ok(validateChain([leaf.der], s, NOW + HOUR))
    assert.equal(s.stats().failureCacheHits, 0)
  })

  it('is per store: anchors provisioned since make a refused chain valid at once', async () => {
    const other = await buildPki({ root: { subject: 'CN=Second Root' } })
    const before = storeOf(pki.anchors)
    rejects(() => validateChain(other.chain, before, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    rejects(() => validateChain(other.chain, before, NOW), 'ERR_X509_UNKNOWN_ANCHOR')
    assert.equal(before.stats().failureCacheHits, 1)
    const after = storeOf([...pki.anchors, ...other.anchors])
    assert.ok(validateChain(other.chain, after, NOW))
  })

  it('clearCache forgets failures too', async () => {
    const chain = await forgedChain()
    const s = storeWith({})
    rejects(() => validateChain(chain, s, NOW), 'ERR_X509_SIGNATURE_INVALID')
    s.clearCache()
    assert.equal(costOfRefusal(s, () => validateChain(chain, s, NOW), 'ERR_X509_SIGNATURE_INVALID'), 2)
  })
})
