/**
 * End-to-end suite: real HTTP to the Express app on a port, real queue and store, real keys. The
 * same suite runs on Redis with the worker in a separate process and in embedded mode.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { verifyEarCwt, verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode, base64urlEncode } from '../../../src/util/base64url.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, rfc9783Iak, signSign1 } from '../../helpers/cose.js'
import { readVector } from '../../helpers/vectors.js'

export interface RunningService {
  readonly url: string
  stop(): Promise<void>
}

const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const RFC_TOKEN = fromHex(VECTOR.token_hex)
const RFC_NONCE = new Uint8Array(32).fill(1)
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const iak = rfc9783Iak()

function rfcClaims(): Map<number, EncodableValue> {
  const outer = decodeCbor(RFC_TOKEN, { allowedTags: new Set([18]) }) as CborTag
  return new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
}

function psaToken(change: (claims: Map<number, EncodableValue>) => void, key = iak): Uint8Array {
  const claims = rfcClaims()
  change(claims)
  return signSign1(key, { payload: encodeCbor(claims) })
}

/** The value of one sample of a Prometheus text exposition, by name and exact label set; 0 when absent. */
function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const got = [...(m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((l) => [l[1]!, l[2]!] as const)
      .sort(([a], [b]) => a.localeCompare(b))
    if (JSON.stringify(got) === JSON.stringify(want)) return Number(m[3])
  }
  return 0
}

/** Every (method, route, status) the suite saw, to check against openapi.yaml. */
type Seen = Set<string>

export function serviceSuite(name: string, start: (sessionTtlSeconds: number) => Promise<RunningService>): void {
  describe(`service end to end: ${name}`, { timeout: 120_000 }, () => {
    let service: RunningService
    let jwks: EarJwks
    const seen: Seen = new Set()

    async function http(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}) {
      const res = await fetch(service.url + path, { method, body: init.body as string | undefined, headers: init.headers ?? {} })
      const template = path
        .replace(/\?.*$/, '')
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, '{id}')
      seen.add(`${method.toLowerCase()} ${template} ${res.status}`)
      return res
    }

    async function verifyJwt(token: string): Promise<EarClaims> {
      return verifyEarJwt(token, jwks, { clock: systemClock }).claims
    }

    async function appraise(token: Uint8Array, contentType = PSA_TFM) {
      const res = await http('POST', '/v1/appraisals', { body: token, headers: { 'content-type': contentType, prefer: 'wait=10' } })
      assert.equal(res.status, 200)
      const body = (await res.json()) as { id: string; status: string; result: { ear: string } }
      assert.equal(body.status, 'complete')
      return { id: body.id, claims: await verifyJwt(body.result.ear) }
    }

    async function scrapeMetrics(): Promise<string> {
      const res = await http('GET', '/metrics')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/)
      return res.text()
    }

    async function freshNonce(): Promise<Uint8Array> {
      const res = await http('POST', '/v1/nonces')
      assert.equal(res.status, 201)
      return base64urlDecode(((await res.json()) as { nonce: string }).nonce)
    }

    before(async () => {
      service = await start(2)
      const res = await http('GET', '/.well-known/jwks.json')
      jwks = (await res.json()) as EarJwks
      assert.ok(jwks.keys.length >= 1)
    })

    after(async () => {
      await service?.stop()
    })

    it('is ready: store reachable and a worker heartbeat seen', async () => {
      // Polls for up to a minute: a worker process starts slowly on a busy machine.
      for (let i = 0; i < 600; i++) {
        const res = await http('GET', '/readyz')
        if (res.status === 200) return
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.fail('service did not become ready')
    })

    it('appraises the RFC 9783 example through a challenge/response session as affirming', async () => {
      const nonce = Buffer.from(RFC_NONCE).toString('base64')
      const created = await http('POST', `/challenge-response/v1/newSession?nonce=${encodeURIComponent(nonce)}`)
      assert.equal(created.status, 201)
      const location = created.headers.get('location')!
      assert.match(location, /^session\/[0-9a-f-]{36}$/)
      const session = (await created.json()) as { status: string; nonce: string; accept: string[] }
      assert.equal(session.status, 'waiting')
      assert.equal(session.nonce, base64urlEncode(RFC_NONCE), 'the session gives the nonce in unpadded base64url')
      assert.ok(session.accept.includes(PSA_TFM))

      const submitted = await http('POST', `/challenge-response/v1/${location}`, { body: RFC_TOKEN, headers: { 'content-type': PSA_TFM } })
      assert.equal(submitted.status, 200)
      const done = (await submitted.json()) as {
        status: string
        result: string
        evidence?: unknown
        evidenceDigest: { type: string; alg: string; value: string }
      }
      assert.equal(done.status, 'complete')
      // The session keeps the Evidence's digest, not the Evidence.
      assert.equal(done.evidence, undefined)
      assert.deepEqual(done.evidenceDigest, {
        type: PSA_TFM,
        alg: 'sha-256',
        value: createHash('sha256').update(RFC_TOKEN).digest('base64'),
      })
      const claims = await verifyJwt(done.result)
      assert.equal(claims.profile, 'tag:github.com,2023:veraison/ear')
      const psa = claims.submods.get('PSA')!
      assert.equal(psa.status, 'affirming')
      assert.deepEqual(psa.vector, {
        'instance-identity': 2,
        configuration: 0,
        executables: 2,
        'file-system': 0,
        hardware: 2,
        'runtime-opaque': 0,
        'storage-opaque': 0,
        'sourced-data': 0,
      })
      for (const [claim, value] of Object.entries(psa.vector ?? {})) {
        if (value !== 0) assert.ok(psa.reasons?.some((r) => r.claim === claim), `a reason for ${claim}`)
      }
      assert.equal(base64urlEncode(base64urlDecode(String(claims.nonce))), base64urlEncode(RFC_NONCE))

      const again = await http('GET', `/challenge-response/v1/${location}`)
      assert.equal(again.status, 200)
      assert.equal(((await again.json()) as { result: string }).result, done.result)

      const replay = await http('POST', `/challenge-response/v1/${location}`, { body: RFC_TOKEN, headers: { 'content-type': PSA_TFM } })
      assert.equal(replay.status, 409)
      assert.equal(((await replay.json()) as { code: string }).code, 'ERR_SESSION_STATE')
    })

    it('answers a session whose Evidence carries another nonce with a contraindicated result', async () => {
      const created = await http('POST', '/challenge-response/v1/newSession?nonceSize=32')
      const location = created.headers.get('location')!
      const res = await http('POST', `/challenge-response/v1/${location}`, { body: RFC_TOKEN, headers: { 'content-type': PSA_TFM } })
      const claims = await verifyJwt(((await res.json()) as { result: string }).result)
      const psa = claims.submods.get('PSA')!
      assert.equal(psa.status, 'contraindicated')
      assert.equal(psa.vector?.['instance-identity'], 99)
      assert.equal(psa.reasons?.[0]?.code, 'ERR_CLAIMS_NONCE_MISMATCH')
    })

    it('refuses Evidence for an expired session, an unknown session, and after DELETE', async () => {
      const created = await http('POST', '/challenge-response/v1/newSession')
      const location = created.headers.get('location')!
      await new Promise((r) => setTimeout(r, 2100))
      const late = await http('POST', `/challenge-response/v1/${location}`, { body: RFC_TOKEN, headers: { 'content-type': PSA_TFM } })
      assert.equal(late.status, 404)
      assert.equal(((await late.json()) as { code: string }).code, 'ERR_SESSION_NOT_FOUND')
      const unknown = await http('GET', '/challenge-response/v1/session/00000000-0000-4000-8000-000000000000')
      assert.equal(unknown.status, 404)
      const fresh = (await http('POST', '/challenge-response/v1/newSession')).headers.get('location')!
      assert.equal((await http('DELETE', `/challenge-response/v1/${fresh}`)).status, 204)
      assert.equal((await http('DELETE', `/challenge-response/v1/${fresh}`)).status, 404)
    })

    it('refuses an unsupported media type with 415 listing the accepted ones', async () => {
      const created = await http('POST', '/challenge-response/v1/newSession')
      const location = created.headers.get('location')!
      const res = await http('POST', `/challenge-response/v1/${location}`, { body: RFC_TOKEN, headers: { 'content-type': 'application/json' } })
      assert.equal(res.status, 415)
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
      assert.ok(res.headers.get('accept')?.includes(PSA_TFM))
      const problem = (await res.json()) as { type: string; code: string; status: number }
      assert.equal(problem.code, 'ERR_MEDIA_TYPE_UNSUPPORTED')
      assert.match(problem.type, /media-type-unsupported$/)
      const native = await http('POST', '/v1/appraisals', { body: RFC_TOKEN, headers: { 'content-type': 'text/plain' } })
      assert.equal(native.status, 415)
    })

    it('appraises a token signed at test time with a verifier-issued nonce, then refuses its replay', async () => {
      const nonce = await freshNonce()
      const token = psaToken((c) => c.set(10, nonce))
      const first = await appraise(token)
      assert.equal(first.claims.submods.get('PSA')!.status, 'affirming')
      const replay = await appraise(token)
      const psa = replay.claims.submods.get('PSA')!
      assert.equal(psa.status, 'contraindicated')
      assert.equal(psa.reasons?.[0]?.code, 'ERR_CLAIMS_NONCE_REPLAYED')
    })

    it('of 100 concurrent submissions reusing one nonce, exactly one is appraised as fresh', async () => {
      const nonce = await freshNonce()
      const token = psaToken((c) => c.set(10, nonce))
      const results = await Promise.all(Array.from({ length: 100 }, () => appraise(token)))
      const statuses = results.map((r) => r.claims.submods.get('PSA')!.status)
      assert.equal(statuses.filter((s) => s === 'affirming').length, 1)
      assert.equal(statuses.filter((s) => s === 'contraindicated').length, 99)
    })

    it('gives an unknown Instance ID a contraindicated result: instance-identity 97', async () => {
      const nonce = await freshNonce()
      const stranger = generateTestKey('ES256')
      const token = psaToken((c) => {
        c.set(10, nonce)
        c.set(256, Uint8Array.of(1, ...new Uint8Array(32).fill(9)))
      }, stranger)
      const psa = (await appraise(token)).claims.submods.get('PSA')!
      assert.equal(psa.status, 'contraindicated')
      assert.equal(psa.vector?.['instance-identity'], 97)
      assert.equal(psa.vector?.hardware, 0)
      assert.equal(psa.reasons?.[0]?.code, 'ERR_KEY_NOT_FOUND')
    })

    it('gives a token signed with the wrong key a crypto-failed result', async () => {
      const nonce = await freshNonce()
      const token = psaToken((c) => c.set(10, nonce), generateTestKey('ES256'))
      const psa = (await appraise(token)).claims.submods.get('PSA')!
      assert.equal(psa.status, 'contraindicated')
      assert.equal(psa.vector?.['instance-identity'], 99)
      assert.equal(psa.reasons?.[0]?.code, 'ERR_COSE_SIGNATURE_INVALID')
    })

    it('gives a tampered measurement an unrecognized-executables result', async () => {
      const nonce = await freshNonce()
      const token = psaToken((c) => {
        c.set(10, nonce)
        c.set(2399, [new Map<number, EncodableValue>([[1, 'PRoT'], [2, new Uint8Array(32).fill(0x13)], [5, new Uint8Array(32).fill(4)]])])
      })
      const psa = (await appraise(token)).claims.submods.get('PSA')!
      assert.equal(psa.vector?.executables, 33)
      assert.equal(psa.vector?.['instance-identity'], 2)
      assert.notEqual(psa.status, 'affirming')
      assert.equal(psa.reasons?.find((r) => r.claim === 'executables')?.code, 'PSA_SOFTWARE_UNRECOGNIZED')
    })

    it('serves the result as JSON, as an EAR JWT in either naming, and as an EAR CWT', async () => {
      const nonce = await freshNonce()
      const { id } = await appraise(psaToken((c) => c.set(10, nonce)))
      const json = await http('GET', `/v1/appraisals/${id}`)
      assert.equal(json.status, 200)
      const view = (await json.json()) as { status: string; result: { claims: { ear_status: string } } }
      assert.equal(view.result.claims.ear_status, 'affirming')

      const jwt = await http('GET', `/v1/appraisals/${id}`, { headers: { accept: 'application/eat+jwt' } })
      assert.match(jwt.headers.get('content-type')!, /^application\/eat\+jwt; eat_profile="tag:ietf\.org,2026:rats\/ear#03"/)
      assert.equal((await verifyJwt(await jwt.text())).naming, 'ear-03')

      const veraison = await http('GET', `/v1/appraisals/${id}`, {
        headers: { accept: 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"' },
      })
      assert.equal((await verifyJwt(await veraison.text())).naming, 'veraison')

      const cwt = await http('GET', `/v1/appraisals/${id}`, { headers: { accept: 'application/eat+cwt' } })
      assert.match(cwt.headers.get('content-type')!, /^application\/eat\+cwt/)
      const cwtClaims = verifyEarCwt(new Uint8Array(await cwt.arrayBuffer()), jwks, { clock: systemClock }).claims
      assert.equal(cwtClaims.submods.get('PSA')!.status, 'affirming')

      assert.equal((await http('GET', `/v1/appraisals/${id}`, { headers: { accept: 'text/html' } })).status, 406)
      assert.equal((await http('GET', '/v1/appraisals/00000000-0000-4000-8000-000000000000')).status, 404)
    })

    it('returns 202 with Location when not asked to wait, and the result there later', async () => {
      const nonce = await freshNonce()
      const res = await http('POST', '/v1/appraisals', { body: psaToken((c) => c.set(10, nonce)), headers: { 'content-type': PSA_TFM } })
      assert.equal(res.status, 202)
      const location = res.headers.get('location')!
      for (let i = 0; i < 1200; i++) {
        const got = (await (await http('GET', location)).json()) as { status: string }
        if (got.status === 'complete') return
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.fail('appraisal did not complete')
    })

    it('refuses malformed requests with problem details, never a 500', async () => {
      const big = new Uint8Array(70 * 1024)
      const tooLarge = await http('POST', '/v1/appraisals', { body: big, headers: { 'content-type': PSA_TFM } })
      assert.equal(tooLarge.status, 413)
      assert.equal(((await tooLarge.json()) as { code: string }).code, 'ERR_REQUEST_BODY_TOO_LARGE')
      const badType = await http('POST', '/v1/appraisals', { body: RFC_TOKEN, headers: { 'content-type': 'not a type' } })
      assert.equal(badType.status, 400)
      assert.equal((await http('POST', '/v1/nonces?nonceSize=7')).status, 400)
      assert.equal((await http('POST', '/challenge-response/v1/newSession?nonce=AAAA')).status, 400)
      assert.equal((await http('GET', '/nope')).status, 404)
      const garbage = await http('POST', '/v1/appraisals', { body: 'garbage', headers: { 'content-type': PSA_TFM, prefer: 'wait=10' } })
      assert.equal(garbage.status, 200)
      const view = (await garbage.json()) as { result: { claims: { ear_status: string } } }
      assert.equal(view.result.claims.ear_status, 'contraindicated')
    })

    it('publishes Veraison discovery, the contract and metrics', async () => {
      const discovery = (await (await http('GET', '/.well-known/veraison/verification')).json()) as Record<string, unknown>
      assert.deepEqual(discovery['ear-verification-key'], jwks.keys[0])
      assert.ok((discovery['media-types'] as string[]).includes('application/psa-attestation-token'))
      // Both suites run in test mode (the RFC 9783 example IAK), and discovery says so as every EAR does.
      assert.match(String(discovery['version']), /\(test mode: published keys accepted\)$/)
      assert.equal((await http('GET', '/openapi.yaml')).status, 200)
      assert.equal((await http('GET', '/healthz')).status, 200)
      const metrics = await (await http('GET', '/metrics')).text()
      assert.match(metrics, /assay_appraisals_total\{api="native",status="affirming"\} \d+/)
      assert.match(metrics, /assay_queue_depth \d+/)
      assert.match(metrics, /assay_appraisal_duration_seconds_count\{api="native"\} \d+/)
    })

    it('counts results sent through each API by EAR status, in either naming, with durations, queue depth and process metrics', async () => {
      const [n1, n2, n3] = [await freshNonce(), await freshNonce(), await freshNonce()]
      const before = await scrapeMetrics()
      let native = 0
      let challengeResponse = 0

      // Native: two submissions answered with their result, as JSON and as an EAR in Veraison's
      // naming (whose claims have no top-level status: still counted as affirming, not none).
      const waited = await appraise(psaToken((c) => c.set(10, n1)))
      assert.equal(waited.claims.submods.get('PSA')!.status, 'affirming')
      native++
      const veraisonAccept = 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"'
      const asEar = await http('POST', '/v1/appraisals', {
        body: psaToken((c) => c.set(10, n2)),
        headers: { 'content-type': PSA_TFM, prefer: 'wait=10', accept: veraisonAccept },
      })
      assert.equal(asEar.status, 200)
      assert.equal((await verifyJwt(await asEar.text())).submods.get('PSA')!.status, 'affirming')
      native++
      // A 202, polled until finished (a pending appraisal is not counted), then fetched as an EAR.
      const queued = await http('POST', '/v1/appraisals', { body: psaToken((c) => c.set(10, n3)), headers: { 'content-type': PSA_TFM } })
      assert.equal(queued.status, 202)
      const location = queued.headers.get('location')!
      for (let i = 0; ; i++) {
        assert.ok(i < 200, 'appraisal did not complete')
        if (((await (await http('GET', location)).json()) as { status: string }).status === 'complete') break
        await new Promise((r) => setTimeout(r, 50))
      }
      native++
      assert.equal((await http('GET', location, { headers: { accept: veraisonAccept } })).status, 200)
      native++

      // Challenge/response: the submission's answer and each GET carrying the result count.
      const nonce = Buffer.from(RFC_NONCE).toString('base64')
      const created = await http('POST', `/challenge-response/v1/newSession?nonce=${encodeURIComponent(nonce)}`)
      const sessionPath = `/challenge-response/v1/${created.headers.get('location')!}`
      const submitted = (await (await http('POST', sessionPath, { body: RFC_TOKEN, headers: { 'content-type': PSA_TFM } })).json()) as { status: string }
      if (submitted.status === 'complete') challengeResponse++
      for (let i = 0; ; i++) {
        assert.ok(i < 200, 'session did not complete')
        const got = (await (await http('GET', sessionPath)).json()) as { status: string }
        if (got.status === 'complete') {
          challengeResponse++
          break
        }
        await new Promise((r) => setTimeout(r, 50))
      }

      const after = await scrapeMetrics()
      const delta = (name: string, labels: Record<string, string>) => metricValue(after, name, labels) - metricValue(before, name, labels)
      assert.equal(delta('assay_appraisals_total', { api: 'native', status: 'affirming' }), native)
      assert.equal(delta('assay_appraisals_total', { api: 'challenge-response', status: 'affirming' }), challengeResponse)
      assert.ok(challengeResponse >= 1)
      for (const api of ['native', 'challenge-response']) {
        for (const status of ['none', 'warning', 'contraindicated', 'failed']) assert.equal(delta('assay_appraisals_total', { api, status }), 0, `${api} ${status}`)
      }
      // Durations: one per submission that waited for its result.
      assert.equal(delta('assay_appraisal_duration_seconds_count', { api: 'native' }), 2)
      assert.equal(delta('assay_appraisal_duration_seconds_count', { api: 'challenge-response' }), submitted.status === 'complete' ? 1 : 0)
      assert.ok(delta('assay_appraisal_duration_seconds_sum', { api: 'native' }) > 0)
      assert.equal(
        delta('assay_appraisal_duration_seconds_bucket', { api: 'native', le: '+Inf' }),
        delta('assay_appraisal_duration_seconds_count', { api: 'native' }),
      )
      // Nothing is left in the queue, and the requests themselves are counted.
      assert.equal(metricValue(after, 'assay_queue_depth', {}), 0)
      assert.ok(delta('assay_http_requests_total', { route: '/v1/appraisals', method: 'POST', status: '200' }) >= 2)
      assert.ok(delta('assay_http_requests_total', { route: '/challenge-response/v1/session/:id', method: 'GET', status: '200' }) >= 1)
      // prom-client's default process metrics, on the same registry.
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
        assert.ok(metricValue(after, name, {}) > 0, name)
      }
      assert.match(after, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m)
    })

    it('answers only with routes and status codes that openapi.yaml documents', () => {
      const spec = parseYaml(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as {
        paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>
      }
      const documented = new Set<string>()
      for (const [path, ops] of Object.entries(spec.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          for (const status of Object.keys(op.responses ?? {})) documented.add(`${method} ${path} ${status}`)
        }
      }
      const normalise = (s: string) => s.replace('/challenge-response/v1/session/{id}', '/challenge-response/v1/session/{id}')
      const undocumented = [...seen].map(normalise).filter((s) => !documented.has(s) && !s.startsWith('get /nope'))
      assert.deepEqual(undocumented, [])
      assert.ok(seen.size > 20)
    })
  })
}
