/**
 * Per-client rate limits (issue 7 item 13), in both modes: a spent budget is a 429 problem with
 * `Retry-After`; health, readiness and metrics are never limited; on Redis every API process
 * shares one budget per client, and a Redis outage makes the limiter stand aside, not fail requests.
 * Real HTTP; Redis is a redis-server of the test's own.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { RATE_COST } from '../../../src/api/rate-limit.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { ownRedis } from '../../helpers/redis-server.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const POINTS = 3 * RATE_COST.evidence
const ID = '00000000-0000-4000-8000-000000000000'

const evidence = (url: string) =>
  fetch(`${url}/v1/appraisals`, { method: 'POST', body: 'not a token', headers: { 'content-type': 'application/psa-attestation-token' } })

async function assertLimited(res: Response): Promise<void> {
  assert.equal(res.status, 429)
  assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${res.headers.get('retry-after')}`)
  assert.equal(((await res.json()) as { code: string }).code, 'ERR_RATE_LIMITED')
}

describe('rate limits', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = []
  after(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  async function start(extra: Record<string, unknown>, role: 'all' | 'api' = 'all'): Promise<RunningAssay> {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-ratelimit-'))
    const config = loadConfig({
      port: 0,
      dataDir,
      referenceValuesDir: join(ROOT, 'reference-values'),
      rateLimitPoints: POINTS,
      rateLimitWindowSeconds: 60,
      ...extra,
    })
    const running = await startAssay(config, { role })
    cleanups.push(async () => {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
    })
    return running
  }

  it('embedded: Evidence spends the budget, then every request is 429 with Retry-After; probes are not limited', async () => {
    const assay = await start({})
    for (let i = 0; i < 3; i++) assert.equal((await evidence(assay.url!)).status, 202)
    await assertLimited(await evidence(assay.url!))
    await assertLimited(await fetch(`${assay.url}/v1/appraisals/${ID}`))
    await assertLimited(await fetch(`${assay.url}/.well-known/jwks.json`))
    for (const probe of ['/healthz', '/readyz', '/metrics']) {
      assert.notEqual((await fetch(`${assay.url}${probe}`)).status, 429, probe)
    }
  })

  it('embedded: 0 turns limits off', async () => {
    const assay = await start({ rateLimitPoints: 0 })
    for (let i = 0; i < 5; i++) assert.equal((await evidence(assay.url!)).status, 202)
  })

  it('Redis: API processes share one budget per client, and a Redis outage does not fail requests for the limiter', async () => {
    const redis = await ownRedis()
    cleanups.push(() => redis.stop())
    const a = await start({ redisUrl: redis.url }, 'api')
    const b = await start({ redisUrl: redis.url }, 'api')
    const c = await start({ redisUrl: redis.url }, 'api')
    assert.equal((await evidence(a.url!)).status, 202)
    assert.equal((await evidence(b.url!)).status, 202)
    assert.equal((await evidence(a.url!)).status, 202)
    await assertLimited(await evidence(b.url!))
    await assertLimited(await fetch(`${a.url}/v1/appraisals/${ID}`))

    // Redis gone: the limiter counts in process (a fresh budget in a process that had not seen this
    // client yet), so requests are served as far as they can be without Redis: keys from memory, a
    // 503 for what needs Redis, never a 500.
    await redis.stop()
    assert.equal((await fetch(`${c.url}/.well-known/jwks.json`)).status, 200)
    const stored = await fetch(`${c.url}/v1/appraisals/${ID}`)
    assert.equal(stored.status, 503)
    assert.ok(stored.headers.get('retry-after'))
    // And the stand-in still limits.
    let status = 0
    for (let i = 0; i < POINTS + 1 && status !== 429; i++) status = (await fetch(`${c.url}/.well-known/jwks.json`)).status
    assert.equal(status, 429)
    await redis.start()
  })
})
