/**
 * Seeds for the fuzz properties: real tokens signed at load time with keys generated per run
 * (ES256, ES384, EdDSA, PS256 COSE_Sign1; HMAC COSE_Mac0; CWT and JWT EAT; PSA Sign1 and Mac0;
 * CBOR and JSON detached bundles), the published conformance vectors in `test/vectors/`, and the
 * trust store that makes the signed ones verify.
 */
import { createHash, createHmac, randomBytes, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryEndorsements, oemidKey } from '../../src/appraisal/endorsements.js'
import type { AppraisalDeps } from '../../src/appraisal/pipeline.js'
import { CborFloat, CborTag, encodeCbor, type EncodableValue } from '../../src/cose/cbor.js'
import { macStructure0 } from '../../src/cose/structure.js'
import { importSecret, type PublicKey, type SecretKey } from '../../src/crypto/keys.js'
import { createDefaultProfiles } from '../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../src/evidence/formats.js'
import { createMemoryStore } from '../../src/store/memory/create-memory-store.js'
import { toHex, utf8 } from '../../src/util/bytes.js'
import { fixedClock } from '../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../helpers/cose.js'
import { VECTOR_DIR, vectorFiles } from '../helpers/vectors.js'

export const TENANT = 'default'
/** The fixed time every seed is appraised at. */
export const NOW = 1_800_000_000
export const KID = 'device-1'
export const HWMODEL = Uint8Array.of(0xab, 0xcd)
export const NONCE = new Uint8Array(16).fill(7)
export const PSA_INSTANCE_ID = Uint8Array.of(0x01, ...new Uint8Array(32).fill(0x5a))
export const PSA_IMPLEMENTATION_ID = new Uint8Array(32).fill(0x11)
/** Instance ID of the PSA attester whose tokens are MACed. */
export const PSA_MAC_INSTANCE_ID = Uint8Array.of(0x01, ...new Uint8Array(32).fill(0x6b))

export const MEDIA = Object.freeze({
  psa: 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"',
  psaVeraison: 'application/psa-attestation-token',
  cwt: 'application/eat+cwt',
  cwtRfc9711: 'application/eat+cwt; eat_profile="urn:ietf:rfc:rfc9711"',
  jwt: 'application/eat+jwt',
  bundleCbor: 'application/eat-bun+cbor',
  bundleJson: 'application/eat-bun+json',
  cbor: 'application/cbor',
})

/** A token and what verifies it. */
export interface SignedSeed<K extends PublicKey | SecretKey> {
  readonly name: string
  readonly bytes: Uint8Array
  readonly key: K
}

export const keys = {
  es256: generateTestKey('ES256'),
  es384: generateTestKey('ES384'),
  ed25519: generateTestKey('EdDSA-Ed25519'),
  ps256: generateTestKey('PS256'),
}
export const macBytes = new Uint8Array(randomBytes(32))
export const macKey: SecretKey = importSecret(macBytes)

/** A COSE_Mac0 with HMAC 256/256 (alg 5) over `payload`. */
export function macMac0(payload: Uint8Array, protectedMap: Map<number, EncodableValue> = new Map([[1, 5]])): Uint8Array {
  const protectedBytes = encodeCbor(protectedMap)
  const tag = createHmac('sha256', macBytes).update(macStructure0(protectedBytes, new Uint8Array(0), payload)).digest()
  return encodeCbor(new CborTag(17, [protectedBytes, new Map(), payload, new Uint8Array(tag)] as never))
}

/** EAT claims in the CBOR form, with a verifier nonce and what the reference values approve. */
export function eatClaims(extra: [number, EncodableValue][] = [], drop: number[] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [10, NONCE],
    [256, Uint8Array.of(1, ...new Uint8Array(16).fill(3))],
    [258, 64242],
    [259, HWMODEL],
    [262, true],
    [263, 3],
    [270, 'fw'],
    [271, ['1.2', 1]],
    [6, NOW],
    [4, NOW + 600],
  ])
  for (const k of drop) m.delete(k)
  for (const [k, v] of extra) m.set(k, v)
  return m
}

/** A CWT EAT signed by the provisioned `kid` key. */
export function signCwt(claims: Map<number, EncodableValue>, key: TestKeyPair = keys.es256, kid = KID): Uint8Array {
  const protectedHeader = new Map<number, EncodableValue>([[1, key.coseAlg], [4, utf8(kid)]])
  return signSign1(key, { protectedHeader, payload: encodeCbor(claims), tag: 'cwt' })
}

/** A JWT EAT signed with ES256 by the provisioned `kid` key; the claims-set is given as JSON text. */
export function signJwt(claimsJson: string, kid = KID, header?: string): string {
  const headerText = header ?? JSON.stringify({ alg: 'ES256', kid, typ: 'eat+jwt' })
  const input = `${Buffer.from(headerText).toString('base64url')}.${Buffer.from(claimsJson).toString('base64url')}`
  const signature = sign('sha256', Buffer.from(input), { key: keys.es256.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

export function jwtClaimsJson(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eat_nonce: Buffer.from(NONCE).toString('base64url'),
    ueid: Buffer.from(Uint8Array.of(1, ...new Uint8Array(16).fill(3))).toString('base64url'),
    oemid: 64242,
    hwmodel: Buffer.from(HWMODEL).toString('base64url'),
    swname: 'fw',
    swversion: ['1.2', 1],
    iat: NOW,
    exp: NOW + 600,
    ...extra,
  })
}

/** PSA claims (TF-M profile) for the provisioned Instance ID. */
export function psaClaims(extra: [number, EncodableValue][] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [265, 'tag:psacertified.org,2023:psa#tfm'],
    [10, new Uint8Array(32).fill(1)],
    [256, PSA_INSTANCE_ID],
    [2396, PSA_IMPLEMENTATION_ID],
    [2395, 12288],
    [2394, 0x3000],
    [2399, [new Map<number, EncodableValue>([[1, 'BL'], [2, new Uint8Array(32).fill(3)], [5, new Uint8Array(32).fill(4)]])]],
    [2398, '1234567890123-12345'],
  ])
  for (const [k, v] of extra) m.set(k, v)
  return m
}

/** Token bytes of every published vector (`test/vectors/`) that has some, by id. */
export function vectorTokens(): ReadonlyMap<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  for (const file of vectorFiles()) {
    const v = JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as { id?: string; token_hex?: string; token_b64?: string }
    const id = v.id ?? file
    if (typeof v.token_hex === 'string') out.set(id, new Uint8Array(Buffer.from(v.token_hex, 'hex')))
    else if (typeof v.token_b64 === 'string') out.set(id, new Uint8Array(Buffer.from(v.token_b64, 'utf8')))
  }
  return out
}

const detachedTee = encodeCbor(new Map<number, EncodableValue>([[258, 64242], [259, HWMODEL], [270, 'fw'], [271, ['1.2']]]))
const teeDigest = new Uint8Array(createHash('sha256').update(detachedTee).digest())
const detachedJson = utf8(JSON.stringify({ oemid: 64242, hwmodel: Buffer.from(HWMODEL).toString('base64url') }))
const jsonDigest = Buffer.from(createHash('sha256').update(detachedJson).digest()).toString('base64url')

const sign1Payload = encodeCbor(new Map<number, EncodableValue>([[1, 'issuer'], [6, NOW], [10, NONCE]]))

/** COSE_Sign1 seeds, each with the key that verifies it. */
export const sign1Seeds: readonly SignedSeed<PublicKey>[] = [
  { name: 'sign1-es256', bytes: signSign1(keys.es256, { payload: sign1Payload }), key: keys.es256.publicKey },
  { name: 'sign1-es384-kid', bytes: signSign1(keys.es384, { payload: sign1Payload, unprotectedHeader: new Map([[4, utf8('k')]]) }), key: keys.es384.publicKey },
  { name: 'sign1-eddsa-cwt', bytes: signSign1(keys.ed25519, { payload: sign1Payload, tag: 'cwt' }), key: keys.ed25519.publicKey },
  { name: 'sign1-ps256', bytes: signSign1(keys.ps256, { payload: sign1Payload }), key: keys.ps256.publicKey },
  { name: 'sign1-es256-eat', bytes: signCwt(eatClaims()), key: keys.es256.publicKey },
]

export const mac0Seeds: readonly SignedSeed<SecretKey>[] = [
  { name: 'mac0-hs256', bytes: macMac0(sign1Payload), key: macKey },
  { name: 'mac0-psa', bytes: macMac0(encodeCbor(psaClaims([[256, PSA_MAC_INSTANCE_ID]]))), key: macKey },
]

const eatSubmods = new Map<string, EncodableValue>([
  ['tee', new Map<number, EncodableValue>([[270, 'fw'], [271, ['1.2']], [273, [[258, Uint8Array.of(1, 2)]]]])],
  ['nested', signCwt(eatClaims([], [10, 265]))],
])

/** Generic EAT CWT seeds; every one verifies with the provisioned kid. */
export const cwtSeeds: readonly Uint8Array[] = [
  signCwt(eatClaims()),
  signCwt(eatClaims([[265, 'urn:ietf:rfc:rfc9711']])),
  signCwt(eatClaims([[266, eatSubmods], [274, [['boot', [['stage1', 1]]]]], [264, new Map<number, EncodableValue>([[1, new CborFloat(51.5)], [2, new CborFloat(-0.25)], [3, 10]])]])),
  signCwt(eatClaims([[10, [NONCE, new Uint8Array(8).fill(9)]], [269, [['https://dloa.example', 'x']]]])),
]

/** Generic EAT JWT seeds (as text). */
export const jwtSeeds: readonly string[] = [
  signJwt(jwtClaimsJson()),
  signJwt(jwtClaimsJson({ submods: { tee: { swname: 'fw', swversion: ['1.2'] } }, measres: [['boot', [['stage1', 'success']]]] })),
  signJwt(jwtClaimsJson({ eat_nonce: ['abcdefgh', 'ijklmnopq'] })),
]

/** PSA seeds: Sign1 with the provisioned IAK, and Mac0. */
export const psaSeeds: readonly Uint8Array[] = [
  signSign1(keys.es256, { payload: encodeCbor(psaClaims()) }),
  signSign1(keys.es256, { payload: encodeCbor(psaClaims([[268, new Uint8Array(32).fill(9)]])) }),
]

const bundleMain = signCwt(eatClaims([[266, new Map<string, EncodableValue>([['TEE', [-16, teeDigest]]])]]))
export const cborBundleSeeds: readonly Uint8Array[] = [encodeCbor(new CborTag(602, [bundleMain, new Map([['TEE', detachedTee]])] as never))]

const jsonBundleMain = signCwt(eatClaims([[266, new Map<string, EncodableValue>([['TEE', [-16, new Uint8Array(Buffer.from(jsonDigest, 'base64url'))]]])]]))
export const jsonBundleSeeds: readonly Uint8Array[] = [
  utf8(
    JSON.stringify([
      ['JWT', signJwt(jwtClaimsJson({ submods: { TEE: ['DIGEST', ['SHA-256', jsonDigest]] } }))],
      { TEE: Buffer.from(detachedJson).toString('base64url') },
    ]),
  ),
  utf8(JSON.stringify([['CBOR', Buffer.from(jsonBundleMain).toString('base64url')], { TEE: Buffer.from(detachedJson).toString('base64url') }])),
]

/** Evidence seeds for the whole pipeline, each with the media type it is sent as. */
export function pipelineSeeds(): { readonly mediaType: string; readonly bytes: Uint8Array }[] {
  const out: { mediaType: string; bytes: Uint8Array }[] = []
  for (const b of cwtSeeds) out.push({ mediaType: MEDIA.cwt, bytes: b })
  out.push({ mediaType: MEDIA.cwtRfc9711, bytes: cwtSeeds[1]! })
  for (const t of jwtSeeds) out.push({ mediaType: MEDIA.jwt, bytes: utf8(t) })
  for (const b of psaSeeds) out.push({ mediaType: MEDIA.psa, bytes: b })
  out.push({ mediaType: MEDIA.psaVeraison, bytes: mac0Seeds[1]!.bytes })
  for (const b of cborBundleSeeds) out.push({ mediaType: MEDIA.bundleCbor, bytes: b })
  for (const b of jsonBundleSeeds) out.push({ mediaType: MEDIA.bundleJson, bytes: b })
  out.push({ mediaType: MEDIA.cbor, bytes: cwtSeeds[1]! })
  return out
}

/** Endorsements that make every signed seed verify: the kid key, the PSA IAK, reference values. */
export function fuzzEndorsements(): MemoryEndorsements {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8(KID)), keys.es256.publicKey, { ueids: 'any', classes: 'any' })
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'fuzz',
  })
  e.addPsaTrustAnchor(TENANT, toHex(PSA_INSTANCE_ID), {
    instanceId: PSA_INSTANCE_ID,
    key: keys.es256.publicKey,
    implementationId: PSA_IMPLEMENTATION_ID,
    source: 'fuzz',
  })
  e.addPsaTrustAnchor(TENANT, toHex(PSA_MAC_INSTANCE_ID), {
    instanceId: PSA_MAC_INSTANCE_ID,
    key: macKey,
    implementationId: PSA_IMPLEMENTATION_ID,
    source: 'fuzz',
  })
  e.addPsaReferenceValues(TENANT, toHex(PSA_IMPLEMENTATION_ID), {
    implementationId: PSA_IMPLEMENTATION_ID,
    softwareComponents: [{ measurementType: 'BL', measurementValue: new Uint8Array(32).fill(3), signerId: new Uint8Array(32).fill(4) }],
    source: 'fuzz',
  })
  return e
}

/** Everything the pipeline needs, in memory, at the fixed time `NOW`. */
export function pipelineDeps(): AppraisalDeps & { readonly endorsements: MemoryEndorsements } {
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  return {
    registry: createDefaultRegistry(),
    endorsements: fuzzEndorsements(),
    nonces: store.nonces,
    profiles: createDefaultProfiles(),
    clock: fixedClock(NOW),
  }
}

/**
 * The reference-value document (the operator's file format, `ASSAY_REFERENCE_VALUES_DIR`) that
 * provisions what `fuzzEndorsements` holds, for a service started in another process.
 */
export function referenceValueDocument(): Record<string, unknown> {
  const jwk = keys.es256.publicKey.keyObject.export({ format: 'jwk' })
  return {
    comment: 'Written by a test or scripts/fuzz.ts for one run: keys generated in that run.',
    tenant: TENANT,
    eat: {
      keys: [{ kid: KID, key: jwk, speaksFor: 'any' }],
      referenceValues: [{ oemid: 64242, hwmodel: toHex(HWMODEL), software: [{ swname: 'fw', swversions: ['1.2'] }] }],
    },
    psa: {
      trustAnchors: [
        { instanceId: toHex(PSA_INSTANCE_ID), key: jwk, implementationId: toHex(PSA_IMPLEMENTATION_ID) },
        {
          instanceId: toHex(PSA_MAC_INSTANCE_ID),
          key: { kty: 'oct', k: Buffer.from(macBytes).toString('base64url') },
          implementationId: toHex(PSA_IMPLEMENTATION_ID),
        },
      ],
      referenceValues: [
        {
          implementationId: toHex(PSA_IMPLEMENTATION_ID),
          softwareComponents: [{ measurementType: 'BL', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }],
        },
      ],
    },
  }
}
