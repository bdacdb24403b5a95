/**
 * Operator-defined EAT profiles (issue 9): `/v1/profiles`, behind a credential with the role
 * `provisioner` (`../auth.ts`; 401 without one, 403 without the role), in the credential's tenant. A profile is a JSON document (`eatProfileDocumentSchema`,
 * `evidence/eat/profile-document.ts`) kept in the endorsement store as a document of kind `profile`,
 * with the same id and index id a reference-values file gives it (`provisioning-documents.ts`), so
 * the appraisal finds it however it was provisioned, and every process uses a change within 1 s.
 *
 * | method and path | does | answers |
 * |---|---|---|
 * | `POST /v1/profiles` | creates | 201 + Location; 409 when the profile exists; 422 for a body the schema refuses |
 * | `GET /v1/profiles?identifier=&limit=&cursor=` | lists live profiles (active or not), paged | 200 `{ items, cursor? }` |
 * | `GET /v1/profiles/{id}` | the latest version | 200; 404 when there is none or it was deleted |
 * | `PUT /v1/profiles/{id}` | replaces it (a new version; its active state is kept) | 200 |
 * | `DELETE /v1/profiles/{id}` | deletes it (a tombstone version; history stays readable) | 204 |
 * | `GET /v1/profiles/{id}/versions[/{n}]` | every kept version, or one | 200 |
 * | `POST /v1/profiles/{id}/activate`, `/deactivate` | a new version with the new state | 200 |
 *
 * `{id}` is the resource id (`eat-profile-<SHA-256 of the lower-cased profile id>`) or the profile
 * id itself, percent-encoded. Every change records when, by whom (the operator) and from where.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express'
import { eatProfileDocumentId, eatProfileIndexId } from '../../appraisal/provisioning-documents.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { eatProfileDocumentSchema, MAX_PROFILE_ID_LENGTH } from '../../evidence/eat/profile-document.js'
import { parseMediaType } from '../../evidence/media-type.js'
import { parseStrictJsonUtf8 } from '../../jose/json.js'
import { MAX_PAGE_SIZE, type EndorsementStore, type EndorsementVersion, type JsonValue } from '../../store/endorsements.js'
import type { TenantId } from '../../store/types.js'
import type { ApiDeps } from '../deps.js'
import { bodyBytes, rawBody, refuseOtherMethods } from '../http.js'
import { requireCredential, requirePrincipal } from '../auth.js'

/** Largest profile document accepted: a profile is well under 4 KiB. */
export const PROFILE_BODY_LIMIT_BYTES = 64 * 1024
const RESOURCE_ID = /^eat-profile-[0-9a-f]{64}$/
const SOURCE = 'api'

/** A profile version as the API shows it. */
export interface ProfileRepresentation {
  readonly id: string
  /** The profile document; null for the version that deleted it. */
  readonly profile: JsonValue
  readonly version: number
  readonly active: boolean
  readonly deleted: boolean
  /** RFC 3339. */
  readonly createdAt: string
  readonly createdBy: string
  readonly source: string
  readonly digest: string
}

function represent(v: EndorsementVersion): ProfileRepresentation {
  return {
    id: v.id,
    profile: v.body,
    version: v.version,
    active: v.active,
    deleted: v.deleted,
    createdAt: new Date(v.createdAt).toISOString(),
    createdBy: v.createdBy,
    source: v.source,
    digest: v.digest,
  }
}

/** The document id a path names: the resource id, or a profile id (compared case-insensitively). */
function documentIdOf(param: unknown): string {
  if (typeof param !== 'string' || param.length === 0 || param.length > MAX_PROFILE_ID_LENGTH) {
    throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', 'no such profile')
  }
  return RESOURCE_ID.test(param) ? param : eatProfileDocumentId(param)
}

/** The request body as a validated profile document: 400 when it is no JSON, 422 when the schema refuses it. */
function profileBody(req: Request) {
  const contentType = req.get('content-type')
  let essence: string | undefined
  try {
    essence = contentType === undefined ? undefined : parseMediaType(contentType).essence
  } catch {
    essence = undefined
  }
  if (essence !== 'application/json') throw new VerifierError('ERR_REQUEST_MALFORMED', 'send the profile as Content-Type: application/json')
  let raw: unknown
  try {
    raw = parseStrictJsonUtf8(bodyBytes(req.body), 'the profile')
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
    throw new VerifierError('ERR_REQUEST_MALFORMED', err.message, { cause: err })
  }
  const parsed = eatProfileDocumentSchema.safeParse(raw)
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.length === 0 ? '(body)' : issue.path.join('.')}: ${issue.message}`)
      .join('; ')
    throw new VerifierError('ERR_PROVISIONING_INVALID', detail)
  }
  return parsed.data
}

function limitOf(raw: unknown): number | undefined {
  if (raw === undefined) return undefined
  const n = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= 1 && n <= MAX_PAGE_SIZE)) throw new VerifierError('ERR_REQUEST_MALFORMED', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`)
  return n
}

function textParam(raw: unknown, name: string, max: number): string | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > max) {
    throw new VerifierError('ERR_REQUEST_MALFORMED', `${name} must be 1 to ${max} characters`)
  }
  return raw
}

/** The live profile document `id`, or 404. */
async function liveProfile(store: EndorsementStore, tenant: TenantId, id: string): Promise<EndorsementVersion> {
  const latest = await store.get(tenant, id)
  if (latest === undefined || latest.deleted || latest.kind !== 'profile') throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', 'no such profile')
  return latest
}

export function profileRoutes(deps: ApiDeps): Router {
  const router = Router()
  const auth = requireCredential(deps, 'provisioner')
  /** The tenant of the request: its credential's. */
  const tenantOf = (res: Response): TenantId => requirePrincipal(res).tenant
  const body = rawBody(Math.min(PROFILE_BODY_LIMIT_BYTES, deps.config.bodyLimitBytes))
  /** The store, once the caller is known to be an operator (503 when this process has none). */
  const storeOf = (): EndorsementStore => {
    if (deps.endorsements === undefined) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'this process has no endorsement store')
    return deps.endorsements
  }
  const who = (res: Response) => ({ createdBy: requirePrincipal(res).id, source: SOURCE })
  /** Runs `handler` once a `provisioner` is authenticated; Express 5 forwards its rejection. */
  const operator = (...handlers: RequestHandler[]): RequestHandler[] => [...auth, ...handlers]

  router.post(
    '/profiles',
    ...operator(body, async (req: Request, res: Response) => {
      const doc = profileBody(req)
      const id = eatProfileDocumentId(doc.id)
      const created = await storeOf().create(tenantOf(res), id, {
        kind: 'profile',
        body: doc as JsonValue,
        indexIds: [eatProfileIndexId(doc.id)],
        ...who(res),
      })
      res.setHeader('Location', `${req.baseUrl}/profiles/${id}`)
      res.status(201).json(represent(created))
    }),
  )

  router.get(
    '/profiles',
    ...operator(async (req: Request, res: Response) => {
      const identifier = textParam(req.query['identifier'], 'identifier', MAX_PROFILE_ID_LENGTH)
      const limit = limitOf(req.query['limit'])
      const cursor = textParam(req.query['cursor'], 'cursor', 300)
      const page = await storeOf().list(tenantOf(res), {
        kind: 'profile',
        ...(identifier === undefined ? {} : { indexId: eatProfileIndexId(identifier) }),
        ...(limit === undefined ? {} : { limit }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      res.status(200).json({ items: page.items.map(represent), ...(page.cursor === undefined ? {} : { cursor: page.cursor }) })
    }),
  )

  router.get(
    '/profiles/:id',
    ...operator(async (req: Request, res: Response) => {
      res.status(200).json(represent(await liveProfile(storeOf(), tenantOf(res), documentIdOf(req.params['id']))))
    }),
  )

  router.put(
    '/profiles/:id',
    ...operator(body, async (req: Request, res: Response) => {
      const id = documentIdOf(req.params['id'])
      const doc = profileBody(req)
      if (eatProfileDocumentId(doc.id) !== id) {
        throw new VerifierError('ERR_PROVISIONING_INVALID', `id: ${doc.id} names another profile than this resource; create it with POST`)
      }
      const store = storeOf()
      const tenant = tenantOf(res)
      const latest = await liveProfile(store, tenant, id)
      const replaced = await store.put(tenant, id, {
        kind: 'profile',
        body: doc as JsonValue,
        indexIds: [eatProfileIndexId(doc.id)],
        active: latest.active,
        ...who(res),
      })
      res.status(200).json(represent(replaced))
    }),
  )

  router.delete(
    '/profiles/:id',
    ...operator(async (req: Request, res: Response) => {
      const store = storeOf()
      const id = documentIdOf(req.params['id'])
      const tenant = tenantOf(res)
      await liveProfile(store, tenant, id)
      const deleted = await store.delete(tenant, id, who(res))
      if (deleted === undefined) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', 'no such profile')
      res.status(204).end()
    }),
  )

  router.get(
    '/profiles/:id/versions',
    ...operator(async (req: Request, res: Response) => {
      const versions = await storeOf().versions(tenantOf(res), documentIdOf(req.params['id']))
      const profiles = versions.filter((v) => v.kind === 'profile')
      if (profiles.length === 0) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', 'no such profile')
      res.status(200).json({ items: profiles.map(represent) })
    }),
  )

  router.get(
    '/profiles/:id/versions/:n',
    ...operator(async (req: Request, res: Response) => {
      const id = documentIdOf(req.params['id'])
      const raw = req.params['n']
      const n = typeof raw === 'string' && /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : undefined
      if (n === undefined) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', 'versions are numbered 1, 2, 3…')
      const version = await storeOf().get(tenantOf(res), id, n)
      if (version === undefined || version.kind !== 'profile') throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no version ${n} of this profile is kept`)
      res.status(200).json(represent(version))
    }),
  )

  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    router.post(
      `/profiles/:id/${action}`,
      ...operator(async (req: Request, res: Response) => {
        const store = storeOf()
        const id = documentIdOf(req.params['id'])
        const tenant = tenantOf(res)
        await liveProfile(store, tenant, id)
        res.status(200).json(represent(await store.setActive(tenant, id, active, who(res))))
      }),
    )
  }

  return refuseOtherMethods(router)
}


