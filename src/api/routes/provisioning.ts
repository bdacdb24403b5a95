/**
 * The provisioning API of trust anchors and reference values: `/v1/trust-anchors` and
 * `/v1/reference-values`, the same routes over two collections (documents of kind `trust-anchor`
 * and `reference-value` of the endorsement store). Every route needs a credential with the role
 * `provisioner` (`../auth.ts`) and answers 503 in a process without an endorsement store.
 *
 * A body is `{ "type": "<resource type>", …the entry's members }`: the entry exactly as a file of the
 * reference-values folder holds it in the list of its type (`provisioning-types.ts`), validated and
 * imported by the code that loads files (`decodeProvisioningDocument`: zod, strict, key import, the
 * published-key rule), so the API refuses what a file would. Its document id, and the index ids the
 * appraisal finds it by, follow from the entry's identifier (`provisioning-documents.ts`): the same
 * entry always names the same document.
 *
 * Documents written from files are visible and may be changed here; what the files say wins again at
 * the next start of a process that loads them (`file-provisioning.ts`, default tenant only). Tenant:
 * the credential's; `createdBy` of every version is the credential's principal id.
 */
import { Router, type Request, type Response } from 'express'
import { decodeProvisioningDocument, provisioningDocumentOf, sectionOf, type ProvisioningDocument } from '../../appraisal/provisioning-documents.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { tryParseMediaType } from '../../evidence/media-type.js'
import {
  DEFAULT_ENDORSEMENT_LIMITS,
  MAX_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  type EndorsementKind,
  type EndorsementStore,
  type EndorsementVersion,
  type JsonValue,
} from '../../store/endorsements.js'
import { isRecordId } from '../../store/keys.js'
import type { TenantId } from '../../store/types.js'
import type { ApiDeps } from '../deps.js'
import { bodyBytes, rawBody, refuseOtherMethods } from '../http.js'
import { addLogFields } from '../log-fields.js'
import { requireCredential, requirePrincipal } from '../auth.js'
import { typeOfSection, typesOfKind, type ProvisioningType } from '../provisioning-types.js'

/** One collection of the API: a path under `/v1` and the kind of its documents. */
export interface ProvisioningCollection {
  readonly path: string
  readonly kind: EndorsementKind
  /** What one member is called in problems: "trust anchor". */
  readonly noun: string
}

export const TRUST_ANCHORS: ProvisioningCollection = { path: 'trust-anchors', kind: 'trust-anchor', noun: 'trust anchor' }
export const REFERENCE_VALUES: ProvisioningCollection = { path: 'reference-values', kind: 'reference-value', noun: 'reference value' }

/** The `source` of every version the API writes. */
export const API_SOURCE = 'api'

/**
 * Largest body whatever the settings: the store's cap on a document (a body holds the entry and its
 * `type`). Below it, the request body limit of every route (`ASSAY_BODY_LIMIT_BYTES`) applies.
 */
export const PROVISIONING_BODY_LIMIT_BYTES = DEFAULT_ENDORSEMENT_LIMITS.maxBodyBytes

/** Store pages one listing reads at most to fill a page filtered by type; then it returns a cursor. */
const MAX_SCANNED_PAGES = 10

const QUERY_MEMBERS = new Set(['type', 'identifier', 'limit', 'cursor'])

/** A version as the API shows it. */
export interface ProvisioningRepresentation {
  readonly id: string
  /** Absent for a document of this kind that no resource type describes. */
  readonly type?: string
  readonly version: number
  readonly active: boolean
  readonly deleted: boolean
  readonly createdAt: string
  readonly createdBy: string
  readonly source: string
  readonly digest: string
  /** The entry (without `type`); null in the version that deleted the document. */
  readonly entry: JsonValue
  /** Of a create or replace: what loading the entry from a file would warn of (an `"any"` binding…). */
  readonly warnings?: readonly string[]
}

/**
 * The entry as shown: a symmetric key's secret (`key.k` of an `oct` JWK, PSA COSE_Mac0 attesters) is
 * left out. It is write-only: whoever reads the API (or its logs, or a proxy's) must not be able to
 * forge Evidence with it. A replacement sends it again.
 */
function shown(body: JsonValue): JsonValue {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body
  const entry = body as { readonly [member: string]: JsonValue }
  const key = entry['key']
  if (key === null || typeof key !== 'object' || Array.isArray(key) || !('k' in key)) return body
  const { k: _secret, ...rest } = key as { readonly [member: string]: JsonValue }
  return { ...entry, key: rest }
}

export function represent(v: EndorsementVersion): ProvisioningRepresentation {
  const type = typeOfSection(sectionOf(v.id))?.type
  return {
    id: v.id,
    ...(type === undefined ? {} : { type }),
    version: v.version,
    active: v.active,
    deleted: v.deleted,
    createdAt: new Date(v.createdAt).toISOString(),
    createdBy: v.createdBy,
    source: v.source,
    digest: v.digest,
    entry: shown(v.body),
  }
}

function storeOf(deps: ApiDeps): EndorsementStore {
  if (deps.endorsements === undefined) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'this process has no endorsement store')
  return deps.endorsements
}

const quoted = (value: string): string => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)

/** The body as `{ type, …entry }`: JSON (400 when not), an object with a known type (422 when not). */
function readBody(req: Request, collection: ProvisioningCollection, res: Response): { row: ProvisioningType; entry: Record<string, unknown> } {
  const contentType = req.get('content-type')
  const media = contentType === undefined ? undefined : tryParseMediaType(contentType)
  if (media?.essence !== 'application/json') {
    res.setHeader('Accept', 'application/json')
    throw new VerifierError('ERR_MEDIA_TYPE_UNSUPPORTED', 'send the entry as application/json')
  }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bodyBytes(req.body)))
  } catch (err) {
    throw new VerifierError('ERR_REQUEST_MALFORMED', `the body is not JSON text in UTF-8 (${err instanceof Error ? err.message : 'unreadable'})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerifierError('ERR_PROVISIONING_INVALID', '(body): must be a JSON object { "type": …, …the entry }')
  }
  const { type, ...entry } = value as Record<string, unknown>
  const types = typesOfKind(collection.kind)
  const row = types.find((t) => t.type === type)
  if (row === undefined) {
    const names = types.map((t) => t.type).join(', ')
    const what = typeof type === 'string' ? `${quoted(type)} is not a ${collection.noun} type` : 'is required'
    throw new VerifierError('ERR_PROVISIONING_INVALID', `type: ${what}; one of ${names}`)
  }
  return { row, entry }
}

/**
 * The document of an entry, validated and imported exactly as an entry of a file is; a refusal names
 * the member (its path in the body).
 */
function documentOf(deps: ApiDeps, tenant: TenantId, row: ProvisioningType, entry: Record<string, unknown>): { doc: ProvisioningDocument; warnings: string[] } {
  const warnings: string[] = []
  try {
    decodeProvisioningDocument(tenant, row.section, entry as JsonValue, API_SOURCE, {
      allowPublishedKeys: deps.config.allowPublishedKeys,
      warn: (message) => warnings.push(entryMessage(message, row)),
    })
  } catch (err) {
    if (!isVerifierError(err, 'ERR_CONFIG_INVALID')) throw err
    throw new VerifierError('ERR_PROVISIONING_INVALID', entryMessage(err.message, row), { cause: err })
  }
  return { doc: provisioningDocumentOf(row.section, entry), warnings }
}

/** The representation of a version a write made, with what the file loader would have warned of. */
function written(v: EndorsementVersion, warnings: readonly string[]): ProvisioningRepresentation {
  return warnings.length === 0 ? represent(v) : { ...represent(v), warnings }
}

/** A file loader's message about the one entry of `row`'s list, with the path made relative to the body. */
function entryMessage(message: string, row: ProvisioningType): string {
  const withoutSource = message.startsWith(`${API_SOURCE}: `) ? message.slice(API_SOURCE.length + 2) : message
  const prefix = `${row.section}.0`
  if (withoutSource.startsWith(`${prefix}.`)) return withoutSource.slice(prefix.length + 1)
  if (withoutSource.startsWith(prefix)) {
    const rest = withoutSource.slice(prefix.length)
    return `${rest.startsWith(':') ? '(body)' : 'the entry'}${rest}`
  }
  return withoutSource
}

/** The latest version of live document `id` of the collection's kind; 404 otherwise. */
async function liveDocument(store: EndorsementStore, tenant: TenantId, collection: ProvisioningCollection, id: string): Promise<EndorsementVersion> {
  const latest = isRecordId(id) ? await store.get(tenant, id) : undefined
  if (latest === undefined || latest.deleted || latest.kind !== collection.kind) {
    throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no ${collection.noun} ${quoted(id)}`)
  }
  return latest
}

/** The query of a listing, checked: only known members, each once. */
function listQuery(req: Request, collection: ProvisioningCollection) {
  const query = req.query as Record<string, unknown>
  const value = (name: string): string | undefined => {
    const v = query[name]
    if (v !== undefined && typeof v !== 'string') throw new VerifierError('ERR_REQUEST_MALFORMED', `${name} is given more than once`)
    return v
  }
  for (const name of Object.keys(query)) {
    if (!QUERY_MEMBERS.has(name)) throw new VerifierError('ERR_REQUEST_MALFORMED', `unknown query parameter ${quoted(name)}; known: type, identifier, limit, cursor`)
  }
  const limitText = value('limit')
  const limit = limitText === undefined ? 100 : /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN
  if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) throw new VerifierError('ERR_REQUEST_MALFORMED', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`)
  const typeName = value('type')
  const types = typesOfKind(collection.kind)
  const row = typeName === undefined ? undefined : types.find((t) => t.type === typeName)
  if (typeName !== undefined && row === undefined) {
    throw new VerifierError('ERR_REQUEST_MALFORMED', `type ${quoted(typeName)} is not a ${collection.noun} type; one of ${types.map((t) => t.type).join(', ')}`)
  }
  const identifier = value('identifier')
  if (identifier !== undefined && row === undefined) throw new VerifierError('ERR_REQUEST_MALFORMED', 'identifier needs type: what it identifies depends on the type')
  const selection = identifier === undefined ? undefined : row!.select(identifier)
  if (identifier !== undefined && selection === undefined) {
    throw new VerifierError('ERR_REQUEST_MALFORMED', `identifier of type ${row!.type} must be ${row!.identifier}`)
  }
  return { limit, row, selection, cursor: value('cursor') }
}

export function provisioningRoutes(deps: ApiDeps, collection: ProvisioningCollection): Router {
  const router = Router()
  const auth = requireCredential(deps, 'provisioner')
  const body = rawBody(Math.min(PROVISIONING_BODY_LIMIT_BYTES, deps.config.bodyLimitBytes))
  const base = `/${collection.path}`
  /** The tenant of the request: its credential's. */
  const tenantOf = (res: Response): TenantId => requirePrincipal(res).tenant
  const who = (res: Response) => ({ createdBy: requirePrincipal(res).id, source: API_SOURCE })
  /** Names the change in the request's log line: who made which version of what. */
  const logged = (res: Response, v: EndorsementVersion): EndorsementVersion => {
    addLogFields(res, { tenant: tenantOf(res), operator: requirePrincipal(res).id, endorsementId: v.id, endorsementVersion: v.version })
    return v
  }

  router.post(base, auth, body, async (req: Request, res: Response) => {
    const store = storeOf(deps)
    const tenant = tenantOf(res)
    const { row, entry } = readBody(req, collection, res)
    const { doc, warnings } = documentOf(deps, tenant, row, entry)
    const created = logged(res, await store.create(tenant, doc.id, { kind: doc.kind, body: doc.body, indexIds: doc.indexIds, ...who(res) }))
    res.setHeader('Location', `${req.baseUrl}${base}/${created.id}`)
    res.status(201).json(written(created, warnings))
  })

  router.get(base, auth, async (req: Request, res: Response) => {
    const store = storeOf(deps)
    const tenant = tenantOf(res)
    const { limit, row, selection, cursor: start } = listQuery(req, collection)
    if (selection !== undefined && 'id' in selection) {
      // A type whose documents share their index id: the identifier names the one document.
      const latest = await store.get(tenant, selection.id)
      const found = latest !== undefined && !latest.deleted && latest.kind === collection.kind && (start === undefined || decodeCursor(start) < latest.id)
      res.json({ items: found ? [represent(latest)] : [] })
      return
    }
    const items: EndorsementVersion[] = []
    let cursor = start
    for (let scanned = 0; scanned < MAX_SCANNED_PAGES; scanned++) {
      const page = await store.list(tenant, {
        kind: collection.kind,
        limit,
        ...(selection === undefined ? {} : { indexId: selection.indexId }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      for (const [i, item] of page.items.entries()) {
        if (row !== undefined && typeOfSection(sectionOf(item.id)) !== row) continue
        items.push(item)
        if (items.length === limit) {
          const more = i < page.items.length - 1 || page.cursor !== undefined
          res.json({ items: items.map(represent), ...(more ? { cursor: encodeCursor(item.id) } : {}) })
          return
        }
      }
      cursor = page.cursor
      if (cursor === undefined) break
    }
    // Either the listing ended, or it scanned its pages: a shorter page with a cursor to go on from.
    res.json({ items: items.map(represent), ...(cursor === undefined ? {} : { cursor }) })
  })

  router.get(`${base}/:id`, auth, async (req: Request, res: Response) => {
    res.json(represent(await liveDocument(storeOf(deps), tenantOf(res), collection, String(req.params['id']))))
  })

  router.put(`${base}/:id`, auth, body, async (req: Request, res: Response) => {
    const store = storeOf(deps)
    const tenant = tenantOf(res)
    const id = String(req.params['id'])
    const { row, entry } = readBody(req, collection, res)
    const { doc, warnings } = documentOf(deps, tenant, row, entry)
    await liveDocument(store, tenant, collection, id)
    if (doc.id !== id) {
      throw new VerifierError(
        'ERR_ENDORSEMENT_CONFLICT',
        `the entry is ${collection.noun} ${doc.id}, not ${id}: its identifier (and type) name the document; create the other one and delete this one instead`,
      )
    }
    const replaced = logged(res, await store.put(tenant, id, { kind: doc.kind, body: doc.body, indexIds: doc.indexIds, ...who(res) }))
    res.json(written(replaced, warnings))
  })

  router.delete(`${base}/:id`, auth, async (req: Request, res: Response) => {
    const store = storeOf(deps)
    const tenant = tenantOf(res)
    const id = String(req.params['id'])
    await liveDocument(store, tenant, collection, id)
    const tombstone = await store.delete(tenant, id, who(res))
    if (tombstone === undefined) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no ${collection.noun} ${quoted(id)}`)
    logged(res, tombstone)
    res.status(204).end()
  })

  router.get(`${base}/:id/versions`, auth, async (req: Request, res: Response) => {
    const id = String(req.params['id'])
    const versions = isRecordId(id) ? await storeOf(deps).versions(tenantOf(res), id) : []
    if (versions.length === 0 || versions[versions.length - 1]!.kind !== collection.kind) {
      throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no ${collection.noun} ${quoted(id)}`)
    }
    res.json({ items: versions.map(represent) })
  })

  router.get(`${base}/:id/versions/:version`, auth, async (req: Request, res: Response) => {
    const store = storeOf(deps)
    const id = String(req.params['id'])
    const text = String(req.params['version'])
    if (!/^[1-9]\d{0,8}$/.test(text)) throw new VerifierError('ERR_REQUEST_MALFORMED', 'a version is a positive integer')
    const version = isRecordId(id) ? await store.get(tenantOf(res), id, Number(text)) : undefined
    if (version === undefined || version.kind !== collection.kind) {
      throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no version ${text} of ${collection.noun} ${quoted(id)} is kept`)
    }
    res.json(represent(version))
  })

  for (const [action, active] of [['activate', true], ['deactivate', false]] as const) {
    router.post(`${base}/:id/${action}`, auth, async (req: Request, res: Response) => {
      const store = storeOf(deps)
      const tenant = tenantOf(res)
      const id = String(req.params['id'])
      await liveDocument(store, tenant, collection, id)
      res.json(represent(logged(res, await store.setActive(tenant, id, active, who(res)))))
    })
  }

  return refuseOtherMethods(router)
}
