/**
 * The process log (issue 8 item 9), through real HTTP to a started Assay (embedded mode) whose
 * logger writes to memory: one start summary (mode, address, each reference-values file and what it
 * provisioned, the EAR key id); one line per request (request id, appraisal or session id, tenant,
 * media type, status, duration) and one per appraisal from the worker; the request id taken from a
 * sane `X-Request-Id` and echoed; a warning when nothing is provisioned; and neither the Evidence
 * (its bytes as hex, base64 or base64url, or its signature) nor Authorization and Cookie values
 * anywhere in the output. On Redis, the API's request line and the worker process's appraisal line
 * carry the same appraisal id.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { createProcessLogger } from '../../../src/main/logger.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex, toHex } from '../../../src/util/bytes.js'
import { rfc9783Iak, signSign1 } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SAMPLES = join(ROOT, 'examples/reference-values')
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const SECRET_BEARER = 'Bearer sk-live-Do-Not-Log-4f1e2d'
const SECRET_COOKIE = 'session=cookie-Do-Not-Log-9a8b7c'

function psaToken(nonce: Uint8Array): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(rfc9783Iak(), { payload: encodeCbor(claims) })
}

type Line = Record<string, unknown> & { level: number; msg: string }

/** A logger whose stdout and stderr are kept in memory, as the JSON lines a process would print. */
function memoryLogger(level = 'info') {
  let out = ''
  let err = ''
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        append(chunk.toString('utf8'))
        done()
      },
    })
  const logger = createProcessLogger({ level, stdout: sink((t) => (out += t)), stderr: sink((t) => (err += t)) })
  const parse = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)
  return { logger, stdout: () => parse(out), stderr: () => parse(err), text: () => out + err }
}

describe('process log', { timeout: 60_000 }, () => {
  const dirs: string[] = []
  const running: RunningAssay[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-logging-'))
    dirs.push(dir)
    return dir
  }
  after(async () => {
    for (const r of running) await r.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  describe('a service with the sample reference values', () => {
    const log = memoryLogger()
    let service: RunningAssay
    const tokens: Uint8Array[] = []

    before(async () => {
      const config = loadConfig({ port: 0, dataDir: tempDir(), referenceValuesDir: SAMPLES, allowPublishedKeys: true, rateLimitPoints: 0 })
      service = await startAssay(config, { role: 'all', logger: log.logger })
      running.push(service)
    })

    async function nonce(): Promise<Uint8Array> {
      const res = await fetch(`${service.url}/v1/nonces`, { method: 'POST' })
      return base64urlDecode(((await res.json()) as { nonce: string }).nonce)
    }

    it('logs one start summary: mode, address, each file and what it provisioned, the EAR key id', async () => {
      const summaries = log.stdout().filter((l) => /\[assay\] start: listening on/.test(l.msg))
      assert.equal(summaries.length, 1)
      const s = summaries[0]!
      assert.equal(s.msg, `[assay] start: listening on ${service.url} (embedded mode, data in ${String(s['dataDir'])})`)
      assert.equal(s['mode'], 'embedded')
      assert.equal(s['role'], 'start')
      assert.equal(s['address'], service.url)
      assert.equal(s['testMode'], true)
      const jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
      assert.equal(s['earKeyId'], jwks.keys[0]!.kid)
      assert.deepEqual(s['referenceValues'], {
        dir: SAMPLES,
        trustAnchors: 1,
        keys: 0,
        referenceValues: 1,
        profiles: 0,
        corimSigners: 0,
        files: [{ file: join(SAMPLES, 'psa-rfc9783-example.json'), tenant: 'default', trustAnchors: 1, keys: 0, referenceValues: 1, profiles: 0, corimSigners: 0 }],
      })
    })

    it('logs each request with its id, appraisal, tenant, media type, status and duration, and the worker logs the appraisal', async () => {
      const token = psaToken(await nonce())
      tokens.push(token)
      const res = await fetch(`${service.url}/v1/appraisals`, {
        method: 'POST',
        body: token,
        headers: { 'content-type': PSA_TFM, prefer: 'wait=10', 'x-request-id': 'client-req.42', authorization: SECRET_BEARER, cookie: SECRET_COOKIE },
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-request-id'), 'client-req.42')
      const { id } = (await res.json()) as { id: string }
      const line = log.stdout().find((l) => l['reqId'] === 'client-req.42')
      assert.ok(line, 'a request line')
      assert.equal(line.level, 30)
      assert.equal(line.msg, 'POST /v1/appraisals 200')
      assert.deepEqual(
        { method: line['method'], path: line['path'], status: line['status'], appraisalId: line['appraisalId'], tenant: line['tenant'], mediaType: line['mediaType'] },
        { method: 'POST', path: '/v1/appraisals', status: 200, appraisalId: id, tenant: 'default', mediaType: PSA_TFM },
      )
      assert.equal(typeof line['responseTime'], 'number')
      const worker = log.stdout().find((l) => l['appraisalId'] === id && l['reqId'] === undefined)
      assert.ok(worker, 'a worker line')
      assert.match(worker.msg, new RegExp(`^\\[assay\\] appraisal ${id} affirming in \\d+ ms$`))
      assert.deepEqual(
        { tenant: worker['tenant'], api: worker['api'], status: worker['status'], mediaType: worker['mediaType'] },
        { tenant: 'default', api: 'native', status: 'affirming', mediaType: PSA_TFM },
      )
      assert.equal(typeof worker['durationMs'], 'number')
      assert.equal(typeof worker['queuedMs'], 'number')
    })

    it('replaces a request id that is not a plain token of at most 128 characters with a UUID', async () => {
      for (const given of ['has space', 'x'.repeat(129), '{"inject":1}', '']) {
        const res = await fetch(`${service.url}/v1/appraisals/00000000-0000-4000-8000-000000000000`, { headers: { 'x-request-id': given } })
        assert.equal(res.status, 404)
        const id = res.headers.get('x-request-id')!
        assert.match(id, UUID)
        const line = log.stdout().find((l) => l['reqId'] === id)
        assert.equal(line?.['status'], 404)
        assert.ok(!log.text().includes(given) || given === '', given)
      }
      const own = await fetch(`${service.url}/healthz`)
      assert.match(own.headers.get('x-request-id')!, UUID)
    })

    it('logs a challenge/response session with its session and appraisal ids', async () => {
      const token = psaToken(new Uint8Array(32).fill(7))
      tokens.push(token)
      const created = await fetch(`${service.url}/challenge-response/v1/newSession?nonce=${Buffer.alloc(32, 7).toString('base64url')}`, { method: 'POST' })
      assert.equal(created.status, 201)
      const sessionPath = `/challenge-response/v1/${created.headers.get('location')!}`
      const sessionId = sessionPath.slice(-36)
      const submitted = await fetch(service.url + sessionPath, { method: 'POST', body: token, headers: { 'content-type': PSA_TFM, authorization: SECRET_BEARER } })
      assert.equal(submitted.status, 200)
      assert.equal(((await submitted.json()) as { status: string }).status, 'complete')
      const line = log.stdout().find((l) => l['method'] === 'POST' && l['path'] === sessionPath)
      assert.ok(line, 'a request line')
      assert.equal(line['sessionId'], sessionId)
      assert.match(String(line['appraisalId']), UUID)
      assert.equal(line['mediaType'], PSA_TFM)
      const worker = log.stdout().find((l) => l['appraisalId'] === line['appraisalId'] && l['reqId'] === undefined)
      assert.deepEqual([worker?.['api'], worker?.['sessionId'], worker?.['status']], ['challenge-response', sessionId, 'affirming'])
    })

    it('logs probes at debug only, so not at info', async () => {
      for (const probe of ['/healthz', '/readyz', '/metrics']) {
        const res = await fetch(service.url + probe)
        assert.equal(res.status, 200)
        const id = res.headers.get('x-request-id')
        assert.equal([...log.stdout(), ...log.stderr()].find((l) => l['reqId'] === id), undefined, probe)
      }
    })

    it('never logs the Evidence, nor Authorization or Cookie values', () => {
      assert.equal(tokens.length, 2)
      const text = log.text()
      for (const token of tokens) {
        const outer = decodeCbor(token, { allowedTags: new Set([18]) }) as CborTag
        const [, , payload, signature] = outer.value as Uint8Array[]
        const buf = Buffer.from(token)
        for (const encoded of [toHex(token), buf.toString('base64'), buf.toString('base64url'), Buffer.from(payload!).toString('base64'), toHex(signature!), Buffer.from(signature!).toString('base64url')]) {
          // A 16-character slice of any encoding is enough to be a leak.
          for (let i = 0; i + 16 <= encoded.length; i += 16) assert.ok(!text.includes(encoded.slice(i, i + 16)), `Evidence in the log: ${encoded.slice(i, i + 16)}`)
        }
      }
      for (const secret of ['sk-live-Do-Not-Log', 'cookie-Do-Not-Log']) assert.ok(!text.includes(secret), secret)
      assert.ok(log.stdout().length > 5)
    })
  })

  it('names the operator, the document and the version of a provisioning change; never the token', async () => {
    const log = memoryLogger()
    const token = `operator-${'t'.repeat(40)}-Do-Not-Log`
    const service = await startAssay(loadConfig({ port: 0, dataDir: tempDir(), operatorToken: token, rateLimitPoints: 0 }), { role: 'all', logger: log.logger })
    running.push(service)
    const implementationId = 'ab'.repeat(32)
    const res = await fetch(`${service.url!}/v1/reference-values`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'psa-implementation', implementationId, softwareComponents: [{ measurementValue: '01'.repeat(32), signerId: '02'.repeat(32) }] }),
    })
    assert.equal(res.status, 201)
    await res.arrayBuffer()
    const deactivated = await fetch(`${service.url!}/v1/reference-values/psa-rv-${implementationId}/deactivate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    assert.equal(deactivated.status, 200)
    await deactivated.arrayBuffer()
    const lines = log.stdout().filter((l) => typeof l['path'] === 'string' && (l['path'] as string).startsWith('/v1/reference-values'))
    assert.deepEqual(
      lines.map((l) => [l['method'], l['status'], l['endorsementId'], l['endorsementVersion'], l['tenant']]),
      [
        ['POST', 201, `psa-rv-${implementationId}`, 1, 'default'],
        ['POST', 200, `psa-rv-${implementationId}`, 2, 'default'],
      ],
    )
    assert.ok(lines.every((l) => /^operator-token:[0-9a-f]{8}$/.test(String(l['operator']))))
    assert.ok(!log.text().includes('Do-Not-Log'), 'the operator token is never logged')
  })

  it('warns when a reference-values directory provisions nothing', async () => {
    const log = memoryLogger()
    const empty = tempDir()
    const service = await startAssay(loadConfig({ port: 0, dataDir: tempDir(), referenceValuesDir: empty }), { role: 'all', logger: log.logger })
    running.push(service)
    const warnings = log.stderr().filter((l) => l.level === 40 && /WARNING: no reference values provisioned/.test(l.msg))
    assert.equal(warnings.length, 1, JSON.stringify(log.stderr()))
    const summary = log.stdout().find((l) => /listening on/.test(l.msg))!
    assert.deepEqual(summary['referenceValues'], { dir: empty, trustAnchors: 0, keys: 0, referenceValues: 0, profiles: 0, corimSigners: 0, files: [] })
  })

  it('logs a not-ready probe (503) at debug, not as a warning', async () => {
    const log = memoryLogger('debug')
    const prefix = `assay-test-${randomUUID().slice(0, 8)}`
    // An API with no worker is not ready.
    const api = await startAssay(loadConfig({ port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir: tempDir() }), { role: 'api', logger: log.logger })
    running.push(api)
    try {
      const res = await fetch(`${api.url}/readyz`)
      assert.equal(res.status, 503)
      const line = log.stdout().find((l) => l['reqId'] === res.headers.get('x-request-id'))
      assert.deepEqual([line?.level, line?.['status'], line?.['path']], [20, 503, '/readyz'])
      assert.deepEqual(log.stderr().filter((l) => l['path'] === '/readyz'), [])
    } finally {
      await deletePrefix(prefix)
    }
  })

  it('at level warn, logs no request lines and no start summary', async () => {
    const log = memoryLogger('warn')
    const service = await startAssay(loadConfig({ port: 0, dataDir: tempDir(), referenceValuesDir: SAMPLES, allowPublishedKeys: true }), {
      role: 'all',
      logger: log.logger,
    })
    running.push(service)
    assert.equal((await fetch(`${service.url}/v1/appraisals/00000000-0000-4000-8000-000000000000`)).status, 404)
    assert.deepEqual(log.stdout(), [])
    assert.ok(log.stderr().length > 0 && log.stderr().every((l) => l.level >= 40))
  })

  it('on Redis: the API logs the request and a separate worker process the appraisal, under one appraisal id', async () => {
    const prefix = `assay-test-${randomUUID().slice(0, 8)}`
    const dataDir = tempDir()
    const log = memoryLogger()
    const api = await startAssay(
      loadConfig({ port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, rateLimitPoints: 0 }),
      { role: 'api', logger: log.logger },
    )
    running.push(api)
    const worker = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL,
        ASSAY_REDIS_PREFIX: prefix,
        ASSAY_DATA_DIR: dataDir,
        ASSAY_REFERENCE_VALUES_DIR: SAMPLES,
        ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
        ASSAY_LOG_FORMAT: 'auto',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let workerOut = ''
    worker.stdout.on('data', (chunk: Buffer) => (workerOut += chunk.toString('utf8')))
    worker.stderr.resume()
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    try {
      const workerLines = () => workerOut.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)
      for (let i = 0; !workerLines().some((l) => /worker: worker running/.test(l.msg)); i++) {
        assert.ok(i < 600, 'the worker did not start')
        await new Promise((r) => setTimeout(r, 50))
      }
      // The worker's summary: what it appraises with, and no address (it does not listen).
      const summary = workerLines().find((l) => /worker: worker running/.test(l.msg))!
      assert.deepEqual([summary['mode'], summary['address'], (summary['referenceValues'] as { trustAnchors: number }).trustAnchors], ['redis', undefined, 1])

      const res = await fetch(`${api.url}/v1/nonces`, { method: 'POST' })
      const token = psaToken(base64urlDecode(((await res.json()) as { nonce: string }).nonce))
      const submitted = await fetch(`${api.url}/v1/appraisals`, { method: 'POST', body: token, headers: { 'content-type': PSA_TFM, prefer: 'wait=10' } })
      assert.equal(submitted.status, 200)
      const { id } = (await submitted.json()) as { id: string }
      const request = log.stdout().find((l) => l['appraisalId'] === id)
      assert.equal(request?.['status'], 200)
      for (let i = 0; !workerLines().some((l) => l['appraisalId'] === id); i++) {
        assert.ok(i < 200, 'no worker line for the appraisal')
        await new Promise((r) => setTimeout(r, 50))
      }
      const line = workerLines().find((l) => l['appraisalId'] === id)!
      assert.deepEqual([line['status'], line['tenant'], line['api']], ['affirming', 'default', 'native'])
      assert.ok(!workerOut.includes(Buffer.from(token).toString('base64').slice(0, 24)))
    } finally {
      worker.kill('SIGTERM')
      await exited
      await deletePrefix(prefix)
    }
  })
})
