/**
 * Endorsements change without a restart (issue 9): the reference-values files are written to the
 * endorsement store at start, and a change written to the store afterwards is used by a running
 * worker. On Redis the worker is a separate process and the change is written by this one, through
 * a store with connections of its own; in embedded mode the change goes through the running
 * service's store. Real HTTP, real Redis, the RFC 9783 sample (test mode: its IAK is published).
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { provisioningDocuments } from '../../../src/appraisal/provisioning-documents.js'
import { referenceValueDocumentSchema } from '../../../src/appraisal/reference-values.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import type { EndorsementStore } from '../../../src/store/endorsements.js'
import { createRedisEndorsementStore } from '../../../src/store/redis/endorsement-store.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { rfc9783Iak, signSign1 } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SAMPLES = join(ROOT, 'examples/reference-values')
const SAMPLE = join(SAMPLES, 'psa-rfc9783-example.json')
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const ANCHOR = `psa-ta-01${'02'.repeat(32)}`
const REFERENCE = `psa-rv-${'00'.repeat(32)}`
const CHANGE = { createdBy: 'operator', source: 'api' }

/** The RFC 9783 example claims over `nonce`, signed with its (published) IAK. */
function psaToken(nonce: Uint8Array): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(rfc9783Iak(), { payload: encodeCbor(claims) })
}

/** Appraises the sample token through the API; the PSA submodule's instance-identity claim. */
async function instanceIdentity(url: string): Promise<number | undefined> {
  const nonceRes = await fetch(`${url}/v1/nonces`, { method: 'POST' })
  assert.equal(nonceRes.status, 201)
  const nonce = base64urlDecode(((await nonceRes.json()) as { nonce: string }).nonce)
  const res = await fetch(`${url}/v1/appraisals`, { method: 'POST', body: psaToken(nonce), headers: { 'content-type': PSA_TFM, prefer: 'wait=20' } })
  assert.equal(res.status, 200)
  const body = (await res.json()) as { result: { ear: string } }
  const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as EarJwks
  return verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims.submods.get('PSA')?.vector?.['instance-identity']
}

/** Appraises until the claim is `expected` (bounded: a change must arrive within seconds, not never). */
async function eventually(url: string, expected: number, what: string): Promise<void> {
  let seen: number | undefined
  for (let i = 0; i < 100; i++) {
    seen = await instanceIdentity(url)
    if (seen === expected) return
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`${what}: instance-identity stayed ${seen}, expected ${expected}`)
}

/** The sample's trust anchor as a document, written as the provisioning API will. */
async function provisionSampleAnchor(store: EndorsementStore): Promise<void> {
  const doc = referenceValueDocumentSchema.parse(JSON.parse(readFileSync(SAMPLE, 'utf8')))
  const anchor = provisioningDocuments(doc).find((d) => d.id === ANCHOR)!
  await store.create('default', anchor.id, { kind: anchor.kind, body: anchor.body, indexIds: anchor.indexIds, createdBy: 'operator', source: 'api' })
}

describe('endorsements changed without a restart', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void>)[] = []
  after(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  it('Redis: files are in the store, and a change written by another process reaches the worker process', async () => {
    const prefix = `assay-test-live-${randomUUID().slice(0, 8)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-live-'))
    cleanups.push(async () => {
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
    })
    const settings = { port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, referenceValuesDir: SAMPLES, allowPublishedKeys: true, rateLimitPoints: 0 }
    const api = await startAssay(loadConfig(settings), { role: 'api' })
    cleanups.push(() => api.stop())
    const worker: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main/cli.ts'), 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL,
        ASSAY_REDIS_PREFIX: prefix,
        ASSAY_DATA_DIR: dataDir,
        ASSAY_REFERENCE_VALUES_DIR: SAMPLES,
        ASSAY_ALLOW_PUBLISHED_KEYS: 'true',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    cleanups.push(async () => {
      worker.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (worker.exitCode === null) worker.kill('SIGKILL')
    })
    const store = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
    cleanups.push(() => store.close())

    assert.equal(await instanceIdentity(api.url!), 2)
    const anchor = await store.get('default', ANCHOR)
    assert.equal(anchor?.source, `file:${SAMPLE}`)
    assert.equal(anchor?.createdBy, 'file')
    assert.equal(anchor?.version, 1)

    // Another worker starting on the same files writes nothing.
    const revision = await store.revision('default')
    const second = await startAssay(loadConfig(settings), { role: 'worker' })
    await second.stop()
    assert.equal(await store.revision('default'), revision)
    assert.equal((await store.versions('default', REFERENCE)).length, 1)

    await store.setActive('default', ANCHOR, false, CHANGE)
    await eventually(api.url!, 97, 'deactivated anchor')
    await store.setActive('default', ANCHOR, true, CHANGE)
    await eventually(api.url!, 2, 'reactivated anchor')
    await store.delete('default', ANCHOR, CHANGE)
    await eventually(api.url!, 97, 'deleted anchor')
    await provisionSampleAnchor(store)
    await eventually(api.url!, 2, 'anchor provisioned again')
  })

  it('embedded: a change through the service store is used by the next appraisal, and survives a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-live-'))
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir: SAMPLES, allowPublishedKeys: true, rateLimitPoints: 0 })
    let running: RunningAssay | undefined = await startAssay(config, { role: 'all' })
    cleanups.push(async () => {
      await running?.stop()
    })
    let store = running.services.endorsementStore!
    assert.equal((await store.get('default', ANCHOR))?.source, `file:${SAMPLE}`)
    assert.equal(await instanceIdentity(running.url!), 2)
    await store.setActive('default', ANCHOR, false, CHANGE)
    assert.equal(await instanceIdentity(running.url!), 97)
    const revision = await store.revision('default')

    // A restart on the same files: the operator's deactivation holds, and nothing is written.
    await running.stop()
    running = undefined
    running = await startAssay(config, { role: 'all' })
    store = running.services.endorsementStore!
    assert.equal((await store.get('default', ANCHOR))?.active, false)
    assert.equal((await store.versions('default', REFERENCE)).length, 1)
    assert.equal(await store.revision('default'), revision)
    assert.equal(await instanceIdentity(running.url!), 97)
    await store.setActive('default', ANCHOR, true, CHANGE)
    assert.equal(await instanceIdentity(running.url!), 2)
    await store.delete('default', ANCHOR, CHANGE)
    assert.equal(await instanceIdentity(running.url!), 97)
    await provisionSampleAnchor(store)
    assert.equal(await instanceIdentity(running.url!), 2)
  })
})
