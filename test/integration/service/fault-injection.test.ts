/**
 * Fault injection in Redis mode (issue 7 item 21). A private redis-server with an append-only file
 * fsynced on every write (its own port and directory; the shared Redis is never touched), one API
 * process and two worker processes. Under steady load of valid, affirming PSA Evidence (each token
 * over its own verifier nonce, signed with a key provisioned from a folder this test writes), a
 * worker is killed with SIGKILL and Redis is killed and started again on the same port and
 * directory; the load goes on, then stops, and the test waits for every accepted appraisal.
 *
 * "Exactly one result" is counted from outside Assay: every stored result is one `SET` of its
 * result key, and the append-only file holds every write Redis acknowledged, across the restart.
 * So each accepted id must have exactly one such `SET` (none: lost; two: processed twice), and
 * must read back as complete. The counts are printed.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { encodeCbor } from '../../../src/cose/cbor.js'
import { bullmqPrefix, QUEUE_NAME } from '../../../src/queue/names.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { keys, MEDIA, psaClaims, referenceValueDocument } from '../../fuzz/corpus.js'
import { signSign1 } from '../../helpers/cose.js'
import { freePort } from '../../helpers/redis-server.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function redisServerPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}
const REDIS_SERVER = redisServerPath()


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Proc {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** Resolves once stdout matched `ready`. */
  readonly ready: Promise<void>
}

function start(command: string, args: string[], env: Record<string, string>, ready: RegExp): Proc {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const readyP = new Promise<void>((resolve) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      if (ready.test(out)) resolve()
      if (out.length > 100_000) out = out.slice(-10_000)
    })
  })
  // The processes' own complaints while Redis is down are expected; show the first few of each.
  let shown = 0
  child.stderr!.on('data', (c: Buffer) => {
    for (const text of c.toString('utf8').split('\n')) {
      if (text === '' || /ExperimentalWarning|--trace-warnings/.test(text) || shown++ >= 8) continue
      process.stderr.write(`[${args.at(-1) ?? command}] ${text}\n`)
    }
  })
  return { child, ready: readyP, exited: new Promise((r) => child.once('exit', () => r())) }
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill(signal)
  await Promise.race([p.exited, sleep(15_000)])
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Every command in Redis append-only files (RESP arrays), in order. */
function aofCommands(dir: string): string[][] {
  const out: string[][] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.aof')).sort()) {
    const buf = readFileSync(join(dir, file))
    let pos = 0
    const line = () => {
      const end = buf.indexOf('\r\n', pos)
      const text = buf.toString('latin1', pos, end)
      pos = end + 2
      return text
    }
    while (pos < buf.length && buf[pos] === 0x2a /* '*' */) {
      const n = Number(line().slice(1))
      const args: string[] = []
      for (let i = 0; i < n; i++) {
        const len = Number(line().slice(1))
        args.push(buf.toString('utf8', pos, pos + len))
        pos += len + 2
      }
      out.push(args)
    }
  }
  return out
}

/** A PSA submodule's status, with the reason code when it is not affirming (e.g. a nonce replayed by a retry). */
function verdictOf(submod: { ear_status?: string; [k: string]: unknown } | undefined): string {
  if (submod === undefined) return 'no PSA submodule'
  if (submod.ear_status === 'affirming') return 'affirming'
  const codes = JSON.stringify(submod).match(/ERR_[A-Z_]+/g) ?? []
  return `${submod.ear_status ?? '?'} ${[...new Set(codes)].join(',')}`.trim()
}

describe('fault injection on Redis', { timeout: 400_000 }, () => {
  /** What the run found, for the second test. */
  let run: { duplicated: string[]; replayed: string[] } | undefined
  const cleanups: (() => Promise<void> | void)[] = []
  after(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  it(
    'a worker killed with SIGKILL and a Redis restart under load: every accepted appraisal ends with a stored, complete result',
    { skip: REDIS_SERVER === undefined ? 'redis-server is not installed' : false },
    async () => {
      const work = mkdtempSync(join(tmpdir(), 'assay-fault-'))
      cleanups.push(() => rmSync(work, { recursive: true, force: true }))
      const redisDir = join(work, 'redis')
      const refDir = join(work, 'reference-values')
      mkdirSync(redisDir)
      mkdirSync(refDir)
      writeFileSync(join(refDir, 'fault.json'), JSON.stringify(referenceValueDocument()))

      const redisPort = await freePort()
      const redisArgs = ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--appendonly', 'yes', '--appendfsync', 'always']
      const redisExtra = ['--save', '', '--auto-aof-rewrite-percentage', '0', '--daemonize', 'no', '--protected-mode', 'yes']
      let redis = start(REDIS_SERVER!, [...redisArgs, ...redisExtra], {}, /Ready to accept connections/)
      cleanups.push(() => stop(redis, 'SIGKILL'))
      await redis.ready

      const prefix = `assay-fault-${randomUUID().slice(0, 8)}`
      const apiPort = await freePort()
      const url = `http://127.0.0.1:${apiPort}`
      const env = {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        ASSAY_REDIS_PREFIX: prefix,
        ASSAY_DATA_DIR: join(work, 'data'),
        ASSAY_REFERENCE_VALUES_DIR: refDir,
        // A killed worker's jobs go back to the queue after the lock expires: 5 s, not 30.
        ASSAY_JOB_LOCK_SECONDS: '5',
        ASSAY_WORKER_CONCURRENCY: '8',
        // One client sends all the load: the per-client rate limit is not under test here.
        ASSAY_RATE_LIMIT_POINTS: '0',
      }
      const cli = (role: string, extra: Record<string, string> = {}) =>
        start(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), role], { ...env, ...extra }, /\[assay\] \w+: (listening|worker running)/)
      // The API starts first and writes the EAR key the workers then load from the same data dir.
      const api = cli('serve', { PORT: String(apiPort), HOST: '127.0.0.1' })
      cleanups.push(() => stop(api))
      await api.ready
      const workerA = cli('worker')
      const workerB = cli('worker')
      cleanups.push(() => stop(workerA, 'SIGKILL'), () => stop(workerB))
      await Promise.all([workerA.ready, workerB.ready])
      await until(async () => (await fetch(`${url}/readyz`)).status === 200, 'readyz', 30_000)

      // ── steady load ──
      const accepted = new Map<string, string>()
      const refused = new Map<string, number>()
      const count = (why: string): void => void refused.set(why, (refused.get(why) ?? 0) + 1)
      let loading = true
      const submitOne = async (): Promise<void> => {
        const nonceRes = await fetch(`${url}/v1/nonces`, { method: 'POST', signal: AbortSignal.timeout(10_000) })
        if (nonceRes.status !== 201) return count(`nonce ${nonceRes.status}`)
        const nonce = base64urlDecode(((await nonceRes.json()) as { nonce: string }).nonce)
        const claims = psaClaims()
        claims.set(10, nonce)
        const token = signSign1(keys.es256, { payload: encodeCbor(claims) })
        const res = await fetch(`${url}/v1/appraisals`, {
          method: 'POST',
          body: token,
          headers: { 'content-type': MEDIA.psa },
          signal: AbortSignal.timeout(10_000),
        })
        const body = (await res.json().catch(() => ({}))) as { id?: string }
        if ((res.status === 202 || res.status === 200) && typeof body.id === 'string') accepted.set(body.id, Buffer.from(nonce).toString('hex'))
        else count(`appraisal ${res.status}`)
      }
      const loader = async () => {
        while (loading) {
          await submitOne().catch((err: Error) => {
            count(`error ${err.name}`)
            return sleep(50)
          })
        }
      }
      const loaders = Array.from({ length: 6 }, loader)

      // Each fault strikes during a burst, once the queue shows jobs being worked on (BullMQ's active
      // list), so jobs are in flight when it strikes whatever the machine's speed.
      const burst = (n: number) => Promise.all(Array.from({ length: n }, () => submitOne().catch(() => count('burst error'))))
      const activeKey = `${bullmqPrefix(prefix)}:${QUEUE_NAME}:active`
      const whenBusy = async (least: number): Promise<void> => {
        const client = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true, maxRetriesPerRequest: 1 })
        await client.connect()
        try {
          const deadline = Date.now() + 20_000
          while ((await client.llen(activeKey)) < least) {
            if (Date.now() > deadline) throw new Error(`fewer than ${least} jobs were active within 20 s`)
            await sleep(2)
          }
        } finally {
          client.disconnect()
        }
      }
      await sleep(3000)
      const firstBurst = burst(400)
      await whenBusy(4)
      const beforeKill = accepted.size
      const idsBeforeKill = new Set(accepted.keys())
      workerA.child.kill('SIGKILL')
      await workerA.exited
      await firstBurst
      await sleep(2000)
      const secondBurst = burst(400)
      await whenBusy(4)
      const beforeRedis = accepted.size
      const idsBeforeRedis = new Set(accepted.keys())
      redis.child.kill('SIGKILL')
      await redis.exited
      await secondBurst
      await sleep(1000)
      redis = start(REDIS_SERVER!, [...redisArgs, ...redisExtra], {}, /Ready to accept connections/)
      await redis.ready
      // The load goes on until the service has accepted Evidence again after the restart, however long
      // reconnecting takes on this machine, and a little longer.
      const atRestart = accepted.size
      await until(async () => accepted.size > atRestart + 20, 'appraisals accepted after the Redis restart', 90_000)
      await sleep(1000)
      loading = false
      await Promise.all(loaders)

      // ── every accepted appraisal completes ──
      const states = new Map<string, string>()
      const verdicts = new Map<string, string>()
      await until(
        async () => {
          await Promise.all(
            [...accepted.keys()]
              .filter((id) => states.get(id) !== 'complete' && states.get(id) !== 'failed')
              .map(async (id) => {
                const r = await fetch(`${url}/v1/appraisals/${id}`, { signal: AbortSignal.timeout(10_000) })
                const body = (await r.json()) as { status?: string; result?: { claims?: { submods?: Record<string, { ear_status?: string; ear_trustworthiness_vector?: unknown; ear_appraisal_reasons?: { code?: string }[] }> } } }
                states.set(id, r.status === 200 ? (body.status ?? `http ${r.status}`) : `http ${r.status}`)
                if (body.status === 'complete') states.set(id, 'complete')
                if (body.status === 'complete') verdicts.set(id, verdictOf(body.result?.claims?.submods?.['PSA']))
              }),
          )
          return [...accepted.keys()].every((id) => states.get(id) === 'complete' || states.get(id) === 'failed')
        },
        'every accepted appraisal to finish',
        90_000,
      ).catch(() => undefined)

      await stop(api)
      await stop(workerB)
      await stop(redis)

      // ── count the stored results of each id in the append-only file ──
      const resultKey = new RegExp(`^${prefix}:\\{default\\}:result:(.+)$`)
      const jobKey = /:appraisals:([0-9a-f-]{36})$/
      const puts = new Map<string, number>()
      const starts = new Map<string, number>()
      let stalls = 0
      for (const args of aofCommands(join(redisDir, 'appendonlydir'))) {
        const command = args[0]?.toUpperCase()
        const m = command === 'SET' ? resultKey.exec(args[1] ?? '') : null
        if (m !== null) puts.set(m[1]!, (puts.get(m[1]!) ?? 0) + 1)
        // BullMQ counts each start of a job (`ats`) and each stall (`stc`) in the job hash.
        const j = command === 'HINCRBY' ? jobKey.exec(args[1] ?? '') : null
        if (j !== null && args[2] === 'ats') starts.set(j[1]!, (starts.get(j[1]!) ?? 0) + 1)
        if (j !== null && args[2] === 'stc') stalls++
      }
      const restarted = [...accepted.keys()].filter((id) => (starts.get(id) ?? 0) > 1).length
      const lost = [...accepted.keys()].filter((id) => (puts.get(id) ?? 0) === 0)
      const duplicated = [...accepted.keys()].filter((id) => (puts.get(id) ?? 0) > 1)
      const unreadable = [...accepted.keys()].filter((id) => states.get(id) !== 'complete')
      const phases = (list: string[]) => {
        const a = list.filter((id) => idsBeforeKill.has(id)).length
        const b = list.filter((id) => !idsBeforeKill.has(id) && idsBeforeRedis.has(id)).length
        return `${a} / ${b} / ${list.length - a - b}`
      }
      const byState = new Map<string, number>()
      for (const id of accepted.keys()) byState.set(states.get(id) ?? 'unknown', (byState.get(states.get(id) ?? 'unknown') ?? 0) + 1)
      const byVerdict = new Map<string, number>()
      for (const v of verdicts.values()) byVerdict.set(v, (byVerdict.get(v) ?? 0) + 1)

      console.log(
        [
          `fault injection: ${accepted.size} appraisals accepted (${beforeKill} before the worker SIGKILL, ${beforeRedis} before the Redis restart)`,
          `  refused submissions: ${JSON.stringify(Object.fromEntries(refused))}`,
          `  stored results (SET in the AOF) per accepted id: ${accepted.size - lost.length - duplicated.length} exactly once, ${lost.length} never (lost), ${duplicated.length} more than once (duplicated)`,
          `  jobs started ${[...starts.values()].reduce((a, b) => a + b, 0)} times for ${starts.size} jobs; started more than once (taken over after the kill or the restart): ${restarted}; stalls counted: ${stalls}`,
          `  results not written for an accepted id: ${[...puts.keys()].filter((id) => !accepted.has(id)).length}`,
          `  final states read back: ${JSON.stringify(Object.fromEntries(byState))}`,
          `  PSA verdicts of complete results: ${JSON.stringify(Object.fromEntries(byVerdict))}`,
          `  by when they were accepted (before the worker kill / before the Redis restart / after): ` +
            `duplicated ${phases(duplicated)}, not affirming ${phases([...verdicts].filter(([, v]) => v !== 'affirming').map(([id]) => id))}`,
          ...(duplicated.length > 0 ? [`  duplicated, e.g.: ${duplicated.slice(0, 5).map((id) => `${id} x${puts.get(id)}`).join(', ')}`] : []),
          ...(lost.length > 0 ? [`  lost, e.g.: ${lost.slice(0, 5).map((id) => `${id} (${states.get(id)})`).join(', ')}`] : []),
        ].join('\n'),
      )

      assert.ok(beforeKill > 0 && accepted.size > beforeRedis, 'load was accepted before the kill and after the restart')
      assert.ok(restarted > 0, 'the faults struck while jobs were in flight (some job was started twice)')
      assert.deepEqual(lost, [], 'every accepted appraisal has a stored result')
      assert.deepEqual(unreadable, [], 'every accepted appraisal reads back as complete')
      run = { duplicated, replayed: [...verdicts].filter(([, v]) => v !== 'affirming').map(([id, v]) => `${id}: ${v}`) }
    },
  )

  it(
    'a job run twice stores one result: none stored twice, and no valid fresh Evidence turned contraindicated by its own retry',
    {
      skip: REDIS_SERVER === undefined ? 'redis-server is not installed' : false,
    },
    () => {
      assert.ok(run !== undefined, 'the fault-injection run above completed')
      assert.deepEqual(run.duplicated, [], 'no accepted appraisal was stored twice')
      assert.deepEqual(run.replayed, [], 'every accepted appraisal of valid, fresh Evidence is affirming')
    },
  )
})
