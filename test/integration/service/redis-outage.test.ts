/**
 * Redis going away (issue 7 item 19): while Redis is down, Evidence and nonce requests are refused
 * with a 503 problem and `Retry-After` before a `Prefer: wait` could have elapsed, `/readyz` says
 * 503, and service resumes when Redis is back. Uses a redis-server of its own (never the shared one).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { typeSlug } from '../../../src/errors/codes.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { ownRedis, type OwnRedis } from '../../helpers/redis-server.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = readFileSync(join(ROOT, 'examples/psa-rfc9783-a1.cbor'))
const PSA = 'application/psa-attestation-token'
// Long enough that no load on the machine makes an immediate refusal look like a waited-out one.
const WAIT_SECONDS = 60

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('Redis outage', { timeout: 120_000 }, () => {
  let redis: OwnRedis
  let assay: RunningAssay
  let dataDir: string
  const logged: string[] = []

  before(async () => {
    redis = await ownRedis()
    dataDir = mkdtempSync(join(tmpdir(), 'assay-outage-'))
    const config = loadConfig({
      port: 0,
      redisUrl: redis.url,
      dataDir,
      referenceValuesDir: join(ROOT, 'reference-values'),
      maxWaitSeconds: WAIT_SECONDS,
    })
    assay = await startAssay(config, { role: 'all', log: (message) => logged.push(message) })
    await until(async () => (await fetch(`${assay.url}/readyz`)).status === 200, 'ready')
  })

  after(async () => {
    await redis.start()
    await assay.stop()
    await redis.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const submit = () =>
    fetch(`${assay.url}/v1/appraisals`, { method: 'POST', body: TOKEN, headers: { 'content-type': PSA, prefer: `wait=${WAIT_SECONDS}` } })

  it('appraises while Redis is up', async () => {
    const res = await submit()
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { status: string }).status, 'complete')
  })

  it('answers 503 with Retry-After, before the requested wait, while Redis is down and /readyz is 503', async () => {
    await redis.stop()
    await until(async () => (await fetch(`${assay.url}/readyz`)).status === 503, '/readyz 503')
    for (let i = 0; i < 3; i++) {
      const started = Date.now()
      const res = await submit()
      const elapsed = Date.now() - started
      assert.equal(res.status, 503)
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
      const problem = (await res.json()) as { type: string; status: number; detail?: string }
      assert.equal(problem.type, `tag:assay-verifier.dev,2026:problem:${typeSlug('ERR_QUEUE_UNAVAILABLE')}`)
      assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/)
      // Refused because the connection is down (the producer fails commands at once), not because a
      // command timed out waiting for Redis ("did not answer within …"), and not after the client's wait.
      assert.doesNotMatch(problem.detail ?? '', /did not answer within/)
      assert.ok(elapsed < WAIT_SECONDS * 1000, `answered after ${elapsed} ms`)
      assert.equal((await fetch(`${assay.url}/readyz`)).status, 503)
    }
    const nonce = await fetch(`${assay.url}/v1/nonces`, { method: 'POST' })
    assert.equal(nonce.status, 503)
    assert.match(nonce.headers.get('retry-after') ?? '', /^[1-9]\d*$/)
  })

  it('serves again once Redis is back', async () => {
    await redis.start()
    await until(async () => (await submit()).status === 200, 'appraisals after Redis is back')
    await until(async () => (await fetch(`${assay.url}/readyz`)).status === 200, '/readyz 200 after Redis is back')
  })
})
