/**
 * Hostile header benchmark (issue 7 item 8): CPU per request of the embedded service for a normal
 * request and for the worst headers a client can send, measured in this run, and each as a ratio
 * to the normal request. The server runs in this process, so the figures include the client's
 * share (the same for every row); the `negotiate` rows time the parsing alone.
 *
 *   npm run bench:headers
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { request, Agent } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { negotiate } from '../src/api/http.js'
import { loadConfig } from '../src/config/load.js'
import { startAssay } from '../src/main/server.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const N = Number(process.env['BENCH_REQUESTS'] ?? 2000)
const ID = '00000000-0000-4000-8000-000000000000'

const longProfile = (i: number) => `application/eat+jwt; eat_profile="tag:example.com,2026:${'p'.repeat(20)}${i}"; q=0.${i % 10}`
const worstAccept = Array.from({ length: 16 }, (_, i) => longProfile(i)).join(', ').slice(0, 1024)

const CASES: [string, Record<string, string>][] = [
  ['normal (Accept: application/json)', { accept: 'application/json' }],
  ['Accept: 15 KB of commas', { accept: ','.repeat(15 * 1024) }],
  ['Accept: 16 valid elements, 1 KB', { accept: worstAccept }],
  ['Accept: 1 KB of malformed elements', { accept: `${'a/b;x,'.repeat(15)}${'y'.repeat(900)}` }],
  ['Prefer: 15 KB of commas', { prefer: ','.repeat(15 * 1024) }],
  ['Accept: one 15 KB quoted parameter', { accept: `application/json; x="${'a'.repeat(15 * 1024)}"` }],
  ['15 KB of an unparsed header', { 'x-junk': 'z'.repeat(15 * 1024) }],
]

function get(port: number, agent: Agent, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/v1/appraisals/${ID}`, agent, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

async function cpuPerRequest(port: number, headers: Record<string, string>): Promise<{ micros: number; status: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let status = 0
  for (let i = 0; i < 200; i++) status = await get(port, agent, headers)
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) await get(port, agent, headers)
  const used = process.cpuUsage(start)
  agent.destroy()
  return { micros: (used.user + used.system) / N, status }
}

function negotiateMicros(accept: string): number {
  const n = 20_000
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    try {
      negotiate(accept)
    } catch {
      // refused headers are part of what is measured
    }
  }
  return Number(process.hrtime.bigint() - start) / 1000 / n
}

const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-headers-'))
const running = await startAssay(
  loadConfig({ port: 0, dataDir, referenceValuesDir: join(ROOT, 'reference-values'), rateLimitPoints: 0 }),
  { role: 'all' },
)
try {
  const port = Number(new URL(running.url!).port)
  const rows: [string, number, number][] = []
  for (const [name, headers] of CASES) {
    const { micros, status } = await cpuPerRequest(port, headers)
    rows.push([name, status, micros])
  }
  const normal = rows[0]![2]
  console.log(`hostile headers: CPU per request (server and client in one process, ${N} requests each)`)
  for (const [name, status, micros] of rows) {
    console.log(`  ${name.padEnd(40)} ${String(status).padStart(3)}  ${micros.toFixed(0).padStart(6)} µs  ${(micros / normal).toFixed(2)}× normal`)
  }
  const worst = rows.slice(1).reduce((a, b) => (b[2] > a[2] ? b : a))
  console.log(`  worst hostile header: ${worst[0]}, ${(worst[2] / normal).toFixed(2)}× a normal request`)
  const base = negotiateMicros('application/json')
  console.log('negotiate alone:')
  for (const [name, accept] of [
    ['application/json', 'application/json'],
    ['15 KB of commas', ','.repeat(15 * 1024)],
    ['16 valid elements, 1 KB', worstAccept],
  ] as const) {
    const micros = negotiateMicros(accept)
    console.log(`  ${name.padEnd(40)} ${micros.toFixed(2).padStart(8)} µs  ${(micros / base).toFixed(1)}×`)
  }
} finally {
  await running.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
