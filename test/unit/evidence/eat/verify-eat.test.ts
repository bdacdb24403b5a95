/**
 * Generic EAT with keys rooted in X.509 chains: a CA, an intermediate and a device certificate built
 * at test time; Evidence signed with the device key and carrying the chain in a protected x5chain.
 */
import assert from 'node:assert/strict'
import { createHash, createPublicKey } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { encodeCbor, type EncodableValue } from '../../../../src/cose/cbor.js'
import { importPinnedCertificate, importSpki } from '../../../../src/crypto/keys.js'
import { X509TrustStore } from '../../../../src/crypto/x509.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import { createDefaultProfiles } from '../../../../src/evidence/eat/profiles.js'
import { verifyEatCwt, type EatKeyStore } from '../../../../src/evidence/eat/verify-eat.js'
import { toHex } from '../../../../src/util/bytes.js'
import { fixedClock } from '../../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../../helpers/cose.js'
import { buildPki, hardwareModuleNameSan, NOW, type PkiFault, type TestPki } from '../../../helpers/pki.js'

const UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(0x42))

function deviceKey(pki: TestPki): TestKeyPair {
  return {
    privateKey: pki.leaf.privateKey,
    publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
    coseAlg: -7,
    hash: 'sha256',
  }
}

function keysWith(pki: TestPki): EatKeyStore {
  return { byKid: () => undefined, byUeid: () => undefined, x509: new X509TrustStore(pki.anchors) }
}

function evidence(pki: TestPki, options: { chain?: Uint8Array[]; key?: TestKeyPair; ueid?: Uint8Array; where?: 'protected' | 'unprotected'; alg?: number } = {}) {
  const key = options.key ?? deviceKey(pki)
  const chain = options.chain ?? pki.chain
  const x5chain: EncodableValue = chain.length === 1 ? chain[0]! : chain
  const alg = options.alg ?? key.coseAlg
  const protectedHeader = new Map<number, EncodableValue>([[1, alg]])
  const unprotectedHeader = new Map<number, EncodableValue>()
  if (options.where === 'unprotected') unprotectedHeader.set(33, x5chain)
  else protectedHeader.set(33, x5chain)
  const claims = new Map<number, EncodableValue>([[256, options.ueid ?? UEID], [6, NOW], [258, 64242]])
  return signSign1({ ...key, coseAlg: alg }, { protectedHeader, unprotectedHeader, payload: encodeCbor(claims), tag: 'cwt' })
}

function verify(token: Uint8Array, keys: EatKeyStore) {
  return verifyEatCwt(token, { profiles: createDefaultProfiles(), keys, clock: fixedClock(NOW) })
}

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, String(e))
    assert.equal(e.code, code, e.message)
    return true
  })
}

describe('generic EAT with an x5chain', () => {
  let pki: TestPki
  before(async () => {
    pki = await buildPki()
  })

  it('verifies Evidence signed by the device key of a chain to a provisioned anchor', () => {
    const verified = verify(evidence(pki), keysWith(pki))
    assert.equal(verified.keySource, 'x5chain')
    assert.equal(verified.chain?.anchorSubject.includes('Assay Test Root'), true)
    assert.deepEqual(verified.claims.ueid, UEID)
    assert.doesNotThrow(() => verify(evidence(pki, { chain: pki.fullChain }), keysWith(pki)))
  })

  const faults: [PkiFault, ErrorCode][] = [
    ['expired-leaf', 'ERR_X509_EXPIRED'],
    ['not-yet-valid-leaf', 'ERR_X509_NOT_YET_VALID'],
    ['leaf-key-usage', 'ERR_X509_KEY_USAGE'],
    ['intermediate-not-ca', 'ERR_X509_NOT_CA'],
    ['unknown-root', 'ERR_X509_UNKNOWN_ANCHOR'],
    ['revoked-serial', 'ERR_X509_REVOKED'],
    ['self-signed-leaf', 'ERR_X509_UNKNOWN_ANCHOR'],
  ]
  for (const [fault, code] of faults) {
    it(`rejects Evidence whose chain has a fault: ${fault} → ${code}`, async () => {
      const broken = await buildPki({ fault })
      rejects(() => verify(evidence(broken), keysWith(broken)), code)
    })
  }

  it('fails closed with no anchors provisioned', () => {
    rejects(() => verify(evidence(pki), { byKid: () => undefined, byUeid: () => undefined, x509: undefined }), 'ERR_X509_NO_ANCHOR')
  })

  it('does not take a key from an x5chain that only the unprotected header carries', () => {
    rejects(() => verify(evidence(pki, { where: 'unprotected' }), keysWith(pki)), 'ERR_KEY_NOT_FOUND')
  })

  it('rejects a token signed by another key than the certified one', () => {
    rejects(() => verify(evidence(pki, { key: generateTestKey('ES256') }), keysWith(pki)), 'ERR_COSE_SIGNATURE_INVALID')
  })

  it("rejects an algorithm that does not match the leaf's key", () => {
    rejects(() => verify(evidence(pki, { alg: -35 }), keysWith(pki)), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('rejects a ueid claim that names another device than the certificate', async () => {
    const bound = await buildPki({ leaf: { extensions: [hardwareModuleNameSan([UEID])] } })
    assert.doesNotThrow(() => verify(evidence(bound), keysWith(bound)))
    const other = Uint8Array.of(1, ...new Uint8Array(16).fill(0x43))
    rejects(() => verify(evidence(bound, { ueid: other }), keysWith(bound)), 'ERR_KEY_IDENTITY_MISMATCH')
  })

  it('finds a pinned device certificate by a protected x5t, and checks its validity', async () => {
    const pinned = (p: TestPki) => importPinnedCertificate(p.leaf.der)
    const keys = (p: TestPki): EatKeyStore => {
      const cert = { ...pinned(p), speaksFor: { ueids: 'any', classes: 'any' } as const }
      const digest = createHash('sha256').update(cert.der).digest('hex')
      return {
        byKid: () => undefined,
        byUeid: () => undefined,
        x509: undefined,
        byX5t: (alg, hash) => (alg === -16 && toHex(hash) === digest ? cert : undefined),
      }
    }
    const x5tToken = (p: TestPki, where: 'protected' | 'unprotected' = 'protected') => {
      const x5t: EncodableValue = [-16, new Uint8Array(createHash('sha256').update(p.leaf.der).digest())]
      const protectedHeader = new Map<number, EncodableValue>([[1, -7]])
      const unprotectedHeader = new Map<number, EncodableValue>()
      ;(where === 'protected' ? protectedHeader : unprotectedHeader).set(34, x5t)
      const claims = new Map<number, EncodableValue>([[256, UEID], [6, NOW]])
      return signSign1(deviceKey(p), { protectedHeader, unprotectedHeader, payload: encodeCbor(claims), tag: 'cwt' })
    }
    assert.equal(verify(x5tToken(pki), keys(pki)).keySource, 'x5t')
    rejects(() => verify(x5tToken(pki, 'unprotected'), keys(pki)), 'ERR_KEY_NOT_FOUND')
    const expired = await buildPki({ fault: 'expired-leaf' })
    rejects(() => verify(x5tToken(expired), keys(expired)), 'ERR_X509_EXPIRED')
    rejects(() => verify(x5tToken(expired), keys(pki)), 'ERR_KEY_NOT_FOUND')
  })
})
