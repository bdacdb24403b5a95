#!/usr/bin/env node
/**
 * `assay start` (API and worker in one process; embedded mode when REDIS_URL is unset),
 * `assay serve` (API only), `assay worker` (worker only) and `assay rotate-key` (new EAR signing
 * key in the data directory, published before it signs), configured from the environment
 * (`src/config/load.ts` lists the variables). SIGTERM and SIGINT stop intake, let in-flight
 * appraisals finish, and close connections. Output is JSON lines (`logger.ts`), credentials
 * redacted; a start that fails (a taken port, bad settings, Redis refusing) exits 1.
 */
import { configFromEnv } from '../config/load.js'
import { loadSigningKeys } from '../results/keys.js'
import { systemClock } from '../util/clock.js'
import { createProcessLogger, loggerOptionsFor } from './logger.js'
import { startAssay } from './server.js'
import type { Role } from './services.js'

const ROLES: Readonly<Record<string, Role>> = { start: 'all', serve: 'api', worker: 'worker' }

// Settings errors are logged with the defaults; once the settings are read, with theirs.
let logger = createProcessLogger()
let log = logger.log

/** Rotates the EAR signing key kept in the data directory; running processes pick it up. */
async function rotateKey(): Promise<void> {
  const config = configFromEnv(process.env)
  const keys = await loadSigningKeys({
    dataDir: config.dataDir,
    lifetimeSeconds: config.earLifetimeSeconds,
    publishAheadSeconds: config.earKeyPublishAheadSeconds,
    clock: systemClock,
  })
  const next = await keys.rotate()
  logger.info(`new EAR key ${next.kid} is published now and signs from ${config.earKeyPublishAheadSeconds} s on`)
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'start'
  if (command === 'rotate-key') return rotateKey()
  const role = ROLES[command]
  if (role === undefined) {
    logger.warn('usage: assay start | serve | worker | rotate-key')
    process.exit(2)
  }
  const config = configFromEnv(process.env)
  logger = createProcessLogger(loggerOptionsFor(config))
  log = logger.log
  // Handlers go in before anything starts: a signal during start-up waits for it, then stops cleanly.
  // Once started, `startAssay` logs the start summary.
  const starting = startAssay(config, { role, logger })
  let signals = 0
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1)
    logger.info(`${signal}: finishing in-flight work`)
    starting.then((running) => running.stop()).then(
      () => process.exit(0),
      (err: unknown) => {
        log('shutdown failed', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  await starting
}

main().catch((err: unknown) => {
  log(`failed to start: ${err instanceof Error ? err.message : String(err)}`, err)
  process.exit(1)
})
