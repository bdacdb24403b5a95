/**
 * CoRIM provisioning: a CoRIM (draft-ietf-rats-corim, src/corim) checked against the tenant's
 * provisioning keys and anchors, mapped by its profile, and written into the endorsement store as
 * the same documents the JSON form makes (`provisioning-documents.ts`), so the appraisal reads a
 * CoRIM-provisioned device exactly as a file-provisioned one.
 *
 * Rules:
 * - Trust: a signed CoRIM must verify with a `provisioning.keys` key of the tenant, or carry a
 *   protected x5chain that chains to a `provisioning.x509Anchors` certificate of the tenant. An
 *   unsigned CoRIM is taken only when the caller says the channel is authenticated
 *   (`acceptUnsigned`: the operator routes), the operator then being its manifest signer.
 * - Nothing is dropped: a mapping the appraisal cannot use (reference triples of a CoRIM without a
 *   profile) is refused by name, as is an entry the JSON form cannot hold.
 * - Each entry becomes one document: its JSON-form body plus `corim` (provenance: corim id, tag id,
 *   tag version, tag digest, profile, signer key) and `validity` (rim-validity and signature
 *   validity, intersected), which the appraisal honours at its own clock. `source` is
 *   `corim:<corim id>#<tag id>@<tag version>`; the index id `corim-tag:<SHA-256 of tag id>` finds
 *   every document of a tag.
 * - Per tag (`orderProvenance`): the same tag version and bytes again changes nothing (each write
 *   is a `putIfChanged` of identical content); a higher version writes its entries and deletes those
 *   of the older version it no longer provides; a lower version is refused (`ERR_CORIM_STALE`), as
 *   is the same version with other bytes (`ERR_CORIM_CONFLICT`). An entry already provided by
 *   another source (a file, the API, another tag) is refused (`ERR_CORIM_CONFLICT`): a tag replaces
 *   only what it provided.
 * - An entry an operator deactivated stays inactive when a re-submission or a newer version
 *   rewrites it.
 * - A CoRIM is checked whole before anything is written. Submissions are serialised per tenant in
 *   this process; two processes writing the same tag at once may interleave (docs/decisions.md).
 */
import { createHash } from 'node:crypto'
import { BUILT_IN_PROFILES } from '../corim/profiles/index.js'
import { CorimProfileRegistry } from '../corim/profile.js'
import { processCorim, type CorimTrust, type DecodedCorim } from '../corim/corim.js'
import { mapCorim, orderProvenance, provenanceOf, sourceOf, uuidText, type CorimProvenance, type MappedEndorsements } from '../corim/map.js'
import type { PublicKey } from '../crypto/keys.js'
import { X509TrustStore, validateChain } from '../crypto/x509.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import type { EndorsementKind, EndorsementStore, EndorsementVersion, JsonValue } from '../store/endorsements.js'
import type { TenantId } from '../store/types.js'
import { toHex } from '../util/bytes.js'
import { MemoryEndorsements } from './endorsements.js'
import {
  PROVISIONING_ANCHORS_INDEX_ID,
  PROVISIONING_KEYS_INDEX_ID,
  documentValidity,
  provisioningDocuments,
  sectionOf,
  splitDocumentBody,
  withinValidity,
  type DocumentValidity,
  type ProvisioningSection,
} from './provisioning-documents.js'
import { addReferenceValueDocument, importProvisioningKey, pemBody, provisioningSectionSchema, referenceValueDocumentSchema } from './reference-values.js'

/** The profiles a submitted CoRIM may declare: the built-in ones. */
export const CORIM_PROFILES = new CorimProfileRegistry(BUILT_IN_PROFILES)

/** Longest `source` the store keeps. */
const MAX_SOURCE = 256
/** Documents read per page when listing a tag's documents. */
const PAGE = 1000

/** Options of {@link provisionCorim}. */
export interface CorimProvisioningOptions {
  /** Who submits it (the operator id), recorded as `createdBy`. */
  readonly createdBy: string
  /** The time validity periods are judged at, in seconds since the epoch. */
  readonly nowSeconds: number
  /** Take an unsigned CoRIM (the channel is authenticated). @defaultValue false */
  readonly acceptUnsigned?: boolean
  /** Test mode: accept keys whose private halves are published. @defaultValue false */
  readonly allowPublishedKeys?: boolean
  /** The form the submission declared (its media type): the CoRIM must be of it. */
  readonly form?: 'signed' | 'unsigned'
  /** The profile the submission declared (media type `profile` parameter): the CoRIM must declare it. */
  readonly profile?: string
  /** @defaultValue {@link CORIM_PROFILES} */
  readonly profiles?: CorimProfileRegistry
}

/** What became of one document. */
export interface CorimDocumentOutcome {
  readonly id: string
  readonly section: ProvisioningSection
  readonly kind: EndorsementKind
  readonly tagId: string
  readonly outcome: 'created' | 'replaced' | 'unchanged' | 'deleted'
  /** The document's latest version after the submission. */
  readonly version: number
}

/** What became of one CoMID tag. */
export interface CorimTagOutcome {
  readonly tagId: string
  readonly tagVersion: number
  /** `new`: no version of the tag was provisioned; `supersedes`: it replaced `supersededVersion`. */
  readonly outcome: 'new' | 'unchanged' | 'supersedes'
  readonly supersededVersion?: number
}

/** The report of one submission. */
export interface CorimProvisioningReport {
  readonly corimId: string
  readonly profile?: string
  /** Present for a signed CoRIM: the signer it names and the SHA-256 of the SPKI that verified it. */
  readonly signer?: { readonly name: string; readonly keySha256: string }
  /** When the entries may be used (rim-validity and signature validity); absent: always. */
  readonly validity?: DocumentValidity
  readonly tags: readonly CorimTagOutcome[]
  readonly documents: readonly CorimDocumentOutcome[]
}

/** One entry a CoRIM provides, ready to be written. */
export interface PlannedDocument {
  readonly id: string
  readonly section: ProvisioningSection
  readonly kind: EndorsementKind
  readonly indexIds: readonly string[]
  readonly body: JsonValue
  readonly source: string
  readonly provenance: CorimProvenance
}

/** The index id of every document a CoMID tag provided. */
export const corimTagIndexId = (tagId: string): string => `corim-tag:${createHash('sha256').update(tagId, 'utf8').digest('hex')}`

const capSource = (source: string): string => (source.length <= MAX_SOURCE ? source : `${source.slice(0, MAX_SOURCE - 1)}…`)

/**
 * The provenance a stored body records; undefined when it has none (not from a CoRIM). The CoRIM's
 * own digest is not kept (a tag is the unit of replacement): `corimDigest` is empty.
 */
function storedProvenance(body: JsonValue): CorimProvenance | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined
  const p = (body as { readonly [k: string]: JsonValue })['corim']
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return undefined
  const o = p as { readonly [k: string]: JsonValue }
  if (typeof o['tagId'] !== 'string' || typeof o['tagVersion'] !== 'number' || typeof o['tagDigest'] !== 'string' || typeof o['corimId'] !== 'string') {
    return undefined
  }
  return { corimId: o['corimId'], corimDigest: '', tagId: o['tagId'], tagVersion: o['tagVersion'], tagDigest: o['tagDigest'] }
}

/**
 * Who may sign CoRIMs for `tenant`: its provisioning keys and CA certificates as stored (inactive,
 * deleted, out-of-validity and undecodable documents left out).
 */
export async function loadCorimTrust(
  store: EndorsementStore,
  tenant: TenantId,
  options: { readonly nowSeconds: number; readonly acceptUnsigned?: boolean; readonly allowPublishedKeys?: boolean },
): Promise<CorimTrust> {
  const usable = (v: EndorsementVersion) => withinValidity(documentValidity(v.body), options.nowSeconds)
  const keys: PublicKey[] = []
  for (const v of (await store.lookup(tenant, PROVISIONING_KEYS_INDEX_ID)).filter(usable)) {
    try {
      const section = provisioningSectionSchema.parse({ keys: [splitDocumentBody(v.body, v.id).entry] })
      keys.push(importProvisioningKey(section.keys[0]!.key, `${v.id}@${v.version}`, 'key', { allowPublishedKeys: options.allowPublishedKeys === true }))
    } catch {
      // Read as absent, as the appraisal reads a document that does not decode.
    }
  }
  const anchors: Uint8Array[] = []
  for (const v of (await store.lookup(tenant, PROVISIONING_ANCHORS_INDEX_ID)).filter(usable)) {
    try {
      const section = provisioningSectionSchema.parse({ x509Anchors: [splitDocumentBody(v.body, v.id).entry] })
      const der = pemBody(section.x509Anchors[0]!.certificate)
      void new X509TrustStore([{ der }])
      anchors.push(der)
    } catch {
      // As above.
    }
  }
  const roots = anchors.length === 0 ? undefined : new X509TrustStore(anchors.map((der) => ({ der })))
  return {
    keys,
    ...(roots === undefined ? {} : { x5chain: (chain: readonly Uint8Array[], now: number) => validateChain(chain, roots, now).leafKey }),
    acceptUnsigned: options.acceptUnsigned === true,
  }
}

const oemidOfKey = (key: string): number | string => (key.startsWith('pen:') ? Number(key.slice(4)) : key.slice(4))
const pemOf = (key: PublicKey): string => key.keyObject.export({ type: 'spki', format: 'pem' }).toString()

/** The JSON-form entries of a mapping, each with its section and provenance. */
function entriesOf(mapped: MappedEndorsements): { section: ProvisioningSection; entry: unknown; provenance: CorimProvenance }[] {
  const out: { section: ProvisioningSection; entry: unknown; provenance: CorimProvenance }[] = []
  for (const a of mapped.psaTrustAnchors) {
    out.push({
      section: 'psa.trustAnchors',
      provenance: a.provenance,
      entry: { instanceId: toHex(a.anchor.instanceId), key: pemOf(a.anchor.key), implementationId: toHex(a.anchor.implementationId) },
    })
  }
  for (const r of mapped.psaReferenceValues) {
    out.push({
      section: 'psa.referenceValues',
      provenance: r.provenance,
      entry: {
        implementationId: toHex(r.values.implementationId),
        softwareComponents: r.values.softwareComponents.map((c) => ({
          ...(c.measurementType === undefined ? {} : { measurementType: c.measurementType }),
          measurementValue: toHex(c.measurementValue),
          signerId: toHex(c.signerId),
          ...(c.version === undefined ? {} : { version: c.version }),
        })),
      },
    })
  }
  for (const k of mapped.eatUeidKeys) {
    out.push({
      section: 'eat.ueidKeys',
      provenance: k.provenance,
      entry: {
        ueid: k.ueidHex,
        key: pemOf(k.key),
        speaksFor: {
          classes: [...k.classes].map((c) => {
            const [oemid, hwmodel] = c.split('/') as [string, string]
            return { oemid: oemidOfKey(oemid), hwmodel }
          }),
        },
      },
    })
  }
  for (const r of mapped.eatReferenceValues) {
    out.push({
      section: 'eat.referenceValues',
      provenance: r.provenance,
      entry: {
        oemid: oemidOfKey(r.oemid),
        hwmodel: r.hwmodelHex,
        software: [...r.values.software].map(([swname, versions]) => (versions === 'any' ? { swname } : { swname, swversions: [...versions] })),
        measurementDigests: [...r.values.measurementDigests],
        manifestDigests: [...(r.values.manifestDigests ?? [])],
      },
    })
  }
  return out
}

/** The validity of every entry of a CoRIM: its rim-validity and its signature validity, intersected. */
function validityOf(decoded: DecodedCorim): DocumentValidity | undefined {
  const windows = [decoded.corim.validity, decoded.corim.signature?.validity].filter((w) => w !== undefined)
  if (windows.length === 0) return undefined
  const notBefores = windows.map((w) => w.notBefore).filter((n) => n !== undefined)
  const notAfter = Math.min(...windows.map((w) => w.notAfter))
  return {
    ...(notBefores.length === 0 ? {} : { notBefore: Math.max(...notBefores) }),
    ...(notAfter >= Number.MAX_SAFE_INTEGER ? {} : { notAfter }),
  }
}

/** Refuses what no appraisal reads, naming it. */
function refuseUnused(mapped: MappedEndorsements, decoded: DecodedCorim): void {
  if (mapped.corimReferenceValues.length > 0) {
    const tags = [...new Set(mapped.corimReferenceValues.map((r) => r.provenance.tagId))]
    throw new VerifierError(
      'ERR_CORIM_UNSUPPORTED',
      `${mapped.corimReferenceValues.length} reference-triples (tags ${tags.join(', ')}) of a CoRIM without a profile: no appraisal reads them; ` +
        'declare the PSA endorsement profile (tag:arm.com,2025:psa#1.0.0) or the EAT class profile (tag:assay-verifier.dev,2026:corim/eat-class#1)',
    )
  }
  const total = mapped.psaReferenceValues.length + mapped.psaTrustAnchors.length + mapped.eatReferenceValues.length + mapped.eatUeidKeys.length
  if (total === 0) {
    throw new VerifierError('ERR_CORIM_UNSUPPORTED', `CoRIM ${String(decoded.corim.id)} provides nothing the appraisal uses`)
  }
}

/** The documents a decoded CoRIM provides, checked as a file's entries are (schema, keys, duplicates). */
export function corimDocuments(tenant: TenantId, decoded: DecodedCorim, options: { readonly allowPublishedKeys?: boolean } = {}): PlannedDocument[] {
  const mapped = mapCorim(decoded.corim, decoded.profile)
  refuseUnused(mapped, decoded)
  const validity = validityOf(decoded)
  const entries = entriesOf(mapped)
  // The whole CoRIM as one document of the JSON form: schema, key import, published keys and an
  // identifier provided twice are refused here, by the file loader's own rules.
  const whole: Record<string, Record<string, unknown[]>> = {}
  for (const { section, entry } of entries) {
    const [part, list] = section.split('.') as [string, string]
    ;((whole[part] ??= {})[list] ??= []).push(entry)
  }
  try {
    addReferenceValueDocument(new MemoryEndorsements(), { tenant, ...whole }, 'CoRIM', { allowPublishedKeys: options.allowPublishedKeys === true })
  } catch (cause) {
    if (!isVerifierError(cause, 'ERR_CONFIG_INVALID')) throw cause
    throw new VerifierError('ERR_CORIM_UNSUPPORTED', `the entries this CoRIM maps to cannot be provisioned: ${cause.message}`, { cause })
  }
  return entries.map(({ section, entry, provenance }) => {
    const [part, list] = section.split('.') as [string, string]
    const doc = referenceValueDocumentSchema.parse({ tenant, [part]: { [list]: [entry] } })
    const [d] = provisioningDocuments(doc, [corimTagIndexId(provenance.tagId)])
    const corim = {
      corimId: provenance.corimId,
      tagId: provenance.tagId,
      tagVersion: provenance.tagVersion,
      tagDigest: provenance.tagDigest,
      ...(provenance.profile === undefined ? {} : { profile: provenance.profile }),
      ...(provenance.signerKey === undefined ? {} : { signerKey: provenance.signerKey }),
    }
    const body = { ...(d!.body as Record<string, JsonValue>), ...(validity === undefined ? {} : { validity: { ...validity } }), corim }
    return { id: d!.id, section, kind: d!.kind, indexIds: d!.indexIds, body, source: capSource(sourceOf(provenance)), provenance }
  })
}

/** Every live document whose latest version names `indexId`. */
async function listAll(store: EndorsementStore, tenant: TenantId, indexId: string): Promise<EndorsementVersion[]> {
  const out: EndorsementVersion[] = []
  let cursor: string | undefined
  do {
    const page = await store.list(tenant, { indexId, limit: PAGE, ...(cursor === undefined ? {} : { cursor }) })
    out.push(...page.items)
    cursor = page.cursor
  } while (cursor !== undefined)
  return out
}

const queues = new Map<TenantId, Promise<unknown>>()

/** Runs `task` after every earlier one of `tenant` in this process has settled. */
async function serialised<T>(tenant: TenantId, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(tenant) ?? Promise.resolve()
  const run = previous.then(task, task)
  const settled = run.then(
    () => undefined,
    () => undefined,
  )
  queues.set(tenant, settled)
  try {
    return await run
  } finally {
    if (queues.get(tenant) === settled) queues.delete(tenant)
  }
}

const TAG_SIGNED = 18
const TAG_UNSIGNED = 501

/**
 * Checks `bytes` as a CoRIM of `tenant` and writes what it provides into `store`.
 * @throws VerifierError `ERR_CORIM_*` (422) for a CoRIM that is refused, `ERR_CORIM_STALE` or
 *   `ERR_CORIM_CONFLICT` (409) for one that disagrees with what is provisioned, and the store's
 *   errors (`ERR_STORE_UNAVAILABLE`…)
 */
export async function provisionCorim(
  store: EndorsementStore,
  tenant: TenantId,
  bytes: Uint8Array,
  options: CorimProvisioningOptions,
): Promise<CorimProvisioningReport> {
  if (options.form !== undefined) {
    const first = bytes[0] === 0xd2 ? TAG_SIGNED : bytes[0] === 0xd9 && bytes[1] === 0x01 && bytes[2] === 0xf5 ? TAG_UNSIGNED : undefined
    if (options.form === 'signed' && first !== TAG_SIGNED) {
      throw new VerifierError('ERR_CORIM_MALFORMED', 'application/rim+cose carries a signed CoRIM (COSE_Sign1, tag 18); this is not one')
    }
    if (options.form === 'unsigned' && first !== TAG_UNSIGNED) {
      throw new VerifierError('ERR_CORIM_MALFORMED', 'this media type carries an unsigned CoRIM (tag 501); send a signed CoRIM as application/rim+cose')
    }
  }
  // Only a signed CoRIM (COSE_Sign1, tag 18: 0xd2) needs the tenant's signers read.
  const trust = bytes[0] === 0xd2 ? await loadCorimTrust(store, tenant, options) : { acceptUnsigned: options.acceptUnsigned === true }
  const decoded = processCorim(bytes, { profiles: options.profiles ?? CORIM_PROFILES, trust, nowSeconds: options.nowSeconds })
  const declared = decoded.corim.profile?.value
  if (options.profile !== undefined && options.profile !== declared) {
    throw new VerifierError(
      'ERR_CORIM_MALFORMED',
      `the media type names profile "${options.profile}", the CoRIM ${declared === undefined ? 'declares none' : `declares "${declared}"`}`,
    )
  }
  const tagIds = decoded.corim.comids.map((c) => provenanceOf(decoded.corim, c).tagId)
  const repeated = tagIds.find((id, i) => tagIds.indexOf(id) !== i)
  if (repeated !== undefined) throw new VerifierError('ERR_CORIM_MALFORMED', `tag ${repeated} appears twice in the CoRIM`)
  const planned = corimDocuments(tenant, decoded, options)
  return serialised(tenant, () => write(store, tenant, decoded, planned, options))
}

async function write(
  store: EndorsementStore,
  tenant: TenantId,
  decoded: DecodedCorim,
  planned: readonly PlannedDocument[],
  options: CorimProvisioningOptions,
): Promise<CorimProvisioningReport> {
  const tags: CorimTagOutcome[] = []
  const removals: { id: string; section: ProvisioningSection; kind: EndorsementKind; tagId: string; source: string }[] = []
  const plannedIds = new Set(planned.map((d) => d.id))
  // Check every tag against what it provisioned before, then every document against what holds its id.
  for (const comid of decoded.corim.comids) {
    const incoming = provenanceOf(decoded.corim, comid)
    const stored = await listAll(store, tenant, corimTagIndexId(incoming.tagId))
    let outcome: CorimTagOutcome['outcome'] = stored.length === 0 ? 'new' : 'unchanged'
    let supersededVersion: number | undefined
    for (const doc of stored) {
      const previous = storedProvenance(doc.body)
      if (previous === undefined) continue
      const order = orderProvenance(previous, incoming)
      if (order === 'stale') {
        throw new VerifierError(
          'ERR_CORIM_STALE',
          `tag ${incoming.tagId} version ${incoming.tagVersion} is older than its provisioned version ${previous.tagVersion} (${doc.id})`,
        )
      }
      if (order === 'conflict') {
        throw new VerifierError(
          'ERR_CORIM_CONFLICT',
          `tag ${incoming.tagId} version ${incoming.tagVersion} is provisioned with other content (${doc.id}); a changed tag needs a higher tag-version`,
        )
      }
      if (order === 'supersedes') {
        outcome = 'supersedes'
        supersededVersion = Math.max(supersededVersion ?? 0, previous.tagVersion)
        const section = sectionOf(doc.id)
        if (!plannedIds.has(doc.id) && section !== undefined) {
          removals.push({ id: doc.id, section, kind: doc.kind, tagId: incoming.tagId, source: capSource(sourceOf(incoming)) })
        }
      }
    }
    tags.push({ tagId: incoming.tagId, tagVersion: incoming.tagVersion, outcome, ...(supersededVersion === undefined ? {} : { supersededVersion }) })
  }
  const inactive = new Set<string>()
  for (const d of planned) {
    const existing = await store.get(tenant, d.id)
    if (existing === undefined || existing.deleted) continue
    if (!existing.active) inactive.add(d.id)
    const holder = storedProvenance(existing.body)
    if (holder?.tagId !== d.provenance.tagId) {
      throw new VerifierError(
        'ERR_CORIM_CONFLICT',
        `${d.id} is provisioned by ${existing.source}; a CoRIM tag replaces only what it provided: delete ${d.id} first, or provide it in a new version of its tag`,
      )
    }
  }

  const documents: CorimDocumentOutcome[] = []
  for (const d of planned) {
    // A newer version of an entry an operator deactivated stays inactive: only the operator reactivates it.
    const write = { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: options.createdBy, source: d.source, active: !inactive.has(d.id) }
    const result = await store.putIfChanged(tenant, d.id, write)
    documents.push({ id: d.id, section: d.section, kind: d.kind, tagId: d.provenance.tagId, outcome: result.outcome, version: result.version.version })
  }
  for (const r of removals) {
    const tombstone = await store.delete(tenant, r.id, { createdBy: options.createdBy, source: r.source })
    if (tombstone !== undefined) documents.push({ id: r.id, section: r.section, kind: r.kind, tagId: r.tagId, outcome: 'deleted', version: tombstone.version })
  }
  const corim = decoded.corim
  const validity = validityOf(decoded)
  return {
    corimId: typeof corim.id === 'string' ? corim.id : uuidText(corim.id),
    ...(corim.profile === undefined ? {} : { profile: corim.profile.value }),
    ...(corim.signature === undefined ? {} : { signer: { name: corim.signature.signer.name, keySha256: corim.signature.keySpkiSha256 } }),
    ...(validity === undefined ? {} : { validity }),
    tags,
    documents,
  }
}

