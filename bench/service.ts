/**
 * Service benchmark: starts Assay as separate processes (API, worker; or one embedded process),
 * drives it over HTTP from this process with autocannon, and prints appraisals/s, submit→result
 * latency, and CPU per appraisal, next to the bare crypto cost (one ES256 verify + one EAR sign)
 * measured in the same run.
 *
 *   npm run bench:service                       both modes
 *   BENCH_MODE=redis npm run bench:service      one mode (redis | embedded)
 *
 * Every request carries a distinct PSA token signed at start with the RFC 9783 test IAK over a
 * nonce the service issued, so each appraisal is a real, affirming one. Each request waits for its
 * result (`Prefer: wait=10`), so autocannon's latency is submit→result. The services log at
 * `ASSAY_LOG_LEVEL` (info unless set) into files in their data directories; `bench:logging` compares.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createPrivateKey, randomUUID, sign, verify } from 'node:crypto'
import { closeSync, openSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { iak, processCpuMicros, psaToken, PSA_TFM } from './psa-token.js'
import { deletePrefix } from '../test/helpers/redis.js'
import { type CborTag, decodeCbor } from '../src/cose/cbor.js'
import { sigStructure1 } from '../src/cose/structure.js'
import { earClaimsJson, type AppraisalOutcome } from '../src/results/ear.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 10)
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64)
const FIXED_RATE = Number(process.env['BENCH_RATE'] ?? 1500)
const MODES = (process.env['BENCH_MODE'] ?? 'redis,embedded').split(',')

/** Bare cost of the crypto an appraisal cannot avoid: verify the token, sign the EAR. */
function bareCryptoMicros(): number {
  const t = psaToken(new Uint8Array(32).fill(1))
  const message = decodeCbor(t, { allowedTags: new Set([18]) }) as CborTag
  const [prot, , payload, sig] = message.value as Uint8Array[]
  const tbs = sigStructure1(prot!, new Uint8Array(0), payload!)
  const earKey = createPrivateKey({ key: iak.privateKey.export({ format: 'jwk' }), format: 'jwk' })
  const outcome: AppraisalOutcome = {
    iat: 1,
    verifier: { developer: 'bench', build: 'bench' },
    policyIds: ['p'],
    submods: { PSA: { vector: { 'instance-identity': 2, executables: 2, hardware: 2 }, reasons: [] } },
  }
  const claims = Buffer.from(JSON.stringify(earClaimsJson(outcome)))
  const n = 3000
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    if (!verify('sha256', tbs, { key: iak.publicKey.keyObject, dsaEncoding: 'ieee-p1363' }, sig!)) throw new Error('bad')
    sign('sha256', claims, { key: earKey, dsaEncoding: 'ieee-p1363' })
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

/** The Redis server's pid, so its CPU counts in the cost of an appraisal in Redis mode. */
function redisPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pgrep', ['-o', '-x', 'redis-server'], { encoding: 'utf8' }).trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

interface Service {
  readonly url: string
  readonly pids: number[]
  stop(): Promise<void>
}

function startProcess(args: string[], env: Record<string, string>): ChildProcess {
  // The service logs a line per request and per appraisal (ASSAY_LOG_LEVEL, info by default): into a
  // file in its data directory, as a deployment would, never into a pipe nobody reads.
  const log = openSync(join(env['ASSAY_DATA_DIR']!, `${args[0]}.log`), 'a')
  const child = spawn(process.execPath, [join(ROOT, 'dist/main/cli.js'), ...args], {
    cwd: ROOT,
    // One autocannon client sends everything: rate limits are off unless ASSAY_RATE_LIMIT_POINTS says otherwise.
    env: { ASSAY_RATE_LIMIT_POINTS: '0', ...process.env, ...env },
    stdio: ['ignore', log, 'inherit'],
  })
  closeSync(log)
  return child
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('service did not become ready')
}

async function startService(mode: string, port: number): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-'))
  const prefix = `assay-bench-${randomUUID().slice(0, 8)}`
  const env: Record<string, string> = {
    PORT: String(port),
    ASSAY_DATA_DIR: dataDir,
    ASSAY_REFERENCE_VALUES_DIR: join(ROOT, 'examples/reference-values'),
    ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
    ASSAY_MAX_QUEUE_DEPTH: '1000000',
    // The bench issues every nonce before it drives the load (tens of thousands outstanding at once),
    // and queues far more than a deployment would: the embedded store and queue get room for that.
    ASSAY_STORE_MAX_BYTES: String(1024 * 1024 * 1024),
    ASSAY_QUEUE_MAX_BYTES: String(512 * 1024 * 1024),
  }
  const children: ChildProcess[] = []
  if (mode === 'redis') {
    Object.assign(env, { REDIS_URL, ASSAY_REDIS_PREFIX: prefix })
    children.push(startProcess(['serve'], env))
    await waitUntilListening(`http://127.0.0.1:${port}`)
    children.push(startProcess(['worker'], env))
  } else {
    children.push(startProcess(['start'], env))
  }
  const url = `http://127.0.0.1:${port}`
  await waitReady(url)
  return {
    url,
    pids: children.map((c) => c.pid!),
    async stop() {
      for (const c of children) c.kill('SIGTERM')
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))))
      if (mode === 'redis') await deletePrefix(prefix, REDIS_URL)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

async function waitUntilListening(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/healthz`)
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error('API did not start')
}

async function issueTokens(url: string, count: number): Promise<Buffer[]> {
  const tokens: Buffer[] = []
  const batch = 64
  for (let i = 0; i < count; i += batch) {
    const nonces = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const res = await fetch(`${url}/v1/nonces`, { method: 'POST' })
        return Buffer.from(((await res.json()) as { nonce: string }).nonce, 'base64url')
      }),
    )
    for (const n of nonces) tokens.push(psaToken(n))
  }
  return tokens
}

async function drive(url: string, tokens: Buffer[], options: { duration: number; rate?: number }) {
  let next = 0
  let affirming = 0
  let other = 0
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: options.duration,
    ...(options.rate === undefined ? {} : { overallRate: options.rate }),
    requests: [
      {
        method: 'POST',
        path: '/v1/appraisals',
        headers: { 'content-type': PSA_TFM, prefer: 'wait=10' },
        setupRequest: (req) => ({ ...req, body: tokens[next++ % tokens.length] }),
        onResponse: (status, body) => {
          if (status === 200 && body.includes('"ear_status":"affirming"')) affirming++
          else other++
        },
      },
    ],
  })
  return { result, affirming, other, used: next }
}

async function benchMode(mode: string, port: number, bare: number): Promise<void> {
  const service = await startService(mode, port)
  try {
    const expected = Math.ceil(5000 * DURATION * 1.2)
    process.stdout.write(`[${mode}] issuing and signing ${expected} tokens… `)
    const tokens = await issueTokens(service.url, expected)
    console.log('done')
    await drive(service.url, tokens.slice(0, 2000), { duration: 2 }) // warm-up (these tokens are spent)
    const redis = mode === 'redis' ? redisPid() : undefined
    const pids = [...service.pids, ...(redis === undefined ? [] : [redis])]
    const remaining = tokens.slice(2000)

    const cpu0 = processCpuMicros(pids)
    const max = await drive(service.url, remaining, { duration: DURATION })
    const cpu = processCpuMicros(pids) - cpu0
    const completed = max.result.requests.total
    const rateTokens = remaining.slice(max.used)
    const fixed = await drive(service.url, rateTokens, { duration: Math.min(DURATION, 10), rate: FIXED_RATE })

    console.log(
      [
        `[${mode}] max throughput: ${(completed / DURATION).toFixed(0)} appraisals/s completed ` +
          `(${max.affirming} affirming, ${max.other} other; ${max.result.errors} errors, ${max.result.non2xx} non-2xx), ` +
          `${CONNECTIONS} connections, ${DURATION} s`,
        `[${mode}]   submit→result latency p50 ${max.result.latency.p50} ms, p99 ${max.result.latency.p99} ms`,
        `[${mode}]   CPU per appraisal ${(cpu / Math.max(completed, 1)).toFixed(0)} µs ` +
          `(service processes${redis === undefined ? '' : ' + redis-server'}); bare crypto (1 verify + 1 EAR sign) ${bare.toFixed(0)} µs`,
        `[${mode}] at ${FIXED_RATE}/s offered: ${(fixed.result.requests.total / Math.min(DURATION, 10)).toFixed(0)} /s completed, ` +
          `p50 ${fixed.result.latency.p50} ms, p99 ${fixed.result.latency.p99} ms (${fixed.other} not affirming)`,
      ].join('\n'),
    )
  } finally {
    await service.stop()
  }
}

const bare = bareCryptoMicros()
console.log(`node ${process.version}; bare crypto cost: ${bare.toFixed(0)} µs CPU per appraisal (ES256 verify + ES256 EAR sign)`)
let port = 18600
for (const mode of MODES) await benchMode(mode, port++, bare)
