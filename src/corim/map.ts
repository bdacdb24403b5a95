/**
 * What a CoRIM becomes in Assay: the shapes the appraisal already reads (src/appraisal/
 * endorsements.ts: `PsaReferenceValues`, `PsaTrustAnchor`, `EatReferenceValues`, UEID-bound EAT
 * keys), each with the provenance a store needs for idempotency, plus one addition for what no
 * appraisal reads yet (`CorimReferenceValue`: a reference triple kept as decoded).
 *
 * The shapes are restated here structurally rather than imported, so src/corim stays below
 * src/appraisal (which will import it) without a cycle; test/unit/corim/map.test.ts checks that
 * they stay assignable to the appraisal's own types.
 */
import type { PublicKey } from '../crypto/keys.js'
import { VerifierError } from '../errors/errors.js'
import { toHex } from '../util/bytes.js'
import type { Comid, Corim, Environment, Measurement } from './types.js'

/** Where a mapped entry came from. Same `tagId` and `tagDigest` again: nothing changes; a higher `tagVersion` supersedes. */
export interface CorimProvenance {
  /** The corim-id: text, or a UUID in its canonical text form. */
  readonly corimId: string
  /** SHA-256 (hex) of the unsigned CoRIM (tagged 501) bytes. */
  readonly corimDigest: string
  /** The CoMID tag-id: text, or a UUID in its canonical text form. */
  readonly tagId: string
  readonly tagVersion: number
  /** SHA-256 (hex) of the CoMID bytes. */
  readonly tagDigest: string
  /** The declared profile (URI or dotted OID), if any. */
  readonly profile?: string
  /** SPKI SHA-256 (hex) of the provisioning key that verified a signed CoRIM. */
  readonly signerKey?: string
}

/** Same fields as appraisal `PsaReferenceValues`. */
export interface PsaReferenceValuesShape {
  readonly implementationId: Uint8Array
  readonly softwareComponents: readonly {
    readonly measurementType?: string
    readonly measurementValue: Uint8Array
    readonly signerId: Uint8Array
    readonly version?: string
  }[]
  readonly source: string
}

/** Same fields as appraisal `PsaTrustAnchor` (a CoRIM only carries public keys). */
export interface PsaTrustAnchorShape {
  readonly instanceId: Uint8Array
  readonly key: PublicKey
  readonly implementationId: Uint8Array
  readonly source: string
}

/** Same fields as appraisal `EatReferenceValues`. */
export interface EatReferenceValuesShape {
  readonly software: ReadonlyMap<string, ReadonlySet<string> | 'any'>
  readonly measurementDigests: ReadonlySet<string>
  readonly manifestDigests: ReadonlySet<string>
  readonly source: string
}

export interface MappedPsaReferenceValues {
  readonly values: PsaReferenceValuesShape
  readonly provenance: CorimProvenance
}

export interface MappedPsaTrustAnchor {
  readonly anchor: PsaTrustAnchorShape
  readonly provenance: CorimProvenance
}

export interface MappedEatReferenceValues {
  /** `oemidKey` form: `pen:<decimal>` or `hex:<hex>`. */
  readonly oemid: string
  readonly hwmodelHex: string
  readonly values: EatReferenceValuesShape
  readonly provenance: CorimProvenance
}

/** A device key bound to its UEID (appraisal `MemoryEndorsements.addEatUeid`). */
export interface MappedEatUeidKey {
  readonly ueidHex: string
  readonly key: PublicKey
  /** Attester classes (`classKey` form, `<oemidKey>/<hwmodel hex>`) the device may claim. */
  readonly classes: ReadonlySet<string>
  readonly provenance: CorimProvenance
}

/** Addition: a reference triple no Assay appraisal reads yet, kept whole for a CoRIM-rules appraisal. */
export interface CorimReferenceValue {
  readonly environment: Environment
  readonly measurements: readonly Measurement[]
  readonly provenance: CorimProvenance
}

export interface MappedEndorsements {
  readonly psaReferenceValues: readonly MappedPsaReferenceValues[]
  readonly psaTrustAnchors: readonly MappedPsaTrustAnchor[]
  readonly eatReferenceValues: readonly MappedEatReferenceValues[]
  readonly eatUeidKeys: readonly MappedEatUeidKey[]
  readonly corimReferenceValues: readonly CorimReferenceValue[]
}

export const EMPTY_MAPPING: MappedEndorsements = Object.freeze({
  psaReferenceValues: [],
  psaTrustAnchors: [],
  eatReferenceValues: [],
  eatUeidKeys: [],
  corimReferenceValues: [],
})

/** A 16-byte UUID in 8-4-4-4-12 form. */
export function uuidText(bytes: Uint8Array): string {
  const h = toHex(bytes)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const idText = (id: string | Uint8Array) => (typeof id === 'string' ? id : uuidText(id))

export function provenanceOf(corim: Corim, comid: Comid): CorimProvenance {
  return {
    corimId: idText(corim.id),
    corimDigest: toHex(corim.digest),
    tagId: idText(comid.tagId),
    tagVersion: comid.tagVersion,
    tagDigest: toHex(comid.digest),
    ...(corim.profile === undefined ? {} : { profile: corim.profile.value }),
    ...(corim.signature === undefined ? {} : { signerKey: corim.signature.keySpkiSha256 }),
  }
}

/** The `source` string the appraisal shows in result explanations. */
export function sourceOf(p: CorimProvenance): string {
  return `corim:${p.corimId}#${p.tagId}@${p.tagVersion}`
}

/**
 * How an incoming entry relates to a stored one of the same CoMID tag-id, for a store's
 * idempotency (draft-ietf-rats-corim: a tag-id names one tag; a higher tag-version supersedes it):
 * - `unchanged`: same tag-version and same CoMID bytes: a re-submission, nothing to do;
 * - `supersedes`: a higher tag-version: replace what the stored tag provided;
 * - `stale`: a lower tag-version: keep the stored one;
 * - `conflict`: same tag-version, other bytes: refuse (a tag changed without a new version);
 * - `unrelated`: another tag-id.
 */
export type ProvenanceOrder = 'unchanged' | 'supersedes' | 'stale' | 'conflict' | 'unrelated'

export function orderProvenance(stored: CorimProvenance, incoming: CorimProvenance): ProvenanceOrder {
  if (stored.tagId !== incoming.tagId) return 'unrelated'
  if (incoming.tagVersion > stored.tagVersion) return 'supersedes'
  if (incoming.tagVersion < stored.tagVersion) return 'stale'
  return incoming.tagDigest === stored.tagDigest ? 'unchanged' : 'conflict'
}

/**
 * The mapping without a profile: reference triples are kept as `CorimReferenceValue`s. Endorsed,
 * identity and attest-key triples are refused (ERR_CORIM_UNSUPPORTED): without a profile nothing
 * says what a key may speak for, and endorsements are never dropped silently.
 */
export function mapGeneric(corim: Corim): MappedEndorsements {
  const corimReferenceValues: CorimReferenceValue[] = []
  for (const [i, comid] of corim.comids.entries()) {
    const provenance = provenanceOf(corim, comid)
    const refuse = (n: number, what: string) =>
      new VerifierError('ERR_CORIM_UNSUPPORTED', `corim-map{1}[${i}]: ${n} ${what} cannot be mapped without a profile that defines them`)
    if (comid.endorsedTriples.length > 0) throw refuse(comid.endorsedTriples.length, 'endorsed-triples')
    if (comid.identityTriples.length > 0) throw refuse(comid.identityTriples.length, 'identity-triples')
    if (comid.attestKeyTriples.length > 0) throw refuse(comid.attestKeyTriples.length, 'attest-key-triples')
    for (const t of comid.referenceTriples) corimReferenceValues.push({ environment: t.environment, measurements: t.measurements, provenance })
  }
  return { ...EMPTY_MAPPING, corimReferenceValues }
}

/** Maps a processed CoRIM with its profile's mapping, or the generic one. */
export function mapCorim(corim: Corim, profile: { readonly map?: (corim: Corim) => MappedEndorsements } | undefined): MappedEndorsements {
  return profile?.map === undefined ? mapGeneric(corim) : profile.map(corim)
}
