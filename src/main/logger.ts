/**
 * The process logger: pino, one JSON object per line; `info` to stdout, `warn` and above to stderr.
 * Every message, error message and stack goes through `redactCredentials`, and fields named like
 * credentials are censored by pino's `redact`, so a `REDIS_URL` password never reaches the output,
 * whoever wrote the text (Assay, ioredis, BullMQ, Node). Errors are logged with their stack and
 * cause chain, but not their other properties (client errors can carry connection options).
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import { redactCredentials } from '../util/redact.js'

/** What the rest of Assay is handed: a message and, for a failure, the error. */
export type LogFn = (message: string, err?: unknown) => void

export interface ProcessLogger {
  readonly pino: Logger
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  /** `log(message)` is info; `log(message, err)` is an error with the error's stack. */
  readonly log: LogFn
}

export interface LoggerOptions {
  /** Where info lines go. @defaultValue stdout, synchronously */
  readonly stdout?: DestinationStream
  /** Where warnings and errors go. @defaultValue stderr, synchronously */
  readonly stderr?: DestinationStream
  /** @defaultValue info */
  readonly level?: string
}

const MAX_CAUSES = 4

/** Fields censored wherever they appear in a logged object (one level of nesting). */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'redisUrl',
  '*.redisUrl',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
]

/** An error as logged: type, code, redacted message and stack, and its causes. */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: redactCredentials(String(err)) }
  const out: Record<string, unknown> = { type: err.name, message: redactCredentials(err.message) }
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' || typeof code === 'number') out['code'] = code
  if (err.stack !== undefined) out['stack'] = redactCredentials(err.stack)
  if (err.cause !== undefined && depth < MAX_CAUSES) out['cause'] = serializeError(err.cause, depth + 1)
  if (err instanceof AggregateError && depth < MAX_CAUSES) {
    out['errors'] = err.errors.slice(0, 8).map((e: unknown) => serializeError(e, depth + 1))
  }
  return out
}

export function createProcessLogger(options: LoggerOptions = {}): ProcessLogger {
  const stdout = options.stdout ?? pino.destination({ fd: 1, sync: true })
  const stderr = options.stderr ?? pino.destination({ fd: 2, sync: true })
  const logger = pino(
    {
      name: 'assay',
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '***' },
      serializers: { err: serializeError },
      hooks: {
        // Messages are free text that may quote a URL (the start banner, a client's error text).
        logMethod(args, method) {
          const redacted = args.map((a: unknown) => (typeof a === 'string' ? redactCredentials(a) : a))
          method.apply(this, redacted as Parameters<typeof method>)
        },
      },
    },
    pino.multistream(
      [
        { level: 'info', stream: stdout },
        { level: 'warn', stream: stderr },
      ],
      { dedupe: true },
    ),
  )
  // Messages keep the `[assay] ` tag they had as plain lines, so scripts that look for them still work.
  const tag = (message: string) => `[assay] ${message}`
  return {
    pino: logger,
    info: (message, fields) => logger.info(fields ?? {}, tag(message)),
    warn: (message, fields) => logger.warn(fields ?? {}, tag(message)),
    log(message, err) {
      // The `log(message, err?)` callback has no level: a message it marks as a warning is one.
      if (err !== undefined) logger.error({ err }, tag(message))
      else if (message.startsWith('WARNING: ')) logger.warn(tag(message))
      else logger.info(tag(message))
    },
  }
}
