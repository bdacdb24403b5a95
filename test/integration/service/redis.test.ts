/**
 * The end-to-end suite on Redis: the API in this process, the worker in a separate process
 * (`assay worker`), both under a key prefix unique to this run, deleted afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay } from '../../../src/main/server.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { serviceSuite } from './suite.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

serviceSuite('Redis, worker in a separate process', async (sessionTtlSeconds) => {
  const prefix = `assay-test-${randomUUID().slice(0, 8)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-redis-'))
  const config = loadConfig({
    port: 0,
    redisUrl: REDIS_URL,
    redisPrefix: prefix,
    dataDir,
    // The RFC 9783 sample provisions a published key: test mode (every EAR says so).
    referenceValuesDir: join(ROOT, 'examples/reference-values'),
    allowPublishedKeys: true,
    sessionTtlSeconds,
    rateLimitPoints: 0,
  })
  // The API starts first and so creates the EAR key the worker then loads from the same dataDir.
  const api = await startAssay(config, { role: 'api' })
  const worker: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL,
      ASSAY_REDIS_PREFIX: prefix,
      ASSAY_DATA_DIR: dataDir,
      ASSAY_SESSION_TTL_SECONDS: String(sessionTtlSeconds),
      ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'examples/reference-values'),
      ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  return {
    url: api.url!,
    async stop() {
      worker.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (worker.exitCode === null) worker.kill('SIGKILL')
      await api.stop()
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
})
