/**
 * The provisioning API (issue 9): `/v1/trust-anchors` and `/v1/reference-values` over real HTTP, on
 * Redis with the worker in a separate process and in embedded mode. Every resource type is created,
 * read, listed, replaced, deactivated, activated, deleted and read back by version; every route
 * refuses a request without the operator token; bad bodies are problems that name the member; and a
 * change made through the API is used by the (separate) worker without a restart: a PSA device
 * provisioned through the API appraises affirming, and stops doing so when deactivated or deleted.
 * Real keys and certificates made at test time; nothing is mocked.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { createApp } from '../../../src/api/app.js'
import { createMetrics } from '../../../src/api/metrics.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { buildServices } from '../../../src/main/services.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay } from '../../../src/main/server.js'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, rfc9783Iak, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki } from '../../helpers/pki.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = `assay-test-operator-${randomBytes(24).toString('base64url')}`
const OPERATOR = `operator-token:${createHash('sha256').update(TOKEN).digest('hex').slice(0, 8)}`
const AUTH = { authorization: `Bearer ${TOKEN}` }
const JSON_TYPE = { 'content-type': 'application/json' }
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
/** The RFC 9783 example's Instance ID and Implementation ID, and its one software component. */
const RFC_INSTANCE = `01${'02'.repeat(32)}`
const RFC_IMPLEMENTATION = '00'.repeat(32)
const RFC_COMPONENTS = [{ measurementType: 'PRoT', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }]

interface Service {
  readonly url: string
  /** The reference-values file the service started with (one EAT UEID key). */
  readonly file: string
  readonly fileUeid: string
  stop(): Promise<void>
}

const pemOf = (key: TestKeyPair): string => createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString()
const jwkOf = (key: TestKeyPair) => {
  const { kty, crv, x, y } = createPublicKey(key.privateKey).export({ format: 'jwk' })
  return { kty: kty!, crv: crv!, x: x!, y: y! }
}
const certPem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`
const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex')
const hex = (bytes: number): string => randomBytes(bytes).toString('hex')

/** A folder with one reference-values file: an EAT UEID key, so a file-provisioned document exists. */
function referenceValuesDir(): { dir: string; file: string; ueid: string } {
  const dir = mkdtempSync(join(tmpdir(), 'assay-prov-rv-'))
  const ueid = `01${hex(32)}`
  const file = join(dir, 'device.json')
  writeFileSync(file, JSON.stringify({ eat: { ueidKeys: [{ ueid, key: pemOf(generateTestKey('ES256')), speaksFor: { classes: [{ oemid: 32473, hwmodel: 'abcd' }] } }] } }))
  return { dir, file, ueid }
}

async function embedded(): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-prov-'))
  const rv = referenceValuesDir()
  const running = await startAssay(loadConfig({ port: 0, dataDir, referenceValuesDir: rv.dir, operatorToken: TOKEN, rateLimitPoints: 0 }), { role: 'all' })
  return {
    url: running.url!,
    file: rv.file,
    fileUeid: rv.ueid,
    async stop() {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(rv.dir, { recursive: true, force: true })
    },
  }
}

async function onRedis(): Promise<Service> {
  const prefix = `assay-test-prov-${randomUUID().slice(0, 8)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-prov-'))
  const rv = referenceValuesDir()
  const settings = { port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, referenceValuesDir: rv.dir, operatorToken: TOKEN, rateLimitPoints: 0 }
  // The API starts first and so creates the EAR key the worker then loads from the same dataDir.
  const api = await startAssay(loadConfig(settings), { role: 'api' })
  const worker: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL, ASSAY_REDIS_PREFIX: prefix, ASSAY_DATA_DIR: dataDir, ASSAY_REFERENCE_VALUES_DIR: rv.dir },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  // Ready once the worker beats, which it does after writing the folder's files to the store.
  for (let i = 0; i < 600 && (await fetch(`${api.url!}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100))
  return {
    url: api.url!,
    file: rv.file,
    fileUeid: rv.ueid,
    async stop() {
      worker.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (worker.exitCode === null) worker.kill('SIGKILL')
      await api.stop()
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(rv.dir, { recursive: true, force: true })
    },
  }
}

interface Representation {
  id: string
  type?: string
  version: number
  active: boolean
  deleted: boolean
  createdAt: string
  createdBy: string
  source: string
  digest: string
  entry: Record<string, unknown> | null
  warnings?: string[]
}

interface Problem {
  code: string
  status: number
  detail?: string
}

/** One resource type under test: a valid entry, another with a different identifier, how to list it. */
interface Case {
  readonly collection: 'trust-anchors' | 'reference-values'
  readonly type: string
  readonly entry: () => Record<string, unknown>
  readonly identifierOf: (entry: Record<string, unknown>) => string
}

function psaReferenceValue(implementationId = hex(32)) {
  return { implementationId, softwareComponents: [{ measurementValue: hex(32), signerId: hex(32) }] }
}

async function cases(): Promise<Case[]> {
  const ca = (await buildPki()).root
  const devices = [(await buildPki()).leaf, (await buildPki()).leaf]
  const cas = [ca, (await buildPki()).root]
  let device = 0
  let anchor = 0
  return [
    {
      collection: 'trust-anchors',
      type: 'psa-instance-key',
      entry: () => ({ instanceId: `01${hex(32)}`, key: jwkOf(generateTestKey('ES256')), implementationId: hex(32) }),
      identifierOf: (e) => String(e['instanceId']),
    },
    {
      collection: 'trust-anchors',
      type: 'eat-kid-key',
      entry: () => ({ kid: `kid ${randomUUID()}`, key: pemOf(generateTestKey('ES256')), speaksFor: { ueids: [`01${hex(32)}`], classes: 'any' } }),
      identifierOf: (e) => String(e['kid']),
    },
    {
      collection: 'trust-anchors',
      type: 'eat-ueid-key',
      entry: () => ({ ueid: `01${hex(32)}`, key: pemOf(generateTestKey('ES256')), speaksFor: 'any' }),
      identifierOf: (e) => String(e['ueid']),
    },
    {
      collection: 'trust-anchors',
      type: 'pinned-certificate',
      entry: () => ({ certificate: certPem(devices[device++ % 2]!.der), speaksFor: { ueids: 'any', classes: [{ oemid: 'aabbcc', hwmodel: '01' }] } }),
      identifierOf: (e) => sha256(base64Der(String(e['certificate']))),
    },
    {
      collection: 'trust-anchors',
      type: 'x509-ca',
      entry: () => ({ certificate: certPem(cas[anchor++ % 2]!.der), speaksFor: 'any' }),
      identifierOf: (e) => sha256(base64Der(String(e['certificate']))),
    },
    {
      collection: 'reference-values',
      type: 'psa-implementation',
      entry: () => psaReferenceValue(),
      identifierOf: (e) => String(e['implementationId']),
    },
    {
      collection: 'reference-values',
      type: 'eat-class',
      entry: () => ({ oemid: 32473, hwmodel: hex(4), measurementDigests: [hex(32)] }),
      identifierOf: (e) => `pen:32473/${String(e['hwmodel'])}`,
    },
  ]
}

const base64Der = (pem: string): Uint8Array => new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))

/** The RFC 9783 example claims over `nonce`, signed with `key`. */
function psaToken(nonce: Uint8Array, key: TestKeyPair): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(key, { payload: encodeCbor(claims) })
}

function provisioningSuite(name: string, start: () => Promise<Service>): void {
  describe(`provisioning API: ${name}`, { timeout: 180_000 }, () => {
    let service: Service
    let all: Case[]

    before(async () => {
      service = await start()
      all = await cases()
    })
    after(async () => {
      await service?.stop()
    })

    /** Every (method, route, status) seen, to check against openapi.yaml. */
    const seen = new Set<string>()
    async function call(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; raw?: string | Uint8Array } = {}) {
      const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body))
      const res = await fetch(service.url + path, {
        method,
        headers: { ...AUTH, ...(body === undefined ? {} : JSON_TYPE), ...init.headers },
        ...(body === undefined ? {} : { body: body as string }),
      })
      const template = path
        .replace(/\?.*$/, '')
        .replace(/^(\/v1\/[a-z-]+\/)[^/]+/, '$1{id}')
        .replace(/\/versions\/[^/]+$/, '/versions/{version}')
      seen.add(`${method.toLowerCase()} ${template} ${res.status}`)
      return res
    }
    async function json<T>(res: Response, status: number): Promise<T> {
      const text = await res.text()
      assert.equal(res.status, status, text)
      return (text === '' ? undefined : JSON.parse(text)) as T
    }
    async function problem(res: Response, status: number, code: string): Promise<Problem> {
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
      const p = await json<Problem>(res, status)
      assert.equal(p.code, code, JSON.stringify(p))
      return p
    }

    it('every route refuses a request without a credential, or with a wrong one (401, Bearer challenge)', async () => {
      const id = `psa-ta-01${'ab'.repeat(32)}`
      const routes: [string, string][] = []
      for (const collection of ['trust-anchors', 'reference-values']) {
        routes.push(
          ['POST', `/v1/${collection}`],
          ['GET', `/v1/${collection}`],
          ['GET', `/v1/${collection}/${id}`],
          ['PUT', `/v1/${collection}/${id}`],
          ['DELETE', `/v1/${collection}/${id}`],
          ['GET', `/v1/${collection}/${id}/versions`],
          ['GET', `/v1/${collection}/${id}/versions/1`],
          ['POST', `/v1/${collection}/${id}/activate`],
          ['POST', `/v1/${collection}/${id}/deactivate`],
        )
      }
      const credentials: [Record<string, string>, string, RegExp][] = [
        [{}, 'ERR_AUTH_REQUIRED', /^Bearer realm="assay"$/],
        [{ authorization: `Digest ${TOKEN}` }, 'ERR_AUTH_REQUIRED', /^Bearer /],
        [{ authorization: `Basic ${Buffer.from(`op:${TOKEN}x`).toString('base64')}` }, 'ERR_AUTH_INVALID', /error="invalid_token"/],
        [{ authorization: `Bearer ${TOKEN}x` }, 'ERR_AUTH_INVALID', /error="invalid_token"/],
        [{ authorization: `Bearer ${TOKEN.slice(0, -1)}` }, 'ERR_AUTH_INVALID', /error="invalid_token"/],
      ]
      for (const [method, path] of routes) {
        for (const [headers, code, challenge] of credentials) {
          const body = method === 'POST' || method === 'PUT' ? JSON.stringify({ type: 'psa-instance-key' }) : undefined
          const res = await fetch(service.url + path, { method, headers: { ...headers, ...(body === undefined ? {} : JSON_TYPE) }, ...(body === undefined ? {} : { body }) })
          assert.equal(res.status, 401, `${method} ${path}`)
          assert.match(res.headers.get('www-authenticate') ?? '', challenge, `${method} ${path}`)
          assert.equal(((await res.json()) as Problem).code, code, `${method} ${path}`)
        }
      }
    })

    it('shows documents written from the reference-values folder, with their file as source', async () => {
      const page = await json<{ items: Representation[] }>(await call('GET', `/v1/trust-anchors?type=eat-ueid-key&identifier=${service.fileUeid}`), 200)
      assert.equal(page.items.length, 1)
      const [doc] = page.items
      assert.equal(doc!.id, `eat-ueid-${service.fileUeid}`)
      assert.equal(doc!.type, 'eat-ueid-key')
      assert.equal(doc!.source, `file:${service.file}`)
      assert.equal(doc!.createdBy, 'file')
      assert.equal(doc!.active, true)
      assert.equal((doc!.entry as { ueid: string }).ueid, service.fileUeid)
      // Through the other collection it does not exist.
      await problem(await call('GET', `/v1/reference-values/${doc!.id}`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
    })

    it('creates, reads, lists, replaces, deactivates, activates and deletes every resource type, keeping each version', async () => {
      for (const c of all) {
        const what = `${c.type}`
        const other = c.collection === 'trust-anchors' ? 'reference-values' : 'trust-anchors'
        const entry = c.entry()
        const createdRes = await call('POST', `/v1/${c.collection}`, { body: { type: c.type, ...entry } })
        const created = await json<Representation>(createdRes, 201)
        assert.equal(createdRes.headers.get('location'), `/v1/${c.collection}/${created.id}`, what)
        assert.equal(created.type, c.type, what)
        assert.equal(created.version, 1, what)
        assert.equal(created.active, true, what)
        assert.equal(created.deleted, false, what)
        assert.equal(created.createdBy, OPERATOR, what)
        assert.equal(created.source, 'api', what)
        assert.match(created.digest, /^[0-9a-f]{64}$/, what)
        assert.ok(Math.abs(Date.parse(created.createdAt) - Date.now()) < 10 * 60_000, `${what}: createdAt is RFC 3339 (${created.createdAt})`)
        for (const [member, value] of Object.entries(entry)) assert.deepEqual(created.entry?.[member], value, `${what}.${member}`)
        // An "any" binding is a warning, as it is in a file; it comes with the answer, not the document.
        const anyBinding = JSON.stringify(entry['speaksFor'] ?? null).includes('"any"')
        if (anyBinding) assert.match(created.warnings?.join('\n') ?? '', /^the entry.* may speak for any (UEID|class)/m, what)
        else assert.equal(created.warnings, undefined, what)
        delete created.warnings

        // The same entry again: the same document, which exists.
        await problem(await call('POST', `/v1/${c.collection}`, { body: { type: c.type, ...entry } }), 409, 'ERR_ENDORSEMENT_CONFLICT')
        assert.deepEqual(await json(await call('GET', `/v1/${c.collection}/${created.id}`), 200), created, what)
        await problem(await call('GET', `/v1/${other}/${created.id}`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')

        const identifier = encodeURIComponent(c.identifierOf(entry))
        const found = await json<{ items: Representation[] }>(await call('GET', `/v1/${c.collection}?type=${c.type}&identifier=${identifier}`), 200)
        assert.deepEqual(found.items.map((i) => i.id), [created.id], `${what}: listed by identifier`)

        // Replace: a new version; an entry of another identifier is another document.
        const replaced = await json<Representation>(await call('PUT', `/v1/${c.collection}/${created.id}`, { body: { type: c.type, ...entry, comment: 'replaced' } }), 200)
        assert.equal(replaced.warnings !== undefined, anyBinding, what)
        assert.equal(replaced.version, 2, what)
        assert.equal(replaced.entry?.['comment'], 'replaced', what)
        assert.notEqual(replaced.digest, created.digest, what)
        const moved = await call('PUT', `/v1/${c.collection}/${created.id}`, { body: { type: c.type, ...c.entry() } })
        assert.match((await problem(moved, 409, 'ERR_ENDORSEMENT_CONFLICT')).detail ?? '', /is .* not /, what)
        await problem(await call('PUT', `/v1/${c.collection}/${c.type === 'eat-class' ? 'eat-rv-pen.1-00' : 'psa-ta-0102'}`, { body: { type: c.type, ...entry } }), 404, 'ERR_ENDORSEMENT_NOT_FOUND')

        const deactivated = await json<Representation>(await call('POST', `/v1/${c.collection}/${created.id}/deactivate`), 200)
        assert.equal(deactivated.active, false, what)
        assert.equal(deactivated.version, 3, what)
        const again = await json<Representation>(await call('POST', `/v1/${c.collection}/${created.id}/deactivate`), 200)
        assert.equal(again.version, 3, `${what}: deactivating an inactive document changes nothing`)
        const activated = await json<Representation>(await call('POST', `/v1/${c.collection}/${created.id}/activate`), 200)
        assert.equal(activated.active, true, what)
        assert.equal(activated.version, 4, what)

        assert.equal((await call('DELETE', `/v1/${c.collection}/${created.id}`)).status, 204, what)
        await problem(await call('GET', `/v1/${c.collection}/${created.id}`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
        await problem(await call('DELETE', `/v1/${c.collection}/${created.id}`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
        await problem(await call('POST', `/v1/${c.collection}/${created.id}/activate`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
        const gone = await json<{ items: Representation[] }>(await call('GET', `/v1/${c.collection}?type=${c.type}&identifier=${identifier}`), 200)
        assert.deepEqual(gone.items, [], `${what}: a deleted document is not listed`)

        // History: every version, oldest first, the deletion last; each readable on its own.
        const history = await json<{ items: Representation[] }>(await call('GET', `/v1/${c.collection}/${created.id}/versions`), 200)
        assert.deepEqual(history.items.map((v) => [v.version, v.active, v.deleted]), [[1, true, false], [2, true, false], [3, false, false], [4, true, false], [5, false, true]], what)
        assert.equal(history.items[4]!.entry, null, what)
        assert.ok(history.items.every((v) => v.createdBy === OPERATOR && v.source === 'api'), what)
        assert.deepEqual(await json(await call('GET', `/v1/${c.collection}/${created.id}/versions/1`), 200), created, what)
        assert.equal((await json<Representation>(await call('GET', `/v1/${c.collection}/${created.id}/versions/2`), 200)).entry?.['comment'], 'replaced')
        await problem(await call('GET', `/v1/${c.collection}/${created.id}/versions/6`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
        await problem(await call('GET', `/v1/${c.collection}/${created.id}/versions/0`), 400, 'ERR_REQUEST_MALFORMED')
        await problem(await call('GET', `/v1/${other}/${created.id}/versions`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')
        await problem(await call('GET', `/v1/${other}/${created.id}/versions/1`), 404, 'ERR_ENDORSEMENT_NOT_FOUND')

        // Created again: its numbering goes on.
        const recreated = await json<Representation>(await call('POST', `/v1/${c.collection}`, { body: { type: c.type, ...entry } }), 201)
        assert.equal(recreated.version, 6, what)
        assert.equal((await call('DELETE', `/v1/${c.collection}/${created.id}`)).status, 204)
      }
    })

    it('never shows a symmetric key secret (PSA COSE_Mac0), in any representation', async () => {
      const secret = randomBytes(32).toString('base64url')
      const entry = { instanceId: `01${hex(32)}`, key: { kty: 'oct', alg: 'HS256', k: secret }, implementationId: hex(32) }
      const createdRes = await call('POST', '/v1/trust-anchors', { body: { type: 'psa-instance-key', ...entry } })
      const text = await createdRes.text()
      assert.equal(createdRes.status, 201, text)
      const created = JSON.parse(text) as Representation
      assert.deepEqual(created.entry?.['key'], { kty: 'oct', alg: 'HS256' })
      const replaced = await call('PUT', `/v1/trust-anchors/${created.id}`, { body: { type: 'psa-instance-key', ...entry, comment: 'again' } })
      assert.equal(replaced.status, 200)
      const bodies = [
        await replaced.text(),
        await (await call('GET', `/v1/trust-anchors/${created.id}`)).text(),
        await (await call('GET', `/v1/trust-anchors/${created.id}/versions`)).text(),
        await (await call('GET', `/v1/trust-anchors/${created.id}/versions/1`)).text(),
        await (await call('GET', `/v1/trust-anchors?type=psa-instance-key&identifier=${entry.instanceId}`)).text(),
        await (await call('POST', `/v1/trust-anchors/${created.id}/deactivate`)).text(),
      ]
      for (const body of bodies) {
        assert.ok(body.includes(created.id), body)
        assert.ok(!body.includes(secret), body)
      }
    })

    it('lists in pages, by type and by identifier; refuses a malformed query', async () => {
      const ids = new Set<string>()
      for (let i = 0; i < 5; i++) {
        const created = await json<Representation>(await call('POST', '/v1/reference-values', { body: { type: 'psa-implementation', ...psaReferenceValue() } }), 201)
        ids.add(created.id)
      }
      const eatClass = await json<Representation>(await call('POST', '/v1/reference-values', { body: { type: 'eat-class', oemid: 'a1b2c3', hwmodel: hex(2) } }), 201)
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await json<{ items: Representation[]; cursor?: string }>(
          await call('GET', `/v1/reference-values?type=psa-implementation&limit=2${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`),
          200,
        )
        assert.ok(page.items.length <= 2)
        assert.ok(page.items.every((i) => i.type === 'psa-implementation'))
        seen.push(...page.items.map((i) => i.id))
        cursor = page.cursor
        assert.ok(++pages < 20, 'the listing ends')
      } while (cursor !== undefined)
      assert.deepEqual(seen, [...seen].sort(), 'in id order')
      assert.equal(new Set(seen).size, seen.length, 'each once')
      for (const id of ids) assert.ok(seen.includes(id), id)
      assert.ok(!seen.includes(eatClass.id))

      const everything = await json<{ items: Representation[] }>(await call('GET', '/v1/reference-values?limit=1000'), 200)
      assert.ok(everything.items.some((i) => i.id === eatClass.id))
      assert.ok(everything.items.every((i) => i.type === 'psa-implementation' || i.type === 'eat-class'))
      const byClass = await json<{ items: Representation[] }>(
        await call('GET', `/v1/reference-values?type=eat-class&identifier=${encodeURIComponent(`hex:A1B2C3/${String(eatClass.entry!['hwmodel'])}`)}`),
        200,
      )
      assert.deepEqual(byClass.items.map((i) => i.id), [eatClass.id])
      const none = await json<{ items: Representation[] }>(await call('GET', `/v1/reference-values?type=psa-implementation&identifier=${hex(32)}`), 200)
      assert.deepEqual(none.items, [])

      for (const query of [
        'limit=0',
        'limit=1001',
        'limit=two',
        'cursor=not-ours',
        'identifier=00',
        'type=psa-instance-key',
        'type=nope',
        'type=psa-implementation&identifier=zz',
        'type=psa-implementation&identifier=00',
        'type=eat-class&identifier=pen:1',
        'type=psa-implementation&type=eat-class',
        'kind=trust-anchor',
      ]) {
        await problem(await call('GET', `/v1/reference-values?${query}`), 400, query.startsWith('cursor') ? 'ERR_PAGE_CURSOR_INVALID' : 'ERR_REQUEST_MALFORMED')
      }
    })

    it('refuses malformed, oversized and invalid bodies with a problem that names what is wrong', async () => {
      const post = (init: Parameters<typeof call>[2]) => call('POST', '/v1/trust-anchors', init)
      const anchor = () => ({ type: 'psa-instance-key', instanceId: `01${hex(32)}`, key: jwkOf(generateTestKey('ES256')), implementationId: 'any' })

      await problem(await post({ raw: '{"type": "psa-instance-key",' }), 400, 'ERR_REQUEST_MALFORMED')
      await problem(await post({ raw: new Uint8Array([0x7b, 0xff, 0x7d]) }), 400, 'ERR_REQUEST_MALFORMED')
      await problem(await post({ raw: '' }), 400, 'ERR_REQUEST_MALFORMED')
      const tooLarge = await post({ raw: JSON.stringify({ ...anchor(), comment: 'x'.repeat(300 * 1024) }) })
      await problem(tooLarge, 413, 'ERR_REQUEST_BODY_TOO_LARGE')
      // Without Content-Length (chunked), refused as soon as the bytes read pass the limit (64 KiB).
      const chunks = [JSON.stringify({ ...anchor(), comment: '' }).slice(0, -2), ...Array.from({ length: 80 }, () => 'x'.repeat(1024)), '"}']
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift()
          if (next === undefined) controller.close()
          else controller.enqueue(new TextEncoder().encode(next))
        },
      })
      const chunked = await fetch(`${service.url}/v1/trust-anchors`, { method: 'POST', body: stream, headers: { ...AUTH, ...JSON_TYPE }, duplex: 'half' } as RequestInit)
      await problem(chunked, 413, 'ERR_REQUEST_BODY_TOO_LARGE')
      // Just under the limit is taken.
      const large = await json<Representation>(await post({ body: { ...anchor(), comment: 'x'.repeat(60 * 1024) } }), 201)
      assert.equal(String(large.entry?.['comment']).length, 60 * 1024)
      const wrongType = await post({ raw: JSON.stringify(anchor()), headers: { 'content-type': 'text/plain' } })
      assert.equal(wrongType.headers.get('accept'), 'application/json')
      await problem(wrongType, 415, 'ERR_MEDIA_TYPE_UNSUPPORTED')

      const refusals: [unknown, RegExp][] = [
        [[anchor()], /^\(body\): must be a JSON object/],
        [{ ...anchor(), type: undefined }, /^type: is required; one of psa-instance-key, eat-kid-key/],
        [{ ...anchor(), type: 'psa-implementation' }, /^type: "psa-implementation" is not a trust anchor type/],
        [{ ...anchor(), extra: true }, /^\(body\): .*extra/],
        [{ ...anchor(), key: { ...jwkOf(generateTestKey('ES256')), d: 'secret' } }, /^key/],
        [{ ...anchor(), instanceId: '02'.repeat(33) }, /^instanceId: instanceId must start with 01/],
        [{ ...anchor(), implementationId: undefined }, /^implementationId: implementationId is required/],
        [{ ...anchor(), key: jwkOf(rfc9783Iak()) }, /^key: the private key of this key is published/],
        [{ ...anchor(), key: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } }, /^key: /],
        [{ type: 'eat-kid-key', kid: 'k', key: pemOf(generateTestKey('ES256')) }, /^speaksFor: speaksFor is required/],
        [{ type: 'pinned-certificate', certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', speaksFor: 'any' }, /^\(body\): /],
      ]
      for (const [body, detail] of refusals) {
        const p = await problem(await post({ body }), 422, 'ERR_PROVISIONING_INVALID')
        assert.match(p.detail ?? '', detail, JSON.stringify(body).slice(0, 200))
      }
      const polluting = `${JSON.stringify(anchor()).slice(0, -1)},"__proto__":{"active":false}}`
      assert.match((await problem(await post({ raw: polluting }), 422, 'ERR_PROVISIONING_INVALID')).detail ?? '', /__proto__/)
      const rv = await call('POST', '/v1/reference-values', { body: { type: 'psa-implementation', implementationId: hex(32), softwareComponents: [] } })
      assert.match((await problem(rv, 422, 'ERR_PROVISIONING_INVALID')).detail ?? '', /^softwareComponents: /)
      const put = await call('PUT', `/v1/trust-anchors/psa-ta-01${'cd'.repeat(32)}`, { raw: '[' })
      await problem(put, 400, 'ERR_REQUEST_MALFORMED')
    })

    it('a device provisioned through the API appraises affirming without a restart, and stops when deactivated or deleted', async (t) => {
      const iak = generateTestKey('ES256')
      const appraise = async (): Promise<{ status: string | undefined; identity: number | undefined }> => {
        const nonceRes = await fetch(`${service.url}/v1/nonces`, { method: 'POST' })
        assert.equal(nonceRes.status, 201)
        const nonce = base64urlDecode(((await nonceRes.json()) as { nonce: string }).nonce)
        const res = await fetch(`${service.url}/v1/appraisals`, { method: 'POST', body: psaToken(nonce, iak), headers: { 'content-type': PSA_TFM, prefer: 'wait=20' } })
        assert.equal(res.status, 200)
        const body = (await res.json()) as { result: { ear: string } }
        const jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as EarJwks
        const psa = verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims.submods.get('PSA')
        return { status: psa?.status, identity: psa?.vector?.['instance-identity'] }
      }
      /** Appraises until `done` holds; bounded generously (a slow machine), and says how long it took. */
      const until = async (what: string, done: (r: { status: string | undefined; identity: number | undefined }) => boolean) => {
        const started = Date.now()
        let last
        for (let i = 0; i < 300; i++) {
          last = await appraise()
          if (done(last)) {
            t.diagnostic(`${name}: ${what} after ${Date.now() - started} ms (${i + 1} appraisals)`)
            return
          }
          await new Promise((r) => setTimeout(r, 50))
        }
        assert.fail(`${what}: the appraisal stayed ${JSON.stringify(last)}`)
      }

      assert.equal((await appraise()).identity, 97, 'unknown before provisioning')
      const anchor = await json<Representation>(
        await call('POST', '/v1/trust-anchors', { body: { type: 'psa-instance-key', instanceId: RFC_INSTANCE, key: jwkOf(iak), implementationId: RFC_IMPLEMENTATION } }),
        201,
      )
      await until('anchor used', (r) => r.identity === 2)
      const reference = await json<Representation>(
        await call('POST', '/v1/reference-values', { body: { type: 'psa-implementation', implementationId: RFC_IMPLEMENTATION, softwareComponents: RFC_COMPONENTS } }),
        201,
      )
      await until('affirming', (r) => r.status === 'affirming')

      await json(await call('POST', `/v1/reference-values/${reference.id}/deactivate`), 200)
      await until('reference values deactivated', (r) => r.status !== 'affirming' && r.identity === 2)
      await json(await call('POST', `/v1/reference-values/${reference.id}/activate`), 200)
      await until('reference values activated', (r) => r.status === 'affirming')

      await json(await call('POST', `/v1/trust-anchors/${anchor.id}/deactivate`), 200)
      await until('anchor deactivated', (r) => r.status !== 'affirming' && r.identity === 97)
      await json(await call('POST', `/v1/trust-anchors/${anchor.id}/activate`), 200)
      await until('anchor activated', (r) => r.status === 'affirming')

      // A replacement with another key: Evidence signed with the old one no longer verifies.
      await json(await call('PUT', `/v1/trust-anchors/${anchor.id}`, { body: { type: 'psa-instance-key', instanceId: RFC_INSTANCE, key: jwkOf(generateTestKey('ES256')), implementationId: RFC_IMPLEMENTATION } }), 200)
      await until('anchor replaced with another key', (r) => r.status !== 'affirming')
      await json(await call('PUT', `/v1/trust-anchors/${anchor.id}`, { body: { type: 'psa-instance-key', instanceId: RFC_INSTANCE, key: jwkOf(iak), implementationId: RFC_IMPLEMENTATION } }), 200)
      await until('anchor replaced back', (r) => r.status === 'affirming')

      assert.equal((await call('DELETE', `/v1/trust-anchors/${anchor.id}`)).status, 204)
      await until('anchor deleted', (r) => r.status !== 'affirming' && r.identity === 97)
    })

    it('answered only with routes and statuses that openapi.yaml documents', () => {
      const spec = parseYaml(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as {
        paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>
      }
      const undocumented = [...seen].filter((s) => {
        const [method, path, status] = s.split(' ') as [string, string, string]
        return spec.paths[path]?.[method]?.responses?.[status] === undefined
      })
      assert.deepEqual(undocumented, [])
      assert.ok(seen.size > 30, `${seen.size} seen`)
    })
  })
}

provisioningSuite('embedded mode', embedded)
provisioningSuite('Redis, worker in a separate process', onRedis)

describe('provisioning API without an endorsement store', () => {
  it('answers 503 (after the credential check) on every route', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-prov-'))
    const config = loadConfig({ port: 0, dataDir, operatorToken: TOKEN, rateLimitPoints: 0 })
    const services = await buildServices(config, { role: 'all' })
    const producer = services.producer!
    const app = createApp({
      config,
      store: services.store,
      queue: producer,
      registry: createDefaultRegistry(),
      results: services.renderer,
      metrics: createMetrics(() => producer.depth()),
      clock: services.clock,
    })
    const server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const id = `psa-rv-${'00'.repeat(32)}`
      const body = JSON.stringify({ type: 'psa-implementation', ...psaReferenceValue() })
      for (const [method, path] of [
        ['POST', '/v1/reference-values'],
        ['GET', '/v1/reference-values'],
        ['GET', `/v1/reference-values/${id}`],
        ['PUT', `/v1/reference-values/${id}`],
        ['DELETE', `/v1/trust-anchors/${id}`],
        ['GET', `/v1/trust-anchors/${id}/versions`],
        ['GET', `/v1/trust-anchors/${id}/versions/1`],
        ['POST', `/v1/trust-anchors/${id}/activate`],
        ['POST', `/v1/trust-anchors/${id}/deactivate`],
      ] as const) {
        const withBody = method === 'POST' || method === 'PUT'
        const res = await fetch(url + path, { method, headers: { ...AUTH, ...(withBody ? JSON_TYPE : {}) }, ...(withBody ? { body } : {}) })
        assert.equal(res.status, 503, `${method} ${path}`)
        assert.equal(((await res.json()) as Problem).code, 'ERR_STORE_UNAVAILABLE')
        const anonymous = await fetch(url + path, { method })
        assert.equal(anonymous.status, 401, `${method} ${path} without the token`)
        await anonymous.arrayBuffer()
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await services.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe('the start warns that nothing is provisioned only when the store holds nothing active either', () => {
  it('embedded: warns before the API provisions, not after', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-prov-'))
    const config = loadConfig({ port: 0, dataDir, operatorToken: TOKEN, rateLimitPoints: 0 })
    const warned = (logs: string[]) => logs.some((m) => /WARNING: no reference values provisioned/.test(m))
    try {
      const first: string[] = []
      let running = await startAssay(config, { role: 'all', log: (m) => first.push(m) })
      assert.ok(warned(first), first.join('\n'))
      const res = await fetch(`${running.url!}/v1/reference-values`, {
        method: 'POST',
        headers: { ...AUTH, ...JSON_TYPE },
        body: JSON.stringify({ type: 'psa-implementation', ...psaReferenceValue() }),
      })
      assert.equal(res.status, 201)
      const { id } = (await res.json()) as Representation
      await running.stop()

      const second: string[] = []
      running = await startAssay(config, { role: 'all', log: (m) => second.push(m) })
      assert.ok(!warned(second), second.join('\n'))
      // Deactivated, it no longer counts.
      assert.equal((await fetch(`${running.url!}/v1/reference-values/${id}/deactivate`, { method: 'POST', headers: AUTH })).status, 200)
      await running.stop()
      const third: string[] = []
      running = await startAssay(config, { role: 'all', log: (m) => third.push(m) })
      assert.ok(warned(third), third.join('\n'))
      await running.stop()
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe('a document written from a file, changed through the API', () => {
  it('embedded: the file wins again at the next start; an operator deactivation holds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-prov-'))
    const rv = referenceValuesDir()
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir: rv.dir, operatorToken: TOKEN, rateLimitPoints: 0 })
    const id = `eat-ueid-${rv.ueid}`
    let running = await startAssay(config, { role: 'all' })
    try {
      const url = () => `${running.url!}/v1/trust-anchors/${id}`
      const read = async () => (await (await fetch(url(), { headers: AUTH })).json()) as Representation
      const fromFile = await read()
      assert.equal(fromFile.source, `file:${rv.file}`)
      const replaced = await fetch(url(), {
        method: 'PUT',
        headers: { ...AUTH, ...JSON_TYPE },
        body: JSON.stringify({ type: 'eat-ueid-key', ...fromFile.entry, comment: 'changed through the API' }),
      })
      assert.equal(replaced.status, 200)
      assert.equal(((await replaced.json()) as Representation).source, 'api')

      // Restarted on the same folder: the file's entry is written again.
      await running.stop()
      running = await startAssay(config, { role: 'all' })
      const restored = await read()
      assert.equal(restored.source, `file:${rv.file}`)
      assert.equal(restored.createdBy, 'file')
      assert.equal(restored.version, 3)
      assert.deepEqual(restored.entry, fromFile.entry)

      // Deleted through the API: back at the next start too.
      assert.equal((await fetch(url(), { method: 'DELETE', headers: AUTH })).status, 204)
      await running.stop()
      running = await startAssay(config, { role: 'all' })
      assert.equal((await read()).version, 5)

      // Deactivated through the API: it stays so while the file's entry is unchanged.
      assert.equal((await fetch(`${url()}/deactivate`, { method: 'POST', headers: AUTH })).status, 200)
      await running.stop()
      running = await startAssay(config, { role: 'all' })
      const still = await read()
      assert.equal(still.active, false)
      assert.equal(still.version, 6)
    } finally {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(rv.dir, { recursive: true, force: true })
    }
  })
})
