/**
 * The resource types of the provisioning API (`/v1/trust-anchors`, `/v1/reference-values`): one row
 * per list of the JSON form (`appraisal/reference-values.ts`). A row names the `type` bodies and
 * representations carry, the list (section) its entries belong to, the entry's zod schema, and how
 * a listing's `identifier` selects its documents. The routes (`routes/provisioning.ts`) enumerate
 * nothing: a new section of the JSON form is served by adding its row here (and its schema to
 * `openapi.yaml`, which a test compares with `schema`).
 *
 * The collection a type belongs to follows from its section's kind (`kindOfSection`): trust anchors
 * are `trust-anchor` documents, reference values `reference-value` documents.
 */
import type { z } from 'zod'
import { oemidKey } from '../appraisal/endorsements.js'
import {
  eatClassIndexId,
  eatKidIndexId,
  eatUeidIndexId,
  kindOfSection,
  psaImplementationIndexId,
  psaInstanceIndexId,
  type ProvisioningSection,
} from '../appraisal/provisioning-documents.js'
import {
  eatKeyEntrySchema,
  eatPinnedCertificateEntrySchema,
  eatReferenceValueEntrySchema,
  eatUeidKeyEntrySchema,
  eatX509AnchorEntrySchema,
  provisioningAnchorEntrySchema,
  provisioningKeyEntrySchema,
  psaReferenceValueEntrySchema,
  psaTrustAnchorEntrySchema,
} from '../appraisal/reference-values.js'
import type { EndorsementKind } from '../store/endorsements.js'

/** What a listing's `identifier` selects: the documents naming an index id, or one document. */
export type IdentifierSelection = { readonly indexId: string } | { readonly id: string }

export interface ProvisioningType {
  /** The `type` member of bodies and representations. */
  readonly type: string
  readonly section: ProvisioningSection
  /** The entry, exactly as a file holds it (strict: unknown members are refused). */
  readonly schema: z.ZodType
  /** What a listing's `identifier` is for this type, as the problem of a malformed one says. */
  readonly identifier: string
  /** The selection of a well-formed `identifier`; undefined for a malformed one. */
  readonly select: (identifier: string) => IdentifierSelection | undefined
}

const hexOf = (bytes: readonly number[]) => (value: string): string | undefined =>
  /^([0-9a-fA-F]{2})+$/.test(value) && bytes.includes(value.length / 2) ? value.toLowerCase() : undefined
const hexBetween = (min: number, max: number) => (value: string): string | undefined =>
  /^([0-9a-fA-F]{2})+$/.test(value) && value.length / 2 >= min && value.length / 2 <= max ? value.toLowerCase() : undefined
const sha256Hex = hexOf([32])

/** `pen:<decimal>/<hwmodel hex>` or `hex:<oemid hex>/<hwmodel hex>`. */
function eatClass(value: string): IdentifierSelection | undefined {
  const m = /^(?:pen:(\d{1,15})|hex:([0-9a-fA-F]{6}|[0-9a-fA-F]{32}))\/([0-9a-fA-F]{2,64})$/.exec(value)
  if (m === null || m[3]!.length % 2 !== 0) return undefined
  const pen = m[1] === undefined ? undefined : Number(m[1])
  if (pen !== undefined && !Number.isSafeInteger(pen)) return undefined
  const oemid = pen === undefined ? oemidKey(Uint8Array.from(Buffer.from(m[2]!, 'hex'))) : oemidKey(pen)
  return { indexId: eatClassIndexId(oemid, m[3]!) }
}

const indexed = (parse: (value: string) => string | undefined, indexId: (value: string) => string) => (value: string) => {
  const parsed = parse(value)
  return parsed === undefined ? undefined : { indexId: indexId(parsed) }
}

/** Every resource type; a type's position here is its position in listings of types (docs, problems). */
export const PROVISIONING_TYPES: readonly ProvisioningType[] = [
  {
    type: 'psa-instance-key',
    section: 'psa.trustAnchors',
    schema: psaTrustAnchorEntrySchema,
    identifier: 'the Instance ID in hex (33 bytes)',
    select: indexed(hexOf([33]), psaInstanceIndexId),
  },
  {
    type: 'eat-kid-key',
    section: 'eat.keys',
    schema: eatKeyEntrySchema,
    identifier: 'the kid as written in the entry (1 to 256 characters)',
    select: (value) => (value.length >= 1 && value.length <= 256 ? { indexId: eatKidIndexId(new TextEncoder().encode(value)) } : undefined),
  },
  {
    type: 'eat-ueid-key',
    section: 'eat.ueidKeys',
    schema: eatUeidKeyEntrySchema,
    identifier: 'the UEID in hex (7 to 33 bytes)',
    select: indexed(hexBetween(7, 33), eatUeidIndexId),
  },
  {
    type: 'pinned-certificate',
    section: 'eat.pinnedCertificates',
    schema: eatPinnedCertificateEntrySchema,
    identifier: 'the SHA-256 of the certificate (DER) in hex',
    select: indexed(sha256Hex, (hash) => `x5t:-16:${hash}`),
  },
  {
    type: 'x509-ca',
    section: 'eat.x509Anchors',
    schema: eatX509AnchorEntrySchema,
    identifier: 'the SHA-256 of the CA certificate (DER) in hex',
    // A tenant's anchors share one index id (they are read as one list): the digest names the document.
    select: (value) => {
      const hash = sha256Hex(value)
      return hash === undefined ? undefined : { id: `eat-ca-${hash}` }
    },
  },
  {
    type: 'corim-signer-key',
    section: 'provisioning.keys',
    schema: provisioningKeyEntrySchema,
    identifier: 'the SHA-256 of the key (SubjectPublicKeyInfo DER) in hex',
    // A tenant's CoRIM signers share one index id (they are read as one list): the digest names the document.
    select: (value) => {
      const hash = sha256Hex(value)
      return hash === undefined ? undefined : { id: `prov-key-${hash}` }
    },
  },
  {
    type: 'corim-signer-ca',
    section: 'provisioning.x509Anchors',
    schema: provisioningAnchorEntrySchema,
    identifier: 'the SHA-256 of the CA certificate (DER) in hex',
    select: (value) => {
      const hash = sha256Hex(value)
      return hash === undefined ? undefined : { id: `prov-ca-${hash}` }
    },
  },
  {
    type: 'psa-implementation',
    section: 'psa.referenceValues',
    schema: psaReferenceValueEntrySchema,
    identifier: 'the Implementation ID in hex (32 bytes)',
    select: indexed(hexOf([32]), psaImplementationIndexId),
  },
  {
    type: 'eat-class',
    section: 'eat.referenceValues',
    schema: eatReferenceValueEntrySchema,
    identifier: 'pen:<oemid as a decimal PEN>/<hwmodel hex> or hex:<oemid hex, 3 or 16 bytes>/<hwmodel hex>',
    select: eatClass,
  },
]

/** The kind of the documents of `type`. */
export const kindOfType = (type: ProvisioningType): EndorsementKind => kindOfSection(type.section)

/** The types whose documents are of `kind`, in table order. */
export function typesOfKind(kind: EndorsementKind): readonly ProvisioningType[] {
  return PROVISIONING_TYPES.filter((t) => kindOfType(t) === kind)
}

/** The type of the entry a document section holds; undefined for a section no row serves. */
export function typeOfSection(section: ProvisioningSection | undefined): ProvisioningType | undefined {
  return section === undefined ? undefined : PROVISIONING_TYPES.find((t) => t.section === section)
}
