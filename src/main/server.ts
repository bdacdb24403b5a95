/**
 * Starting and stopping Assay processes. `startAssay(config, role)` builds the services for a role,
 * listens (API roles), starts the worker (worker roles) and returns a `stop()` that drains.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { createApp } from '../api/app.js'
import { ensureBootstrapAdmin } from '../auth/bootstrap.js'
import { createMetrics } from '../api/metrics.js'
import { clientErrorResponse } from '../api/problem.js'
import type { Config } from '../config/schema.js'
import { createDefaultRegistry } from '../evidence/formats.js'
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from '../store/rate-limiter.js'
import type { Clock } from '../util/clock.js'
import { redactCredentials } from '../util/redact.js'
import type { ProcessLogger } from './logger.js'
import { withRequestLog } from './request-log.js'
import { buildServices, type Role, type Services } from './services.js'

export interface RunningAssay {
  readonly services: Services
  /** Base URL of the API, when this role serves one. */
  readonly url: string | undefined
  stop(): Promise<void>
}

export interface StartOptions {
  readonly role: Role
  /** Where messages and faults go. @defaultValue `logger.log`, else nowhere */
  readonly log?: (message: string, err?: unknown) => void
  /**
   * The process logger. With it, every HTTP request and every appraisal is logged, and a started
   * process logs one summary (`startSummary`). @defaultValue none
   */
  readonly logger?: ProcessLogger
  /** The time checks are made at (tests pin it). @defaultValue systemClock */
  readonly clock?: Clock
  /**
   * Where the first admin key is printed, once (never through the logger, which logs no secret).
   * @defaultValue standard error
   */
  readonly printSecret?: (text: string) => void
}

/**
 * At the first start of a process that serves the API, tenant `default` gets an admin key unless
 * the deployer chose one (`ASSAY_BOOTSTRAP_ADMIN_KEY`) or it holds an unrevoked admin key already;
 * the key is printed once, in a marked block, and only its hash is kept. Of several processes
 * starting at once, one makes and prints it (the store checks and writes in one step).
 */
export async function bootstrapAdmin(config: Config, services: Pick<Services, 'credentials'>, print: (text: string) => void): Promise<boolean> {
  if (config.bootstrapAdminKey !== undefined || services.credentials === undefined) return false
  const made = await ensureBootstrapAdmin(services.credentials)
  if (made === undefined) return false
  print(
    [
      '',
      '==================== ASSAY FIRST ADMIN KEY (shown once) ====================',
      `  ${made.key}`,
      `  key id ${made.record.keyId}, tenant ${made.record.tenant}, roles ${made.record.roles.join(', ')}`,
      '  Keep it now: Assay stores only its hash and never prints it again. Use it as',
      '  Authorization: Bearer <key> to make narrower keys (POST /v1/api-keys), then revoke it.',
      '=============================================================================',
      '',
    ].join('\n'),
  )
  return true
}

/** The command that runs each role, as the summary names it. */
const COMMAND: Readonly<Record<Role, string>> = { all: 'start', api: 'serve', worker: 'worker' }

export async function startAssay(config: Config, options: StartOptions): Promise<RunningAssay> {
  const log = options.log ?? options.logger?.log
  const services = await buildServices(config, options)
  let server: Server | undefined
  let limiter: RateLimiter | undefined
  if (options.role !== 'worker') {
    try {
      await bootstrapAdmin(config, services, options.printSecret ?? ((text) => void process.stderr.write(text)))
    } catch (err) {
      await services.close().catch(() => {})
      throw err
    }
    limiter = createLimiter(config, log)
    const producer = services.producer!
    const app = createApp({
      config,
      store: services.store,
      queue: producer,
      registry: createDefaultRegistry(),
      results: services.renderer,
      metrics: createMetrics(() => producer.depth()),
      clock: services.clock,
      endorsements: services.endorsementStore,
      ...(services.authenticator === undefined ? {} : { authenticator: services.authenticator }),
      ...(services.credentials === undefined ? {} : { credentials: services.credentials }),
      ...(services.submitters === undefined ? {} : { submitters: services.submitters }),
      audit: services.audit.store,
      ...(log === undefined ? {} : { log }),
      ...(limiter === undefined ? {} : { limiter }),
    })
    try {
      const listener = options.logger === undefined ? app : withRequestLog(options.logger, app)
      server = await listen(createHttpServer(config, listener), config.port, config.host)
    } catch (err) {
      await limiter?.close()
      await services.close().catch(() => {})
      throw err
    }
  }
  try {
    await services.startWorker()
  } catch (err) {
    await closeServer(server)
    await limiter?.close()
    await services.close().catch(() => {})
    throw err
  }
  const address = server?.address() as AddressInfo | null | undefined
  const url = address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : undefined
  if (options.logger !== undefined) {
    const { message, fields } = startSummary(config, options.role, services, url)
    options.logger.info(message, fields)
  }

  let stopping: Promise<void> | undefined
  return {
    services,
    url,
    stop() {
      stopping ??= (async () => {
        await closeServer(server)
        await limiter?.close()
        await services.close()
      })()
      return stopping
    },
  }
}

/**
 * The one line a started process logs: what runs (role, mode, address), what it appraises with
 * (each reference-values file and what it provisioned), and which key signs (the EAR key id). The
 * message keeps the form `<command>: listening on <url> (<mode>)` / `worker: worker running (<mode>)`.
 */
export function startSummary(
  config: Config,
  role: Role,
  services: Pick<Services, 'mode' | 'keys' | 'provisioned'>,
  url: string | undefined,
): { message: string; fields: Record<string, unknown> } {
  const redis = config.redisUrl === undefined ? undefined : redactCredentials(config.redisUrl)
  const mode = services.mode === 'embedded' ? `embedded mode, data in ${config.dataDir}` : `Redis at ${redis}`
  const command = COMMAND[role]
  const fields: Record<string, unknown> = {
    role: command,
    mode: services.mode,
    ...(url === undefined ? {} : { address: url }),
    ...(redis === undefined ? { dataDir: config.dataDir } : { redis, redisPrefix: config.redisPrefix }),
    earKeyId: services.keys.current.kid,
    earKeySource: services.keys.source,
    logLevel: config.logLevel,
  }
  if (services.provisioned !== undefined) {
    const p = services.provisioned
    fields['referenceValues'] = {
      dir: p.dir ?? null,
      trustAnchors: p.trustAnchors,
      keys: p.keys,
      referenceValues: p.referenceValues,
      profiles: p.profiles,
      corimSigners: p.corimSigners,
      files: p.files,
    }
    fields['workerConcurrency'] = config.workerConcurrency
    if (config.allowPublishedKeys) fields['testMode'] = true
  }
  return { message: `${command}: ${url === undefined ? 'worker running' : `listening on ${url}`} (${mode})`, fields }
}

/** Per-client budgets (settings `rateLimitPoints`, `rateLimitWindowSeconds`): in Redis when there is one. */
function createLimiter(config: Config, log: ((message: string, err?: unknown) => void) | undefined): RateLimiter | undefined {
  if (config.rateLimitPoints === 0) return undefined
  const budget = { points: config.rateLimitPoints, windowSeconds: config.rateLimitWindowSeconds }
  if (config.redisUrl === undefined) return createMemoryRateLimiter(budget)
  return createRedisRateLimiter({
    ...budget,
    redis: config.redisUrl,
    prefix: config.redisPrefix,
    onClientError: (err: Error) => log?.('rate limiter', err),
  })
}

/**
 * The HTTP server with Assay's connection bounds: at most `maxConnections` sockets (more are
 * closed on arrival), the request head within `headersTimeout`, the whole request within
 * `requestTimeout` (checked every second, not Node's default 30 s), and a head of at most 16 KiB.
 */
function createHttpServer(config: Config, app: RequestListener): Server {
  const requestTimeout = config.requestTimeoutSeconds * 1000
  const server = createServer(
    {
      requestTimeout,
      // Node refuses a head timeout longer than the request timeout.
      headersTimeout: Math.min(config.headersTimeoutSeconds * 1000, requestTimeout),
      connectionsCheckingInterval: 1000,
      maxHeaderSize: 16 * 1024,
    },
    app,
  )
  server.maxConnections = config.maxConnections
  server.keepAliveTimeout = 65_000
  // What Node's parser refuses (431, 400, 408) gets a problem body too, where an answer can still be
  // sent; a connection reset or one whose response has begun is just closed.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress) {
      socket.destroy()
      return
    }
    socket.end(clientErrorResponse(err, config.problemTypeBase))
  })
  return server
}

/** Listens, or rejects with the listen error (EADDRINUSE, EACCES, …) instead of running on nothing. */
function listen(server: Server, port: number, host: string): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      const reason = err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message
      reject(Object.assign(new Error(`cannot listen on ${host}:${port}: ${reason}`, { cause: err }), { code: err.code }))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve(server)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeIdleConnections()
  await closed
}
