#!/usr/bin/env node
/**
 * `assay start` (API and worker in one process; embedded mode when REDIS_URL is unset),
 * `assay serve` (API only) and `assay worker` (worker only), configured from the environment
 * (`src/config/load.ts` lists the variables). SIGTERM and SIGINT stop intake, let in-flight
 * appraisals finish, and close connections.
 */
import { configFromEnv } from '../config/load.js'
import { startAssay } from './server.js'
import type { Role } from './services.js'

const ROLES: Readonly<Record<string, Role>> = { start: 'all', serve: 'api', worker: 'worker' }

function log(message: string, err?: unknown): void {
  const detail = err instanceof Error ? `: ${err.message}` : ''
  console.error(`[assay] ${message}${detail}`)
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'start'
  const role = ROLES[command]
  if (role === undefined) {
    console.error('usage: assay start | serve | worker')
    process.exit(2)
  }
  const config = configFromEnv(process.env)
  const running = await startAssay(config, { role, log })
  const mode = running.services.mode === 'embedded' ? `embedded mode, data in ${config.dataDir}` : `Redis at ${config.redisUrl}`
  console.log(`[assay] ${command}: ${running.url === undefined ? 'worker running' : `listening on ${running.url}`} (${mode})`)

  let signals = 0
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1)
    console.log(`[assay] ${signal}: finishing in-flight work`)
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log('shutdown failed', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
}

main().catch((err: unknown) => {
  log('failed to start', err)
  process.exit(1)
})
