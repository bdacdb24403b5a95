/**
 * Faults are visible, and a refused enqueue leaves no half-done state: real Express app on a port,
 * real stores, real queues (in-process and BullMQ on Redis), real keys, real Evidence (the RFC 9783
 * example). The fault is real too: the EAR signer the processor depends on throws.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { createApp } from '../../../src/api/app.js'
import { createMetrics } from '../../../src/api/metrics.js'
import { loadReferenceValueDir } from '../../../src/appraisal/reference-values.js'
import { loadConfig } from '../../../src/config/load.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { createBullmqConsumer, createBullmqProducer } from '../../../src/queue/bullmq.js'
import { createMemoryQueue } from '../../../src/queue/memory.js'
import { createFailureRecorder, createProcessor } from '../../../src/queue/processor.js'
import type { QueueConsumer, QueueProducer } from '../../../src/queue/types.js'
import { loadSigningKeys } from '../../../src/results/keys.js'
import { createRenderer } from '../../../src/results/renderer.js'
import { signEarJwt } from '../../../src/results/sign.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { systemClock } from '../../../src/util/clock.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TOKEN = Buffer.from(
  readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1').token_hex,
  'hex',
)
const PSA = 'application/psa-attestation-token'

interface Harness {
  readonly url: string
  readonly logs: { message: string; err: unknown }[]
  readonly consumer: QueueConsumer
  /** Starts the worker; `failing` makes the EAR signer throw. */
  startWorker(failing: boolean): Promise<void>
  stop(): Promise<void>
}

type Queue = { producer: QueueProducer; consumer: QueueConsumer; close(): Promise<void> }

async function harness(makeQueue: () => Queue): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-faults-'))
  const config = loadConfig({ port: 0, dataDir, referenceValuesDir: join(ROOT, 'reference-values'), maxQueueDepth: 100 })
  const store = createMemoryStore()
  const keys = await loadSigningKeys({ dataDir, lifetimeSeconds: 3600, clock: systemClock })
  const queue = makeQueue()
  const logs: { message: string; err: unknown }[] = []
  const log = (message: string, err?: unknown) => void logs.push({ message, err })
  const app = createApp({
    config,
    store,
    queue: queue.producer,
    registry: createDefaultRegistry(),
    results: createRenderer(keys),
    metrics: createMetrics(() => queue.producer.depth()),
    clock: systemClock,
    log,
  })
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    consumer: queue.consumer,
    async startWorker(failing) {
      const processor = createProcessor({
        store,
        appraisal: {
          registry: createDefaultRegistry(),
          endorsements: loadReferenceValueDir(config.referenceValuesDir),
          nonces: store.nonces,
          profiles: createDefaultProfiles(),
          clock: systemClock,
        },
        signEar: (outcome, naming) => {
          if (failing) throw new Error('the EAR signing key is unavailable')
          return signEarJwt(outcome, keys.current, naming).token
        },
        config,
        clock: systemClock,
      })
      await queue.consumer.start(processor, { concurrency: 4, onFailed: createFailureRecorder({ store, config, log }) })
    },
    async stop() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await queue.close()
      await store.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

function memoryQueue(options: { maxDepth?: number } = {}): Queue {
  const queue = createMemoryQueue({ backoffDelayMs: 10, ...options })
  return {
    ...queue,
    close: async () => {
      await queue.consumer.close()
      await queue.producer.close()
    },
  }
}

function bullmqQueue(prefix: string): Queue {
  const common = { connection: REDIS_URL, prefix, backoffDelayMs: 10 }
  const producer = createBullmqProducer(common)
  const consumer = createBullmqConsumer({ ...common, drainDelaySeconds: 1 })
  return {
    producer,
    consumer,
    close: async () => {
      await consumer.close()
      await producer.close()
      await deletePrefix(prefix)
    },
  }
}

for (const [name, makeQueue] of [
  ['in-process queue', () => memoryQueue()],
  ['BullMQ queue', () => bullmqQueue(`assay-test-${randomUUID().slice(0, 8)}`)],
] as const) {
  describe(`a worker fault is visible (${name})`, { timeout: 60_000 }, () => {
    const open: Harness[] = []
    after(async () => {
      for (const h of open) await h.stop()
    })

    it('logs the fault with its stack, the appraisal id and a fault id; the API answers 500 naming it, and GET says failed', async () => {
      const h = await harness(makeQueue)
      open.push(h)
      await h.startWorker(true)
      const res = await fetch(`${h.url}/v1/appraisals`, {
        method: 'POST',
        body: TOKEN,
        headers: { 'content-type': PSA, prefer: 'wait=20' },
      })
      assert.equal(res.status, 500)
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
      const problem = (await res.json()) as { code: string; faultId?: string; instance: string }
      assert.equal(problem.code, 'ERR_APPRAISAL_FAILED')
      assert.match(problem.faultId ?? '', /^[0-9a-f-]{36}$/)
      const id = /[0-9a-f-]{36}$/.exec(res.headers.get('location') ?? '')?.[0]
      assert.ok(id !== undefined, 'the problem still names the appraisal in Location')

      const line = h.logs.find((entry) => entry.message.includes(problem.faultId!))
      assert.ok(line !== undefined, `a log line names fault ${problem.faultId}: ${JSON.stringify(h.logs.map((l) => l.message))}`)
      assert.ok(line.message.includes(id), 'the log line names the appraisal')
      assert.ok(line.err instanceof Error && /EAR signing key is unavailable/.test(line.err.message))
      assert.match(line.err.stack ?? '', /processor\.ts|faults\.test\.ts/, 'the logged error carries its stack')

      const got = await fetch(`${h.url}/v1/appraisals/${id}`)
      assert.equal(got.status, 200)
      const view = (await got.json()) as { status: string; fault?: { code: string; id: string } }
      assert.equal(view.status, 'failed')
      assert.equal(view.fault?.id, problem.faultId)
      assert.equal(view.fault?.code, 'ERR_VERIFIER_INTERNAL')

      const ear = await fetch(`${h.url}/v1/appraisals/${id}`, { headers: { accept: 'application/eat+jwt' } })
      assert.equal(ear.status, 500)
      assert.equal(((await ear.json()) as { faultId?: string }).faultId, problem.faultId)
    })
  })
}

describe('a session whose Evidence cannot be queued', { timeout: 60_000 }, () => {
  it('goes back to waiting (the claim is rolled back), and takes Evidence once the queue has room', async () => {
    // The queue takes one job and no worker runs yet, so the second enqueue is refused.
    const h = await harness(() => memoryQueue({ maxDepth: 1 }))
    try {
      const queued = await fetch(`${h.url}/v1/appraisals`, { method: 'POST', body: TOKEN, headers: { 'content-type': PSA } })
      assert.equal(queued.status, 202)

      const nonce = Buffer.alloc(32, 1).toString('base64')
      const created = await fetch(`${h.url}/challenge-response/v1/newSession?nonce=${encodeURIComponent(nonce)}`, { method: 'POST' })
      assert.equal(created.status, 201)
      const location = `${h.url}/challenge-response/v1/${created.headers.get('location')}`
      const refused = await fetch(location, { method: 'POST', body: TOKEN, headers: { 'content-type': PSA } })
      assert.equal(refused.status, 503)
      assert.equal(refused.headers.get('retry-after'), '1')
      const after = (await (await fetch(location)).json()) as { status: string; evidenceDigest?: unknown }
      assert.equal(after.status, 'waiting', 'not stuck in processing')
      assert.equal(after.evidenceDigest, undefined)

      await h.startWorker(false)
      const accepted = await fetch(location, { method: 'POST', body: TOKEN, headers: { 'content-type': PSA } })
      assert.equal(accepted.status, 200)
      assert.equal(((await accepted.json()) as { status: string }).status, 'complete')
    } finally {
      await h.stop()
    }
  })
})
