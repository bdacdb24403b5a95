/**
 * The audit log through the service (issue 10), in embedded mode (`assay start`, a process of its
 * own) and on real Redis (the API here, the worker an `assay worker` process), over real HTTP:
 * - a provisioning change through the API appears in the log with its actor and version, and so do
 *   the documents the reference-values folder wrote at start;
 * - an appraisal appears with its Evidence digest and the document versions it used, and its EAR
 *   names the same versions (`ear_assay_endorsements`), the new version after a change;
 * - checkpoints appear (every second here) and verify against the service's JWKS;
 * - `GET /v1/audit/export` verifies with a real `assay audit verify` process against the JWKS URL,
 *   and a deleted or altered line makes it fail;
 * - paging, and 400/401 for bad queries and missing credentials.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { AuditEntry } from '../../../src/audit/entry.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay } from '../../../src/main/server.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { generateApiKey } from '../../../src/auth/api-keys.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { ASSAY_ARGV, cleanEnv, runAssay, startAssayProcess } from '../../helpers/cli.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const TOKEN = `assay-test-operator-${randomBytes(24).toString('base64url')}`
/** An admin key of tenant default (the audit log is read by admins), chosen as the deployer would. */
const ADMIN = generateApiKey().key
const OPERATOR = `operator-token:${createHash('sha256').update(TOKEN).digest('hex').slice(0, 8)}`
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const RFC_INSTANCE = `01${'02'.repeat(32)}`
const RFC_IMPLEMENTATION = '00'.repeat(32)
const RFC_COMPONENTS = [{ measurementType: 'PRoT', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }]
/** Generous bounds for a slow, shared machine; a pass takes a second or two. */
const DEADLINE_MS = 30_000

const jwkOf = (key: TestKeyPair) => {
  const { kty, crv, x, y } = createPublicKey(key.privateKey).export({ format: 'jwk' })
  return { kty: kty!, crv: crv!, x: x!, y: y! }
}

function psaToken(nonce: Uint8Array, key: TestKeyPair): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(key, { payload: encodeCbor(claims) })
}

/** A folder with one reference-values file (an EAT UEID key), so the start writes a document. */
function referenceValuesDir(dir: string): string {
  const pem = createPublicKey(generateTestKey('ES256').privateKey).export({ type: 'spki', format: 'pem' }).toString()
  writeFileSync(join(dir, 'device.json'), JSON.stringify({ eat: { ueidKeys: [{ ueid: `01${randomBytes(32).toString('hex')}`, key: pem, speaksFor: { classes: [{ oemid: 32473, hwmodel: 'abcd' }] } }] } }))
  return dir
}

interface Service {
  readonly url: string
  stop(): Promise<void>
}

const AUDIT_ENV = { ASSAY_AUDIT_CHECKPOINT_SECONDS: '1', ASSAY_OPERATOR_TOKEN: TOKEN, ASSAY_BOOTSTRAP_ADMIN_KEY: ADMIN, ASSAY_RATE_LIMIT_POINTS: '0' }

async function embedded(): Promise<Service> {
  const rv = referenceValuesDir(mkdtempSync(join(tmpdir(), 'assay-audit-rv-')))
  const server = await startAssayProcess({ ...AUDIT_ENV, ASSAY_REFERENCE_VALUES_DIR: rv })
  return {
    url: server.url,
    async stop() {
      await server.stop()
      rmSync(rv, { recursive: true, force: true })
    },
  }
}

async function onRedis(): Promise<Service> {
  const prefix = `assay-test-audit-${randomUUID().slice(0, 8)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-audit-'))
  const rv = referenceValuesDir(mkdtempSync(join(tmpdir(), 'assay-audit-rv-')))
  const api = await startAssay(
    loadConfig({ port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, referenceValuesDir: rv, operatorToken: TOKEN, bootstrapAdminKey: ADMIN, rateLimitPoints: 0, auditCheckpointSeconds: 1 }),
    { role: 'api' },
  )
  const worker: ChildProcess = spawn(ASSAY_ARGV[0]!, [...ASSAY_ARGV.slice(1), 'worker'], {
    env: cleanEnv({ ...AUDIT_ENV, REDIS_URL, ASSAY_REDIS_PREFIX: prefix, ASSAY_DATA_DIR: dataDir, ASSAY_REFERENCE_VALUES_DIR: rv, ASSAY_LOG_LEVEL: 'silent' }),
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const deadline = Date.now() + 60_000
  while ((await fetch(`${api.url!}/readyz`).then(async (r) => (await r.arrayBuffer(), r.status))) !== 200) {
    assert.ok(Date.now() < deadline && worker.exitCode === null, 'the worker process did not become ready')
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url: api.url!,
    async stop() {
      worker.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (worker.exitCode === null) worker.kill('SIGKILL')
      await api.stop()
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(rv, { recursive: true, force: true })
    },
  }
}

function auditSuite(name: string, start: () => Promise<Service>): void {
  describe(`audit log: ${name}`, { timeout: 240_000 }, () => {
    let service: Service
    let dir: string
    let jwks: EarJwks
    const iak = generateTestKey('ES256')

    before(async () => {
      service = await start()
      dir = mkdtempSync(join(tmpdir(), 'assay-audit-out-'))
      jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as EarJwks
    })
    after(async () => {
      await service?.stop()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })

    async function call(method: string, path: string, options: { body?: unknown; token?: string | null } = {}) {
      const headers: Record<string, string> = {}
      // The audit log is read with the admin key, everything else is done with the operator token.
      const token = options.token === undefined ? (path.startsWith('/v1/audit') ? ADMIN : TOKEN) : options.token
      if (token !== null) headers['authorization'] = `Bearer ${token}`
      if (options.body !== undefined) headers['content-type'] = 'application/json'
      return fetch(`${service.url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) })
    }

    async function json<T>(res: Response, status: number): Promise<T> {
      const text = await res.text()
      assert.equal(res.status, status, text)
      return JSON.parse(text) as T
    }

    async function log(): Promise<AuditEntry[]> {
      const out: AuditEntry[] = []
      let after = 0
      for (;;) {
        const page = await json<{ entries: AuditEntry[]; next?: number }>(await call('GET', `/v1/audit?after=${after}&limit=1000`), 200)
        out.push(...page.entries)
        if (page.next === undefined) return out
        after = page.next
      }
    }

    async function appraise(): Promise<{ token: Uint8Array; id: string; ear: EarClaims }> {
      const nonceRes = await fetch(`${service.url}/v1/nonces`, { method: 'POST' })
      const nonce = base64urlDecode(((await json<{ nonce: string }>(nonceRes, 201)).nonce))
      const token = psaToken(nonce, iak)
      const res = await fetch(`${service.url}/v1/appraisals`, { method: 'POST', body: token, headers: { 'content-type': PSA_TFM, prefer: 'wait=20' } })
      const body = await json<{ id: string; result: { ear: string } }>(res, 200)
      return { token, id: body.id, ear: verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims }
    }

    /** Appraises until the EAR names `want` (a worker hears of a change within about a second). */
    async function appraiseUntil(want: string): Promise<{ token: Uint8Array; id: string; ear: EarClaims }> {
      const deadline = Date.now() + DEADLINE_MS
      for (;;) {
        const a = await appraise()
        if (a.ear.endorsements?.includes(want) === true) return a
        assert.ok(Date.now() < deadline, `no EAR named ${want}; the last named ${JSON.stringify(a.ear.endorsements)}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }

    it('records changes through the API and at start, and appraisals with the versions their EARs name, then verifies the export', async () => {
      const anchor = await json<{ id: string; version: number }>(
        await call('POST', '/v1/trust-anchors', { body: { type: 'psa-instance-key', instanceId: RFC_INSTANCE, key: jwkOf(iak), implementationId: RFC_IMPLEMENTATION } }),
        201,
      )
      const reference = await json<{ id: string; version: number }>(
        await call('POST', '/v1/reference-values', { body: { type: 'psa-implementation', implementationId: RFC_IMPLEMENTATION, softwareComponents: RFC_COMPONENTS } }),
        201,
      )
      let entries = await log()
      const created = entries.find((e) => e.action === 'trust-anchor.create' && e.targets?.[0]?.id === anchor.id)
      assert.ok(created !== undefined, JSON.stringify(entries.map((e) => e.action)))
      assert.equal(created.actor, OPERATOR)
      assert.deepEqual(created.targets, [{ type: 'trust-anchor', id: anchor.id, version: 1 }])
      assert.equal(created.outcome, 'created')
      assert.equal(created.details?.['source'], 'api')
      assert.ok(entries.some((e) => e.action === 'reference-value.create' && e.targets?.[0]?.id === reference.id && e.actor === OPERATOR))
      assert.ok(entries.some((e) => e.action === 'trust-anchor.create' && e.actor === 'file' && String(e.details?.['source']).startsWith('file:')), 'the start wrote the folder')

      const first = await appraiseUntil(`${anchor.id}@1`)
      assert.equal(first.ear.submods.get('PSA')?.status, 'affirming')
      assert.deepEqual(first.ear.endorsements, [`${anchor.id}@1`, `${reference.id}@1`].sort())

      // A new version of the anchor (same key): the next EARs name version 2.
      await json(await call('PUT', `/v1/trust-anchors/${anchor.id}`, { body: { type: 'psa-instance-key', instanceId: RFC_INSTANCE, key: jwkOf(iak), implementationId: RFC_IMPLEMENTATION } }), 200)
      const second = await appraiseUntil(`${anchor.id}@2`)

      entries = await log()
      const replaced = entries.find((e) => e.action === 'trust-anchor.replace' && e.targets?.[0]?.id === anchor.id)
      assert.deepEqual(replaced?.targets, [{ type: 'trust-anchor', id: anchor.id, version: 2 }])
      for (const a of [first, second]) {
        const entry = entries.find((e) => e.action === 'appraisal' && e.targets?.[0]?.id === a.id)
        assert.ok(entry !== undefined, `appraisal ${a.id} is in the log`)
        assert.equal(entry.evidenceDigest, createHash('sha256').update(a.token).digest('hex'))
        assert.equal(entry.outcome, 'affirming')
        assert.match(entry.actor, /^worker:/)
        assert.deepEqual(entry.targets?.slice(1).map((t) => `${t.id}@${t.version}`), a.ear.endorsements)
      }

      // A checkpoint covers the last entry within about a second (the timer), signed by the EAR key.
      const deadline = Date.now() + DEADLINE_MS
      while ((entries = await log()).at(-1)?.action !== 'audit.checkpoint') {
        assert.ok(Date.now() < deadline, 'no checkpoint after the last entry')
        await new Promise((r) => setTimeout(r, 200))
      }
      const checkpoint = entries.at(-1)!
      assert.equal(checkpoint.actor, 'assay')
      const header = JSON.parse(Buffer.from(checkpoint.checkpoint!.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }
      assert.ok(jwks.keys.some((k) => k.kid === header.kid), 'signed with a key of the JWKS')

      // The export, fetched over HTTP, verifies with `assay audit verify` against the JWKS URL.
      const res = await call('GET', '/v1/audit/export')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/jsonl/)
      const text = await res.text()
      const lines = text.split('\n').filter((l) => l !== '')
      assert.ok(lines.length >= entries.length)
      const file = join(dir, 'export.jsonl')
      writeFileSync(file, text)
      const jwksUrl = `${service.url}/.well-known/jwks.json`
      const ok = await runAssay(['audit', 'verify', file, '--jwks', jwksUrl])
      assert.equal(ok.code, 0, ok.stdout + ok.stderr)
      assert.match(ok.stdout, /tenant default: \d+ entries checked, [1-9]\d* checkpoints verified/)

      const appraisalLine = lines.findIndex((l) => (JSON.parse(l) as AuditEntry).targets?.[0]?.id === first.id)
      const deleted = join(dir, 'deleted.jsonl')
      writeFileSync(deleted, lines.filter((_, i) => i !== appraisalLine).join('\n') + '\n')
      const d = await runAssay(['audit', 'verify', deleted, '--jwks', jwksUrl])
      assert.equal(d.code, 3, d.stdout)
      assert.match(d.stdout, /PROBLEM missing at seq/)
      const altered = join(dir, 'altered.jsonl')
      writeFileSync(altered, lines.map((l, i) => (i === appraisalLine ? l.replace('"affirming"', '"contraindicated"') : l)).join('\n') + '\n')
      const a = await runAssay(['audit', 'verify', altered, '--jwks', jwksUrl])
      assert.equal(a.code, 3, a.stdout)
      assert.match(a.stdout, /PROBLEM altered at seq/)
    })

    it('pages with after and limit, and refuses bad queries (400) and missing or wrong credentials (401)', async () => {
      const all = await log()
      assert.ok(all.length >= 3)
      const page = await json<{ entries: AuditEntry[]; next?: number }>(await call('GET', '/v1/audit?limit=2'), 200)
      assert.deepEqual(page.entries.map((e) => e.seq), [1, 2])
      assert.equal(page.next, 2)
      const rest = await json<{ entries: AuditEntry[] }>(await call('GET', `/v1/audit?after=${page.next}&limit=1`), 200)
      assert.deepEqual(rest.entries.map((e) => e.seq), [3])
      const tail = await (await call('GET', `/v1/audit/export?after=${all.length - 1}`)).text()
      assert.deepEqual(tail.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as AuditEntry).seq), [all.length])

      for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'after=-1', 'after=1.5', 'after=99999999999999999', 'cursor=x', 'limit=1&limit=2']) {
        const res = await call('GET', `/v1/audit?${query}`)
        const problem = await json<{ code: string }>(res, 400)
        assert.equal(problem.code, 'ERR_REQUEST_MALFORMED', query)
      }
      assert.equal((await json<{ code: string }>(await call('GET', '/v1/audit/export?limit=5'), 400)).code, 'ERR_REQUEST_MALFORMED')
      for (const path of ['/v1/audit', '/v1/audit/export']) {
        assert.equal((await json<{ code: string }>(await call('GET', path, { token: null }), 401)).code, 'ERR_AUTH_REQUIRED')
        assert.equal((await json<{ code: string }>(await call('GET', path, { token: 'not-the-token' }), 401)).code, 'ERR_AUTH_INVALID')
        // The operator token holds provisioner and policy-admin, not admin.
        assert.equal((await json<{ code: string }>(await call('GET', path, { token: TOKEN }), 403)).code, 'ERR_AUTH_FORBIDDEN')
        assert.equal((await call('POST', path)).status, 405)
      }
    })
  })
}

auditSuite('embedded mode (assay start)', embedded)
auditSuite('Redis, worker in a separate process', onRedis)
