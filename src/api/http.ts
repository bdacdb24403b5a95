/** Small HTTP helpers shared by the routes: body reading, negotiation, waiting, admission. */
import { randomUUID } from 'node:crypto'
import type { RequestHandler, Router } from 'express'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import { tryParseMediaType } from '../evidence/media-type.js'
import type { AppraisalJob, JobOutcome } from '../queue/types.js'
import type { TenantId } from '../store/types.js'
import type { ApiDeps } from './deps.js'
import { NAMING_PROFILE, type EarNaming } from '../results/ear.js'
import type { EarForm } from '../results/renderer.js'

/**
 * Reads any body as raw bytes into `req.body`, refusing more than `limit` bytes (413): at once when
 * `Content-Length` says so, else as soon as the bytes read pass the limit. The rest of the body is
 * never read: the 413 closes the connection (`problem.ts`). (body-parser would read a refused body
 * to its end before answering, 100 MB for a 100 MB declaration.)
 */
export function rawBody(limit: number): RequestHandler {
  return (req, _res, next) => {
    if (declaredTooLarge(req.headers['content-length'], limit)) {
      next(new VerifierError('ERR_REQUEST_BODY_TOO_LARGE'))
      return
    }
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      next(new VerifierError('ERR_REQUEST_MALFORMED', 'Content-Encoding is not supported: send the Evidence as it is'))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const done = (err?: unknown) => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('aborted', onAborted)
      if (err !== undefined) {
        req.pause()
        next(err)
        return
      }
      req.body = Buffer.concat(chunks, size)
      next()
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) done(new VerifierError('ERR_REQUEST_BODY_TOO_LARGE'))
      else chunks.push(chunk)
    }
    const onEnd = () => done()
    const onError = (err: Error) => done(new VerifierError('ERR_REQUEST_MALFORMED', 'the request body could not be read', { cause: err }))
    const onAborted = () => onError(new Error('request aborted'))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('aborted', onAborted)
  }
}

/** Whether a `Content-Length` declares more than `limit` bytes (a malformed one is Node's to refuse). */
export function declaredTooLarge(contentLength: string | undefined, limit: number): boolean {
  return contentLength !== undefined && /^\d+$/.test(contentLength) && (contentLength.length > 15 || Number(contentLength) > limit)
}

export function bodyBytes(body: unknown): Uint8Array {
  return Buffer.isBuffer(body) ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : new Uint8Array(0)
}

/**
 * Checks the Evidence media type at intake so a wrong one is a 415 now, not a result later.
 * Evidence-level findings (a generic type carrying bytes of no known format) are left to the
 * worker, which answers them with a signed result.
 */
export function checkEvidenceMediaType(deps: ApiDeps, contentType: string | undefined, evidence: Uint8Array): string {
  if (contentType === undefined || contentType === '') {
    throw new VerifierError('ERR_MEDIA_TYPE_UNSUPPORTED', 'Evidence needs a Content-Type')
  }
  try {
    deps.registry.select(contentType, evidence)
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
  }
  if (evidence.length === 0) throw new VerifierError('ERR_REQUEST_MALFORMED', 'the request carries no Evidence')
  return contentType
}

const depthCache = new WeakMap<ApiDeps, { value: number; at: number }>()

/**
 * Admission control: refuses new Evidence (503 + Retry-After) past the configured queue depth.
 * The depth is read at most every 100 ms, so intake does not pay a queue round trip per request.
 */
export async function admit(deps: ApiDeps): Promise<void> {
  const now = Date.now()
  let cached = depthCache.get(deps)
  if (cached === undefined || now - cached.at > 100) {
    cached = { value: await deps.queue.depth(), at: now }
    depthCache.set(deps, cached)
  }
  if (cached.value >= deps.config.maxQueueDepth) throw new VerifierError('ERR_SERVICE_OVERLOADED')
}

/** An appraisal as the API knows it right after submission or lookup. */
export interface Submitted {
  readonly id: string
  readonly tenant: TenantId
  readonly createdAt: number
  readonly naming: EarNaming
  /** The queue's outcome, when the request waited and the appraisal finished in time. */
  readonly outcome?: JobOutcome
}

/**
 * Enqueues an appraisal and, when `waitMs` > 0, waits for it. Nothing is written to the store here:
 * the queue knows a job until it finishes, and the worker stores the result.
 */
export async function submit(
  deps: ApiDeps,
  tenant: TenantId,
  fields: Omit<AppraisalJob, 'id' | 'tenant' | 'receivedAt'>,
  waitMs: number,
  id: string = randomUUID(),
): Promise<Submitted> {
  const receivedAt = Date.now()
  const job: AppraisalJob = { ...fields, id, tenant, receivedAt }
  const submitted = { id, tenant, createdAt: receivedAt, naming: fields.earProfile }
  if (waitMs <= 0) {
    await deps.queue.enqueue(job)
    return submitted
  }
  const outcome = await deps.queue.enqueueAndWait(job, waitMs)
  if (outcome?.completedAt !== undefined) {
    const api = job.sessionId === undefined ? 'native' : 'challenge-response'
    deps.metrics.duration.observe({ api }, (outcome.completedAt - receivedAt) / 1000)
  }
  return outcome === undefined ? submitted : { ...submitted, outcome }
}

/** Longest value of a header Assay parses (`Accept`, `Prefer`; `Content-Type` is bounded by its parser). */
export const HEADER_MAX_LENGTH = 1024
/** Most comma-separated elements of a list header Assay parses. */
export const HEADER_MAX_PARTS = 16

/**
 * Refuses (431) a header longer than HEADER_MAX_LENGTH or with more than HEADER_MAX_PARTS
 * elements, before it is parsed: one check, linear in the header, no matter what it holds.
 */
export function boundedList(name: string, header: string): string[] {
  if (header.length > HEADER_MAX_LENGTH) {
    throw new VerifierError('ERR_REQUEST_HEADER_TOO_LARGE', `${name} is longer than ${HEADER_MAX_LENGTH} characters`)
  }
  const parts = splitOutsideQuotes(header)
  if (parts.length > HEADER_MAX_PARTS) {
    throw new VerifierError('ERR_REQUEST_HEADER_TOO_LARGE', `${name} has more than ${HEADER_MAX_PARTS} elements`)
  }
  return parts
}

/** `Prefer: wait=N` (RFC 7240 §4.3), capped; 0 when absent or malformed. */
export function preferWaitSeconds(header: string | undefined, max: number): number {
  if (header === undefined) return 0
  for (const part of boundedList('Prefer', header)) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(part.split(';')[0] ?? '')
    if (m) return Math.min(Number(m[1]), max)
  }
  return 0
}

export type Representation = { readonly kind: 'json' } | { readonly kind: 'ear'; readonly form: EarForm; readonly naming: EarNaming }

/**
 * Picks the representation of an appraisal from `Accept`: JSON by default, or the EAR itself as
 * `application/eat+jwt` / `application/eat+cwt`, whose `eat_profile` parameter picks the naming.
 */
export function negotiate(accept: string | undefined): Representation {
  if (accept === undefined || accept.trim() === '') return { kind: 'json' }
  // Bounded before parsing; a malformed element is skipped without an exception.
  const offers = boundedList('Accept', accept)
    .map((part, index) => {
      const m = tryParseMediaType(part)
      if (m === undefined) return undefined
      const q = Number(m.parameters.get('q') ?? '1')
      return { m, q: Number.isFinite(q) ? q : 0, index }
    })
    .filter((o): o is NonNullable<typeof o> => o !== undefined && o.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
  for (const { m } of offers) {
    if (m.essence === 'application/json' || m.essence === 'application/*' || m.essence === '*/*') return { kind: 'json' }
    if (m.essence === 'application/eat+jwt' || m.essence === 'application/eat+cwt') {
      const profile = m.parameters.get('eat_profile')?.toLowerCase()
      const naming = (Object.keys(NAMING_PROFILE) as EarNaming[]).find(
        (n) => (profile === undefined ? n === 'ear-03' : NAMING_PROFILE[n].toLowerCase() === profile),
      )
      if (naming !== undefined) return { kind: 'ear', form: m.essence === 'application/eat+jwt' ? 'jwt' : 'cwt', naming }
    }
  }
  throw new VerifierError('ERR_REQUEST_NOT_ACCEPTABLE', 'acceptable: application/json, application/eat+jwt, application/eat+cwt')
}

/** Splits a header list on commas that are not inside a quoted string (profile URIs hold commas). */
function splitOutsideQuotes(header: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < header.length; i++) {
    const c = header.charCodeAt(i)
    if (quoted && c === 0x5c) i++
    else if (c === 0x22) quoted = !quoted
    else if (c === 0x2c && !quoted) {
      parts.push(header.slice(start, i))
      start = i + 1
    }
  }
  parts.push(header.slice(start))
  return parts
}

interface RouteLayer {
  readonly route?: { readonly path: unknown; readonly methods: Readonly<Record<string, boolean | undefined>> }
}

/**
 * Ends `router`: on every path it has a route for, `OPTIONS` is answered with 204 and `Allow`, and
 * any other method it does not route is refused with 405 `ERR_METHOD_NOT_ALLOWED` and `Allow`
 * (RFC 9110 §15.5.6), not with the 404 of a path that does not exist. `HEAD` goes with `GET`.
 * Call it after the router's last route.
 */
export function refuseOtherMethods(router: Router): Router {
  const methods = new Map<string, Set<string>>()
  for (const layer of router.stack as readonly RouteLayer[]) {
    const route = layer.route
    if (route === undefined || typeof route.path !== 'string') continue
    const set = methods.get(route.path) ?? new Set<string>()
    for (const [method, on] of Object.entries(route.methods)) {
      if (on !== true || method === '_all') continue
      set.add(method.toUpperCase())
      if (method === 'get') set.add('HEAD')
    }
    methods.set(route.path, set)
  }
  for (const [path, set] of methods) {
    const allow = [...set].join(', ')
    router.options(path, (_req, res) => {
      res.setHeader('Allow', allow)
      res.status(204).end()
    })
    router.all(path, (req, res, next) => {
      res.setHeader('Allow', allow)
      next(new VerifierError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow}`))
    })
  }
  return router
}
