/**
 * The admin API of API keys (`admin` role, in the admin's own tenant):
 *
 * | method and path | does | answers |
 * |---|---|---|
 * | `POST /v1/api-keys` | makes a key: `{ name, roles, tenant? }` (`tenant`, if given, must be the admin's) | 201 + Location, the key text once (`key`) and its record |
 * | `GET /v1/api-keys?limit=&cursor=` | lists the tenant's keys, revoked ones too, paged | 200 `{ items, cursor? }`, never a key or its hash |
 * | `GET /v1/api-keys/{id}` | one key's record | 200; 404 for a key of no such id in the tenant |
 * | `DELETE /v1/api-keys/{id}` | revokes it | 204; a revoked key is refused at once in this process, within 5 s in every other |
 *
 * The key text is in the 201 answer only (`Cache-Control: no-store`): Assay keeps its SHA-256.
 */
import { Router, type Request, type Response } from 'express'
import { isKeyId } from '../../auth/api-keys.js'
import { bearerChallenge } from '../../auth/authenticate.js'
import { issueApiKey } from '../../auth/bootstrap.js'
import { parseRoles } from '../../auth/roles.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { parseMediaType } from '../../evidence/media-type.js'
import { parseStrictJsonUtf8 } from '../../jose/json.js'
import { DEFAULT_CREDENTIAL_LIMITS, MAX_CREDENTIAL_PAGE, checkName, type ApiKeyRecord, type CredentialStore } from '../../store/credentials.js'
import { requireCredential, requirePrincipal } from '../auth.js'
import type { ApiDeps } from '../deps.js'
import { bodyBytes, rawBody, refuseOtherMethods } from '../http.js'
import { addLogFields } from '../log-fields.js'

/** Largest body of a key request: a name of 100 characters and 5 roles fit many times over. */
export const API_KEY_BODY_LIMIT_BYTES = 4096

const BODY_MEMBERS = new Set(['name', 'roles', 'tenant'])

/** A key's record as the API shows it: never the key or its hash. */
export function representKey(record: ApiKeyRecord): Record<string, unknown> {
  return {
    id: record.keyId,
    tenant: record.tenant,
    name: record.name,
    roles: record.roles,
    createdBy: record.createdBy,
    createdAt: new Date(record.createdAt).toISOString(),
    ...(record.revokedAt === undefined ? {} : { revokedAt: new Date(record.revokedAt).toISOString() }),
    ...(record.revokedBy === undefined ? {} : { revokedBy: record.revokedBy }),
  }
}

function keyRequest(req: Request): { name: string; roles: ReturnType<typeof parseRoles>; tenant: unknown } {
  let essence: string | undefined
  try {
    const contentType = req.get('content-type')
    essence = contentType === undefined ? undefined : parseMediaType(contentType).essence
  } catch {
    essence = undefined
  }
  if (essence !== 'application/json') throw new VerifierError('ERR_REQUEST_MALFORMED', 'send the key request as Content-Type: application/json')
  let raw: unknown
  try {
    raw = parseStrictJsonUtf8(bodyBytes(req.body), 'the key request')
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
    throw new VerifierError('ERR_REQUEST_MALFORMED', err.message, { cause: err })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VerifierError('ERR_REQUEST_MALFORMED', 'the body must be a JSON object')
  const body = raw as Record<string, unknown>
  for (const member of Object.keys(body)) {
    if (!BODY_MEMBERS.has(member)) throw new VerifierError('ERR_REQUEST_MALFORMED', `unknown member ${JSON.stringify(member.slice(0, 40))}; known: name, roles, tenant`)
  }
  try {
    checkName(body['name'])
    return { name: body['name'], roles: parseRoles(body['roles']), tenant: body['tenant'] }
  } catch (err) {
    if (err instanceof TypeError) throw new VerifierError('ERR_REQUEST_MALFORMED', err.message, { cause: err })
    throw err
  }
}

function limitOf(raw: unknown): number | undefined {
  if (raw === undefined) return undefined
  const n = typeof raw === 'string' && /^\d{1,3}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= 1 && n <= MAX_CREDENTIAL_PAGE)) throw new VerifierError('ERR_REQUEST_MALFORMED', `limit must be an integer from 1 to ${MAX_CREDENTIAL_PAGE}`)
  return n
}

function keyIdOf(raw: unknown): string {
  if (!isKeyId(raw)) throw new VerifierError('ERR_API_KEY_NOT_FOUND', 'a key id is 24 lower-case hex digits')
  return raw
}

export function apiKeyRoutes(deps: ApiDeps): Router {
  const router = Router()
  const auth = requireCredential(deps, 'admin')
  const storeOf = (): CredentialStore => {
    if (deps.credentials === undefined) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'this process has no credential store')
    return deps.credentials
  }

  router.post('/api-keys', ...auth, rawBody(Math.min(API_KEY_BODY_LIMIT_BYTES, deps.config.bodyLimitBytes)), async (req: Request, res: Response) => {
    const principal = requirePrincipal(res)
    const { name, roles, tenant } = keyRequest(req)
    if (tenant !== undefined && tenant !== principal.tenant) {
      const err = new VerifierError('ERR_AUTH_FORBIDDEN', 'an admin makes keys of its own tenant only')
      res.setHeader('WWW-Authenticate', bearerChallenge(err)!)
      throw err
    }
    const store = storeOf()
    let issued: Awaited<ReturnType<typeof issueApiKey>>
    try {
      issued = await issueApiKey(store, { tenant: principal.tenant, name, roles, createdBy: principal.id })
    } catch (err) {
      // Full at the tenant's cap is the client's limit (409); Redis out of memory stays a 503.
      if (isVerifierError(err, 'ERR_STORE_FULL') && (await store.countActive(principal.tenant).catch(() => 0)) >= DEFAULT_CREDENTIAL_LIMITS.maxActiveKeysPerTenant) {
        throw new VerifierError('ERR_API_KEY_LIMIT', undefined, { cause: err })
      }
      throw err
    }
    addLogFields(res, { tenant: principal.tenant })
    res.setHeader('Location', `${req.baseUrl}/api-keys/${issued.record.keyId}`)
    res.setHeader('Cache-Control', 'no-store')
    res.status(201).json({ ...representKey(issued.record), key: issued.key })
  })

  router.get('/api-keys', ...auth, async (req: Request, res: Response) => {
    const principal = requirePrincipal(res)
    for (const name of Object.keys(req.query)) {
      if (name !== 'limit' && name !== 'cursor') throw new VerifierError('ERR_REQUEST_MALFORMED', `unknown query parameter ${JSON.stringify(name.slice(0, 40))}; known: limit, cursor`)
    }
    const limit = limitOf(req.query['limit'])
    const cursor = req.query['cursor']
    if (cursor !== undefined && typeof cursor !== 'string') throw new VerifierError('ERR_REQUEST_MALFORMED', 'cursor is given more than once')
    const page = await storeOf().list(principal.tenant, { ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) })
    res.json({ items: page.items.map(representKey), ...(page.cursor === undefined ? {} : { cursor: page.cursor }) })
  })

  router.get('/api-keys/:id', ...auth, async (req: Request, res: Response) => {
    const principal = requirePrincipal(res)
    const record = await storeOf().get(keyIdOf(req.params['id']))
    // Another tenant's key reads as unknown: its existence is not told.
    if (record === undefined || record.tenant !== principal.tenant) throw new VerifierError('ERR_API_KEY_NOT_FOUND')
    res.json(representKey(record))
  })

  router.delete('/api-keys/:id', ...auth, async (req: Request, res: Response) => {
    const principal = requirePrincipal(res)
    const keyId = keyIdOf(req.params['id'])
    const revoked = await storeOf().revoke(principal.tenant, keyId, principal.id)
    if (revoked === undefined) throw new VerifierError('ERR_API_KEY_NOT_FOUND')
    deps.authenticator?.forget(keyId)
    addLogFields(res, { tenant: principal.tenant })
    res.status(204).end()
  })

  return refuseOtherMethods(router)
}
