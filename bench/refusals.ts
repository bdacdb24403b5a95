/**
 * What a refusal costs (issue 7 items 10–13): CPU per request of the embedded service when it
 * refuses (429 rate limited, 503 store full, 413 declared oversize body) next to the same request
 * answered normally, measured in this run, each as a ratio to its normal row. The server runs in
 * this process, so the figures include the client's share (the same for each pair of rows).
 *
 *   npm run bench:refusals
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.js'
import { startAssay, type RunningAssay } from '../src/main/server.js'

const N = Number(process.env['BENCH_REQUESTS'] ?? 2000)

interface Call {
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: Buffer
}

function send(port: number, agent: Agent, call: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: call.method, path: call.path, agent, headers: call.headers ?? {} }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    // A refused upload may be answered and closed before the client has sent its body.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(0) : reject(err)))
    req.end(call.body)
  })
}

async function cpuPerRequest(port: number, call: Call, keepAlive: boolean): Promise<{ micros: number; status: number }> {
  const agent = new Agent({ keepAlive, maxSockets: 1 })
  let status = 0
  for (let i = 0; i < 100; i++) status = await send(port, agent, call)
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) await send(port, agent, call)
  const used = process.cpuUsage(start)
  agent.destroy()
  return { micros: (used.user + used.system) / N, status }
}

async function withAssay<T>(settings: Record<string, unknown>, run: (port: number) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-refusals-'))
  let running: RunningAssay | undefined
  try {
    running = await startAssay(loadConfig({ port: 0, dataDir, ...settings }), { role: 'all' })
    return await run(Number(new URL(running.url!).port))
  } finally {
    await running?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const nonce: Call = { method: 'POST', path: '/v1/nonces' }
/** Declares 100 MB of Evidence and sends one byte: the server must answer without reading the rest. */
const oversize: Call = {
  method: 'POST',
  path: '/v1/appraisals',
  headers: { 'content-type': 'application/eat+cwt', 'content-length': String(100 * 1024 * 1024) },
  body: Buffer.of(0),
}
const small: Call = { method: 'POST', path: '/v1/appraisals', headers: { 'content-type': 'application/eat+cwt' }, body: Buffer.alloc(0) }

const rows: [string, number, number, number][] = []
const pair = (name: string, normal: { micros: number; status: number }, refused: { micros: number; status: number }) => {
  rows.push([`${name}: answered`, normal.status, normal.micros, 1])
  rows.push([`${name}: refused`, refused.status, refused.micros, refused.micros / normal.micros])
}

// The nonce store's share of a 64 KiB budget holds a few dozen nonces; the lifetime keeps them live.
const normalNonce = await withAssay({ rateLimitPoints: 0 }, (port) => cpuPerRequest(port, nonce, true))
const fullNonce = await withAssay({ rateLimitPoints: 0, storeMaxBytes: 64 * 1024 }, (port) => cpuPerRequest(port, nonce, true))
pair('POST /v1/nonces, store full (503)', normalNonce, fullNonce)
const limited = await withAssay({ rateLimitPoints: 20, rateLimitWindowSeconds: 3600 }, (port) => cpuPerRequest(port, nonce, true))
pair('POST /v1/nonces, rate limited (429)', normalNonce, limited)
// Both on a new connection per request: a 413 closes its connection.
const [normalUpload, refusedUpload] = await withAssay({ rateLimitPoints: 0 }, async (port) => [
  await cpuPerRequest(port, small, false),
  await cpuPerRequest(port, oversize, false),
])
pair('POST /v1/appraisals, 100 MB declared (413)', normalUpload!, refusedUpload!)

console.log(`refusals: CPU per request (server and client in one process, ${N} requests each)`)
for (const [name, status, micros, ratio] of rows) {
  console.log(`  ${name.padEnd(52)} ${String(status).padStart(3)}  ${micros.toFixed(0).padStart(6)} µs  ${ratio.toFixed(2)}× answered`)
}
