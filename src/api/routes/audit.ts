/**
 * The audit log (docs/audit.md), read: `GET /v1/audit` pages through the tenant's entries and
 * `GET /v1/audit/export` streams all of them as JSON lines, exactly the export `assay audit verify`
 * reads. Both sit behind `guard` (an `admin` credential of the tenant whose log is read).
 *
 * | method and path | answers |
 * |---|---|
 * | `GET /v1/audit?after=&limit=` | 200 `{ entries, next? }`: entries with seq > `after` (default 0), at most `limit` (1 to 1,000, default 100); `next` is the `after` of the next page |
 * | `GET /v1/audit/export?after=` | 200 `application/jsonl`: every entry with seq > `after`, one per line |
 *
 * Entries are returned as stored: a gap left by an entry deleted behind the store's back shows in a
 * page and the verifier reports it.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express'
import type { AuditEntry } from '../../audit/entry.js'
import { VerifierError } from '../../errors/errors.js'
import { DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, auditEntries, type AuditStore } from '../../store/audit.js'
import { DEFAULT_TENANT, type TenantId } from '../../store/types.js'
import type { ApiDeps } from '../deps.js'
import { refuseOtherMethods } from '../http.js'

/** Media type of an export: JSON lines. */
export const AUDIT_EXPORT_MEDIA_TYPE = 'application/jsonl'

const SEQ = /^(0|[1-9][0-9]{0,15})$/

/** The query, checked: only `allowed` members, each once, as text. */
function queryOf(req: Request, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (!allowed.includes(name)) {
      throw new VerifierError('ERR_REQUEST_MALFORMED', `unknown query parameter ${JSON.stringify(name.slice(0, 40))}; known: ${allowed.join(', ')}`)
    }
    if (typeof value !== 'string') throw new VerifierError('ERR_REQUEST_MALFORMED', `query parameter ${name} is given more than once`)
    out.set(name, value)
  }
  return out
}

function afterOf(query: Map<string, string>): number {
  const text = query.get('after')
  if (text === undefined) return 0
  const after = SEQ.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(after)) throw new VerifierError('ERR_REQUEST_MALFORMED', 'after must be a non-negative integer (a seq)')
  return after
}

function limitOf(query: Map<string, string>): number {
  const text = query.get('limit')
  if (text === undefined) return DEFAULT_AUDIT_PAGE
  const limit = /^\d{1,4}$/.test(text) ? Number(text) : NaN
  if (!(limit >= 1 && limit <= MAX_AUDIT_PAGE)) throw new VerifierError('ERR_REQUEST_MALFORMED', `limit must be an integer from 1 to ${MAX_AUDIT_PAGE}`)
  return limit
}

/**
 * The audit routes. `guard` checks the credential; `tenantOf` says whose log a request reads (the
 * credential's tenant once credentials are wired; the default tenant until then).
 */
export function auditRoutes(
  deps: Pick<ApiDeps, 'audit' | 'log'>,
  guard: RequestHandler | RequestHandler[],
  tenantOf: (req: Request, res: Response) => TenantId = () => DEFAULT_TENANT,
): Router {
  const router = Router()
  const store = (): Pick<AuditStore, 'page'> => {
    if (deps.audit === undefined) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'this process has no audit log')
    return deps.audit
  }

  router.get('/audit', guard, async (req: Request, res: Response) => {
    const query = queryOf(req, ['after', 'limit'])
    const page = await store().page(tenantOf(req, res), { after: afterOf(query), limit: limitOf(query) })
    res.setHeader('Cache-Control', 'no-store')
    res.json({ entries: page.entries, ...(page.next === undefined ? {} : { next: page.next }) })
  })

  router.get('/audit/export', guard, async (req: Request, res: Response) => {
    const query = queryOf(req, ['after'])
    const after = afterOf(query)
    const tenant = tenantOf(req, res)
    const entries = auditEntries(store(), tenant, after)
    // The first page is read before the status is sent, so a store that cannot be read is a 503.
    let next: IteratorResult<AuditEntry> = await entries.next()
    res.status(200)
    res.setHeader('Content-Type', AUDIT_EXPORT_MEDIA_TYPE)
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Disposition', `attachment; filename="audit-${tenant}.jsonl"`)
    try {
      while (next.done !== true) {
        if (!res.write(`${JSON.stringify(next.value)}\n`)) await new Promise((resolve) => res.once('drain', resolve))
        if (res.destroyed) return
        next = await entries.next()
      }
      res.end()
    } catch (err) {
      // Headers are sent: a cut export is all the client can be told (its verify reports the cut).
      deps.log?.('audit export', err)
      res.destroy()
    }
  })

  return refuseOtherMethods(router)
}
