/**
 * Graceful shutdown: SIGTERM stops intake and lets accepted appraisals finish; nothing accepted is
 * lost. Real processes (`assay start`, `assay serve`, `assay worker`), real HTTP, real Redis.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = Buffer.from(
  readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1').token_hex,
  'hex',
)
const PSA = 'application/psa-attestation-token'
let nextPort = 18700 + Math.floor(Math.random() * 200)

interface AssayProcess {
  readonly child: ChildProcess
  /** Resolves when the process says it runs (its signal handlers are in place by then). */
  readonly started: Promise<void>
  readonly exited: Promise<number | null>
}

function assay(role: string, env: Record<string, string>): AssayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), role], {
    cwd: ROOT,
    env: {
      ...process.env,
      ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'examples/reference-values'),
      ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
      ASSAY_RATE_LIMIT_POINTS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  const started = new Promise<void>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      if (/\[assay\] \w+: (listening|worker running)/.test(out)) resolve()
    })
  })
  return { child, started, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.fail(`timed out waiting for ${what}`)
}

const ready = (url: string) => until(async () => (await fetch(`${url}/readyz`)).status === 200, `${url} ready`)

async function submitMany(url: string, n: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await fetch(`${url}/v1/appraisals`, { method: 'POST', body: TOKEN, headers: { 'content-type': PSA } })
      assert.equal(res.status, 202)
      return ((await res.json()) as { id: string }).id
    }),
  )
}

async function statuses(url: string, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => ((await (await fetch(`${url}/v1/appraisals/${id}`)).json()) as { status: string }).status))
}

describe('graceful shutdown', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = []
  after(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  it('embedded: SIGTERM finishes every accepted appraisal, and a restart still serves them', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-shutdown-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const port = String(nextPort++)
    const url = `http://127.0.0.1:${port}`
    const first = assay('start', { PORT: port, ASSAY_DATA_DIR: dataDir })
    cleanups.push(() => void first.child.kill('SIGKILL'))
    await first.started
    await ready(url)
    const ids = await submitMany(url, 300)
    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0)
    await assert.rejects(fetch(`${url}/healthz`), 'intake is closed')

    const second = assay('start', { PORT: port, ASSAY_DATA_DIR: dataDir })
    cleanups.push(() => void second.child.kill('SIGKILL'))
    await second.started
    await ready(url)
    assert.deepEqual(new Set(await statuses(url, ids)), new Set(['complete']))
    second.child.kill('SIGTERM')
    assert.equal(await second.exited, 0)
  })

  it('Redis: a worker stopped with SIGTERM finishes its jobs; the rest wait for the next worker', async () => {
    const prefix = `assay-test-${randomUUID().slice(0, 8)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-shutdown-'))
    const env = { REDIS_URL, ASSAY_REDIS_PREFIX: prefix, ASSAY_DATA_DIR: dataDir }
    cleanups.push(async () => {
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
    })
    const port = String(nextPort++)
    const url = `http://127.0.0.1:${port}`
    const api = assay('serve', { ...env, PORT: port })
    cleanups.push(() => void api.child.kill('SIGKILL'))
    await until(async () => (await fetch(`${url}/healthz`)).status === 200, 'API')
    const worker = assay('worker', env)
    cleanups.push(() => void worker.child.kill('SIGKILL'))
    await worker.started
    await ready(url)

    const ids = await submitMany(url, 400)
    worker.child.kill('SIGTERM')
    assert.equal(await worker.exited, 0)
    const afterStop = await statuses(url, ids)
    assert.ok(afterStop.every((s) => s === 'complete' || s === 'queued'), `no job is left half-done: ${[...new Set(afterStop)]}`)

    const next = assay('worker', env)
    cleanups.push(() => void next.child.kill('SIGKILL'))
    await next.started
    await until(async () => (await statuses(url, ids)).every((s) => s === 'complete'), 'every appraisal complete')
    next.child.kill('SIGTERM')
    api.child.kill('SIGTERM')
    assert.equal(await next.exited, 0)
    assert.equal(await api.exited, 0)
  })
})
