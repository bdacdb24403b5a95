/**
 * X.509 path cost (issue 7 item 9), in one run: a normal generic EAT appraisal with a
 * 3-certificate x5chain (P-256 root → intermediate → device, root omitted), warm and cold, and
 * the dearest hostile chains within the bounds, each appraised through the same `appraiseEat`
 * and reported as a ratio to the normal appraisal.
 *
 *   npm run bench:x509
 *
 * Denominator: the full generic EAT appraisal of `bench/eat.ts` (envelope, profile, chain,
 * ES256 verify, claims, reference values), with the chain's path cached ("warm": the device was
 * seen before) and with every cache cleared before each call ("cold": a device seen for the
 * first time). The target is worst hostile ≤ 2 × normal warm.
 *
 * Hostile chains (8 certificates, ~2 KiB each, 16 KiB in all; 16 extensions each; 4096-bit
 * RSA keys; every call's chain differs in the signature bytes of the certificate that fails,
 * so no cache answers unless the case says so):
 * - unknown anchor: names no provisioned anchor.
 * - forged next to the anchor: names the provisioned 4096-bit RSA anchor with its key
 *   identifier, signature forged (one RSA-4096 verification).
 * - forged below 7 genuine RSA-4096 intermediates: the genuine links are verified once and
 *   remembered; each call verifies the forged leaf (one RSA-4096 verification).
 * - repeated hostile chain: the "forged next to the anchor" chain, the same bytes every call.
 *
 * Also the micro figures of `validateChain` alone, cold and warm. Rounds alternate between the
 * contenders so that all see the same machine state; the figure for each is the median round.
 * This prints; it asserts nothing about speed (beyond a sanity check that each case fails
 * the way it is meant to).
 */
import 'reflect-metadata'
import { createPublicKey, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { appraiseEat, type EatAppraisalDeps } from '../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../src/appraisal/endorsements.js'
import type { SubmodAppraisal } from '../src/appraisal/types.js'
import { encodeCbor, type EncodableValue } from '../src/cose/cbor.js'
import { importSpki } from '../src/crypto/keys.js'
import { MAX_CHAIN_LENGTH, validateChain, type X509TrustStore } from '../src/crypto/x509.js'
import { createDefaultProfiles } from '../src/evidence/eat/profiles.js'
import type { SpeaksFor } from '../src/evidence/speaks-for.js'
import { createMemoryStore } from '../src/store/memory/create-memory-store.js'
import { toHex } from '../src/util/bytes.js'
import { fixedClock } from '../src/util/clock.js'
import { signSign1 } from '../test/helpers/cose.js'
import {
  authorityKeyId,
  buildPki,
  derTlv,
  issue,
  NOW,
  opaqueExtension,
  rsaSpki,
  subjectKeyId,
  type CryptoKeyPair,
  type TestCert,
} from '../test/helpers/pki.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 600)
const CERT_BYTES = 2040
const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }

const rsa4096 = async (): Promise<CryptoKeyPair> =>
  webcrypto.subtle.generateKey(
    { ...RSA_SHA256, modulusLength: 4096, publicExponent: Uint8Array.of(1, 0, 1) },
    true,
    ['sign', 'verify'],
  ) as Promise<CryptoKeyPair>

const ANY: SpeaksFor = { ueids: 'any', classes: 'any' }

// ── the normal PKI and token, as bench/eat.ts builds them ─────────────────────────────────────
const pki = await buildPki()
const endorsements = new MemoryEndorsements()
for (const anchor of pki.anchors) endorsements.addEatAnchor('default', anchor, ANY)
const hwmodel = Uint8Array.of(0xab, 0xcd)
endorsements.addEatReferenceValues('default', oemidKey(64242), toHex(hwmodel), {
  software: new Map([['fw', new Set(['1.2'])]]),
  measurementDigests: new Set(),
  source: 'bench',
})
const device = {
  privateKey: pki.leaf.privateKey,
  publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
  coseAlg: -7,
  hash: 'sha256' as const,
}
const claims = encodeCbor(
  new Map<number, EncodableValue>([
    [256, Uint8Array.of(1, ...new Uint8Array(16).fill(8))],
    [258, 64242],
    [259, hwmodel],
    [270, 'fw'],
    [271, ['1.2']],
    [6, NOW],
  ]),
)
const tokenWith = (chain: readonly Uint8Array[]): Uint8Array =>
  signSign1(device, {
    protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, [...chain]]]),
    payload: claims,
    tag: 'cwt',
  })
const normalToken = tokenWith(pki.chain)

// ── a provisioned 4096-bit RSA anchor, and the hostile chains ──────────────────────────────────
const [rootKeys, intKeys] = [await rsa4096(), await rsa4096()]
const ROOT_KEY_ID = new Uint8Array(20).fill(0x42)
const rsaRoot = await issue({
  subject: 'CN=Bench RSA Root',
  ca: true,
  keys: rootKeys,
  signingAlgorithm: RSA_SHA256,
  extensions: [subjectKeyId(ROOT_KEY_ID)],
})
endorsements.addEatAnchor('default', { der: rsaRoot.der }, ANY)

/** 11 small extensions and one that pads the certificate to about CERT_BYTES: with basicConstraints,
 * keyUsage and the two key identifiers, 16 in all (the bound). */
function fat(pad: number): x509.Extension[] {
  const small = Array.from({ length: 11 }, (_, k) => opaqueExtension(`1.2.3.4.${k + 1}`, false))
  return [...small, new x509.Extension('1.2.3.5', false, derTlv(0x04, new Uint8Array(Math.max(pad, 1))))]
}

/** Issues a certificate padded to about CERT_BYTES. */
async function fatCert(options: Parameters<typeof issue>[0]): Promise<TestCert> {
  const probe = await issue({ ...options, extensions: [...(options.extensions ?? []), ...fat(1)] })
  const pad = CERT_BYTES - probe.der.length
  return issue({ ...options, extensions: [...(options.extensions ?? []), ...fat(pad)] })
}

// Forgeries are signed by a real RSA-4096 key that is not the issuer's: the intermediates' key
// for certificates that name the root, the root's key for a certificate under an intermediate.
const subjectName = (k: number) => `CN=Hostile ${k}, O=Bench`

/** Eight certificates, leaf first, the top one issued under `topIssuer`, all forged. */
async function forgedChain(topIssuer: string, topKeyId: Uint8Array): Promise<Uint8Array[]> {
  const chain: Uint8Array[] = []
  for (let k = 0; k < MAX_CHAIN_LENGTH; k++) {
    const top = k === MAX_CHAIN_LENGTH - 1
    const cert = await fatCert({
      subject: subjectName(k),
      issuerName: top ? topIssuer : subjectName(k + 1),
      spki: rsaSpki(4096),
      signWith: intKeys.privateKey,
      signingAlgorithm: RSA_SHA256,
      ...(k === 0 ? {} : { ca: true }),
      extensions: [subjectKeyId(Uint8Array.of(k)), authorityKeyId(top ? topKeyId : Uint8Array.of(k + 1))],
    })
    chain.push(cert.der)
  }
  return chain
}

const unknownAnchorChain = await forgedChain('CN=Nobody Provisioned', ROOT_KEY_ID)
const nextToAnchorChain = await forgedChain('CN=Bench RSA Root', ROOT_KEY_ID)

// Seven genuine intermediates under the RSA root, then a forged leaf.
let issuer: TestCert = rsaRoot
const genuine: Uint8Array[] = []
for (let k = 1; k < MAX_CHAIN_LENGTH; k++) {
  issuer = await fatCert({ subject: `CN=Genuine ${k}`, issuer, keys: intKeys, ca: true, signingAlgorithm: RSA_SHA256 })
  genuine.unshift(issuer.der)
}
const forgedLeaf = await fatCert({
  subject: 'CN=Forged Device',
  issuer,
  spki: rsaSpki(4096),
  signWith: rootKeys.privateKey,
  signingAlgorithm: RSA_SHA256,
})
const belowGenuineChain = [forgedLeaf.der, ...genuine]

/**
 * A token carrying `chain`, and a function that changes, in place, the last signature bytes of
 * its certificate `index`: the one whose signature fails, so that each call parses and verifies
 * a certificate never seen before.
 */
function varying(chain: readonly Uint8Array[], index: number): { token: Uint8Array; vary: () => void } {
  const token = tokenWith(chain)
  const cert = Buffer.from(chain[index]!)
  const end = Buffer.from(token).indexOf(cert) + cert.length
  if (end < cert.length) throw new Error('certificate not found in the token')
  let counter = 0
  return {
    token,
    vary: () => {
      counter += 1
      new DataView(token.buffer, token.byteOffset + end - 4, 4).setUint32(0, counter)
    },
  }
}

// ── the contenders ─────────────────────────────────────────────────────────────────────────────
const store = createMemoryStore()
const deps: EatAppraisalDeps = {
  endorsements,
  nonces: store.nonces,
  profiles: createDefaultProfiles(),
  clock: fixedClock(NOW),
}
const x509Store = endorsements.eatKeys('default').x509 as X509TrustStore
const appraise = (token: Uint8Array): Promise<Record<string, SubmodAppraisal>> =>
  appraiseEat({ tenant: 'default', token }, deps)

interface Case {
  readonly name: string
  readonly run: () => Promise<unknown> | void
  /** The failure the case must end in; undefined for the normal appraisal. */
  readonly expect?: string
  readonly token?: Uint8Array
}

const hostile = (name: string, chain: readonly Uint8Array[], index: number, expect: string, repeat = false): Case => {
  const { token, vary } = varying(chain, index)
  return {
    name,
    token,
    expect,
    run: () => {
      if (!repeat) vary()
      return appraise(token)
    },
  }
}

const NORMAL_WARM = 'normal x5chain appraisal, path cached (warm)'
const NORMAL_COLD = 'normal x5chain appraisal, caches cleared (cold)'
const cases: Case[] = [
  { name: NORMAL_WARM, run: () => appraise(normalToken), token: normalToken },
  {
    name: NORMAL_COLD,
    run: () => {
      x509Store.clearCache()
      return appraise(normalToken)
    },
  },
  { name: 'validateChain alone, warm', run: () => void validateChain(pki.chain, x509Store, NOW) },
  {
    name: 'validateChain alone, cold',
    run: () => {
      x509Store.clearCache()
      validateChain(pki.chain, x509Store, NOW)
    },
  },
  hostile('hostile: unknown anchor, 8 × RSA-4096, 16 KiB', unknownAnchorChain, 7, 'ERR_X509_UNKNOWN_ANCHOR'),
  hostile('hostile: forged next to the RSA-4096 anchor, 8 certs', nextToAnchorChain, 7, 'ERR_X509_UNKNOWN_ANCHOR'),
  hostile('hostile: forged leaf below 7 genuine RSA-4096 CAs', belowGenuineChain, 0, 'ERR_X509_SIGNATURE_INVALID'),
  hostile('hostile: the same forged chain repeated', nextToAnchorChain, 7, 'ERR_X509_UNKNOWN_ANCHOR', true),
]

// Sanity: the normal token appraises cleanly and each hostile case fails the way it should.
const normal = await appraise(normalToken)
if (normal['EAT']?.vector.executables !== 2) throw new Error(`normal token does not appraise: ${JSON.stringify(normal)}`)
for (const c of cases) {
  if (c.expect === undefined || c.token === undefined) continue
  const text = JSON.stringify(await appraise(c.token))
  if (!text.includes(c.expect)) throw new Error(`${c.name}: expected ${c.expect}, got ${text}`)
}

const stats = (): number | undefined =>
  typeof x509Store.stats === 'function' ? x509Store.stats().signatureVerifications : undefined

async function round(c: Case): Promise<{ perSecond: number; signatures: number | undefined }> {
  const before = stats()
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) await c.run()
    n += 10
  }
  const after = stats()
  return {
    perSecond: (n * 1000) / ROUND_MS,
    signatures: before === undefined || after === undefined ? undefined : (after - before) / n,
  }
}

for (const c of cases) await round(c) // warm-up
const results = new Map<string, { perSecond: number[]; signatures: number[] }>(
  cases.map((c) => [c.name, { perSecond: [], signatures: [] }]),
)
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases) {
    const { perSecond, signatures } = await round(c)
    results.get(c.name)!.perSecond.push(perSecond)
    if (signatures !== undefined) results.get(c.name)!.signatures.push(signatures)
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const micros = (name: string) => 1e6 / median(results.get(name)!.perSecond)
const warm = micros(NORMAL_WARM)
const cold = micros(NORMAL_COLD)
console.log(
  `X.509 path cost; node ${process.version}; ${ROUNDS} rounds × ${ROUND_MS} ms, median; ` +
    `normal chain ${pki.chain.length} certificates (P-256), hostile chains ${MAX_CHAIN_LENGTH} certificates`,
)
console.log(`${'case'.padEnd(54)} ${'µs/call'.padStart(9)} ${'sigs/call'.padStart(9)} ${'÷ warm'.padStart(7)} ${'÷ cold'.padStart(7)}`)
let worst = 0
for (const c of cases) {
  const us = micros(c.name)
  const sigs = results.get(c.name)!.signatures
  const sigText = sigs.length === 0 ? 'n/a' : median(sigs).toFixed(2)
  if (c.expect !== undefined) worst = Math.max(worst, us / warm)
  console.log(
    `${c.name.padEnd(54)} ${us.toFixed(1).padStart(9)} ${sigText.padStart(9)} ${(us / warm).toFixed(2).padStart(7)} ${(us / cold).toFixed(2).padStart(7)}`,
  )
}
console.log(`worst hostile chain ÷ normal warm x5chain appraisal: ${worst.toFixed(2)} (target ≤ 2)`)
await store.close()

