/**
 * CoRIM provisioning through HTTP (issue 9), on Redis (the API in this process, the worker in a
 * separate `assay worker` process) and embedded (one process): real HTTP on a loopback port, real
 * stores, real keys. The native route `POST /v1/corims` and the Veraison-compatible
 * `POST /endorsement-provisioning/v1/submit`: the operator token (401), media types (415 with
 * Accept) and Accept (406); every CoRIM/CoMID vector gives its expected outcome through both;
 * re-submission changes nothing; a signed CoRIM needs a provisioning key of the tenant; Veraison's
 * discovery; and, end to end, a PSA device provisioned by CoRIM through the Veraison route is then
 * appraised affirming, with no restart.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { provisioningDocuments } from '../../../src/appraisal/provisioning-documents.js'
import { referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { startAssay } from '../../../src/main/server.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import type { EndorsementStore } from '../../../src/store/endorsements.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex, toHex } from '../../../src/util/bytes.js'
import { systemClock, type Clock } from '../../../src/util/clock.js'
import { NEGATIVE, SIGNED_VECTORS_INSIDE, corimVectors, type CorimVector } from '../../helpers/corim-vectors.js'
import { PSA, corimBytes, corimMeta, map, pemOf, signCorim, tag } from '../../helpers/corim.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const OPERATOR_TOKEN = 'corim-test-operator-token-0123456789-abcdefghij'
const AUTH = { authorization: `Bearer ${OPERATOR_TOKEN}` }
const SESSION_TYPE = 'application/vnd.veraison.provisioning-session+json'
const RIM_CBOR = 'application/rim+cbor'
const RIM_COSE = 'application/rim+cose'
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const TENANT = 'default'

/** The API's clock: the system's, or pinned (inside the signed vectors' validity) while one is submitted. */
let pinned: number | undefined
const clock: Clock = { nowSeconds: () => pinned ?? systemClock.nowSeconds() }

interface Running {
  readonly url: string
  /** The endorsement store the API writes (a connection of its own on Redis). */
  readonly store: EndorsementStore
  stop(): Promise<void>
}

/** What each vector gives through the routes: a 201, or a refusal with its code. */
const ROUTE: Readonly<Record<string, { status: 201 } | { status: number; code: ErrorCode }>> = {
  'veraison-corim-psa-profile-valid': { status: 201 },
  'veraison-services-corim-psa-valid': { status: 201 },
  // Assay's PSA rules refuse what Veraison's older validator refused (the vector has no assertion today).
  'veraison-services-corim-psa-bad-refval-instance': { status: 422, code: 'ERR_CORIM_PROFILE_VIOLATION' },
  'veraison-services-corim-psa-bad-refval-mval': { status: 422, code: 'ERR_CORIM_PROFILE_VIOLATION' },
  // Profiles Veraison's tests register are not the service's.
  'veraison-corim-unsigned-example-profile': { status: 422, code: 'ERR_CORIM_PROFILE_UNKNOWN' },
  'veraison-corim-unsigned-with-extensions': { status: 422, code: 'ERR_CORIM_PROFILE_UNKNOWN' },
  'veraison-corim-signed-with-extensions': { status: 422, code: 'ERR_CORIM_PROFILE_UNKNOWN' },
  // Without a profile, reference triples map to nothing an appraisal reads: refused by name.
  'veraison-corim-unsigned-good': { status: 422, code: 'ERR_CORIM_UNSUPPORTED' },
  'veraison-corim-signed-good': { status: 422, code: 'ERR_CORIM_UNSUPPORTED' },
}

function expectation(v: CorimVector): { status: number; code?: ErrorCode } {
  if (v.format.startsWith('comid')) return { status: 422, code: 'ERR_CORIM_MALFORMED' }
  if (v.expected.outcome === 'invalid') return { status: 422, code: NEGATIVE[v.id]!.code }
  const e = ROUTE[v.id]
  assert.ok(e !== undefined, `${v.id} has no expected route outcome`)
  return e
}

const isSigned = (v: CorimVector) => v.format.startsWith('corim-signed')

/** A public JWK of a vector's key, as a provisioning key is written. */
function publicJwk(v: CorimVector): Record<string, unknown> {
  const { kty, crv, x, y } = v.key as Record<string, unknown>
  return { kty, crv, x, y }
}

async function provision(store: EndorsementStore, doc: unknown): Promise<void> {
  for (const d of provisioningDocuments(referenceValueDocumentSchema.parse(doc))) {
    await store.putIfChanged(TENANT, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'test', source: 'api' })
  }
}

/** A PSA token for `device` over `nonce`: the RFC 9783 example claims with this device's identities. */
function psaToken(device: { key: TestKeyPair; instance: Uint8Array; implementation: Uint8Array }, nonce: Uint8Array): Uint8Array {
  const vector = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
  const outer = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  claims.set(256, device.instance)
  claims.set(2396, device.implementation)
  return signSign1(device.key, { payload: encodeCbor(claims) })
}

/** The PSA endorsement-profile CoRIM of `device`: its IAK and the RFC example's PRoT component. */
function deviceCorim(device: { key: TestKeyPair; instance: Uint8Array; implementation: Uint8Array }, tagId: string): Uint8Array {
  const cls = map([0, tag(560, device.implementation)])
  const component = map(
    [0, 'psa.software-component'],
    [1, map([2, [[1, new Uint8Array(32).fill(3)]]], [11, 'PRoT'], [13, [tag(560, new Uint8Array(32).fill(4))]])],
  )
  const triples = map([0, [[map([0, cls]), [component]]]], [3, [[map([0, cls], [1, tag(550, device.instance)]), [tag(554, pemOf(device.key))]]]])
  return corimBytes([map([1, map([0, tagId])], [4, triples])], [], PSA)
}

function corimSuite(name: string, start: () => Promise<Running>): void {
  describe(`CoRIM provisioning over HTTP: ${name}`, { timeout: 180_000 }, () => {
    let svc: Running
    before(async () => {
      svc = await start()
    })
    after(async () => {
      await svc?.stop()
    })

    const post = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
      fetch(svc.url + path, { method: 'POST', body: body as string, headers })

    async function problem(res: Response, status: number, code: ErrorCode): Promise<{ detail?: string }> {
      const body = (await res.json()) as { code: string; status: number; detail?: string }
      assert.equal(res.status, status, JSON.stringify(body))
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
      assert.equal(body.code, code, JSON.stringify(body))
      return body
    }

    /** A Veraison submission: always 200 and the session type, exactly; its status and failure reason. */
    async function session(res: Response): Promise<{ status: string; 'failure-reason'?: string; expiry: string }> {
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), SESSION_TYPE)
      const body = (await res.json()) as { status: string; 'failure-reason'?: string; expiry: string }
      assert.ok(!Number.isNaN(Date.parse(body.expiry)), body.expiry)
      return body
    }

    it('needs the operator token, before anything else is looked at: 401 with a Bearer challenge', async () => {
      for (const path of ['/v1/corims', '/endorsement-provisioning/v1/submit']) {
        const none = await post(path, 'x', { 'content-type': 'text/plain' })
        assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm=/)
        await problem(none, 401, 'ERR_AUTH_REQUIRED')
        const wrong = await post(path, 'x', { 'content-type': RIM_CBOR, authorization: `Bearer ${'w'.repeat(40)}` })
        assert.match(wrong.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
        await problem(wrong, 401, 'ERR_AUTH_INVALID')
      }
    })

    it('takes the operator token as the password of Basic credentials, as cocli sends them with auth: basic', async () => {
      const basic = { authorization: `Basic ${Buffer.from(`cocli:${OPERATOR_TOKEN}`).toString('base64')}` }
      const device = { key: generateTestKey('ES256'), instance: Uint8Array.of(1, ...randomBytes(32)), implementation: new Uint8Array(randomBytes(32)) }
      const corim = deviceCorim(device, `basic-${randomUUID()}`)
      const res = await post('/endorsement-provisioning/v1/submit', corim, { ...basic, 'content-type': `${RIM_CBOR}; profile=${PSA}`, accept: SESSION_TYPE })
      const body = await session(res)
      assert.equal(body.status, 'success', JSON.stringify(body))
      assert.match((await svc.store.get(TENANT, `psa-ta-${toHex(device.instance)}`))?.createdBy ?? '', /^operator-token:[0-9a-f]{8}$/)
      const wrong = { authorization: `Basic ${Buffer.from(`cocli:${OPERATOR_TOKEN}-not`).toString('base64')}` }
      await problem(await post('/endorsement-provisioning/v1/submit', corim, { ...wrong, 'content-type': RIM_CBOR }), 401, 'ERR_AUTH_INVALID')
    })

    it('refuses other media types with 415 and Accept, and an Accept without the answer with 406', async () => {
      const native = await post('/v1/corims', 'x', { ...AUTH, 'content-type': 'application/cbor' })
      assert.equal(native.headers.get('accept'), `${RIM_CBOR}, ${RIM_COSE}`)
      await problem(native, 415, 'ERR_MEDIA_TYPE_UNSUPPORTED')
      const legacyNative = await post('/v1/corims', 'x', { ...AUTH, 'content-type': 'application/corim-unsigned+cbor' })
      await problem(legacyNative, 415, 'ERR_MEDIA_TYPE_UNSUPPORTED')
      const veraison = await post('/endorsement-provisioning/v1/submit', 'x', { ...AUTH, 'content-type': 'application/json' })
      assert.equal(veraison.headers.get('accept'), `${RIM_CBOR}, ${RIM_COSE}, application/corim-unsigned+cbor`)
      await problem(veraison, 415, 'ERR_MEDIA_TYPE_UNSUPPORTED')
      const missing = await fetch(`${svc.url}/v1/corims`, { method: 'POST', headers: AUTH })
      await problem(missing, 415, 'ERR_MEDIA_TYPE_UNSUPPORTED')
      await problem(await post('/endorsement-provisioning/v1/submit', 'x', { ...AUTH, 'content-type': RIM_CBOR, accept: 'application/json' }), 406, 'ERR_REQUEST_NOT_ACCEPTABLE')
      await problem(await post('/v1/corims', 'x', { ...AUTH, 'content-type': RIM_CBOR, accept: SESSION_TYPE }), 406, 'ERR_REQUEST_NOT_ACCEPTABLE')
      // No CoRIM at all: refused as malformed (a failed session on Veraison's route).
      const empty = await problem(await post('/v1/corims', new Uint8Array(0), { ...AUTH, 'content-type': RIM_CBOR }), 422, 'ERR_CORIM_MALFORMED')
      assert.match(empty.detail ?? '', /no CoRIM/)
      const emptySession = await session(await post('/endorsement-provisioning/v1/submit', new Uint8Array(0), { ...AUTH, 'content-type': RIM_CBOR }))
      assert.match(emptySession['failure-reason'] ?? '', /^ERR_CORIM_MALFORMED: /)
      // Over the body limit: 413, whatever the body holds.
      await problem(await post('/v1/corims', new Uint8Array(70 * 1024), { ...AUTH, 'content-type': RIM_CBOR }), 413, 'ERR_REQUEST_BODY_TOO_LARGE')
    })

    it('Veraison discovery lists the submission media types with their profiles and the submit endpoint', async () => {
      const res = await fetch(`${svc.url}/.well-known/veraison/provisioning`)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/vnd.veraison.discovery+json')
      const body = (await res.json()) as Record<string, unknown>
      assert.equal(body['service-state'], 'READY')
      assert.deepEqual(body['api-endpoints'], { provisioningSubmit: '/endorsement-provisioning/v1/submit' })
      const types = body['media-types'] as string[]
      for (const t of [`${RIM_CBOR}; profile="${PSA}"`, `${RIM_COSE}; profile="${PSA}"`, 'application/corim-unsigned+cbor; profile="http://arm.com/psa/iot/1"']) {
        assert.ok(types.includes(t), t)
      }
      assert.equal(typeof body['version'], 'string')
    })

    it('every CoRIM/CoMID vector gives its expected outcome through both routes', async () => {
      const vectors = corimVectors()
      assert.ok(vectors.length >= 23)
      // Without a provisioning key, the signed vectors are refused for their signer.
      for (const v of vectors.filter(isSigned)) {
        pinned = SIGNED_VECTORS_INSIDE
        await problem(await post('/v1/corims', fromHex(v.token_hex), { ...AUTH, 'content-type': RIM_COSE }), 422, 'ERR_CORIM_SIGNATURE')
        pinned = undefined
      }
      for (const v of vectors.filter(isSigned)) await provision(svc.store, { provisioning: { keys: [{ key: publicJwk(v) }] } })
      for (const v of vectors) {
        const bytes = fromHex(v.token_hex)
        const contentType = isSigned(v) ? RIM_COSE : RIM_CBOR
        const expected = expectation(v)
        pinned = isSigned(v) ? SIGNED_VECTORS_INSIDE : undefined
        try {
          const res = await post('/v1/corims', bytes, { ...AUTH, 'content-type': contentType })
          if (expected.code === undefined) {
            assert.equal(res.status, expected.status, `${v.id}: ${await res.clone().text()}`)
            const report = (await res.json()) as { documents: { id: string; outcome: string }[] }
            assert.ok(report.documents.length > 0 && report.documents.every((d) => d.outcome === 'created'), v.id)
            // Through Veraison's route the same CoRIM is a success that changes nothing.
            const revision = await svc.store.revision(TENANT)
            const again = await session(await post('/endorsement-provisioning/v1/submit', bytes, { ...AUTH, 'content-type': contentType, accept: SESSION_TYPE }))
            assert.deepEqual(again, { status: 'success', expiry: again.expiry })
            assert.equal(await svc.store.revision(TENANT), revision)
            // The vectors reuse one tag id with other content: leave the next one a clean slate.
            for (const d of report.documents) await svc.store.delete(TENANT, d.id, { createdBy: 'test', source: 'test' })
          } else {
            await problem(res, expected.status, expected.code)
            const failed = await session(await post('/endorsement-provisioning/v1/submit', bytes, { ...AUTH, 'content-type': contentType }))
            assert.equal(failed.status, 'failed', v.id)
            assert.ok(failed['failure-reason']?.startsWith(`${expected.code}: `), `${v.id}: ${failed['failure-reason']}`)
          }
        } finally {
          pinned = undefined
        }
      }
      // At today's clock the signed vectors' signature validity has ended.
      const good = vectors.find((v) => v.id === 'veraison-corim-signed-good')!
      await problem(await post('/v1/corims', fromHex(good.token_hex), { ...AUTH, 'content-type': RIM_COSE }), 422, 'ERR_CORIM_EXPIRED')
    })

    it('the same tag id at the same version with other content is a 409 conflict; re-submission changes nothing', async () => {
      const first = corimVectors().find((v) => v.id === 'veraison-corim-psa-profile-valid')!
      const second = corimVectors().find((v) => v.id === 'veraison-services-corim-psa-valid')!
      const created = await post('/v1/corims', fromHex(first.token_hex), { ...AUTH, 'content-type': `${RIM_CBOR}; profile="${PSA}"` })
      assert.equal(created.status, 201)
      const report = (await created.json()) as { documents: { id: string; version: number }[] }
      const revision = await svc.store.revision(TENANT)
      const again = await post('/v1/corims', fromHex(first.token_hex), { ...AUTH, 'content-type': RIM_CBOR })
      assert.equal(again.status, 200)
      const unchanged = (await again.json()) as { tags: { outcome: string }[]; documents: { id: string; outcome: string; version: number }[] }
      assert.deepEqual(unchanged.tags.map((t) => t.outcome), ['unchanged'])
      assert.deepEqual(
        unchanged.documents.map((d) => [d.id, d.outcome, d.version]),
        report.documents.map((d) => [d.id, 'unchanged', d.version]),
      )
      assert.equal(await svc.store.revision(TENANT), revision)
      await problem(await post('/v1/corims', fromHex(second.token_hex), { ...AUTH, 'content-type': RIM_CBOR }), 409, 'ERR_CORIM_CONFLICT')
      const failed = await session(await post('/endorsement-provisioning/v1/submit', fromHex(second.token_hex), { ...AUTH, 'content-type': RIM_CBOR }))
      assert.match(failed['failure-reason'] ?? '', /^ERR_CORIM_CONFLICT: /)
      // The media type's profile must be the CoRIM's.
      const legacy = await session(
        await post('/endorsement-provisioning/v1/submit', fromHex(first.token_hex), { ...AUTH, 'content-type': 'application/corim-unsigned+cbor; profile="http://arm.com/psa/iot/1"' }),
      )
      assert.match(legacy['failure-reason'] ?? '', /^ERR_CORIM_MALFORMED: the media type names profile "http:\/\/arm.com\/psa\/iot\/1"/)
      // As Veraison's documents write it: the profile unquoted.
      const unquoted = await session(
        await post('/endorsement-provisioning/v1/submit', fromHex(first.token_hex), { ...AUTH, 'content-type': 'application/corim-unsigned+cbor; profile=http://arm.com/psa/iot/1' }),
      )
      assert.match(unquoted['failure-reason'] ?? '', /^ERR_CORIM_MALFORMED: the media type names profile "http:\/\/arm.com\/psa\/iot\/1"/)
      const unchangedUnquoted = await session(
        await post('/endorsement-provisioning/v1/submit', fromHex(first.token_hex), { ...AUTH, 'content-type': `application/rim+cbor; profile=${PSA}` }),
      )
      assert.equal(unchangedUnquoted.status, 'success')
      assert.equal(await svc.store.revision(TENANT), revision)
      for (const d of report.documents) await svc.store.delete(TENANT, d.id, { createdBy: 'test', source: 'test' })
    })

    it('end to end: a CoRIM signer provisioned through the API, then a PSA device by a signed CoRIM through the Veraison route, appraises affirming, with no restart', async () => {
      const device = { key: generateTestKey('ES256'), instance: Uint8Array.of(1, ...randomBytes(32)), implementation: new Uint8Array(randomBytes(32)) }
      const jwks = (await (await fetch(`${svc.url}/.well-known/jwks.json`)).json()) as EarJwks
      const appraise = async () => {
        const nonceRes = await fetch(`${svc.url}/v1/nonces`, { method: 'POST' })
        assert.equal(nonceRes.status, 201)
        const nonce = base64urlDecode(((await nonceRes.json()) as { nonce: string }).nonce)
        const res = await fetch(`${svc.url}/v1/appraisals`, { method: 'POST', body: psaToken(device, nonce), headers: { 'content-type': PSA_TFM, prefer: 'wait=20' } })
        assert.equal(res.status, 200)
        const ear = ((await res.json()) as { result: { ear: string } }).result.ear
        return verifyEarJwt(ear, jwks, { clock: systemClock }).claims.submods.get('PSA')!
      }
      const before = await appraise()
      assert.notEqual(before.status, 'affirming')
      assert.equal(before.vector?.['instance-identity'], 97)

      // The CoRIM is signed by the tenant's provisioning key, sent as Veraison's clients send it.
      const signer = generateTestKey('ES256')
      const now = systemClock.nowSeconds()
      const signed = signCorim(signer, { payload: deviceCorim(device, `e2e-${randomUUID()}`), meta: corimMeta(now - 60, now + 3600) })
      const headers = { ...AUTH, 'content-type': `${RIM_COSE}; profile="${PSA}"`, accept: SESSION_TYPE }
      const refused = await session(await post('/endorsement-provisioning/v1/submit', signed, headers))
      assert.equal(refused.status, 'failed')
      assert.match(refused['failure-reason'] ?? '', /^ERR_CORIM_SIGNATURE: /)
      // The signer is provisioned through the API, as a corim-signer-key trust anchor.
      const created = await fetch(`${svc.url}/v1/trust-anchors`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'corim-signer-key', key: pemOf(signer), comment: 'e2e CoRIM signer' }),
      })
      const signerDoc = (await created.json()) as { id: string; type: string; version: number }
      assert.equal(created.status, 201, JSON.stringify(signerDoc))
      assert.equal(signerDoc.type, 'corim-signer-key')
      assert.match(signerDoc.id, /^prov-key-[0-9a-f]{64}$/)
      const listed = await fetch(`${svc.url}/v1/trust-anchors?type=corim-signer-key&identifier=${signerDoc.id.slice('prov-key-'.length)}`, { headers: AUTH })
      assert.deepEqual(((await listed.json()) as { items: { id: string }[] }).items.map((i) => i.id), [signerDoc.id])
      const accepted = await session(await post('/endorsement-provisioning/v1/submit', signed, headers))
      assert.deepEqual(accepted, { status: 'success', expiry: accepted.expiry })

      const anchor = await svc.store.get(TENANT, `psa-ta-${toHex(device.instance)}`)
      assert.match(anchor?.source ?? '', /^corim:test-corim#e2e-/)
      // The worker sees the change within about a second; poll with a generous bound, no fixed sleep.
      const deadline = Date.now() + 60_000
      let last = before
      while (Date.now() < deadline) {
        last = await appraise()
        if (last.status === 'affirming') break
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.equal(last.status, 'affirming', JSON.stringify(last.vector))
      assert.deepEqual([last.vector?.['instance-identity'], last.vector?.['hardware'], last.vector?.['executables']], [2, 2, 2])
    })
  })
}

corimSuite('Redis, worker in a separate process', async () => {
  const prefix = `assay-test-corim-${randomUUID().slice(0, 8)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-corim-'))
  const config = loadConfig({
    port: 0,
    redisUrl: REDIS_URL,
    redisPrefix: prefix,
    dataDir,
    operatorToken: OPERATOR_TOKEN,
    // The Veraison PSA vectors carry published keys: test mode takes them (every EAR says so).
    allowPublishedKeys: true,
    rateLimitPoints: 0,
  })
  const api = await startAssay(config, { role: 'api', clock })
  const worker: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL, ASSAY_REDIS_PREFIX: prefix, ASSAY_DATA_DIR: dataDir, ASSAY_ALLOW_PUBLISHED_KEYS: 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  return {
    url: api.url!,
    store: api.services.endorsementStore,
    async stop() {
      worker.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (worker.exitCode === null) worker.kill('SIGKILL')
      await api.stop()
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
})

corimSuite('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-corim-'))
  const config = loadConfig({ port: 0, dataDir, operatorToken: OPERATOR_TOKEN, allowPublishedKeys: true, rateLimitPoints: 0 })
  const running = await startAssay(config, { role: 'all', clock })
  return {
    url: running.url!,
    store: running.services.endorsementStore,
    async stop() {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
})

describe('CoRIM provisioning with ASSAY_CORIM_REQUIRE_SIGNED', { timeout: 60_000 }, () => {
  it('refuses an unsigned CoRIM on both routes, and takes a signed one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-corim-'))
    const config = loadConfig({ port: 0, dataDir, operatorToken: OPERATOR_TOKEN, corimRequireSigned: 'true', rateLimitPoints: 0 })
    const running = await startAssay(config, { role: 'all' })
    try {
      const device = { key: generateTestKey('ES256'), instance: Uint8Array.of(1, ...randomBytes(32)), implementation: new Uint8Array(randomBytes(32)) }
      const unsigned = deviceCorim(device, `signed-only-${randomUUID()}`)
      const res = await fetch(`${running.url!}/v1/corims`, { method: 'POST', body: unsigned as unknown as string, headers: { ...AUTH, 'content-type': RIM_CBOR } })
      assert.equal(res.status, 422)
      const body = (await res.json()) as { code: string; detail: string }
      assert.equal(body.code, 'ERR_CORIM_SIGNATURE')
      assert.match(body.detail, /unsigned CoRIM refused/)
      const veraison = await fetch(`${running.url!}/endorsement-provisioning/v1/submit`, {
        method: 'POST',
        body: unsigned as unknown as string,
        headers: { ...AUTH, 'content-type': RIM_CBOR },
      })
      assert.equal(((await veraison.json()) as { status: string }).status, 'failed')
      const signer = generateTestKey('ES256')
      await provision(running.services.endorsementStore, { provisioning: { keys: [{ key: pemOf(signer) }] } })
      const now = systemClock.nowSeconds()
      const signed = signCorim(signer, { payload: unsigned, meta: corimMeta(now - 60, now + 60) })
      const accepted = await fetch(`${running.url!}/v1/corims`, { method: 'POST', body: signed as unknown as string, headers: { ...AUTH, 'content-type': RIM_COSE } })
      assert.equal(accepted.status, 201)
      await accepted.arrayBuffer()
    } finally {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
