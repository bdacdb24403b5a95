/**
 * One log line per HTTP request (pino-http), written when the response ends: request id, method,
 * path, status, duration in ms, and what the route added (`api/log-fields.ts`: appraisal id,
 * session id, tenant, Evidence media type). No headers, query strings or bodies are logged, so
 * neither Evidence nor credentials can reach the log; the path goes through `redactCredentials`.
 *
 * The request id is the client's `X-Request-Id` when it is a plain token of at most 128 characters
 * (letters, digits, `._:@-`), else a new UUID; it is echoed in the response's `X-Request-Id` and
 * names the request in fault logs.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { pinoHttp } from 'pino-http'
import { logFieldsOf } from '../api/log-fields.js'
import { redactCredentials } from '../util/redact.js'
import type { ProcessLogger } from './logger.js'

const REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/
/** Operations probes, polled every few seconds: logged at debug, whatever their status. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics'])
/** Longest path logged; a longer one is cut (Node bounds the whole head to 16 KiB anyway). */
const MAX_PATH = 512

/** The request id: a sane incoming `X-Request-Id`, or a fresh UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

const PATH = Symbol('assay.loggedPath')

/** `redactCredentials`, skipped for text that has none of the characters a credential it masks needs. */
export function redactedText(text: string): string {
  return /[:;&?=]/.test(text) ? redactCredentials(text) : text
}

/**
 * The request's path as logged: without its query (a query may carry anything a client puts there),
 * cut at MAX_PATH, redacted; taken when the request arrives, before Express rewrites `url` inside
 * mounted routers, and worked out once.
 */
function pathOf(req: IncomingMessage & { [PATH]?: string }): string {
  let path = req[PATH]
  if (path === undefined) {
    const url = req.url ?? ''
    const query = url.indexOf('?')
    const bare = query === -1 ? url : url.slice(0, query)
    path = req[PATH] = redactedText(bare.length > MAX_PATH ? `${bare.slice(0, MAX_PATH)}…` : bare)
  }
  return path
}

function lineOf(req: IncomingMessage, res: ServerResponse, responseTime: number): Record<string, unknown> {
  const fields = logFieldsOf(res)
  return {
    reqId: req.id,
    method: req.method,
    path: pathOf(req),
    status: res.statusCode,
    responseTime,
    ...fields,
    // The one field whose text is the client's own (the ids are UUIDs Assay checked or made).
    ...(fields?.mediaType === undefined ? {} : { mediaType: redactedText(fields.mediaType.slice(0, MAX_PATH)) }),
  }
}

const nothing = (): undefined => undefined

/**
 * Wraps `app` so that every request gets an id and a log line. A logger at level `silent` logs
 * nothing, so `app` is returned as it is: no request ids, and no cost.
 */
export function withRequestLog(logger: ProcessLogger, app: RequestListener): RequestListener {
  if (logger.lines.level === 'silent') return app
  const http = pinoHttp({
    // Every field of these lines is chosen here, so the redaction passes of `logger.pino` are not needed.
    logger: logger.lines,
    // No per-request child logger carrying the id: `lineOf` puts it in the line itself.
    quietReqLogger: false,
    quietResLogger: false,
    // pino-http binds `req` (and `res`) to child loggers it makes for every request; Assay never
    // logs them (each line is built by `lineOf`), so they serialize to nothing instead of every header.
    wrapSerializers: false,
    serializers: { req: nothing, res: nothing, err: nothing },
    genReqId(req, res) {
      pathOf(req)
      const id = requestIdOf(req.headers['x-request-id'])
      res.setHeader('X-Request-Id', id)
      return id
    },
    customLogLevel(req, res) {
      // A probe answers 503 every few seconds while not ready: that is what it is for, not a warning.
      if (PROBES.has(pathOf(req))) return 'debug'
      if (res.statusCode >= 500) return res.statusCode === 503 ? 'warn' : 'error'
      return 'info'
    },
    customSuccessObject: (req, res, value: { responseTime: number }) => lineOf(req, res, value.responseTime),
    customErrorObject: (req, res, _err, value: { responseTime: number }) => lineOf(req, res, value.responseTime),
    customSuccessMessage: (req, res) => `${req.method} ${pathOf(req)} ${res.writableEnded ? res.statusCode : 'aborted'}`,
    customErrorMessage: (req, res) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
  })
  return (req, res) => {
    http(req, res)
    app(req, res)
  }
}
