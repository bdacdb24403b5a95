/**
 * Fuzz harness for Assay (issue 7 item 20). Two modes:
 *
 *   npm run fuzz -- parsers [--runs N] [--only cbor,jws] [--skip a,b] [--seed S] [--chunk N]
 *       Runs every parser property of test/fuzz/properties.ts in this process, N inputs each
 *       (default 100000), and prints inputs, time, inputs/s, RSS and any failing input.
 *
 *   npm run fuzz -- http [--url URL] [--count N] [--seconds T] [--concurrency C] [--timeout-ms MS] [--seed S] [--dist]
 *       Starts an embedded Assay (src through tsx, or dist/ with --dist) on a free port with a
 *       temporary data directory and reference values it writes itself, or drives the one at
 *       --url; sends up to N hostile requests (default 20000) for at most T seconds (default 120)
 *       across every route and media type: mutated and re-signed Evidence, random bytes,
 *       truncations, bit flips, deep nesting, huge CBOR length heads, hostile headers (long Accept
 *       and Content-Type lists, odd Prefer, bad parameters), oversized bodies, unknown routes.
 *       Prints the statuses, and flags every 5xx, connection reset, request over the time bound
 *       (a hang), and an exit of the service; samples the service's RSS at start, while running
 *       and at the end.
 *
 * Exits 1 on any failure; each failing input is printed (truncated) and saved in full under the
 * directory named in the summary. Runs are reproducible: `--seed` fixes every generated input.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { encodeCbor } from '../src/cose/cbor.js'
import { eatClaimsMapArb, eatJsonClaimsArb, hostileBytesArb, mutatedArb, psaClaimsMapArb } from '../test/fuzz/arbitraries.js'
import { KID, keys, MEDIA, pipelineSeeds, referenceValueDocument, signJwt, vectorTokens } from '../test/fuzz/corpus.js'
import { TARGETS } from '../test/fuzz/properties.js'
import { signSign1 } from '../test/helpers/cose.js'
import { utf8 } from '../src/util/bytes.js'
import { freePort } from '../test/helpers/redis-server.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

function parseArgs(argv: readonly string[]): { mode: string; opts: Map<string, string> } {
  const [mode = 'help', ...rest] = argv
  const opts = new Map<string, string>()
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined]
    if (inline !== undefined) opts.set(name, inline)
    else if (rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('--')) opts.set(name, rest[++i]!)
    else opts.set(name, 'true')
  }
  return { mode, opts }
}

function numberOpt(opts: Map<string, string>, name: string, fallback: number): number {
  const raw = opts.get(name)
  if (raw === undefined) return fallback
  const n = Number(raw.replace(/_/g, ''))
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, not ${raw}`)
  return n
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const hex = (b: Uint8Array, max = 256) => Buffer.from(b.subarray(0, max)).toString('hex') + (b.length > max ? `… (${b.length} bytes)` : '')

// ── parser mode ──────────────────────────────────────────────────────────────────────────────

async function parsers(opts: Map<string, string>): Promise<number> {
  const runs = numberOpt(opts, 'runs', 100_000)
  const chunk = Math.max(1, Math.min(runs, numberOpt(opts, 'chunk', 10_000)))
  const seed = numberOpt(opts, 'seed', Date.now() % 2 ** 31)
  const only = opts.get('only')?.split(',')
  const skip = opts.get('skip')?.split(',') ?? []
  const targets = TARGETS.filter((t) => (only === undefined || only.includes(t.name)) && !skip.includes(t.name))
  if (targets.length === 0) throw new Error(`no target matches --only ${only?.join(',')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`)
  console.log(`fuzz parsers: ${runs} inputs per parser, ${targets.length} parsers, seed ${seed}`)
  const rssStart = process.memoryUsage().rss
  let failed = 0
  const rows: string[] = []
  for (const [index, target] of targets.entries()) {
    const start = performance.now()
    let done = 0
    let failure: string | undefined
    for (let c = 0; done < runs && failure === undefined; c++) {
      const numRuns = Math.min(chunk, runs - done)
      const chunkSeed = (seed + index * 1_000_003 + c * 7919) % 2 ** 31
      const details = await fc.check(target.property(), { numRuns, seed: chunkSeed, endOnFailure: true })
      done += details.numRuns
      if (details.failed) {
        failure =
          `seed ${chunkSeed}, path ${details.counterexamplePath ?? '?'}\n` +
          `    input: ${fc.stringify(details.counterexample).slice(0, 2000)}\n` +
          `    error: ${String(details.errorInstance).slice(0, 1000)}`
      }
    }
    const seconds = (performance.now() - start) / 1000
    const row = `${target.name.padEnd(20)} ${String(done).padStart(9)} inputs  ${seconds.toFixed(1).padStart(7)} s  ${Math.round(done / seconds).toString().padStart(7)}/s  ${failure === undefined ? 'ok' : 'FAILED'}  rss ${mb(process.memoryUsage().rss)}`
    console.log(row)
    rows.push(row)
    if (failure !== undefined) {
      failed++
      console.log(`  ${target.name} failed after ${done} inputs: ${failure}`)
    }
  }
  console.log(`\nsummary (seed ${seed}; rss ${mb(rssStart)} at start, ${mb(process.memoryUsage().rss)} at end):`)
  for (const row of rows) console.log(`  ${row}`)
  console.log(failed === 0 ? 'no parser failed' : `${failed} parser(s) failed`)
  return failed === 0 ? 0 : 1
}

// ── HTTP mode ────────────────────────────────────────────────────────────────────────────────

interface FuzzRequest {
  readonly route: string
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: Uint8Array
  /** Oversized body: the server may answer 413 or close the connection. */
  readonly oversized?: boolean
  /** Sent as these exact bytes on a new connection, for what Node's client will not write. */
  readonly raw?: Buffer
}

interface Outcome {
  readonly status?: number
  readonly headers?: IncomingHttpHeaders
  readonly body?: Buffer
  readonly error?: string
  readonly ms: number
}

const EVIDENCE_TYPES = [...Object.values(MEDIA), 'application/cose', 'application/cwt', 'text/plain', 'application/json', '']

/** Headers an attacker controls, each hostile in its own way. */
const hostileHeaderArb = (name: 'accept' | 'content-type' | 'prefer'): fc.Arbitrary<string> => {
  const common = [
    fc.constant(','.repeat(8000)),
    fc.constant(`${'a/b;q=0.1,'.repeat(700)}*/*`),
    fc.constant(';'.repeat(4000)),
    fc.constant(`${'x;'.repeat(1500)}`),
    fc.constant(`application/eat+cwt; eat_profile="${'"\\'.repeat(1500)}"`),
    fc.constant(`application/eat+cwt; ${'p=v; '.repeat(1200)}`),
    fc.string({ unit: fc.constantFrom(...' ,;="\\/*q=0.abcxyz+-'), maxLength: 3000 }),
    fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
  ]
  const valid: Record<typeof name, fc.Arbitrary<string>> = {
    accept: fc.constantFrom(
      'application/json',
      'application/eat+jwt',
      'application/eat+cwt',
      'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"',
      '*/*',
      'application/ear+jwt;q=0.5, application/json;q=0.9',
      'text/html',
    ),
    'content-type': fc.constantFrom(...EVIDENCE_TYPES),
    prefer: fc.constantFrom('wait=0', 'wait=1', 'wait=2', 'wait=99999999999999999999', 'wait=-1', 'wait=1.5', 'respond-async', 'wait=1, wait=2', ''),
  }
  return fc.oneof({ weight: 3, arbitrary: valid[name] }, { weight: 1, arbitrary: fc.oneof(...common) })
}

/** Requests no HTTP client library writes: each on its own connection, complete (nothing withheld). */
function rawRequests(): FuzzRequest[] {
  const body = Buffer.from(pipelineSeeds()[0]!.bytes)
  const post = (headers: string, payload: Buffer = body) =>
    Buffer.concat([Buffer.from(`POST /v1/appraisals HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n${headers}\r\n`), payload])
  const ct = `Content-Type: ${MEDIA.cwt}\r\n`
  const cl = `Content-Length: ${body.length}\r\n`
  const cases: [string, Buffer][] = [
    ['accept of 15000 commas', post(`${ct}${cl}Accept: ${','.repeat(15_000)}\r\n`)],
    ['accept of 1500 media ranges', post(`${ct}${cl}Accept: ${'a/b;q=0.5,'.repeat(1500)}\r\n`)],
    ['content-type of 1500 parameters', post(`Content-Type: application/eat+cwt${'; a=b'.repeat(1500)}\r\n${cl}`)],
    ['prefer of 15000 characters', post(`${ct}${cl}Prefer: ${'wait=1, '.repeat(1800)}\r\n`)],
    ['3000 headers', post(`${ct}${cl}${'X-F: 1\r\n'.repeat(3000)}`)],
    ['headers over 16 KiB', post(`${ct}${cl}X-Big: ${'a'.repeat(20_000)}\r\n`)],
    ['two different Content-Length', post(`${ct}${cl}Content-Length: 3\r\n`)],
    ['Content-Length and chunked', post(`${ct}${cl}Transfer-Encoding: chunked\r\n`, Buffer.from(`${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`, 'latin1'))],
    ['bad chunk size', post(`${ct}Transfer-Encoding: chunked\r\n`, Buffer.from('zz\r\nabc\r\n0\r\n\r\n'))],
    ['chunk size beyond 2^64', post(`${ct}Transfer-Encoding: chunked\r\n`, Buffer.from('fffffffffffffffffff\r\nabc\r\n0\r\n\r\n'))],
    ['obs-fold header', post(`${ct}${cl}Accept: application/json,\r\n  application/eat+jwt\r\n`)],
    ['header name with a space', post(`${ct}${cl}Bad Header: x\r\n`)],
    ['NUL in a header value', post(`${ct}${cl}Accept: a\u0000b\r\n`)],
    ['duplicate Content-Type', post(`${ct}Content-Type: application/eat+jwt\r\n${cl}`)],
    ['absurd method', Buffer.from(`FROBNICATE /v1/appraisals HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n`)],
    ['HTTP/0.9 request line', Buffer.from('GET /healthz\r\n\r\n')],
    ['HTTP/3.0 version', Buffer.from('GET /healthz HTTP/3.0\r\nHost: fuzz\r\nConnection: close\r\n\r\n')],
    ['request target of 12000 characters', Buffer.from(`GET /v1/appraisals/${'a'.repeat(12_000)} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n`)],
    ['absolute-form target', Buffer.from('GET http://evil.example/healthz HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n')],
    ['binary garbage', Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), Buffer.alloc(300, 0xff), Buffer.from('\r\n\r\n')])],
  ]
  return cases.map(([name, raw]) => ({ route: `raw: ${name}`, method: 'RAW', path: name, headers: {}, raw }))
}

function requestArb(ids: { appraisals: string[]; sessions: string[] }): fc.Arbitrary<FuzzRequest> {
  const seeds = pipelineSeeds()
  const vectors = [...vectorTokens().values()]
  const resign = (payload: Uint8Array) =>
    signSign1(keys.es256, { payload, protectedHeader: new Map<number, never>([[1, -7 as never], [4, utf8(KID) as never]]), tag: 'cwt' })
  const evidence: fc.Arbitrary<{ body: Uint8Array; type: string }> = fc.oneof(
    { weight: 6, arbitrary: mutatedArb(seeds.map((s) => s.bytes)).map((m) => ({ body: m.bytes, type: seeds[m.seed]!.mediaType })) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds).map((s) => ({ body: s.bytes, type: s.mediaType })) },
    { weight: 2, arbitrary: hostileBytesArb.map((body) => ({ body, type: MEDIA.cwt })) },
    { weight: 1, arbitrary: eatClaimsMapArb().map((c) => ({ body: resign(encodeCbor(c)), type: MEDIA.cwt })) },
    { weight: 1, arbitrary: eatJsonClaimsArb.map((j) => ({ body: utf8(signJwt(j)), type: MEDIA.jwt })) },
    { weight: 1, arbitrary: psaClaimsMapArb.map((c) => ({ body: signSign1(keys.es256, { payload: encodeCbor(c) }), type: MEDIA.psa })) },
    ...(vectors.length > 0 ? [{ weight: 1, arbitrary: mutatedArb(vectors).map((m) => ({ body: m.bytes, type: MEDIA.cwt })) }] : []),
  )
  const id = (pool: string[]) =>
    fc.oneof(
      fc.nat().map((i) => pool[i % Math.max(1, pool.length)] ?? '00000000-0000-4000-8000-000000000000'),
      fc.uuid(),
      fc.string({ maxLength: 300 }).map(encodeURIComponent),
      fc.constantFrom('..%2f..%2fetc%2fpasswd', '%00', '%ff%fe', 'a'.repeat(5000), '{default}:nonce:*'),
    )
  const query = fc.oneof(
    fc.constant(''),
    fc.integer({ min: -5, max: 100 }).map((n) => `?nonceSize=${n}`),
    fc.constantFrom('?nonceSize=1e3', '?nonceSize=', '?nonceSize=32&nonceSize=16', '?nonceSize[]=1', `?nonceSize=${'9'.repeat(400)}`),
    fc.uint8Array({ maxLength: 80 }).map((b) => `?nonce=${encodeURIComponent(Buffer.from(b).toString('base64'))}`),
    fc.string({ maxLength: 200 }).map((s) => `?nonce=${encodeURIComponent(s)}`),
  )
  const withHeaders = (h: Record<string, string | undefined>): Record<string, string> =>
    Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''))

  return fc.oneof(
    {
      weight: 10,
      arbitrary: fc
        .record({
          ev: evidence,
          type: fc.option(hostileHeaderArb('content-type'), { freq: 4 }),
          accept: fc.option(hostileHeaderArb('accept'), { freq: 2 }),
          prefer: fc.option(hostileHeaderArb('prefer'), { freq: 2 }),
        })
        .map(({ ev, type, accept, prefer }) => ({
          route: 'POST /v1/appraisals',
          method: 'POST',
          path: '/v1/appraisals',
          headers: withHeaders({ 'content-type': type ?? ev.type, accept: accept ?? undefined, prefer: prefer ?? undefined }),
          body: ev.body,
        })),
    },
    {
      weight: 3,
      arbitrary: fc.record({ ev: evidence, sid: id(ids.sessions), type: fc.option(hostileHeaderArb('content-type'), { freq: 4 }) }).map(({ ev, sid, type }) => ({
        route: 'POST /challenge-response/v1/session/{id}',
        method: 'POST',
        path: `/challenge-response/v1/session/${sid}`,
        headers: withHeaders({ 'content-type': type ?? ev.type }),
        body: ev.body,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.record({ q: query, accept: fc.option(hostileHeaderArb('accept')) }).map(({ q, accept }) => ({
        route: 'POST /challenge-response/v1/newSession',
        method: 'POST',
        path: `/challenge-response/v1/newSession${q}`,
        headers: withHeaders({ accept: accept ?? undefined }),
      })),
    },
    {
      weight: 2,
      arbitrary: fc.record({ sid: id(ids.sessions), method: fc.constantFrom('GET', 'DELETE', 'PUT') }).map(({ sid, method }) => ({
        route: `${method} /challenge-response/v1/session/{id}`,
        method,
        path: `/challenge-response/v1/session/${sid}`,
        headers: {},
      })),
    },
    {
      weight: 2,
      arbitrary: query.map((q) => ({ route: 'POST /v1/nonces', method: 'POST', path: `/v1/nonces${q}`, headers: {} })),
    },
    {
      weight: 3,
      arbitrary: fc.record({ aid: id(ids.appraisals), accept: fc.option(hostileHeaderArb('accept'), { freq: 2 }) }).map(({ aid, accept }) => ({
        route: 'GET /v1/appraisals/{id}',
        method: 'GET',
        path: `/v1/appraisals/${aid}`,
        headers: withHeaders({ accept: accept ?? undefined }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('/.well-known/jwks.json', '/.well-known/veraison/verification', '/openapi.yaml', '/healthz', '/readyz', '/metrics')
        .map((path) => ({ route: `GET ${path}`, method: 'GET', path, headers: {} })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          method: fc.constantFrom('GET', 'POST', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE'),
          path: fc.oneof(
            fc.webPath(),
            fc.constantFrom('/v1', '/v1/', '/v1/appraisals/', '//v1/appraisals', '/v1/%2e%2e/openapi.yaml', `/${'a/'.repeat(3000)}`, '/challenge-response/v1/'),
          ),
        })
        .map(({ method, path }) => ({ route: 'other', method, path: path.startsWith('/') ? path : `/${path}`, headers: {} })),
    },
    { weight: 2, arbitrary: fc.constantFrom(...rawRequests()) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(70 * 1024, 1024 * 1024, 8 * 1024 * 1024).map((size) => ({
        route: 'POST /v1/appraisals (oversized)',
        method: 'POST',
        path: '/v1/appraisals',
        headers: { 'content-type': MEDIA.cwt },
        body: new Uint8Array(size).fill(0x81),
        oversized: true,
      })),
    },
  )
}

/** Writes `r.raw` on a fresh connection and reads until the server closes it; parses the status line. */
function sendRaw(base: URL, raw: Buffer, timeoutMs: number): Promise<Outcome> {
  const start = performance.now()
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let settled = false
    const done = (error?: string) => {
      if (settled) return
      settled = true
      socket.destroy()
      const text = Buffer.concat(chunks)
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text.toString('latin1', 0, 32))
      const head = text.toString('latin1', 0, Math.max(0, text.indexOf('\r\n\r\n')))
      const type = /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1]
      resolve({
        ...(m === null ? {} : { status: Number(m[1]), headers: type === undefined ? {} : { 'content-type': type } }),
        ...(error === undefined && m !== null ? {} : { error: error ?? (text.length === 0 ? 'closed without an answer' : 'unparsable answer') }),
        ms: performance.now() - start,
      })
    }
    const socket = connect({ host: base.hostname, port: Number(base.port) }, () => socket.end(raw))
    socket.setTimeout(timeoutMs, () => done('timeout'))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => done())
    socket.on('error', (err: NodeJS.ErrnoException) => done(chunks.length > 0 ? undefined : (err.code ?? err.message)))
  })
}

function send(base: URL, agent: Agent, r: FuzzRequest, timeoutMs: number): Promise<Outcome> {
  if (r.raw !== undefined) return sendRaw(base, r.raw, timeoutMs)
  const start = performance.now()
  return new Promise((resolve) => {
    let settled = false
    const done = (o: Omit<Outcome, 'ms'>) => {
      if (settled) return
      settled = true
      resolve({ ...o, ms: performance.now() - start })
    }
    let req
    try {
      req = httpRequest({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers: r.headers, agent })
    } catch (err) {
      // Node refuses to send some generated header or path (invalid characters): not a server finding.
      done({ error: `client refused: ${(err as Error).message}` })
      return
    }
    req.setTimeout(timeoutMs, () => {
      done({ error: 'timeout' })
      req.destroy()
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', (err) => done({ status: res.statusCode, headers: res.headers, error: err.message }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
    req.end(r.body === undefined ? undefined : Buffer.from(r.body))
  })
}


function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

interface Service {
  readonly url: URL
  readonly pid: number | undefined
  /** Set when the service exited during the run. */
  exit: string | undefined
  readonly stderrTail: string[]
  stop(): Promise<void>
}

async function startService(opts: Map<string, string>): Promise<Service> {
  const given = opts.get('url')
  if (given !== undefined) {
    return { url: new URL(given), pid: numberOpt(opts, 'pid', 0) || undefined, exit: undefined, stderrTail: [], stop: async () => undefined }
  }
  const port = await freePort()
  const work = mkdtempSync(join(tmpdir(), 'assay-fuzz-'))
  const refDir = join(work, 'reference-values')
  mkdirSync(refDir)
  writeFileSync(join(refDir, 'fuzz.json'), JSON.stringify(referenceValueDocument(), null, 2))
  const dist = opts.get('dist') === 'true'
  if (dist && !existsSync(join(ROOT, 'dist/main/cli.js'))) throw new Error('--dist: run `npm run build` first')
  const args = dist ? [join(ROOT, 'dist/main/cli.js'), 'start'] : ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'start']
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      ASSAY_DATA_DIR: join(work, 'data'),
      ASSAY_REFERENCE_VALUES_DIR: refDir,
      REDIS_URL: '',
      // The parsers are the target: the per-client rate limit would turn most requests into 429s.
      ASSAY_RATE_LIMIT_POINTS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const service: Service = {
    url: new URL(`http://127.0.0.1:${port}`),
    pid: child.pid,
    exit: undefined,
    stderrTail: [],
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      rmSync(work, { recursive: true, force: true })
    },
  }
  child.stderr!.on('data', (c: Buffer) => {
    service.stderrTail.push(...c.toString('utf8').split('\n').filter(Boolean))
    service.stderrTail.splice(0, Math.max(0, service.stderrTail.length - 40))
  })
  child.stdout!.resume()
  child.once('exit', (code, signal) => {
    service.exit = `exited with ${signal ?? `code ${code}`}`
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (service.exit !== undefined) throw new Error(`Assay ${service.exit} at start:\n${service.stderrTail.join('\n')}`)
    const ok = await fetch(new URL('/readyz', service.url)).then((r) => r.status === 200, () => false)
    if (ok) return service
    if (Date.now() > deadline) throw new Error('Assay did not become ready within 60 s')
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function http(opts: Map<string, string>): Promise<number> {
  const count = numberOpt(opts, 'count', 20_000)
  const seconds = numberOpt(opts, 'seconds', 120)
  const concurrency = Math.max(1, numberOpt(opts, 'concurrency', 8))
  const timeoutMs = numberOpt(opts, 'timeout-ms', 15_000)
  const seed = numberOpt(opts, 'seed', Date.now() % 2 ** 31)
  const failDir = mkdtempSync(join(tmpdir(), 'assay-fuzz-failures-'))

  const service = await startService(opts)
  console.log(`fuzz http: ${service.url.origin}, up to ${count} requests or ${seconds} s, concurrency ${concurrency}, seed ${seed}`)
  const rssStart = rssOf(service.pid)
  let rssMax = rssStart ?? 0
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssOf(service.pid) ?? 0)
  }, 500)

  const ids = { appraisals: [] as string[], sessions: [] as string[] }
  const arb = requestArb(ids)
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses = new Map<string, number>()
  const routes = new Map<string, number>()
  const failures: string[] = []
  const notProblem = new Map<string, number>()
  let sent = 0
  let slowest = 0
  const routeMs = new Map<string, number[]>()
  const deadline = Date.now() + seconds * 1000
  let batch: FuzzRequest[] = []
  let batchNo = 0

  const next = (): FuzzRequest | undefined => {
    if (sent >= count || Date.now() > deadline || service.exit !== undefined) return undefined
    if (batch.length === 0) batch = fc.sample(arb, { numRuns: 200, seed: (seed + batchNo++ * 104_729) % 2 ** 31 })
    sent++
    return batch.pop()
  }

  const fail = (kind: string, r: FuzzRequest, detail: string) => {
    const file = join(failDir, `${failures.length}.json`)
    writeFileSync(file, JSON.stringify({ kind, detail, method: r.method, path: r.path, headers: r.headers, bodyHex: r.body === undefined ? undefined : Buffer.from(r.body).toString('hex') }))
    failures.push(`${kind}: ${detail}\n    ${r.method} ${r.path.slice(0, 200)}\n    headers ${JSON.stringify(r.headers).slice(0, 300)}\n    body ${r.body === undefined ? '-' : hex(r.body, 128)}\n    saved as ${file}`)
  }

  const started = performance.now()
  const worker = async () => {
    for (let r = next(); r !== undefined; r = next()) {
      routes.set(r.route, (routes.get(r.route) ?? 0) + 1)
      const o = await send(service.url, agent, r, timeoutMs)
      slowest = Math.max(slowest, o.ms)
      if (o.status !== undefined) routeMs.set(r.route, [...(routeMs.get(r.route) ?? []), o.ms])
      const key = o.status === undefined ? `error ${o.error}` : String(o.status)
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      if (o.error === 'timeout') fail('hang', r, `no answer within ${timeoutMs} ms`)
      else if (o.status === undefined && o.error?.startsWith('client refused') === true) continue
      else if (o.status === undefined && !(r.oversized === true && /ECONNRESET|EPIPE|socket hang up/.test(o.error ?? ''))) {
        fail('connection', r, o.error ?? 'no response')
      } else if (o.status !== undefined && o.status >= 500) {
        fail(`status ${o.status}`, r, (o.body ?? Buffer.alloc(0)).toString('utf8').slice(0, 300))
      }
      if (o.status !== undefined && o.status >= 400 && !String(o.headers?.['content-type']).startsWith('application/problem+json')) {
        notProblem.set(`${o.status} ${r.route}`, (notProblem.get(`${o.status} ${r.route}`) ?? 0) + 1)
      }
      if (o.status === 202 || o.status === 200) {
        const m = /"id":"([0-9a-f-]{36})"/.exec(o.body?.toString('utf8') ?? '')
        if (m !== null && ids.appraisals.length < 1000) ids.appraisals.push(m[1]!)
      }
      const location = o.headers?.['location']
      if (o.status === 201 && typeof location === 'string' && location.startsWith('session/') && ids.sessions.length < 1000) ids.sessions.push(location.slice(8))
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - started) / 1000
  clearInterval(sampler)
  agent.destroy()

  const healthy = await fetch(new URL('/healthz', service.url)).then((r) => r.status === 200, () => false)
  if (service.exit !== undefined) failures.push(`crash: the service ${service.exit}\n${service.stderrTail.slice(-20).join('\n')}`)
  else if (!healthy) failures.push('the service does not answer /healthz after the run')
  const rssEnd = rssOf(service.pid)
  const crash = service.exit
  await service.stop()

  console.log(`\nsent ${sent} requests in ${elapsed.toFixed(1)} s (${Math.round(sent / elapsed)}/s); slowest answer ${Math.round(slowest)} ms`)
  console.log('by route: requests, median and slowest answer (ms)')
  for (const [route, n] of [...routes].sort((a, b) => b[1] - a[1])) {
    const ms = (routeMs.get(route) ?? []).sort((a, b) => a - b)
    const median = ms.length === 0 ? '-' : ms[Math.floor(ms.length / 2)]!.toFixed(1)
    const max = ms.length === 0 ? '-' : ms[ms.length - 1]!.toFixed(1)
    console.log(`  ${String(n).padStart(7)}  ${median.padStart(8)}  ${max.padStart(8)}  ${route}`)
  }
  console.log('by status:')
  for (const [status, n] of [...statuses].sort()) console.log(`  ${String(n).padStart(7)}  ${status}`)
  const count5xx = [...statuses].filter(([s]) => /^5/.test(s)).reduce((a, [, n]) => a + n, 0)
  const resets = failures.filter((f) => f.startsWith('connection')).length
  const hangs = failures.filter((f) => f.startsWith('hang')).length
  console.log(`5xx: ${count5xx}   connection errors: ${resets}   hangs (> ${timeoutMs} ms): ${hangs}   crash: ${crash ?? 'none'}`)
  const plain = [...notProblem].sort((a, b) => b[1] - a[1])
  console.log(`error answers that are not application/problem+json: ${plain.reduce((a, [, n]) => a + n, 0)}${plain.length === 0 ? '' : ` (${plain.map(([k, n]) => `${n}x ${k}`).join('; ')})`}`)
  if (rssStart !== undefined) {
    console.log(`service RSS: ${mb(rssStart)} at start, ${mb(rssMax)} peak, ${rssEnd === undefined ? '?' : mb(rssEnd)} at end`)
  }
  if (failures.length > 0) {
    console.log(`\n${failures.length} failure(s), first 20 (all saved under ${failDir}):`)
    for (const f of failures.slice(0, 20)) console.log(`- ${f}`)
    return 1
  }
  rmSync(failDir, { recursive: true, force: true })
  console.log('no failures')
  return 0
}

const { mode, opts } = parseArgs(process.argv.slice(2))
let code: number
if (mode === 'parsers') code = await parsers(opts)
else if (mode === 'http') code = await http(opts)
else {
  console.error('usage: npm run fuzz -- parsers [--runs N] [--only a,b] [--skip a,b] [--seed S]\n       npm run fuzz -- http [--url URL] [--count N] [--seconds T] [--concurrency C] [--timeout-ms MS] [--seed S] [--dist]')
  console.error(`parsers: ${TARGETS.map((t) => t.name).join(', ')}`)
  code = 2
}
process.exit(code)
