/**
 * `/readyz` on Redis follows the workers (issue 8 item 12): the API in this process, workers as real
 * `assay worker` processes. After the only worker is killed (SIGKILL: no clean stop, its heartbeat
 * simply stops) or stopped (SIGTERM: it ends its heartbeat), `/readyz` says not-ready with
 * `workers: 0` within 5 s, the requirement itself; and ready again once a worker is back.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** The requirement: worker loss shows on `/readyz` within this long. */
const LOSS_VISIBLE_MS = 5000

interface Readiness {
  readonly status: string
  readonly store: string
  readonly workers: number
}

describe('/readyz follows the workers (Redis, workers in separate processes)', { timeout: 120_000 }, () => {
  const prefix = `assay-test-${randomUUID().slice(0, 8)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-readiness-'))
  let api: RunningAssay
  const workers: ChildProcess[] = []

  before(async () => {
    const config = loadConfig({ port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, rateLimitPoints: 0 })
    api = await startAssay(config, { role: 'api' })
  })

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL')
    await api?.stop()
    await deletePrefix(prefix)
    rmSync(dataDir, { recursive: true, force: true })
  })

  function startWorker(): { child: ChildProcess; exited: Promise<void> } {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL, ASSAY_REDIS_PREFIX: prefix, ASSAY_DATA_DIR: dataDir, ASSAY_REFERENCE_VALUES_DIR: '' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    workers.push(child)
    return { child, exited: new Promise((resolve) => child.once('exit', () => resolve())) }
  }

  async function readiness(): Promise<{ status: number; body: Readiness }> {
    const res = await fetch(`${api.url}/readyz`)
    return { status: res.status, body: (await res.json()) as Readiness }
  }

  /** Polls `/readyz` every 50 ms until `want` holds; fails after `timeoutMs`. Returns the time taken. */
  async function until(want: (r: { status: number; body: Readiness }) => boolean, timeoutMs: number): Promise<number> {
    const start = Date.now()
    let last: unknown
    while (Date.now() - start < timeoutMs) {
      const r = await readiness()
      if (want(r)) return Date.now() - start
      last = r
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.fail(`/readyz did not change within ${timeoutMs} ms; last: ${JSON.stringify(last)}`)
  }

  const ready = (r: { status: number; body: Readiness }) => r.status === 200 && r.body.status === 'ready' && r.body.workers === 1
  const notReady = (r: { status: number; body: Readiness }) =>
    r.status === 503 && r.body.status === 'not-ready' && r.body.workers === 0 && r.body.store === 'up'

  it('is not ready before any worker runs', async () => {
    const r = await readiness()
    assert.ok(notReady(r), JSON.stringify(r))
  })

  it('says not-ready within 5 s of the only worker being killed with SIGKILL', async () => {
    const worker = startWorker()
    // Start-up (tsx compiling, Redis connections) is not what is measured: generous.
    await until(ready, 60_000)
    worker.child.kill('SIGKILL')
    await worker.exited
    await until(notReady, LOSS_VISIBLE_MS)
  })

  it('is ready again with a new worker, and not-ready within 5 s of it stopping cleanly (SIGTERM)', async () => {
    const worker = startWorker()
    await until(ready, 60_000)
    worker.child.kill('SIGTERM')
    await until(notReady, LOSS_VISIBLE_MS)
    await worker.exited
    assert.equal(worker.child.exitCode, 0)
  })
})
