/**
 * The only writer of errors to the wire: RFC 9457 `application/problem+json`, with a stable `type`
 * per error code (`docs/errors.md`). Evidence problems never come here (they become results);
 * faults are described only by their title, and their cause is logged, not sent.
 */
import type { Request, Response } from 'express'
import { typeSlug } from '../errors/codes.js'
import { VerifierError } from '../errors/errors.js'

export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/**
 * The members a problem body can have, in the order `sendProblem` writes them, and when each is
 * present. `docs/errors.md` is generated from this list, and a test checks real responses against it.
 */
export const PROBLEM_MEMBERS: readonly { readonly name: string; readonly always: boolean; readonly meaning: string }[] = [
  { name: 'type', always: true, meaning: 'the problem type: the configured base followed by the code\'s slug' },
  { name: 'title', always: true, meaning: 'the catalogue title of the code' },
  { name: 'status', always: true, meaning: 'the HTTP status, repeated' },
  { name: 'code', always: true, meaning: 'the stable error code (`ERR_…`)' },
  { name: 'instance', always: true, meaning: 'the request path and query' },
  { name: 'detail', always: false, meaning: 'what exactly was wrong, when it says more than the title; never for a fault' },
  { name: 'faultId', always: false, meaning: 'the id under which a fault was logged, for an appraisal that failed' },
]

/** `Retry-After` of a 503 for a backing service that is down (Redis reconnects within about 2 s). */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 2

export interface ProblemOptions {
  readonly typeBase: string
  /** Media types to list in `Accept` on a 415. */
  readonly accepted?: () => readonly string[]
  readonly log?: (message: string, err: unknown) => void
}

/** Maps what body-parser and Express throw onto catalogue errors. */
export function toVerifierError(err: unknown): VerifierError {
  if (err instanceof VerifierError) return err
  const e = err as { type?: string; status?: number; statusCode?: number }
  if (e?.type === 'entity.too.large') return new VerifierError('ERR_REQUEST_BODY_TOO_LARGE')
  const status = e?.status ?? e?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new VerifierError('ERR_REQUEST_MALFORMED', 'the request body could not be read', { cause: err })
  }
  return new VerifierError('ERR_VERIFIER_INTERNAL', undefined, { cause: err })
}

export function sendProblem(req: Request, res: Response, err: unknown, options: ProblemOptions): void {
  const error = toVerifierError(err)
  // Evidence errors that reach HTTP (e.g. a request-time media type sniff) are the client's doing.
  const status = error.family === 'evidence' ? 400 : error.status
  if (error.family === 'fault' && options.log !== undefined) {
    // The request id (set by the request log, `main/request-log.ts`) ties the fault to its request line.
    const requestId = (req as { id?: unknown }).id
    const where = `${req.method} ${req.path}${typeof requestId === 'string' ? ` (request ${requestId})` : ''}`
    logFault(options.log, where, error, err)
  }
  const body: Record<string, unknown> = {
    type: options.typeBase + typeSlug(error.code),
    title: error.title,
    status,
    code: error.code,
    instance: req.originalUrl,
  }
  if (error.expose && error.message !== error.title) body['detail'] = error.message
  if (error.faultId !== undefined) body['faultId'] = error.faultId
  // A route that takes other media types than Evidence (CoRIM provisioning) sets its own Accept.
  if (error.code === 'ERR_MEDIA_TYPE_UNSUPPORTED' && options.accepted !== undefined && !res.hasHeader('Accept')) {
    res.setHeader('Accept', options.accepted().join(', '))
  }
  // Every 503 says when to come back: soon when the queue is full, seconds when the store is full
  // (room frees as entries expire or are used), a little later when a backing service (Redis) is
  // down, unless the thrower already knows better.
  if (status === 503 && !res.headersSent && !res.hasHeader('Retry-After')) {
    const after = error.code === 'ERR_SERVICE_OVERLOADED' ? 1 : error.code === 'ERR_STORE_FULL' ? 5 : UNAVAILABLE_RETRY_AFTER_SECONDS
    res.setHeader('Retry-After', String(after))
  }
  // A request whose body was not read to its end (a 413, or an error before the body was needed)
  // closes the connection: keeping it alive would mean reading and discarding the rest first.
  if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close')
  if (res.headersSent) {
    res.end()
    return
  }
  res.status(status).type(PROBLEM_MEDIA_TYPE).send(JSON.stringify(body))
}

/** How often one 503 fault (load shedding, a backing service down) is logged: once per this many ms. */
const UNAVAILABLE_LOG_INTERVAL_MS = 10_000
const unavailableLog = new Map<string, { at: number; suppressed: number }>()

/**
 * Logs a fault. A 503 (queue or store full, Redis down) is what a flood or an outage produces on
 * every request: logging each with its stack would make every refused request cost more than an
 * answered one, so each such code is logged once per interval with the number left out since.
 */
function logFault(log: (message: string, err: unknown) => void, where: string, error: VerifierError, err: unknown): void {
  if (error.status !== 503) {
    log(`${where}: ${error.code}`, err)
    return
  }
  const now = Date.now()
  const last = unavailableLog.get(error.code)
  if (last !== undefined && now - last.at < UNAVAILABLE_LOG_INTERVAL_MS) {
    last.suppressed++
    return
  }
  const since = last === undefined || last.suppressed === 0 ? '' : ` (${last.suppressed} more since the last report)`
  unavailableLog.set(error.code, { at: now, suppressed: 0 })
  log(`${where}: ${error.code}${since}`, err)
}
