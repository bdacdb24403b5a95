/**
 * Memory bounds and the data-directory lock, on real processes (`assay start`, embedded mode) over
 * real HTTP. A flood of nonces, sessions, session submissions and appraisals against a process with a
 * 128 MiB heap must leave it up, answering 503 with `Retry-After` once a store is full, still serving
 * the results it holds; a second process on the same data directory must refuse to start.
 *
 * The store's byte budget is set small (1 MiB) so "full" is reached in a few hundred requests. With
 * `ASSAY_LIMITS_TEST_DEFAULTS=1` the same flood runs against the default budget instead (tens of
 * thousands of requests; a minute or more), which shows that the defaults fit a 128 MiB heap.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = Buffer.from(
  readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1').token_hex,
  'hex',
)
const PSA = 'application/psa-attestation-token'
let nextPort = 19100 + Math.floor(Math.random() * 200)

interface AssayProcess {
  readonly child: ChildProcess
  readonly started: Promise<void>
  readonly exited: Promise<number | null>
  readonly stderr: () => string
}

function assay(env: Record<string, string>, heapMb = 128): AssayProcess {
  const args = [`--max-old-space-size=${heapMb}`, '--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'start']
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'reference-values'),
      // One client floods: the per-client rate limit would answer 429 long before the stores fill.
      ASSAY_RATE_LIMIT_POINTS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr!.on('data', (chunk: Buffer) => void (err += chunk.toString('utf8')))
  const started = new Promise<void>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      if (/\[assay\] start: listening/.test(out)) resolve()
    })
  })
  return { child, started, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), stderr: () => err }
}

/** Sends `request` in parallel batches until one answers 503; returns that answer and the count before it. */
async function floodUntil503(
  request: () => Promise<Response>,
  max: number,
  onAccepted: (res: Response) => Promise<unknown> = (res) => res.arrayBuffer(),
): Promise<{ res: Response; accepted: number }> {
  let accepted = 0
  while (accepted < max) {
    const answers = await Promise.all(Array.from({ length: 25 }, request))
    const refused = answers.find((res) => res.status === 503)
    for (const res of answers) {
      if (res.status >= 200 && res.status < 300) {
        accepted++
        await onAccepted(res)
      } else if (res.status !== 503) {
        assert.fail(`unexpected ${res.status}: ${await res.text()}`)
      } else if (res !== refused) {
        await res.arrayBuffer()
      }
    }
    if (refused !== undefined) return { res: refused, accepted }
  }
  return assert.fail(`no 503 after ${max} accepted requests`)
}

/** The resident set size of process `pid`, as Linux reports it (for the log only). */
function rss(pid: number | undefined): string {
  try {
    return /VmRSS:\s*(\d+ kB)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?'
  } catch {
    return '?'
  }
}

async function assertStoreFull(res: Response): Promise<void> {
  assert.equal(res.status, 503)
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/)
  const problem = (await res.json()) as { code: string }
  assert.ok(['ERR_STORE_FULL', 'ERR_SERVICE_OVERLOADED'].includes(problem.code), problem.code)
}

describe('memory bounds and the data-directory lock (real processes)', { timeout: 300_000 }, () => {
  const cleanups: (() => void)[] = []
  after(() => {
    for (const c of cleanups.reverse()) c()
  })

  it('a flood against a 128 MiB heap is refused with 503 + Retry-After; the process stays up and serves what it holds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-limits-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const port = String(nextPort++)
    const url = `http://127.0.0.1:${port}`
    const defaults = process.env['ASSAY_LIMITS_TEST_DEFAULTS'] === '1'
    const budget: Record<string, string> = defaults ? {} : { ASSAY_STORE_MAX_BYTES: String(1024 * 1024) }
    const max = defaults ? 200_000 : 20_000
    const proc = assay({ PORT: port, ASSAY_DATA_DIR: dataDir, ...budget })
    cleanups.push(() => void proc.child.kill('SIGKILL'))
    await proc.started

    const post = (path: string, body?: Uint8Array, headers: Record<string, string> = {}) =>
      fetch(url + path, { method: 'POST', ...(body === undefined ? {} : { body }), headers })
    const first = await post('/v1/appraisals', TOKEN, { 'content-type': PSA, prefer: 'wait=10' })
    assert.equal(first.status, 200)
    const firstId = ((await first.json()) as { id: string }).id

    // Sessions with Evidence: the body is not kept, so submissions cost no more than sessions.
    const sessionFlood = await floodUntil503(async () => {
      const created = await post('/challenge-response/v1/newSession')
      if (created.status !== 201) return created
      const location = created.headers.get('location')!
      await created.arrayBuffer()
      return post(`/challenge-response/v1/${location}`, TOKEN, { 'content-type': PSA })
    }, max)
    await assertStoreFull(sessionFlood.res)
    const nonceFlood = await floodUntil503(() => post('/v1/nonces'), max)
    await assertStoreFull(nonceFlood.res)
    const flooded: string[] = []
    const appraisalFlood = await floodUntil503(
      () => post('/v1/appraisals', TOKEN, { 'content-type': PSA }),
      max,
      async (res) => flooded.push(((await res.json()) as { id: string }).id),
    )
    await assertStoreFull(appraisalFlood.res)
    console.log(
      `accepted before 503: ${sessionFlood.accepted} session submissions, ${nonceFlood.accepted} nonces, ` +
        `${appraisalFlood.accepted} appraisals; child VmRSS ${rss(proc.child.pid)}`,
    )

    assert.equal(proc.child.exitCode, null, 'the process is up')
    assert.equal((await fetch(`${url}/healthz`)).status, 200)
    const kept = (await (await fetch(`${url}/v1/appraisals/${firstId}`)).json()) as { status: string }
    assert.equal(kept.status, 'complete', 'a result held before the flood is still served')
    // Accepted Evidence always has room for its result: every appraisal accepted in the flood completes.
    const statuses = async () =>
      Promise.all(flooded.map(async (id) => ((await (await fetch(`${url}/v1/appraisals/${id}`)).json()) as { status: string }).status))
    for (let i = 0; i < 600 && !(await statuses()).every((s) => s === 'complete'); i++) await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(new Set(await statuses()), new Set(['complete']))
    proc.child.kill('SIGTERM')
    assert.equal(await proc.exited, 0, proc.stderr())
    assert.doesNotMatch(proc.stderr(), /heap out of memory|failed for good/)
  })

  it('a second process on the same data directory fails to start with a clear error and a non-zero exit', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-lock-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const port = String(nextPort++)
    const first = assay({ PORT: port, ASSAY_DATA_DIR: dataDir })
    cleanups.push(() => void first.child.kill('SIGKILL'))
    await first.started

    const second = assay({ PORT: String(nextPort++), ASSAY_DATA_DIR: dataDir })
    cleanups.push(() => void second.child.kill('SIGKILL'))
    const outcome = await Promise.race([second.exited, second.started.then(() => 'started' as const)])
    assert.notEqual(outcome, 'started', 'the second process must not start')
    assert.notEqual(outcome, 0)
    assert.match(second.stderr(), new RegExp(`in use by process ${first.child.pid}`))
    assert.equal(first.child.exitCode, null, 'the first process is unaffected')
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)

    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0)
    // Released on a clean stop: the directory opens again.
    const third = assay({ PORT: String(nextPort++), ASSAY_DATA_DIR: dataDir })
    cleanups.push(() => void third.child.kill('SIGKILL'))
    await third.started
    third.child.kill('SIGTERM')
    assert.equal(await third.exited, 0)
  })
})
