/**
 * Starting and stopping Assay processes. `startAssay(config, role)` builds the services for a role,
 * listens (API roles), starts the worker (worker roles) and returns a `stop()` that drains.
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createApp } from '../api/app.js'
import { createMetrics } from '../api/metrics.js'
import type { Config } from '../config/schema.js'
import { createDefaultRegistry } from '../evidence/formats.js'
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
  if (options.role !== 'worker') {
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
    })
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.port, config.host, () => resolve(s))
      s.once('error', reject)
    })
    server.keepAliveTimeout = 65_000
  }
  await services.startWorker()
  const address = server?.address() as AddressInfo | null | undefined
  const url = address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : undefined

  let stopping: Promise<void> | undefined
  return {
    services,
    url,
    stop() {
      stopping ??= (async () => {
        if (server !== undefined) {
          const closed = new Promise<void>((resolve) => server!.close(() => resolve()))
          server.closeIdleConnections()
          await closed
        }
        await services.close()
      })()
      return stopping
    },
  }
}
