/**
 * The JSON form of trust anchors and reference values (the `*.json` files of the folder
 * `ASSAY_REFERENCE_VALUES_DIR` names; none when it is unset), validated with zod at start. A
 * document may hold either or both sections:
 *
 * ```json
 * { "tenant": "default",
 *   "psa": {
 *     "trustAnchors": [{ "instanceId": "<hex>", "key": { "kty": "EC", ... }, "implementationId": "<hex>" }],
 *     "referenceValues": [{ "implementationId": "<hex>",
 *       "softwareComponents": [{ "measurementType": "PRoT", "measurementValue": "<hex>", "signerId": "<hex>" }] }] } }
 * ```
 *
 * Identifiers and digests are lower- or upper-case hex. A key is a public JWK, an SPKI PEM, or (for
 * PSA COSE_Mac0 attesters) a symmetric `oct` JWK. Any problem stops the start with an error naming
 * the file and the field.
 *
 * Every key, pinned certificate and anchor states what it may speak for (see `SpeaksFor`):
 * `"speaksFor": { "ueids": ["<hex>", …] | "any", "classes": [{ "oemid": …, "hwmodel": "<hex>" }, …] | "any" }`
 * or `"speaksFor": "any"`; a UEID key (`ueidKeys`) is bound to its own UEID and states only
 * `"speaksFor": { "classes": … }` or `"any"`; a PSA trust anchor states its `implementationId`
 * (hex, or `"any"`). A missing binding is an error; each `"any"` is a warning. A key published with
 * its private half (`published-keys.ts`) is an error unless `allowPublishedKeys` (test mode) is on,
 * and then a warning.
 *
 * A `provisioning` section names who may sign CoRIMs for the tenant: `"keys": [{ "key": <JWK or
 * SPKI PEM> }]` and `"x509Anchors": [{ "certificate": "<PEM>" }]` (`provisioningSectionSchema`).
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import {
  importCertificateKey,
  importJwk,
  importPinnedCertificate,
  importSecret,
  importSpki,
  type PublicKey,
  type SecretKey,
} from '../crypto/keys.js'
import { X509TrustStore } from '../crypto/x509.js'
import { VerifierError } from '../errors/errors.js'
import { eatProfileDocumentSchema, eatProfileFromDocument } from '../evidence/eat/profile-document.js'
import { classKey, type SpeaksFor } from '../evidence/speaks-for.js'
import { DEFAULT_TENANT } from '../store/types.js'
import { base64urlDecode } from '../util/base64url.js'
import { fromHex, toHex } from '../util/bytes.js'
import { MemoryEndorsements, oemidKey } from './endorsements.js'
import { PUBLISHED_PUBLIC_KEYS, PUBLISHED_SECRET_KEYS } from './published-keys.js'

/** How a document is loaded. */
export interface LoadOptions {
  /** Test mode: accept keys whose private halves are published (each is then a warning). @defaultValue false */
  readonly allowPublishedKeys?: boolean
  /** Receives each warning (an `"any"` binding, a published key in test mode). */
  readonly warn?: (message: string) => void
  /** Hears of each document once it is added, with the file it came from (`provisioned.ts` counts them). */
  readonly onDocument?: (file: string, document: ReferenceValueDocument) => void
}

const hex = (sizes: readonly number[], what: string) =>
  z
    .string()
    .regex(/^([0-9a-fA-F]{2})+$/, `${what} must be hex`)
    .refine((s) => sizes.includes(s.length / 2), `${what} must be ${sizes.join(', ')} bytes`)

const DIGEST_SIZES = [32, 48, 64]

const jwkSchema = z
  .object({
    kty: z.enum(['EC', 'OKP', 'RSA', 'oct']),
    crv: z.string().optional(),
    x: z.string().optional(),
    y: z.string().optional(),
    n: z.string().optional(),
    e: z.string().optional(),
    k: z.string().optional(),
    alg: z.string().optional(),
    kid: z.string().optional(),
    use: z.string().optional(),
  })
  .strict()

const componentSchema = z
  .object({
    measurementType: z.string().min(1).max(64).optional(),
    measurementValue: hex(DIGEST_SIZES, 'measurementValue'),
    signerId: hex(DIGEST_SIZES, 'signerId'),
    version: z.string().min(1).max(64).optional(),
    comment: z.string().optional(),
  })
  .strict()

const keySchema = z.union([jwkSchema, z.string().startsWith('-----BEGIN PUBLIC KEY-----')])
const pemSchema = (label: string) =>
  z.string().regex(new RegExp(`^-----BEGIN ${label}-----\\s*[A-Za-z0-9+/=\\s]+-----END ${label}-----\\s*$`), `must be a PEM ${label}`)
const hexRange = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^([0-9a-fA-F]{2})+$/, `${what} must be hex`)
    .refine((s) => s.length / 2 >= min && s.length / 2 <= max, `${what} must be ${min} to ${max} bytes`)

const oemidSchema = z.union([
  z.number().int().nonnegative(),
  hexRange(3, 16, 'oemid').refine((s) => s.length === 6 || s.length === 32, 'oemid must be 3 or 16 bytes'),
])

/** What to say when a required binding is missing: how to provision it. */
function missingBinding(path: readonly PropertyKey[]): string | undefined {
  const last = path[path.length - 1]
  if (last === 'implementationId' && path[1] === 'trustAnchors') {
    return 'implementationId is required: the Implementation ID this key may speak for, or "any" (a warning)'
  }
  if (last !== 'speaksFor') return undefined
  return path[1] === 'ueidKeys'
    ? 'speaksFor is required: list the classes ({ oemid, hwmodel }) this device may claim, or write "any" (a warning)'
    : 'speaksFor is required: list the UEIDs and classes ({ oemid, hwmodel }) this key may speak for, or write "any" (a warning)'
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return v
}

const ueidList = z.union([z.literal('any'), z.array(hexRange(7, 33, 'ueid')).min(1).max(100_000)])
const classList = z.union([
  z.literal('any'),
  z.array(z.object({ oemid: oemidSchema, hwmodel: hexRange(1, 32, 'hwmodel') }).strict()).min(1).max(10_000),
])
const speaksForSchema = z.union([z.literal('any'), z.object({ ueids: ueidList, classes: classList }).strict()])
/** A UEID key is bound to its own UEID; it states only its classes. */
const ueidKeySpeaksForSchema = z.union([z.literal('any'), z.object({ classes: classList }).strict()])

// One schema per list of the JSON form: an entry of a file, and the body the provisioning API takes
// for it (`provisioning-documents.ts`), are the same thing.

export const eatKeyEntrySchema = z
  .object({ kid: z.string().min(1).max(256), key: keySchema, speaksFor: speaksForSchema, comment: z.string().optional() })
  .strict()
export const eatUeidKeyEntrySchema = z
  .object({ ueid: hexRange(7, 33, 'ueid'), key: keySchema, speaksFor: ueidKeySpeaksForSchema, comment: z.string().optional() })
  .strict()
export const eatPinnedCertificateEntrySchema = z
  .object({ certificate: pemSchema('CERTIFICATE'), speaksFor: speaksForSchema, comment: z.string().optional() })
  .strict()
export const eatX509AnchorEntrySchema = z
  .object({
    certificate: pemSchema('CERTIFICATE'),
    revokedSerials: z.array(z.string().regex(/^[0-9a-fA-F]+$/, 'serials must be hex')).optional(),
    crl: pemSchema('X509 CRL').optional(),
    speaksFor: speaksForSchema,
    comment: z.string().optional(),
  })
  .strict()
export const eatReferenceValueEntrySchema = z
  .object({
    oemid: oemidSchema,
    hwmodel: hexRange(1, 32, 'hwmodel'),
    software: z
      .array(z.object({ swname: z.string().min(1), swversions: z.array(z.string().min(1)).min(1).optional() }).strict())
      .default([]),
    measurementDigests: z.array(hex([32], 'measurementDigests')).default([]),
    manifestDigests: z.array(hex([32], 'manifestDigests')).default([]),
    comment: z.string().optional(),
  })
  .strict()
export const psaTrustAnchorEntrySchema = z
  .object({
    instanceId: hex([33], 'instanceId').refine((s) => s.startsWith('01'), 'instanceId must start with 01 (RAND UEID)'),
    key: keySchema,
    implementationId: z.union([z.literal('any'), hex([32], 'implementationId')]),
    comment: z.string().optional(),
  })
  .strict()
export const psaReferenceValueEntrySchema = z
  .object({
    implementationId: hex([32], 'implementationId'),
    softwareComponents: z.array(componentSchema).min(1),
    comment: z.string().optional(),
  })
  .strict()

const eatSchema = z
  .object({
    keys: z.array(eatKeyEntrySchema).default([]),
    ueidKeys: z.array(eatUeidKeyEntrySchema).default([]),
    pinnedCertificates: z.array(eatPinnedCertificateEntrySchema).default([]),
    x509Anchors: z.array(eatX509AnchorEntrySchema).default([]),
    referenceValues: z.array(eatReferenceValueEntrySchema).default([]),
    /** Operator-defined EAT profiles (`evidence/eat/profile-document.ts`). */
    profiles: z.array(eatProfileDocumentSchema).max(100).default([]),
  })
  .strict()

/**
 * Who may sign CoRIMs for the tenant (`corim-provisioning.ts`): public keys (a JWK or SPKI PEM) a
 * signed CoRIM may verify with, and CA certificates its protected `x5chain` may chain to. They speak
 * for the tenant's provisioning as a whole; the appraisal of Evidence never reads them.
 */
export const provisioningKeyEntrySchema = z.object({ key: keySchema, comment: z.string().optional() }).strict()
export const provisioningAnchorEntrySchema = z.object({ certificate: pemSchema('CERTIFICATE'), comment: z.string().optional() }).strict()
export const provisioningSectionSchema = z
  .object({
    keys: z.array(provisioningKeyEntrySchema).default([]),
    x509Anchors: z.array(provisioningAnchorEntrySchema).default([]),
  })
  .strict()

/** The DER inside a PEM block. */
export function pemBody(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64'))
}

export const referenceValueDocumentSchema = z
  .object({
    $schema: z.string().optional(),
    comment: z.string().optional(),
    tenant: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default(DEFAULT_TENANT),
    psa: z
      .object({
        trustAnchors: z.array(psaTrustAnchorEntrySchema).default([]),
        referenceValues: z.array(psaReferenceValueEntrySchema).default([]),
      })
      .strict()
      .optional(),
    eat: eatSchema.optional(),
    provisioning: provisioningSectionSchema.optional(),
  })
  .strict()

export type ReferenceValueDocument = z.infer<typeof referenceValueDocumentSchema>

function invalid(file: string, message: string, cause?: unknown): VerifierError {
  return new VerifierError('ERR_CONFIG_INVALID', `${file}: ${message}`, { cause })
}

function importAnchorKey(key: z.infer<typeof jwkSchema> | string): PublicKey | SecretKey {
  if (typeof key === 'string') return importSpki(key)
  if (key.kty === 'oct') {
    if (key.k === undefined) throw new TypeError('oct key without k')
    return importSecret(base64urlDecode(key.k), { alg: key.alg, kid: key.kid })
  }
  const { use: _use, ...jwk } = key
  return importJwk(jwk)
}

/** Where the key's private half was published, if it was. */
function publishedAs(key: PublicKey | SecretKey): string | undefined {
  if (key.kind === 'public') return PUBLISHED_PUBLIC_KEYS.get(key.spkiSha256)
  return PUBLISHED_SECRET_KEYS.get(createHash('sha256').update(key.keyObject.export()).digest('hex'))
}

/** Refuses a published key, or (test mode) lets it through with a warning. */
function checkPublished(key: PublicKey | SecretKey, file: string, where: string, options: LoadOptions): void {
  const source = publishedAs(key)
  if (source === undefined) return
  if (options.allowPublishedKeys !== true) {
    throw invalid(
      file,
      `${where}: the private key of this key is published (${source}); anyone can forge Evidence it verifies. ` +
        'It is accepted only in test mode (ASSAY_ALLOW_PUBLISHED_KEYS=true)',
    )
  }
  options.warn?.(`${file}: ${where} is a published key (${source}): anyone can forge Evidence it verifies (test mode)`)
}

type SpeaksForInput = z.infer<typeof speaksForSchema>

/** The binding as the appraisal reads it; warns for each dimension left open. */
function toSpeaksFor(input: SpeaksForInput, file: string, where: string, options: LoadOptions): SpeaksFor {
  const ueids = input === 'any' ? 'any' : input.ueids
  const classes = input === 'any' ? 'any' : input.classes
  if (ueids === 'any') options.warn?.(`${file}: ${where} may speak for any UEID: Evidence it verifies may claim to be any device`)
  return { ueids: ueids === 'any' ? 'any' : new Set(ueids.map((u) => u.toLowerCase())), classes: toClasses(classes, file, where, options) }
}

function toClasses(input: z.infer<typeof classList>, file: string, where: string, options: LoadOptions): SpeaksFor['classes'] {
  if (input === 'any') {
    options.warn?.(`${file}: ${where} may speak for any class: Evidence it verifies may claim any (oemid, hwmodel)`)
    return 'any'
  }
  return new Set(input.map((c) => classKey(oemidKey(typeof c.oemid === 'number' ? c.oemid : fromHex(c.oemid)), c.hwmodel)))
}

/** Adds one parsed document to `into`; `file` names it in errors. */
export function addReferenceValueDocument(into: MemoryEndorsements, raw: unknown, file: string, options: LoadOptions = {}): void {
  const parsed = referenceValueDocumentSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const missing = valueAt(raw, issue.path) === undefined ? missingBinding(issue.path) : undefined
    throw invalid(file, `${issue.path.join('.') || '(document)'}: ${missing ?? issue.message}`)
  }
  const doc = parsed.data
  const tenant = doc.tenant
  for (const [i, a] of (doc.psa?.trustAnchors ?? []).entries()) {
    let key: PublicKey | SecretKey
    try {
      key = importAnchorKey(a.key)
    } catch (cause) {
      throw invalid(file, `psa.trustAnchors.${i}.key: ${cause instanceof Error ? cause.message : 'cannot be imported'}`, cause)
    }
    checkPublished(key, file, `psa.trustAnchors.${i}.key`, options)
    const instanceId = fromHex(a.instanceId)
    if (a.implementationId === 'any') {
      options.warn?.(`${file}: psa.trustAnchors.${i} may speak for any Implementation ID: Evidence it verifies may claim any PSA implementation`)
    }
    const anchor = {
      instanceId,
      key,
      source: file,
      implementationId: a.implementationId === 'any' ? ('any' as const) : fromHex(a.implementationId),
    }
    if (!into.addPsaTrustAnchor(tenant, toHex(instanceId), anchor)) {
      throw invalid(file, `psa.trustAnchors.${i}.instanceId: ${toHex(instanceId)} is provisioned twice for tenant ${tenant}`)
    }
  }
  if (doc.eat !== undefined) addEatSection(into, doc.eat, tenant, file, options)
  if (doc.provisioning !== undefined) checkProvisioningSection(doc.provisioning, file, options)
  for (const [i, r] of (doc.psa?.referenceValues ?? []).entries()) {
    const implementationId = fromHex(r.implementationId)
    const values = {
      implementationId,
      source: file,
      softwareComponents: r.softwareComponents.map((c) => ({
        measurementValue: fromHex(c.measurementValue),
        signerId: fromHex(c.signerId),
        ...(c.measurementType === undefined ? {} : { measurementType: c.measurementType }),
        ...(c.version === undefined ? {} : { version: c.version }),
      })),
    }
    if (!into.addPsaReferenceValues(tenant, toHex(implementationId), values)) {
      throw invalid(file, `psa.referenceValues.${i}.implementationId: ${toHex(implementationId)} is provisioned twice for tenant ${tenant}`)
    }
  }
  options.onDocument?.(file, doc)
}

function addEatSection(into: MemoryEndorsements, eat: z.infer<typeof eatSchema>, tenant: string, file: string, options: LoadOptions): void {
  const imported = (key: z.infer<typeof keySchema>, where: string): PublicKey => {
    let k: PublicKey | SecretKey
    try {
      k = importAnchorKey(key)
      if (k.kind !== 'public') throw new TypeError('generic EAT attesters sign; a symmetric key cannot verify them')
    } catch (cause) {
      throw invalid(file, `${where}: ${cause instanceof Error ? cause.message : 'cannot be imported'}`, cause)
    }
    checkPublished(k, file, where, options)
    return k
  }
  for (const [i, k] of eat.keys.entries()) {
    const key = imported(k.key, `eat.keys.${i}.key`)
    const speaksFor = toSpeaksFor(k.speaksFor, file, `eat.keys.${i} (kid ${k.kid})`, options)
    if (!into.addEatKid(tenant, toHex(new TextEncoder().encode(k.kid)), key, speaksFor)) {
      throw invalid(file, `eat.keys.${i}.kid: ${k.kid} is provisioned twice for tenant ${tenant}`)
    }
  }
  for (const [i, k] of eat.ueidKeys.entries()) {
    const key = imported(k.key, `eat.ueidKeys.${i}.key`)
    const classes = toClasses(k.speaksFor === 'any' ? 'any' : k.speaksFor.classes, file, `eat.ueidKeys.${i}`, options)
    if (!into.addEatUeid(tenant, k.ueid.toLowerCase(), key, classes)) {
      throw invalid(file, `eat.ueidKeys.${i}.ueid: provisioned twice for tenant ${tenant}`)
    }
  }
  for (const [i, c] of eat.pinnedCertificates.entries()) {
    let pinned
    try {
      pinned = importPinnedCertificate(pemBody(c.certificate))
    } catch (cause) {
      throw invalid(file, `eat.pinnedCertificates.${i}: ${cause instanceof Error ? cause.message : 'not a certificate'}`, cause)
    }
    checkPublished(pinned.key, file, `eat.pinnedCertificates.${i}`, options)
    const speaksFor = toSpeaksFor(c.speaksFor, file, `eat.pinnedCertificates.${i}`, options)
    if (!into.addEatPinnedCertificate(tenant, pinned, speaksFor)) throw invalid(file, `eat.pinnedCertificates.${i}: pinned twice for tenant ${tenant}`)
  }
  for (const [i, a] of eat.x509Anchors.entries()) {
    const der = pemBody(a.certificate)
    let added: boolean
    try {
      checkPublished(importCertificateKey(der), file, `eat.x509Anchors.${i}`, options)
      added = into.addEatAnchor(
        tenant,
        {
          der,
          ...(a.revokedSerials === undefined ? {} : { revokedSerials: new Set(a.revokedSerials.map((s) => s.toLowerCase())) }),
          ...(a.crl === undefined ? {} : { crl: pemBody(a.crl) }),
        },
        toSpeaksFor(a.speaksFor, file, `eat.x509Anchors.${i}`, options),
      )
    } catch (cause) {
      if (cause instanceof VerifierError && cause.code === 'ERR_CONFIG_INVALID' && cause.message.startsWith(file)) throw cause
      throw invalid(file, `eat.x509Anchors.${i}: ${cause instanceof Error ? cause.message : 'not a usable anchor'}`, cause)
    }
    if (!added) throw invalid(file, `eat.x509Anchors.${i}: provisioned twice for tenant ${tenant}`)
  }
  for (const [i, r] of eat.referenceValues.entries()) {
    const oemid = oemidKey(typeof r.oemid === 'number' ? r.oemid : fromHex(r.oemid))
    const software = new Map<string, ReadonlySet<string> | 'any'>(
      r.software.map((s) => [s.swname, s.swversions === undefined ? 'any' : new Set(s.swversions)]),
    )
    const values = {
      software,
      measurementDigests: new Set(r.measurementDigests.map((d) => d.toLowerCase())),
      manifestDigests: new Set(r.manifestDigests.map((d) => d.toLowerCase())),
      source: file,
    }
    if (!into.addEatReferenceValues(tenant, oemid, r.hwmodel.toLowerCase(), values)) {
      throw invalid(file, `eat.referenceValues.${i}: (oemid, hwmodel) is provisioned twice for tenant ${tenant}`)
    }
  }
  for (const [i, p] of eat.profiles.entries()) {
    if (!into.addEatProfile(tenant, eatProfileFromDocument(p))) throw invalid(file, `eat.profiles.${i}.id: ${p.id} is provisioned twice for tenant ${tenant}`)
  }
}

/** Imports a CoRIM provisioning key (public only); `where` names it in errors. */
export function importProvisioningKey(key: z.infer<typeof keySchema>, file: string, where: string, options: LoadOptions = {}): PublicKey {
  let k: PublicKey | SecretKey
  try {
    k = importAnchorKey(key)
    if (k.kind !== 'public') throw new TypeError('a CoRIM is signed: a symmetric key cannot verify it')
  } catch (cause) {
    throw invalid(file, `${where}: ${cause instanceof Error ? cause.message : 'cannot be imported'}`, cause)
  }
  checkPublished(k, file, where, options)
  return k
}

/** Checks that every provisioning key imports and every CA certificate is a usable anchor. */
function checkProvisioningSection(section: z.infer<typeof provisioningSectionSchema>, file: string, options: LoadOptions): void {
  for (const [i, k] of section.keys.entries()) importProvisioningKey(k.key, file, `provisioning.keys.${i}.key`, options)
  for (const [i, a] of section.x509Anchors.entries()) {
    try {
      const der = pemBody(a.certificate)
      checkPublished(importCertificateKey(der), file, `provisioning.x509Anchors.${i}`, options)
      void new X509TrustStore([{ der }])
    } catch (cause) {
      if (cause instanceof VerifierError && cause.code === 'ERR_CONFIG_INVALID' && cause.message.startsWith(file)) throw cause
      throw invalid(file, `provisioning.x509Anchors.${i}: ${cause instanceof Error ? cause.message : 'not a usable anchor'}`, cause)
    }
  }
}

/**
 * Loads every `*.json` file of `dir` (sorted by name). Throws ERR_CONFIG_INVALID naming file and
 * field. With no `dir`, nothing is provisioned: every attester is unknown.
 */
export function loadReferenceValueDir(dir: string | undefined, options: LoadOptions = {}): MemoryEndorsements {
  const endorsements = new MemoryEndorsements()
  if (dir === undefined) return endorsements
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  } catch (cause) {
    throw invalid(dir, 'reference-values directory cannot be read', cause)
  }
  for (const file of files) {
    const path = join(dir, file)
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'))
    } catch (cause) {
      throw invalid(path, `not valid JSON (${cause instanceof Error ? cause.message : 'unreadable'})`, cause)
    }
    addReferenceValueDocument(endorsements, raw, path, options)
  }
  return endorsements
}
