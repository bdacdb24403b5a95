/**
 * The JSON form of trust anchors and reference values (`reference-values/*.json`), validated with
 * zod at start. A document may hold either or both sections:
 *
 * ```json
 * { "tenant": "default",
 *   "psa": {
 *     "trustAnchors": [{ "instanceId": "<hex>", "key": { "kty": "EC", ... } }],
 *     "referenceValues": [{ "implementationId": "<hex>",
 *       "softwareComponents": [{ "measurementType": "PRoT", "measurementValue": "<hex>", "signerId": "<hex>" }] }] } }
 * ```
 *
 * Identifiers and digests are lower- or upper-case hex. A key is a public JWK, an SPKI PEM, or (for
 * PSA COSE_Mac0 attesters) a symmetric `oct` JWK. Any problem stops the start with an error naming
 * the file and the field.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { importJwk, importSecret, importSpki, type PublicKey, type SecretKey } from '../crypto/keys.js'
import { VerifierError } from '../errors/errors.js'
import { DEFAULT_TENANT } from '../store/types.js'
import { base64urlDecode } from '../util/base64url.js'
import { fromHex, toHex } from '../util/bytes.js'
import { MemoryEndorsements } from './endorsements.js'

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

export const referenceValueDocumentSchema = z
  .object({
    $schema: z.string().optional(),
    comment: z.string().optional(),
    tenant: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default(DEFAULT_TENANT),
    psa: z
      .object({
        trustAnchors: z
          .array(
            z
              .object({
                instanceId: hex([33], 'instanceId').refine((s) => s.startsWith('01'), 'instanceId must start with 01 (RAND UEID)'),
                key: z.union([jwkSchema, z.string().startsWith('-----BEGIN PUBLIC KEY-----')]),
                implementationId: hex([32], 'implementationId').optional(),
                comment: z.string().optional(),
              })
              .strict(),
          )
          .default([]),
        referenceValues: z
          .array(
            z
              .object({
                implementationId: hex([32], 'implementationId'),
                softwareComponents: z.array(componentSchema).min(1),
                comment: z.string().optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .optional(),
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

/** Adds one parsed document to `into`; `file` names it in errors. */
export function addReferenceValueDocument(into: MemoryEndorsements, raw: unknown, file: string): void {
  const parsed = referenceValueDocumentSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw invalid(file, `${issue.path.join('.') || '(document)'}: ${issue.message}`)
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
    const instanceId = fromHex(a.instanceId)
    const anchor = {
      instanceId,
      key,
      source: file,
      ...(a.implementationId === undefined ? {} : { implementationId: fromHex(a.implementationId) }),
    }
    if (!into.addPsaTrustAnchor(tenant, toHex(instanceId), anchor)) {
      throw invalid(file, `psa.trustAnchors.${i}.instanceId: ${toHex(instanceId)} is provisioned twice for tenant ${tenant}`)
    }
  }
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
}

/** Loads every `*.json` file of `dir` (sorted by name). Throws ERR_CONFIG_INVALID naming file and field. */
export function loadReferenceValueDir(dir: string): MemoryEndorsements {
  const endorsements = new MemoryEndorsements()
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
    addReferenceValueDocument(endorsements, raw, path)
  }
  return endorsements
}
