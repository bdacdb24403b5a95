/**
 * Provisioning documents: how each entry of the JSON form (`reference-values.ts`) is kept in the
 * endorsement store (`store/endorsements.ts`), and read back. The file loader writes them at start;
 * the provisioning API will write the same documents, so both validate with the same zod schemas.
 *
 * One document per entry. Its body is the entry's JSON as the file schema has it; its id is derived
 * from the entry's identifier, so the same entry always lands on the same document; its index ids
 * are what the appraisal looks it up by:
 *
 * | section | kind | document id | index ids |
 * |---|---|---|---|
 * | `psa.trustAnchors` | trust-anchor | `psa-ta-<instance id>` | `psa-instance:<instance id>` |
 * | `psa.referenceValues` | reference-value | `psa-rv-<implementation id>` | `psa-impl:<implementation id>` |
 * | `eat.keys` | trust-anchor | `eat-kid-<kid bytes>` (`eat-kid-s256-<SHA-256>` when long) | `eat-kid:<kid bytes>` (`eat-kid-s256:<SHA-256>`) |
 * | `eat.ueidKeys` | trust-anchor | `eat-ueid-<ueid>` | `eat-ueid:<ueid>` |
 * | `eat.pinnedCertificates` | trust-anchor | `eat-pin-<SHA-256 of DER>` | `x5t:-16:<SHA-256>`, `x5t:-43:<SHA-384>`, `x5t:-44:<SHA-512>` |
 * | `eat.x509Anchors` | trust-anchor | `eat-ca-<SHA-256 of DER>` | `x509-ca:all` (a tenant's anchors are read as one list) |
 * | `eat.referenceValues` | reference-value | `eat-rv-<oemid>-<hwmodel>` | `eat-class:<oemid key>/<hwmodel>` |
 * | `eat.profiles` | profile | `eat-profile-<SHA-256 of the lower-cased profile id>` | `eat-profile:<the same SHA-256>` |
 * | `provisioning.keys` | trust-anchor | `prov-key-<SHA-256 of SPKI>` | `prov-key:all` (CoRIM signers, read as one list) |
 * | `provisioning.x509Anchors` | trust-anchor | `prov-ca-<SHA-256 of DER>` | `prov-ca:all` |
 *
 * Identifiers and digests are lower-case hex. Documents loaded from files also carry `src:file`, so
 * the loader can find the ones whose file is gone.
 *
 * A stored body may carry, beside the entry's members, `validity` (`{ notBefore?, notAfter? }`, in
 * seconds since the epoch: the appraisal uses the entry only inside it, `documentValidity`) and
 * `corim` (the CoRIM provenance of an entry a CoRIM provided, `corim-provisioning.ts`). Neither is
 * part of the JSON form: `decodeProvisioningDocument` validates and strips them.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { importJwk, importSpki } from '../crypto/keys.js'
import { VerifierError } from '../errors/errors.js'
import type { EndorsementKind, JsonValue } from '../store/endorsements.js'
import type { TenantId } from '../store/types.js'
import { fromHex, toHex } from '../util/bytes.js'
import { MemoryEndorsements, oemidKey } from './endorsements.js'
import { addReferenceValueDocument, pemBody, referenceValueDocumentSchema, type LoadOptions, type ReferenceValueDocument } from './reference-values.js'

/** The list of the JSON form an entry belongs to. */
export type ProvisioningSection =
  | 'psa.trustAnchors'
  | 'psa.referenceValues'
  | 'eat.keys'
  | 'eat.ueidKeys'
  | 'eat.pinnedCertificates'
  | 'eat.x509Anchors'
  | 'eat.referenceValues'
  | 'eat.profiles'
  | 'provisioning.keys'
  | 'provisioning.x509Anchors'

const SECTIONS: readonly { readonly section: ProvisioningSection; readonly prefix: string; readonly kind: EndorsementKind }[] = [
  { section: 'psa.trustAnchors', prefix: 'psa-ta-', kind: 'trust-anchor' },
  { section: 'psa.referenceValues', prefix: 'psa-rv-', kind: 'reference-value' },
  { section: 'eat.keys', prefix: 'eat-kid-', kind: 'trust-anchor' },
  { section: 'eat.ueidKeys', prefix: 'eat-ueid-', kind: 'trust-anchor' },
  { section: 'eat.pinnedCertificates', prefix: 'eat-pin-', kind: 'trust-anchor' },
  { section: 'eat.x509Anchors', prefix: 'eat-ca-', kind: 'trust-anchor' },
  { section: 'eat.referenceValues', prefix: 'eat-rv-', kind: 'reference-value' },
  { section: 'eat.profiles', prefix: 'eat-profile-', kind: 'profile' },
  { section: 'provisioning.keys', prefix: 'prov-key-', kind: 'trust-anchor' },
  { section: 'provisioning.x509Anchors', prefix: 'prov-ca-', kind: 'trust-anchor' },
]

/** One entry as a store document. */
export interface ProvisioningDocument {
  readonly section: ProvisioningSection
  readonly id: string
  readonly kind: EndorsementKind
  /** Sorted. */
  readonly indexIds: readonly string[]
  readonly body: JsonValue
}

/** The index id of documents loaded from the reference-values folder. */
export const FROM_FILE_INDEX_ID = 'src:file'
/** The index id under which every X.509 anchor of a tenant is found. */
export const X509_ANCHORS_INDEX_ID = 'x509-ca:all'
/** The index id under which every CoRIM provisioning key of a tenant is found. */
export const PROVISIONING_KEYS_INDEX_ID = 'prov-key:all'
/** The index id under which every CoRIM provisioning CA certificate of a tenant is found. */
export const PROVISIONING_ANCHORS_INDEX_ID = 'prov-ca:all'
/** COSE hash algorithms an x5t may use, and node's names for them. */
const X5T_HASHES: readonly (readonly [number, string])[] = [
  [-16, 'sha256'],
  [-43, 'sha384'],
  [-44, 'sha512'],
]
/** Longest hex of a kid kept as it is in an id; longer kids are named by their SHA-256. */
const MAX_KID_HEX = 112

const sha = (name: string, bytes: Uint8Array | string): string => createHash(name).update(bytes).digest('hex')

export const psaInstanceIndexId = (instanceIdHex: string): string => `psa-instance:${instanceIdHex.toLowerCase()}`
export const psaImplementationIndexId = (implementationIdHex: string): string => `psa-impl:${implementationIdHex.toLowerCase()}`
export const eatUeidIndexId = (ueidHex: string): string => `eat-ueid:${ueidHex.toLowerCase()}`
export const eatClassIndexId = (oemid: string, hwmodelHex: string): string => `eat-class:${oemid}/${hwmodelHex.toLowerCase()}`
/** Profile ids compare case-insensitively: their documents are named by the lower-cased id's SHA-256. */
const profileDigest = (profileId: string): string => sha('sha256', profileId.toLowerCase())
/** The index id an operator-defined EAT profile is looked up by. */
export const eatProfileIndexId = (profileId: string): string => `eat-profile:${profileDigest(profileId)}`
/** The document id of an operator-defined EAT profile (one per profile id and tenant). */
export const eatProfileDocumentId = (profileId: string): string => `eat-profile-${profileDigest(profileId)}`
/** The index id of a pinned certificate under one x5t hash; undefined for a hash no x5t may use. */
export function x5tIndexId(hashAlg: number, hash: Uint8Array): string | undefined {
  return X5T_HASHES.some(([alg]) => alg === hashAlg) ? `x5t:${hashAlg}:${toHex(hash)}` : undefined
}
export function eatKidIndexId(kid: Uint8Array): string {
  const hex = toHex(kid)
  return hex.length <= MAX_KID_HEX ? `eat-kid:${hex}` : `eat-kid-s256:${sha('sha256', kid)}`
}
function eatKidId(kid: Uint8Array): string {
  const hex = toHex(kid)
  return hex.length <= MAX_KID_HEX ? `eat-kid-${hex}` : `eat-kid-s256-${sha('sha256', kid)}`
}

const oemidOf = (oemid: number | string): string => oemidKey(typeof oemid === 'number' ? oemid : fromHex(oemid))

/**
 * The documents of one validated document of the JSON form, in the order of its entries, with
 * `extraIndexIds` (e.g. {@link FROM_FILE_INDEX_ID}) added to each.
 */
export function provisioningDocuments(doc: ReferenceValueDocument, extraIndexIds: readonly string[] = []): ProvisioningDocument[] {
  const out: ProvisioningDocument[] = []
  const add = (section: ProvisioningSection, id: string, indexIds: readonly string[], entry: unknown) => {
    const kind = SECTIONS.find((s) => s.section === section)!.kind
    out.push({ section, id, kind, indexIds: [...new Set([...indexIds, ...extraIndexIds])].sort(), body: entry as JsonValue })
  }
  for (const a of doc.psa?.trustAnchors ?? []) add('psa.trustAnchors', `psa-ta-${a.instanceId.toLowerCase()}`, [psaInstanceIndexId(a.instanceId)], a)
  for (const r of doc.psa?.referenceValues ?? []) {
    add('psa.referenceValues', `psa-rv-${r.implementationId.toLowerCase()}`, [psaImplementationIndexId(r.implementationId)], r)
  }
  for (const k of doc.eat?.keys ?? []) {
    const kid = new TextEncoder().encode(k.kid)
    add('eat.keys', eatKidId(kid), [eatKidIndexId(kid)], k)
  }
  for (const k of doc.eat?.ueidKeys ?? []) add('eat.ueidKeys', `eat-ueid-${k.ueid.toLowerCase()}`, [eatUeidIndexId(k.ueid)], k)
  for (const c of doc.eat?.pinnedCertificates ?? []) {
    const der = pemBody(c.certificate)
    add('eat.pinnedCertificates', `eat-pin-${sha('sha256', der)}`, X5T_HASHES.map(([alg, name]) => `x5t:${alg}:${sha(name, der)}`), c)
  }
  for (const a of doc.eat?.x509Anchors ?? []) add('eat.x509Anchors', `eat-ca-${sha('sha256', pemBody(a.certificate))}`, [X509_ANCHORS_INDEX_ID], a)
  for (const r of doc.eat?.referenceValues ?? []) {
    const oemid = oemidOf(r.oemid)
    add('eat.referenceValues', `eat-rv-${oemid.replace(':', '.')}-${r.hwmodel.toLowerCase()}`, [eatClassIndexId(oemid, r.hwmodel)], r)
  }
  for (const p of doc.eat?.profiles ?? []) add('eat.profiles', eatProfileDocumentId(p.id), [eatProfileIndexId(p.id)], p)
  for (const k of doc.provisioning?.keys ?? []) add('provisioning.keys', `prov-key-${keyDigest(k.key)}`, [PROVISIONING_KEYS_INDEX_ID], k)
  for (const a of doc.provisioning?.x509Anchors ?? []) {
    add('provisioning.x509Anchors', `prov-ca-${sha('sha256', pemBody(a.certificate))}`, [PROVISIONING_ANCHORS_INDEX_ID], a)
  }
  return out
}

/** SHA-256 of a key's SPKI (the same key as JWK or PEM is one document), or of its JSON when it does not import. */
function keyDigest(key: string | Record<string, unknown>): string {
  try {
    return (typeof key === 'string' ? importSpki(key) : importJwk(key)).spkiSha256
  } catch {
    return sha('sha256', JSON.stringify(key))
  }
}

/** When a stored entry may be used, in seconds since the epoch (inclusive bounds). */
export interface DocumentValidity {
  readonly notBefore?: number
  readonly notAfter?: number
}

const validitySchema = z
  .object({ notBefore: z.number().int().nonnegative().optional(), notAfter: z.number().int().nonnegative().optional() })
  .strict()
  .refine((v) => v.notBefore === undefined || v.notAfter === undefined || v.notBefore <= v.notAfter, 'notBefore is after notAfter')

/** Members of a stored body that are not the entry's (see the module comment). */
const META_MEMBERS = ['validity', 'corim'] as const

/** A stored body split into the entry and its validity; `ERR_CONFIG_INVALID` for a malformed validity. */
export function splitDocumentBody(body: JsonValue, source: string): { readonly entry: JsonValue; readonly validity?: DocumentValidity } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { entry: body }
  const object = body as { readonly [key: string]: JsonValue }
  if (!META_MEMBERS.some((m) => m in object)) return { entry: body }
  const entry: { [key: string]: JsonValue } = {}
  for (const [k, v] of Object.entries(object)) if (!(META_MEMBERS as readonly string[]).includes(k)) entry[k] = v
  if (!('validity' in object)) return { entry }
  const parsed = validitySchema.safeParse(object['validity'])
  if (!parsed.success) throw new VerifierError('ERR_CONFIG_INVALID', `${source}: validity: ${parsed.error.issues[0]!.message}`)
  return { entry, validity: parsed.data }
}

/** The validity of a stored body; undefined when it has none, or a malformed one (the decode refuses it). */
export function documentValidity(body: JsonValue): DocumentValidity | undefined {
  try {
    return splitDocumentBody(body, '').validity
  } catch {
    return undefined
  }
}

/** Whether `validity` allows use at `nowSeconds` (bounds inclusive, as CoRIM validity is judged). */
export function withinValidity(validity: DocumentValidity | undefined, nowSeconds: number): boolean {
  if (validity === undefined) return true
  return (validity.notBefore === undefined || nowSeconds >= validity.notBefore) && (validity.notAfter === undefined || nowSeconds <= validity.notAfter)
}

/** The kind of the documents of `section`. */
export function kindOfSection(section: ProvisioningSection): EndorsementKind {
  return SECTIONS.find((s) => s.section === section)!.kind
}

/**
 * The document of one entry of `section` (its defaults filled in, as a file's entry is). Validate
 * the entry first with {@link decodeProvisioningDocument}.
 * @throws ZodError when the entry is not valid
 */
export function provisioningDocumentOf(section: ProvisioningSection, entry: unknown): ProvisioningDocument {
  const [part, list] = section.split('.') as [string, string]
  return provisioningDocuments(referenceValueDocumentSchema.parse({ [part]: { [list]: [entry] } }))[0]!
}

/** The section a document id belongs to; undefined for an id no entry makes. */
export function sectionOf(id: string): ProvisioningSection | undefined {
  return SECTIONS.find((s) => id.startsWith(s.prefix))?.section
}

/**
 * Reads one document back: its body validated and imported exactly as a file entry is (zod schema,
 * key import, the published-key rule of `options`), into endorsements of its own. `source` names it
 * in what the appraisal reports; `options.warn` hears what a file's would (an `"any"` binding…).
 * @throws VerifierError `ERR_CONFIG_INVALID` when the body is not a valid entry of its section
 */
export function decodeProvisioningDocument(
  tenant: TenantId,
  section: ProvisioningSection,
  body: JsonValue,
  source: string,
  options: Pick<LoadOptions, 'allowPublishedKeys' | 'warn'> = {},
): MemoryEndorsements {
  const [part, list] = section.split('.') as [string, string]
  const into = new MemoryEndorsements()
  const { entry } = splitDocumentBody(body, source)
  addReferenceValueDocument(into, { tenant, [part]: { [list]: [entry] } }, source, {
    allowPublishedKeys: options.allowPublishedKeys === true,
    ...(options.warn === undefined ? {} : { warn: options.warn }),
  })
  return into
}
