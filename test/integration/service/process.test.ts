/**
 * The `assay` process itself (issue 7 items 16 and 17): a start that cannot listen is a clear
 * error and a non-zero exit, for `start` and `serve`; output is JSON lines; a `REDIS_URL` password
 * never reaches stdout or stderr, neither in the start banner nor in connection errors.
 * Real processes; Redis is a redis-server of the test's own (with a password), never the shared one.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { freePort, ownRedis } from '../../helpers/redis-server.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SECRET = 'Hunter2-very-secret-Pw'

interface AssayProcess {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  stdout(): string
  stderr(): string
}

function assay(role: string, env: Record<string, string>): AssayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), role], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: '', ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'reference-values'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited, stdout: () => out, stderr: () => err }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await Promise.resolve(check()).catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.fail(`timed out waiting for ${what}`)
}

/** The first admin key's block (printed once on stderr at a first start, never through the log). */
const FIRST_KEY_BLOCK = /\n?={5,} ASSAY FIRST ADMIN KEY \(shown once\) ={5,}\n[\s\S]*?\n={20,}\n/g

/** Every non-empty line but the first admin key's block is one JSON object with a level, a time and a message. */
function jsonLines(text: string): { level: number; msg: string; err?: { stack?: string; message?: string } }[] {
  assert.ok((text.match(FIRST_KEY_BLOCK) ?? []).length <= 1, 'the first admin key is printed at most once')
  return text
    .replace(FIRST_KEY_BLOCK, '\n')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const parsed = JSON.parse(line) as { level: number; time: number; msg: string }
      assert.equal(typeof parsed.level, 'number', line)
      assert.equal(typeof parsed.time, 'number', line)
      assert.equal(typeof parsed.msg, 'string', line)
      return parsed
    })
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

describe('assay process', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = []
  after(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-process-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return dir
  }

  it('start: a taken port is a clear error and exit 1, not "listening"', async () => {
    const port = await freePort()
    const taken = await occupy(port)
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())))
    const p = assay('start', { PORT: String(port), ASSAY_DATA_DIR: dataDir() })
    cleanups.push(() => void p.child.kill('SIGKILL'))
    assert.equal(await p.exited, 1)
    assert.doesNotMatch(p.stdout(), /listening/)
    const errors = jsonLines(p.stderr())
    assert.ok(
      errors.some((e) => /failed to start: cannot listen on 127\.0\.0\.1:\d+: the address is already in use/.test(e.msg) && e.err?.stack !== undefined),
      p.stderr(),
    )
  })

  it('serve (Redis): a taken port is a clear error and exit 1; the password is not printed', async () => {
    const redis = await ownRedis(['--requirepass', SECRET])
    cleanups.push(() => redis.stop())
    const port = await freePort()
    const taken = await occupy(port)
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())))
    const p = assay('serve', {
      PORT: String(port),
      ASSAY_DATA_DIR: dataDir(),
      REDIS_URL: `redis://default:${SECRET}@127.0.0.1:${redis.port}`,
    })
    cleanups.push(() => void p.child.kill('SIGKILL'))
    assert.equal(await p.exited, 1)
    assert.doesNotMatch(p.stdout(), /listening/)
    assert.ok(jsonLines(p.stderr()).some((e) => /cannot listen on .*already in use/.test(e.msg)), p.stderr())
    assert.ok(!(p.stdout() + p.stderr()).includes(SECRET))
  })

  it('a REDIS_URL password reaches neither the banner nor the connection errors', async () => {
    const redis = await ownRedis(['--requirepass', SECRET])
    cleanups.push(() => redis.stop())
    const port = await freePort()
    const p = assay('start', {
      PORT: String(port),
      ASSAY_DATA_DIR: dataDir(),
      ASSAY_REDIS_PREFIX: 'assay-process-test',
      REDIS_URL: `redis://default:${SECRET}@127.0.0.1:${redis.port}`,
    })
    cleanups.push(() => void p.child.kill('SIGKILL'))
    await until(() => /listening on/.test(p.stdout()), 'the start banner')
    const banner = jsonLines(p.stdout()).find((l) => /listening on/.test(l.msg))!
    assert.match(banner.msg, new RegExp(`Redis at redis://default:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}`))
    // The start summary's fields carry the URL masked too.
    assert.equal((banner as unknown as { redis?: string }).redis, `redis://default:***@127.0.0.1:${redis.port}`)

    // Redis goes away: connection errors and 503 faults are logged, with stacks.
    await redis.stop()
    const res = await fetch(`http://127.0.0.1:${port}/v1/appraisals`, {
      method: 'POST',
      body: 'x',
      headers: { 'content-type': 'application/psa-attestation-token' },
    })
    assert.equal(res.status, 503)
    await until(() => /ECONNREFUSED/.test(p.stderr()), 'a connection error on stderr')
    const errors = jsonLines(p.stderr())
    assert.ok(errors.every((e) => e.level >= 40))
    assert.ok(errors.some((e) => e.err?.stack !== undefined))

    // And a wrong password, refused by Redis, is not printed either.
    p.child.kill('SIGKILL')
    await p.exited
    await redis.start()
    const wrong = 'Wr0ng-Passw0rd-Given'
    const q = assay('start', {
      PORT: String(await freePort()),
      ASSAY_DATA_DIR: dataDir(),
      ASSAY_REDIS_PREFIX: 'assay-process-test',
      REDIS_URL: `redis://default:${wrong}@127.0.0.1:${redis.port}`,
    })
    cleanups.push(() => void q.child.kill('SIGKILL'))
    await until(() => /WRONGPASS|NOAUTH|failed to start/.test(q.stderr()), 'an authentication error')
    q.child.kill('SIGKILL')
    await q.exited
    jsonLines(q.stdout() + q.stderr())

    const all = p.stdout() + p.stderr() + q.stdout() + q.stderr()
    assert.ok(!all.includes(SECRET), 'the password is never printed')
    assert.ok(!all.includes(wrong), 'a wrong password is never printed')
  })
})
