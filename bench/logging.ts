/**
 * What logging costs (issue 8 item 9): two embedded services (API and worker in one process, so
 * one request line and one appraisal line per appraisal), one with `ASSAY_LOG_LEVEL=info` writing
 * JSON lines to a file, one with `ASSAY_LOG_LEVEL=silent`, driven in turn at full speed over HTTP in
 * short interleaved slices (ABBA order), so a machine busy with other work skews both alike. Prints
 * each level's median appraisals/s and service CPU per appraisal, and the median of the per-slice
 * ratios.
 *
 *   npm run bench:logging
 *   BENCH_SECONDS=3 BENCH_SLICES=12 npm run bench:logging
 *   BENCH_PROFILE=/tmp/prof npm run bench:logging     CPU profiles of both services (info, silent)
 *   BENCH_NODE_ARGS=--trace-gc BENCH_KEEP_LOGS=1 npm run bench:logging     GC lines kept in each log
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { processCpuMicros, psaToken, PSA_TFM } from './psa-token.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const SLICE_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2)
const SLICES = Number(process.env['BENCH_SLICES'] ?? 8)
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32)

interface Service {
  readonly level: 'info' | 'silent'
  readonly url: string
  readonly pid: number
  readonly logFile: string
  readonly tokens: Buffer[]
  next: number
  stop(): Promise<void>
}

async function startService(level: 'info' | 'silent', port: number, tokenCount: number): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'assay-bench-log-'))
  const logFile = join(dir, 'assay.log')
  const out = openSync(logFile, 'w')
  // BENCH_PROFILE=<dir>: each service writes a CPU profile (--cpu-prof) there when it stops.
  const profile = process.env['BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE']}`, `--cpu-prof-name=${level}.cpuprofile`] : []
  // BENCH_NODE_ARGS: more node options for both services, e.g. --trace-gc (with BENCH_KEEP_LOGS to read them).
  const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '')
  const child: ChildProcess = spawn(process.execPath, [...profile, ...nodeArgs, join(ROOT, 'dist/main/cli.js'), 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      ASSAY_DATA_DIR: dir,
      ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'examples/reference-values'),
      ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
      ASSAY_RATE_LIMIT_POINTS: '0',
      ASSAY_MAX_QUEUE_DEPTH: '1000000',
      ASSAY_STORE_MAX_BYTES: String(1024 * 1024 * 1024),
      ASSAY_QUEUE_MAX_BYTES: String(512 * 1024 * 1024),
      ASSAY_LOG_LEVEL: level,
      ASSAY_LOG_FORMAT: 'json',
    },
    // Info lines go to a real file; warnings (test mode) to the same file, so the terminal stays clean.
    stdio: ['ignore', out, out],
  })
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    child.kill('SIGTERM')
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)))
    closeSync(out)
    if (process.env["BENCH_KEEP_LOGS"] === undefined) rmSync(dir, { recursive: true, force: true })
    else console.log(`[logging] ${level} log kept at ${logFile}`)
  }
  try {
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error('service did not become ready')
      if (await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const tokens: Buffer[] = []
    for (let i = 0; i < tokenCount; i += 64) {
      const nonces = await Promise.all(
        Array.from({ length: Math.min(64, tokenCount - i) }, async () => {
          const res = await fetch(`${url}/v1/nonces`, { method: 'POST' })
          return Buffer.from(((await res.json()) as { nonce: string }).nonce, 'base64url')
        }),
      )
      for (const n of nonces) tokens.push(psaToken(n))
    }
    return { level, url, pid: child.pid!, logFile, tokens, next: 0, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

interface Slice {
  readonly perSecond: number
  readonly cpuPerAppraisal: number
  readonly logBytesPerAppraisal: number
}

async function slice(service: Service, seconds: number): Promise<Slice> {
  const bytes0 = statSync(service.logFile).size
  const cpu0 = processCpuMicros([service.pid])
  const result = await autocannon({
    url: service.url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/v1/appraisals',
        headers: { 'content-type': PSA_TFM, prefer: 'wait=10', 'x-request-id': randomUUID() },
        setupRequest: (req) => ({ ...req, body: service.tokens[service.next++ % service.tokens.length] }),
      },
    ],
  })
  if (service.next > service.tokens.length) throw new Error('ran out of tokens: raise BENCH_TOKENS')
  const completed = Math.max(result['2xx'], 1)
  return {
    perSecond: result['2xx'] / seconds,
    cpuPerAppraisal: (processCpuMicros([service.pid]) - cpu0) / completed,
    logBytesPerAppraisal: (statSync(service.logFile).size - bytes0) / completed,
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const TOKENS = Number(process.env['BENCH_TOKENS'] ?? 2500 * SLICE_SECONDS * (SLICES + 1))
const info = await startService('info', 18700, TOKENS)
const silent = await startService('silent', 18701, TOKENS)
try {
  await slice(info, 2) // warm-up
  await slice(silent, 2)
  const results: Record<'info' | 'silent', Slice[]> = { info: [], silent: [] }
  for (let i = 0; i < SLICES; i++) {
    // ABBA order: a drift in the machine's load affects both services alike.
    for (const service of i % 2 === 0 ? [info, silent] : [silent, info]) results[service.level].push(await slice(service, SLICE_SECONDS))
  }
  for (const level of ['info', 'silent'] as const) {
    const r = results[level]
    console.log(
      `[logging] ${level.padEnd(6)}: median ${median(r.map((x) => x.perSecond)).toFixed(0)} appraisals/s, ` +
        `${median(r.map((x) => x.cpuPerAppraisal)).toFixed(0)} µs CPU per appraisal, ` +
        `${median(r.map((x) => x.logBytesPerAppraisal)).toFixed(0)} log bytes per appraisal ` +
        `(slices: ${r.map((x) => x.perSecond.toFixed(0)).join(' ')})`,
    )
  }
  // Each slice's ratio against the other level's slice next to it, then the median of those.
  const throughput = median(results.info.map((x, i) => x.perSecond / results.silent[i]!.perSecond))
  const cpu = median(results.info.map((x, i) => x.cpuPerAppraisal / results.silent[i]!.cpuPerAppraisal))
  console.log(
    `[logging] info vs silent, ${SLICES} interleaved slices of ${SLICE_SECONDS} s, ${CONNECTIONS} connections: ` +
      `throughput ×${throughput.toFixed(3)} (${((1 - throughput) * 100).toFixed(1)}% cost), ` +
      `CPU per appraisal ×${cpu.toFixed(3)} (${((cpu - 1) * 100).toFixed(1)}% cost); target: at most 5%`,
  )
} finally {
  await info.stop()
  await silent.stop()
}
