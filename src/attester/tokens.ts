/**
 * Evidence as a test attester signs it: a PSA attestation token (RFC 9783: COSE_Sign1 tagged 18
 * over the TF-M profile's claims), a generic EAT as a CWT (RFC 9711 with RFC 8392: COSE_Sign1
 * tagged 18, `kid` in the protected header) or as a JWT (RFC 9711 with RFC 7519: compact JWS,
 * `typ` eat+jwt, `kid`). Claim keys and names come from Assay's own descriptors, so what is built
 * here is what the verifiers in src/evidence read.
 */
import { ALG } from '../cose/algorithms.js'
import { CborTag, encodeCbor, type EncodableValue } from '../cose/cbor.js'
import { HEADER } from '../cose/headers.js'
import { sigStructure1 } from '../cose/structure.js'
import { signEvidence } from '../crypto/sign.js'
import { CLAIM_KEY, DEBUG_STATUS } from '../evidence/eat/descriptor.js'
import { PSA_PROFILE_TFM, PSA_SW_COMPONENT_KEYS, PSA_TFM_CLAIM_KEYS } from '../evidence/psa/descriptor.js'
import { base64urlEncode } from '../util/base64url.js'
import type { EatClaimsInput, PsaClaimsInput } from './claims.js'
import type { DeviceAlg, DeviceKey } from './keys.js'

const COSE_ALG: Readonly<Record<DeviceAlg, number>> = { ES256: ALG.ES256, ES384: ALG.ES384, EdDSA: ALG.EdDSA }

/** Algorithms RFC 9783 §5.2 lets a PSA token be signed with (of the ones a test attester has). */
export const PSA_SIGNING_ALGS: ReadonlySet<DeviceAlg> = new Set(['ES256', 'ES384'])

/** A COSE_Sign1 tagged 18 with `alg` (and `kid`, when given) in the protected header. */
function sign1(key: DeviceKey, payload: Uint8Array, kid?: string): Uint8Array {
  const protectedHeader = new Map<number, EncodableValue>([[HEADER.alg, COSE_ALG[key.alg]]])
  if (kid !== undefined) protectedHeader.set(HEADER.kid, new TextEncoder().encode(kid))
  const protectedBytes = encodeCbor(protectedHeader)
  const signature = signEvidence(key.alg, key.privateKey, sigStructure1(protectedBytes, new Uint8Array(0), payload))
  return encodeCbor(new CborTag(18, [protectedBytes, new Map(), payload, new Uint8Array(signature)]))
}

/** The claims-set of a PSA token under the RFC 9783 TF-M profile, with `nonce` and the key's Instance ID. */
export function psaClaimsSet(key: DeviceKey, claims: PsaClaimsInput, nonce: Uint8Array): Map<number, EncodableValue> {
  const k = PSA_TFM_CLAIM_KEYS
  const c = PSA_SW_COMPONENT_KEYS
  const map = new Map<number, EncodableValue>([
    [k.profile, PSA_PROFILE_TFM],
    [k.clientId, claims.clientId],
    [k.securityLifecycle, claims.securityLifecycle],
    [k.implementationId, claims.implementationId],
    [k.bootSeed, claims.bootSeed],
    [
      k.softwareComponents,
      claims.softwareComponents.map((sw) => {
        const m = new Map<number, EncodableValue>()
        if (sw.measurementType !== undefined) m.set(c.measurementType, sw.measurementType)
        m.set(c.measurementValue, sw.measurementValue)
        if (sw.version !== undefined) m.set(c.version, sw.version)
        m.set(c.signerId, sw.signerId)
        return m
      }),
    ],
    [k.nonce, nonce],
    [k.instanceId, key.ueid],
  ])
  if (claims.certificationReference !== undefined) map.set(k.certificationReference, claims.certificationReference)
  return map
}

/** A signed PSA token (RFC 9783). PSA allows ECDSA only: an EdDSA key is refused. */
export function buildPsaToken(key: DeviceKey, claims: PsaClaimsInput, nonce: Uint8Array): Uint8Array {
  if (!PSA_SIGNING_ALGS.has(key.alg)) throw new Error(`a PSA token is signed with ES256 or ES384 (RFC 9783 §5.2), not ${key.alg}`)
  if (![32, 48, 64].includes(nonce.length)) throw new Error(`a PSA nonce is 32, 48 or 64 bytes (RFC 9783 §4.1.1), not ${nonce.length}`)
  return sign1(key, encodeCbor(psaClaimsSet(key, claims, nonce)))
}

export interface EatTokenOptions {
  readonly nonce: Uint8Array
  /** `iat`, in seconds since the epoch. */
  readonly issuedAt: number
}

/** The CBOR claims-set of one attester (the token's or a submodule's). */
function eatCborClaims(claims: EatClaimsInput): Map<number | string, EncodableValue> {
  const map = new Map<number | string, EncodableValue>()
  if (claims.ueid !== undefined) map.set(CLAIM_KEY.ueid, claims.ueid)
  if (claims.oemid !== undefined) map.set(CLAIM_KEY.oemid, claims.oemid)
  if (claims.hwmodel !== undefined) map.set(CLAIM_KEY.hwmodel, claims.hwmodel)
  if (claims.hwversion !== undefined) map.set(CLAIM_KEY.hwversion, [claims.hwversion])
  if (claims.oemboot !== undefined) map.set(CLAIM_KEY.oemboot, claims.oemboot)
  if (claims.dbgstat !== undefined) map.set(CLAIM_KEY.dbgstat, DEBUG_STATUS.indexOf(claims.dbgstat))
  if (claims.swname !== undefined) map.set(CLAIM_KEY.swname, claims.swname)
  if (claims.swversion !== undefined) map.set(CLAIM_KEY.swversion, [claims.swversion])
  if (claims.measurements !== undefined) map.set(CLAIM_KEY.measurements, claims.measurements.map((m) => [m.contentFormat, m.body]))
  if (claims.submods !== undefined) {
    const submods = new Map<string, EncodableValue>()
    for (const [label, sub] of Object.entries(claims.submods)) submods.set(label, eatCborClaims(sub))
    map.set(CLAIM_KEY.submods, submods)
  }
  return map
}

/** The JSON claims-set of one attester: byte strings as unpadded base64url (RFC 9711 §7.2.2). */
function eatJsonClaims(claims: EatClaimsInput): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (claims.ueid !== undefined) out['ueid'] = base64urlEncode(claims.ueid)
  if (claims.oemid !== undefined) out['oemid'] = typeof claims.oemid === 'number' ? claims.oemid : base64urlEncode(claims.oemid)
  if (claims.hwmodel !== undefined) out['hwmodel'] = base64urlEncode(claims.hwmodel)
  if (claims.hwversion !== undefined) out['hwversion'] = [claims.hwversion]
  if (claims.oemboot !== undefined) out['oemboot'] = claims.oemboot
  if (claims.dbgstat !== undefined) out['dbgstat'] = claims.dbgstat
  if (claims.swname !== undefined) out['swname'] = claims.swname
  if (claims.swversion !== undefined) out['swversion'] = [claims.swversion]
  if (claims.measurements !== undefined) out['measurements'] = claims.measurements.map((m) => [m.contentFormat, base64urlEncode(m.body)])
  if (claims.submods !== undefined) {
    out['submods'] = Object.fromEntries(Object.entries(claims.submods).map(([label, sub]) => [label, eatJsonClaims(sub)]))
  }
  return out
}

/** The claims as the token's top level carries them: the device's UEID unless the claims name one. */
function topLevel(key: DeviceKey, claims: EatClaimsInput): EatClaimsInput {
  return { ...claims, ueid: claims.ueid ?? key.ueid }
}

/** A signed EAT as a CWT: COSE_Sign1 tagged 18, `kid` protected, no `eat_profile` (Assay's default profile). */
export function buildEatCwt(key: DeviceKey, claims: EatClaimsInput, options: EatTokenOptions): Uint8Array {
  const map = eatCborClaims(topLevel(key, claims))
  map.set(CLAIM_KEY.nonces, options.nonce)
  map.set(CLAIM_KEY.iat, options.issuedAt)
  return sign1(key, encodeCbor(map), key.kid)
}

/** A signed EAT as a JWT (compact JWS): `eat_nonce` is the nonce as unpadded base64url text. */
export function buildEatJwt(key: DeviceKey, claims: EatClaimsInput, options: EatTokenOptions): string {
  const header = { alg: key.alg, typ: 'eat+jwt', kid: key.kid }
  const payload = { ...eatJsonClaims(topLevel(key, claims)), eat_nonce: base64urlEncode(options.nonce), iat: options.issuedAt }
  const encode = (value: object) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
  const signingInput = `${encode(header)}.${encode(payload)}`
  const signature = signEvidence(key.alg, key.privateKey, new TextEncoder().encode(signingInput))
  return `${signingInput}.${signature.toString('base64url')}`
}
