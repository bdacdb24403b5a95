/**
 * Starting and stopping Assay processes. `startAssay(config, role)` builds the services for a role,
 * listens (API roles), starts the worker (worker roles) and returns a `stop()` that drains.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApp } from '../api/app.js'
import { createMetrics } from '../api/metrics.js'
import type { Config } from '../config/schema.js'
import { createDefaultRegistry } from '../evidence/formats.js'
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from '../store/rate-limiter.js'
import { buildServices, type Role, type Services } from './services.js'

export interface RunningAssay {
  readonly services: Services
  /** Base URL of the API, when this role serves one. */
  readonly url: string | undefined
  stop(): Promise<void>
}

export interface StartOptions {
  readonly role: Role
  readonly log?: (message: string, err?: unknown) => void
}

export async function startAssay(config: Config, options: StartOptions): Promise<RunningAssay> {
  const services = await buildServices(config, options)
  let server: Server | undefined
  let limiter: RateLimiter | undefined
  if (options.role !== 'worker') {
    limiter = createLimiter(config, options.log)
    const producer = services.producer!
    const app = createApp({
      config,
      store: services.store,
      queue: producer,
      registry: createDefaultRegistry(),
      results: services.renderer,
      metrics: createMetrics(() => producer.depth()),
      clock: services.clock,
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(limiter === undefined ? {} : { limiter }),
    })
    try {
      server = await listen(createHttpServer(config, app), config.port, config.host)
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
