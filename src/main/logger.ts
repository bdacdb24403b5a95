/**
 * The process logger: pino, one JSON object per line; `info` (and `debug`, `trace`) to stdout, `warn`
 * and above to stderr.
 * Every message, error message and stack goes through `redactCredentials`, and fields named like
 * credentials are censored by pino's `redact`, so a `REDIS_URL` password never reaches the output,
 * whoever wrote the text (Assay, ioredis, BullMQ, Node). Errors are logged with their stack and
 * cause chain, but not their other properties (client errors can carry connection options).
 * With the `pretty` format (a terminal's default) lines are made readable by pino-pretty instead.
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import pretty from 'pino-pretty'
import type { Config } from '../config/schema.js'
import { redactCredentials } from '../util/redact.js'

/** What the rest of Assay is handed: a message and, for a failure, the error. */
export type LogFn = (message: string, err?: unknown) => void

export interface ProcessLogger {
  /** The logger with every safeguard: messages and errors redacted, credential fields censored. */
  readonly pino: Logger
  /**
   * The same output without those passes, for the lines written on every request and appraisal,
   * whose every field Assay chose and whose client-given text (path, media type) the caller passed
   * through `redactCredentials` itself: the passes would double what such a line costs.
   */
  readonly lines: Logger
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
  /** JSON lines, or readable lines (pino-pretty, one line per entry). @defaultValue json */
  readonly format?: 'json' | 'pretty'
  /** Colours in the `pretty` format. @defaultValue false */
  readonly colorize?: boolean
}

/**
 * The logger options a process runs with: level `logLevel` (`ASSAY_LOG_LEVEL`); format `logFormat`
 * (`ASSAY_LOG_FORMAT`), where `auto` means readable lines when stdout is a terminal, JSON otherwise.
 */
export function loggerOptionsFor(config: Pick<Config, 'logLevel' | 'logFormat'>, stdoutIsTty = process.stdout.isTTY === true): LoggerOptions {
  const format = config.logFormat === 'auto' ? (stdoutIsTty ? 'pretty' : 'json') : config.logFormat
  return { level: config.logLevel, format, colorize: format === 'pretty' && stdoutIsTty }
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
  'headers.cookie',
  'headers["set-cookie"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
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
  const readable = (destination: DestinationStream | number): DestinationStream =>
    pretty({
      destination,
      sync: true,
      colorize: options.colorize === true,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
    })
  const json = options.format !== 'pretty'
  // Process stdout in JSON is buffered (4 KiB): a line per request and per appraisal would otherwise
  // be a write(2) each. A larger SonicBoom buffer costs more per line, not less (docs/decisions.md).
  // It is written out every second, after every line of the safeguarded logger (start summary,
  // messages; so scripts waiting for the start line see it at once), and at exit. Warnings and
  // errors, on stderr, are written at once.
  const buffered = json && options.stdout === undefined ? pino.destination({ fd: 1, sync: false, minLength: 4096 }) : undefined
  const flush = () => {
    try {
      buffered?.flush()
    } catch {
      // Destroyed at exit (SonicBoom throws then): what it held was written by its exit handler.
    }
  }
  if (buffered !== undefined) setInterval(flush, 1000).unref()
  const stdout = json ? (buffered ?? options.stdout!) : readable(options.stdout ?? 1)
  const stderr = json ? (options.stderr ?? pino.destination({ fd: 2, sync: true })) : readable(options.stderr ?? 2)
  const streams = pino.multistream(
    [
      // Below warn (info, and debug and trace when the level lets them through) to stdout.
      { level: 'trace', stream: stdout },
      { level: 'warn', stream: stderr },
    ],
    { dedupe: true },
  )
  const common = { name: 'assay', level: options.level ?? 'info', base: { pid: process.pid } }
  const logger = pino(
    {
      ...common,
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
    streams,
  )
  // Messages keep the `[assay] ` tag they had as plain lines, so scripts that look for them still work.
  const tag = (message: string) => `[assay] ${message}`
  return {
    pino: logger,
    lines: pino(common, streams),
    info(message, fields) {
      logger.info(fields ?? {}, tag(message))
      flush()
    },
    warn: (message, fields) => logger.warn(fields ?? {}, tag(message)),
    log(message, err) {
      // The `log(message, err?)` callback has no level: a message it marks as a warning is one.
      if (err !== undefined) logger.error({ err }, tag(message))
      else if (message.startsWith('WARNING: ')) logger.warn(tag(message))
      else {
        logger.info(tag(message))
        flush()
      }
    },
  }
}
