/**
 * Operator-defined EAT profiles through the service (issue 9), on real Redis (the API in this
 * process, the worker a separate `assay worker` process on the same prefix) and in embedded mode,
 * over real HTTP: `/v1/profiles` CRUD, versions and
 * activation behind the operator token (401 on every route without it), and the acceptance case:
 * Evidence naming a vendor profile is contraindicated with ERR_PROFILE_UNKNOWN until an operator
 * creates the profile, then appraised by it without a restart (affirming when it satisfies the
 * profile, refused for an algorithm or a missing claim the profile rules out). A profile from a
 * reference-values file is used the same way.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID, sign } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = `op-${randomUUID()}-${randomUUID()}`
const VENDOR = 'tag:vendor.example,2026:sensor'
const FROM_FILE = 'tag:vendor.example,2026:from-file'
const HWMODEL = 'abcd'
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(8))
const CLASS = { oemid: 64242, hwmodel: HWMODEL }
const BINDING = { ueids: [Buffer.from(DEVICE_UEID).toString('hex')], classes: [CLASS] }
/** Long enough for a change to reach a worker on a slow, shared machine; a pass takes well under a second. */
const CHANGE_DEADLINE_MS = 30_000

const VENDOR_PROFILE = {
  id: VENDOR,
  comment: 'sensors of vendor.example',
  envelopes: ['cwt', 'jwt'],
  coseAlgorithms: ['ES256'],
  joseAlgorithms: ['ES256'],
  keySources: ['kid'],
  mandatoryClaims: ['eat_nonce', 'ueid', 'oemid', 'hwmodel', 'swname'],
  freshness: 'nonce',
}

interface Problem {
  readonly code: string
  readonly status: number
  readonly detail?: string
}

interface Representation {
  readonly id: string
  readonly profile: Record<string, unknown> | null
  readonly version: number
  readonly active: boolean
  readonly deleted: boolean
  readonly createdAt: string
  readonly createdBy: string
  readonly source: string
  readonly digest: string
}

function suite(mode: 'redis' | 'embedded') {
  describe(`operator-defined EAT profiles (${mode})`, { timeout: 180_000 }, () => {
    const es256 = generateTestKey('ES256')
    const es384 = generateTestKey('ES384')
    const prefix = `assay-test-profiles-${randomUUID().slice(0, 8)}`
    let dir: string
    let api: RunningAssay
    let worker: ChildProcess | undefined
    let base: string
    let jwks: EarJwks

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'assay-profiles-'))
      const rv = join(dir, 'rv')
      mkdirSync(rv)
      writeFileSync(
        join(rv, 'vendor.json'),
        JSON.stringify({
          eat: {
            keys: [
              { kid: 'sensor-256', key: es256.publicKey.keyObject.export({ format: 'jwk' }), speaksFor: BINDING },
              { kid: 'sensor-384', key: es384.publicKey.keyObject.export({ format: 'jwk' }), speaksFor: BINDING },
            ],
            referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
            profiles: [{ ...VENDOR_PROFILE, id: FROM_FILE, envelopes: ['cwt'], joseAlgorithms: [], coseAlgorithms: ['ES384'] }],
          },
        }),
      )
      const settings = {
        port: 0,
        dataDir: join(dir, 'data'),
        referenceValuesDir: rv,
        rateLimitPoints: 0,
        operatorToken: TOKEN,
        ...(mode === 'redis' ? { redisUrl: REDIS_URL, redisPrefix: prefix } : {}),
      }
      if (mode === 'redis') {
        api = await startAssay(loadConfig(settings), { role: 'api' })
        // The worker hears of the API's changes only through Redis: a process of its own.
        worker = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
          cwd: ROOT,
          env: {
            ...process.env,
            REDIS_URL,
            ASSAY_REDIS_PREFIX: prefix,
            ASSAY_DATA_DIR: settings.dataDir,
            ASSAY_REFERENCE_VALUES_DIR: rv,
            ASSAY_LOG_LEVEL: 'silent',
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        })
        const deadline = Date.now() + 60_000
        while ((await fetch(`${api.url}/readyz`).then(async (r) => (await r.arrayBuffer(), r.status))) !== 200) {
          assert.ok(Date.now() < deadline && worker.exitCode === null, 'the worker process did not become ready')
          await new Promise((r) => setTimeout(r, 100))
        }
      } else {
        api = await startAssay(loadConfig(settings), { role: 'all' })
      }
      base = api.url!
      jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as EarJwks
    })

    after(async () => {
      await api?.stop()
      if (worker !== undefined && worker.exitCode === null) {
        const exited = new Promise<void>((resolve) => worker!.once('exit', () => resolve()))
        worker.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
        if (worker.exitCode === null) worker.kill('SIGKILL')
      }
      if (mode === 'redis') await deletePrefix(prefix)
      rmSync(dir, { recursive: true, force: true })
    })

    /** One request to the API, with the operator token unless `token` says otherwise. */
    async function call(method: string, path: string, options: { body?: unknown; raw?: string; contentType?: string; token?: string | null } = {}) {
      const headers: Record<string, string> = {}
      const token = options.token === undefined ? TOKEN : options.token
      if (token !== null) headers['authorization'] = `Bearer ${token}`
      let body: string | undefined
      if (options.raw !== undefined || options.body !== undefined) {
        body = options.raw ?? JSON.stringify(options.body)
        headers['content-type'] = options.contentType ?? 'application/json'
      }
      const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
      const text = await res.text()
      return { res, json: text === '' ? undefined : (JSON.parse(text) as unknown) }
    }

    async function nonce(): Promise<Uint8Array> {
      const res = await fetch(`${base}/v1/nonces`, { method: 'POST' })
      assert.equal(res.status, 201)
      return base64urlDecode(((await res.json()) as { nonce: string }).nonce)
    }

    function cwt(key: TestKeyPair, kid: string, n: Uint8Array, profile: string | undefined, drop: number[] = []): Uint8Array {
      const claims = new Map<number, EncodableValue>([
        [10, n],
        [256, DEVICE_UEID],
        [258, 64242],
        [259, Buffer.from(HWMODEL, 'hex')],
        [270, 'fw'],
        [271, ['1.2']],
        [6, Math.floor(Date.now() / 1000)],
      ])
      if (profile !== undefined) claims.set(265, profile)
      for (const k of drop) claims.delete(k)
      return signSign1(key, {
        protectedHeader: new Map<number, EncodableValue>([[1, key.coseAlg], [4, new TextEncoder().encode(kid)]]),
        payload: encodeCbor(claims),
        tag: 'cwt',
      })
    }

    function jwt(n: Uint8Array): Uint8Array {
      const header = { alg: 'ES256', typ: 'eat+jwt', kid: 'sensor-256' }
      const claims = {
        eat_nonce: Buffer.from(n).toString('base64url'),
        ueid: Buffer.from(DEVICE_UEID).toString('base64url'),
        oemid: 64242,
        hwmodel: Buffer.from(HWMODEL, 'hex').toString('base64url'),
        swname: 'fw',
        swversion: ['1.2'],
        iat: Math.floor(Date.now() / 1000),
      }
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
      const signature = sign('sha256', Buffer.from(input), { key: es256.privateKey, dsaEncoding: 'ieee-p1363' })
      return new TextEncoder().encode(`${input}.${signature.toString('base64url')}`)
    }

    type Submod = NonNullable<ReturnType<EarClaims['submods']['get']>>

    async function appraise(evidence: Uint8Array, contentType: string): Promise<Submod> {
      const res = await fetch(`${base}/v1/appraisals`, { method: 'POST', body: evidence, headers: { 'content-type': contentType, prefer: 'wait=20' } })
      assert.equal(res.status, 200)
      const body = (await res.json()) as { result: { ear: string } }
      return verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims.submods.get('EAT')!
    }

    /** The vendor-profile Evidence (fresh nonce each time) as a CWT naming the profile in its claims. */
    const vendorCwt = async () => appraise(cwt(es256, 'sensor-256', await nonce(), VENDOR), 'application/eat+cwt')
    const firstReason = (s: Submod) => s.reasons?.[0]?.code

    /** Appraises until `done` holds; fails with what was last seen once the deadline passes. */
    async function until(what: string, read: () => Promise<Submod>, done: (s: Submod) => boolean): Promise<Submod> {
      const deadline = Date.now() + CHANGE_DEADLINE_MS
      let seen: Submod
      do {
        seen = await read()
        if (done(seen)) return seen
        await new Promise((r) => setTimeout(r, 25))
      } while (Date.now() < deadline)
      assert.fail(`${what}: still ${seen.status} (${firstReason(seen)}) after ${CHANGE_DEADLINE_MS} ms`)
    }

    it('answers 401 on every route without the operator token, and with a wrong one', async () => {
      const id = `eat-profile-${'0'.repeat(64)}`
      const routes: [string, string][] = [
        ['POST', '/v1/profiles'],
        ['GET', '/v1/profiles'],
        ['GET', `/v1/profiles/${id}`],
        ['PUT', `/v1/profiles/${id}`],
        ['DELETE', `/v1/profiles/${id}`],
        ['GET', `/v1/profiles/${id}/versions`],
        ['GET', `/v1/profiles/${id}/versions/1`],
        ['POST', `/v1/profiles/${id}/activate`],
        ['POST', `/v1/profiles/${id}/deactivate`],
      ]
      for (const [method, path] of routes) {
        const body = method === 'POST' || method === 'PUT' ? { body: VENDOR_PROFILE } : {}
        const missing = await call(method, path, { ...body, token: null })
        assert.equal(missing.res.status, 401, `${method} ${path}`)
        assert.equal((missing.json as Problem).code, 'ERR_AUTH_REQUIRED')
        assert.match(missing.res.headers.get('www-authenticate') ?? '', /^Bearer /)
        const wrong = await call(method, path, { ...body, token: `${TOKEN}x` })
        assert.equal(wrong.res.status, 401, `${method} ${path}`)
        assert.equal((wrong.json as Problem).code, 'ERR_AUTH_INVALID')
      }
      // Nothing was created by the refused requests.
      assert.equal((await call('GET', `/v1/profiles?identifier=${encodeURIComponent(VENDOR)}`)).res.status, 200)
      assert.deepEqual(((await call('GET', `/v1/profiles?identifier=${encodeURIComponent(VENDOR)}`)).json as { items: unknown[] }).items, [])
    })

    it('refuses bodies that are no JSON, no profile, too large, or redefine a built-in; 404 for what does not exist', async () => {
      const problem = async (method: string, path: string, options: Parameters<typeof call>[2], status: number, code: string) => {
        const { res, json } = await call(method, path, options)
        assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(json)}`)
        assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
        assert.equal((json as Problem).code, code)
        return json as Problem
      }
      await problem('POST', '/v1/profiles', { raw: '{"id":' }, 400, 'ERR_REQUEST_MALFORMED')
      await problem('POST', '/v1/profiles', { raw: '{"id":"a","id":"b"}' }, 400, 'ERR_REQUEST_MALFORMED')
      await problem('POST', '/v1/profiles', { body: VENDOR_PROFILE, contentType: 'text/plain' }, 400, 'ERR_REQUEST_MALFORMED')
      await problem('POST', '/v1/profiles', { raw: JSON.stringify({ ...VENDOR_PROFILE, comment: 'x'.repeat(70_000) }) }, 413, 'ERR_REQUEST_BODY_TOO_LARGE')
      const none = await problem('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, joseAlgorithms: ['none'] } }, 422, 'ERR_PROVISIONING_INVALID')
      assert.match(none.detail ?? '', /^joseAlgorithms\.0: /)
      const hmac = await problem('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, joseAlgorithms: ['HS256'] } }, 422, 'ERR_PROVISIONING_INVALID')
      assert.match(hmac.detail ?? '', /^joseAlgorithms\.0: /)
      const builtIn = await problem('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, id: 'urn:ietf:rfc:rfc9711' } }, 422, 'ERR_PROVISIONING_INVALID')
      assert.match(builtIn.detail ?? '', /^id: is a built-in profile/)
      const unknown = await problem('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, trustEverything: true } }, 422, 'ERR_PROVISIONING_INVALID')
      assert.match(unknown.detail ?? '', /trustEverything/)
      await problem('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, freshness: 'time', maxAgeSeconds: 0 } }, 422, 'ERR_PROVISIONING_INVALID')
      await problem('GET', `/v1/profiles/${encodeURIComponent('urn:example:nobody')}`, {}, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('GET', `/v1/profiles/${'x'.repeat(300)}`, {}, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('GET', `/v1/profiles/${encodeURIComponent('urn:example:nobody')}/versions`, {}, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('PUT', `/v1/profiles/${encodeURIComponent('urn:example:nobody')}`, { body: { ...VENDOR_PROFILE, id: 'urn:example:nobody' } }, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('DELETE', `/v1/profiles/${encodeURIComponent('urn:example:nobody')}`, {}, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('POST', `/v1/profiles/${encodeURIComponent('urn:example:nobody')}/activate`, {}, 404, 'ERR_ENDORSEMENT_NOT_FOUND')
      await problem('GET', '/v1/profiles?limit=0', {}, 400, 'ERR_REQUEST_MALFORMED')
      await problem('GET', '/v1/profiles?limit=1001', {}, 400, 'ERR_REQUEST_MALFORMED')
      await problem('GET', '/v1/profiles?cursor=forged', {}, 400, 'ERR_PAGE_CURSOR_INVALID')
      await problem('GET', `/v1/profiles?identifier=${'x'.repeat(300)}`, {}, 400, 'ERR_REQUEST_MALFORMED')
    })

    it('a profile from a reference-values file appraises Evidence naming it, and is listed with where it came from', async () => {
      const affirmed = await appraise(cwt(es384, 'sensor-384', await nonce(), FROM_FILE), 'application/eat+cwt')
      assert.equal(affirmed.status, 'affirming')
      assert.equal(affirmed.profile, FROM_FILE)
      const refused = await appraise(cwt(es256, 'sensor-256', await nonce(), FROM_FILE), 'application/eat+cwt')
      assert.equal(refused.status, 'contraindicated')
      assert.equal(firstReason(refused), 'ERR_COSE_ALG_NOT_ALLOWED')
      const { res, json } = await call('GET', `/v1/profiles?identifier=${encodeURIComponent(FROM_FILE.toUpperCase())}`)
      assert.equal(res.status, 200)
      const [item] = (json as { items: Representation[] }).items
      assert.equal(item?.profile?.['id'], FROM_FILE)
      assert.equal(item?.createdBy, 'file')
      assert.match(item?.source ?? '', /^file:.*vendor\.json$/)
      // The API cannot create a second profile with the file's id.
      const again = await call('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, id: FROM_FILE } })
      assert.equal(again.res.status, 409)
    })

    it('addresses profiles whose ids are URLs or OIDs by their percent-encoded id', async () => {
      for (const id of ['https://vendor.example/profiles/p2?v=1#x', '1.3.6.1.4.1.99999.1.2']) {
        const created = await call('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, id } })
        assert.equal(created.res.status, 201, JSON.stringify(created.json))
        const rep = created.json as Representation
        const read = await call('GET', `/v1/profiles/${encodeURIComponent(id)}`)
        assert.equal(read.res.status, 200)
        assert.equal((read.json as Representation).id, rep.id)
        const versions = await call('GET', `/v1/profiles/${encodeURIComponent(id)}/versions`)
        assert.equal((versions.json as { items: Representation[] }).items.length, 1)
        assert.equal((await call('DELETE', `/v1/profiles/${encodeURIComponent(id)}`)).res.status, 204)
      }
    })

    it('Evidence naming a vendor profile is unknown until an operator creates it, then appraised by it, with no restart', async (t) => {
      const before = await vendorCwt()
      assert.equal(before.status, 'contraindicated')
      assert.equal(firstReason(before), 'ERR_PROFILE_UNKNOWN')

      const createdAt = Date.now()
      const created = await call('POST', '/v1/profiles', { body: VENDOR_PROFILE })
      assert.equal(created.res.status, 201, JSON.stringify(created.json))
      const rep = created.json as Representation
      assert.match(rep.id, /^eat-profile-[0-9a-f]{64}$/)
      assert.equal(created.res.headers.get('location'), `/v1/profiles/${rep.id}`)
      assert.equal(rep.version, 1)
      assert.equal(rep.active, true)
      assert.equal(rep.deleted, false)
      assert.equal(rep.source, 'api')
      assert.match(rep.createdBy, /^operator-token:[0-9a-f]{8}$/)
      assert.ok(!Number.isNaN(Date.parse(rep.createdAt)))
      assert.match(rep.digest, /^[0-9a-f]{64}$/)
      assert.equal(rep.profile?.['maxAgeSeconds'], 300, 'stored with its defaults spelled out')

      const affirmed = await until('the created profile', vendorCwt, (s) => s.status === 'affirming')
      t.diagnostic(`first affirming appraisal ${Date.now() - createdAt} ms after the POST (${mode})`)
      assert.equal(affirmed.profile, VENDOR)
      assert.equal(affirmed.vector?.['instance-identity'], 2)

      // Named by the media type only, and as a JWT.
      const byMediaType = await appraise(cwt(es256, 'sensor-256', await nonce(), undefined), `application/eat+cwt; eat_profile="${VENDOR}"`)
      assert.equal(byMediaType.status, 'affirming')
      assert.equal(byMediaType.profile, VENDOR)
      const asJwt = await appraise(jwt(await nonce()), `application/eat+jwt; eat_profile="${VENDOR}"`)
      assert.equal(asJwt.status, 'affirming')
      assert.equal(asJwt.profile, VENDOR)

      // What the profile rules out: an algorithm it does not list, a claim it makes mandatory.
      const alg = await appraise(cwt(es384, 'sensor-384', await nonce(), VENDOR), 'application/eat+cwt')
      assert.equal(alg.status, 'contraindicated')
      assert.equal(firstReason(alg), 'ERR_COSE_ALG_NOT_ALLOWED')
      const missing = await appraise(cwt(es256, 'sensor-256', await nonce(), VENDOR, [270]), 'application/eat+cwt')
      assert.equal(missing.status, 'contraindicated')
      assert.equal(firstReason(missing), 'ERR_PROFILE_CLAIM_MISSING')
      assert.match(missing.reasons?.[0]?.detail ?? '', /swname/)

      // The same id again is a conflict, in any case.
      const again = await call('POST', '/v1/profiles', { body: { ...VENDOR_PROFILE, id: VENDOR.toUpperCase() } })
      assert.equal(again.res.status, 409)
      assert.equal((again.json as Problem).code, 'ERR_ENDORSEMENT_CONFLICT')
    })

    it('read, list, replace, deactivate, activate and delete make versions that stay readable', async () => {
      const path = `/v1/profiles/${encodeURIComponent(VENDOR)}`
      const byProfileId = await call('GET', path)
      assert.equal(byProfileId.res.status, 200)
      const v1 = byProfileId.json as Representation
      const byResourceId = await call('GET', `/v1/profiles/${v1.id}`)
      assert.deepEqual(byResourceId.json, v1)

      // Paged listing: the file's profile and the vendor's, one per page, in id order.
      const first = await call('GET', '/v1/profiles?limit=1')
      const page1 = first.json as { items: Representation[]; cursor?: string }
      assert.equal(page1.items.length, 1)
      assert.ok(page1.cursor !== undefined)
      const page2 = (await call('GET', `/v1/profiles?limit=1&cursor=${encodeURIComponent(page1.cursor)}`)).json as { items: Representation[]; cursor?: string }
      assert.equal(page2.items.length, 1)
      assert.deepEqual(
        new Set([...page1.items, ...page2.items].map((i) => i.profile?.['id'])),
        new Set([VENDOR, FROM_FILE]),
      )
      const filtered = (await call('GET', `/v1/profiles?identifier=${encodeURIComponent(VENDOR)}`)).json as { items: Representation[] }
      assert.deepEqual(filtered.items.map((i) => i.id), [v1.id])

      // Replace: ES256 JWTs are no longer allowed; the change reaches the worker.
      const mismatch = await call('PUT', path, { body: { ...VENDOR_PROFILE, id: 'urn:example:other' } })
      assert.equal(mismatch.res.status, 422)
      const replaced = await call('PUT', path, { body: { ...VENDOR_PROFILE, joseAlgorithms: ['ES384'] } })
      assert.equal(replaced.res.status, 200, JSON.stringify(replaced.json))
      assert.equal((replaced.json as Representation).version, 2)
      const jwtRefused = await until(
        'the replaced profile',
        async () => appraise(jwt(await nonce()), `application/eat+jwt; eat_profile="${VENDOR}"`),
        (s) => s.status !== 'affirming',
      )
      assert.equal(firstReason(jwtRefused), 'ERR_JOSE_ALG_NOT_ALLOWED')

      const deactivated = await call('POST', `${path}/deactivate`)
      assert.equal(deactivated.res.status, 200)
      assert.equal((deactivated.json as Representation).active, false)
      assert.equal((deactivated.json as Representation).version, 3)
      await until('the deactivation', vendorCwt, (s) => firstReason(s) === 'ERR_PROFILE_UNKNOWN')
      const activated = await call('POST', `${path}/activate`)
      assert.equal((activated.json as Representation).version, 4)
      await until('the activation', vendorCwt, (s) => s.status === 'affirming')

      const deleted = await call('DELETE', path)
      assert.equal(deleted.res.status, 204)
      assert.equal((await call('GET', path)).res.status, 404)
      await until('the deletion', vendorCwt, (s) => firstReason(s) === 'ERR_PROFILE_UNKNOWN')

      const versions = (await call('GET', `${path}/versions`)).json as { items: Representation[] }
      assert.deepEqual(
        versions.items.map((v) => [v.version, v.active, v.deleted]),
        [
          [1, true, false],
          [2, true, false],
          [3, false, false],
          [4, true, false],
          [5, false, true],
        ],
      )
      assert.equal(versions.items[4]!.profile, null)
      const one = (await call('GET', `${path}/versions/1`)).json as Representation
      assert.deepEqual(one.profile?.['joseAlgorithms'], ['ES256'])
      assert.equal((await call('GET', `${path}/versions/9`)).res.status, 404)
      assert.equal((await call('GET', `${path}/versions/0`)).res.status, 404)

      // Created again, its numbering continues, and it is used again.
      const recreated = await call('POST', '/v1/profiles', { body: VENDOR_PROFILE })
      assert.equal(recreated.res.status, 201)
      assert.equal((recreated.json as Representation).version, 6)
      await until('the profile created again', vendorCwt, (s) => s.status === 'affirming')
    })
  })
}

suite('redis')
suite('embedded')
