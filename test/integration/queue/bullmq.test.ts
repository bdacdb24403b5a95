/**
 * The queue contract on BullMQ against real Redis (`REDIS_URL`, default 127.0.0.1:6379), plus what
 * only a real Redis shows: stalled-job recovery after a worker is SIGKILLed, hash-tagged keys,
 * bounded retention. Every queue lives under its own `assay-test-<uuid>` prefix and is obliterated
 * afterwards; no other key is touched.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { Queue } from 'bullmq'
import { VerifierError } from '../../../src/errors/errors.js'
import { createBullmqConsumer, createBullmqProducer } from '../../../src/queue/bullmq.js'
import { bullmqPrefix, JOB_NAME, QUEUE_NAME } from '../../../src/queue/names.js'
import type { AppraisalJob } from '../../../src/queue/types.js'
import {
  CONTRACT_ATTEMPTS,
  CONTRACT_BACKOFF_MS,
  CONTRACT_CLOSE_GRACE_MS,
  completeOutcome,
  makeJob,
  queueContract,
  type QueueHarness,
} from '../../unit/queue/contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const FIXTURE = fileURLToPath(new URL('./fixtures/stalling-consumer.ts', import.meta.url))

/** Cleanups not yet run; `after()` runs whatever a failed test left behind. */
const pending = new Set<() => Promise<void>>()
const children = new Set<ChildProcess>()

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const cleanup of [...pending]) await cleanup()
})

/** Every key under a BullMQ prefix, through the given queue's own connection. */
async function keysUnder(queue: Queue, prefix: string): Promise<string[]> {
  const redis = await queue.getBackend().client
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, { MATCH: `${bullmqPrefix(prefix)}:*`, COUNT: 1000 })
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

interface TestQueue extends QueueHarness {
  readonly prefix: string
  /** A plain BullMQ queue on the same keys, for raw adds and inspection. */
  readonly raw: Queue
}

function makeQueue(settings: { keepCompletedCount?: number; outagePatienceMs?: number } = {}): TestQueue {
  const prefix = `assay-test-${randomUUID()}`
  const onError = (err: Error) => console.error(`[${prefix}]`, err.message)
  const producer = createBullmqProducer({
    connection: REDIS_URL,
    prefix,
    attempts: CONTRACT_ATTEMPTS,
    backoffDelayMs: CONTRACT_BACKOFF_MS,
    keepCompleted: { ageSeconds: 3600, count: settings.keepCompletedCount ?? 10_000 },
    onError,
  })
  const consumer = createBullmqConsumer({
    connection: REDIS_URL,
    prefix,
    closeGraceMs: CONTRACT_CLOSE_GRACE_MS,
    drainDelaySeconds: 1,
    ...(settings.outagePatienceMs === undefined ? {} : { outagePatienceMs: settings.outagePatienceMs }),
    onError,
  })
  const raw = new Queue(QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: bullmqPrefix(prefix) })
  raw.on('error', onError)

  let cleaned: Promise<void> | undefined
  const cleanup = () => {
    cleaned ??= (async () => {
      pending.delete(cleanup)
      await Promise.allSettled([consumer.close(), producer.close()])
      await raw.obliterate({ force: true })
      assert.deepEqual(await keysUnder(raw, prefix), [], 'obliterate left keys behind')
      await raw.close()
    })()
    return cleaned
  }
  pending.add(cleanup)

  return {
    prefix,
    raw,
    producer,
    consumer,
    enqueueRaw: async (id, data) => {
      await raw.add(JOB_NAME, data, {
        jobId: id,
        attempts: CONTRACT_ATTEMPTS,
        backoff: { type: 'exponential', delay: CONTRACT_BACKOFF_MS },
      })
    },
    attemptsMade: async (id) => (await raw.getJob(id))?.attemptsMade,
    cleanup,
  }
}

queueContract('bullmq', async () => makeQueue())

describe('bullmq adapter', { timeout: 180_000 }, () => {
  it('recovers a job whose worker was SIGKILLed mid-job and completes it once', { timeout: 90_000 }, async () => {
    const queue = makeQueue()
    try {
      const job = makeJob()
      await queue.producer.enqueue(job)

      const messages: { event: string; id?: string }[] = []
      const child = fork(FIXTURE, [REDIS_URL, queue.prefix, '1000', '200'], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      children.add(child)
      child.on('message', (message) => messages.push(message as { event: string; id?: string }))
      const deadline = Date.now() + 60_000
      while (!messages.some((m) => m.event === 'started' && m.id === job.id)) {
        assert.ok(Date.now() < deadline, 'the child worker never took the job')
        assert.equal(child.exitCode, null, 'the child worker exited early')
        await sleep(10)
      }
      child.kill('SIGKILL')
      await once(child, 'exit')

      let completed = 0
      const recovering = createBullmqConsumer({
        connection: REDIS_URL,
        prefix: queue.prefix,
        lockDurationMs: 1000,
        stalledIntervalMs: 200,
        drainDelaySeconds: 1,
      })
      try {
        await recovering.start(
          async (taken) => {
            completed++
            return completeOutcome(taken)
          },
          { concurrency: 1 },
        )
        assert.deepEqual(await queue.producer.waitFor(job.id, 15_000), completeOutcome(job))
        await sleep(500)
      } finally {
        await recovering.close()
      }

      assert.equal(completed, 1, 'the recovering worker completed the job once')
      assert.deepEqual(
        messages.filter((m) => m.event === 'completed'),
        [],
        'the killed worker never completed it',
      )
      const stored = await queue.raw.getJob(job.id)
      assert.equal(stored?.attemptsMade, 1, 'one finished try: the killed one never finished')
      assert.equal(stored?.returnvalue?.status, 'complete')
    } finally {
      await queue.cleanup()
    }
  })

  it('fails a raw job whose payload id is not its job id, without retrying', { timeout: 60_000 }, async () => {
    const queue = makeQueue()
    try {
      let calls = 0
      await queue.consumer.start(
        async (job) => {
          calls++
          return completeOutcome(job)
        },
        { concurrency: 1 },
      )
      const job = makeJob()
      await queue.enqueueRaw(job.id, { ...job, id: randomUUID() })
      assert.deepEqual(await queue.producer.waitFor(job.id, 30_000), { ...completeOutcome(job), status: 'failed' })
      assert.equal(calls, 0)
      assert.equal(await queue.attemptsMade(job.id), 1)
    } finally {
      await queue.cleanup()
    }
  })

  it('puts a job back without using a try while a store is unavailable, and completes it once the store is back', { timeout: 60_000 }, async () => {
    const queue = makeQueue()
    try {
      const outageCalls = CONTRACT_ATTEMPTS + 2
      let calls = 0
      const failures: unknown[] = []
      await queue.consumer.start(
        async (job) => {
          calls++
          if (calls <= outageCalls) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'Redis command failed: connection is reconnecting')
          return completeOutcome(job)
        },
        { concurrency: 1, onFailed: async (failure) => void failures.push(failure) },
      )
      const job = makeJob()
      await queue.producer.enqueue(job)
      assert.deepEqual(await queue.producer.waitFor(job.id, 30_000), completeOutcome(job))
      assert.equal(calls, outageCalls + 1, 'tried again after each outage failure, more times than it has tries')
      assert.equal(await queue.attemptsMade(job.id), 1, 'only the try that completed counts: none was used up by the outage')
      assert.deepEqual(failures, [])
    } finally {
      await queue.cleanup()
    }
  })

  it('counts store outages as failed tries once a job is older than the outage patience', { timeout: 60_000 }, async () => {
    const queue = makeQueue({ outagePatienceMs: 0 })
    try {
      let calls = 0
      await queue.consumer.start(
        async () => {
          calls++
          throw new VerifierError('ERR_STORE_UNAVAILABLE', 'Redis command failed: connection is reconnecting')
        },
        { concurrency: 1 },
      )
      const job = makeJob()
      await queue.producer.enqueue(job)
      assert.equal((await queue.producer.waitFor(job.id, 30_000))?.status, 'failed')
      assert.equal(calls, CONTRACT_ATTEMPTS)
      assert.equal(await queue.attemptsMade(job.id), CONTRACT_ATTEMPTS)
    } finally {
      await queue.cleanup()
    }
  })

  it('keeps all keys under the hash-tagged prefix and bounds kept jobs', { timeout: 60_000 }, async () => {
    const queue = makeQueue({ keepCompletedCount: 2 })
    try {
      await queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 4 })
      // Subscribed first, so every outcome arrives as an event even after its job hash is gone.
      assert.equal(await queue.producer.waitFor(randomUUID(), 1), undefined)
      const jobs: AppraisalJob[] = Array.from({ length: 6 }, () => makeJob())
      const outcomes = jobs.map((job) => queue.producer.waitFor(job.id, 30_000))
      for (const job of jobs) await queue.producer.enqueue(job)
      assert.deepEqual(await Promise.all(outcomes), jobs.map(completeOutcome))

      assert.equal(await queue.raw.getCompletedCount(), 2)
      const keys = await keysUnder(queue.raw, queue.prefix)
      assert.ok(keys.length > 0)
      for (const key of keys) assert.ok(key.startsWith(`{${queue.prefix}}:${QUEUE_NAME}:`), key)
      const jobKeys = keys.filter((key) => jobs.some((job) => key.endsWith(`:${job.id}`)))
      assert.equal(jobKeys.length, 2, 'only the two newest completed jobs keep their hash')
    } finally {
      await queue.cleanup()
    }
  })

  it('serves many concurrent waiters from one subscription', { timeout: 60_000 }, async () => {
    const queue = makeQueue()
    try {
      await queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 16 })
      const jobs = Array.from({ length: 300 }, () => makeJob())
      const outcomes = await Promise.all(
        jobs.map(async (job) => {
          await queue.producer.enqueue(job)
          return queue.producer.waitFor(job.id, 30_000)
        }),
      )
      assert.deepEqual(outcomes, jobs.map(completeOutcome))
      assert.equal(queue.producer.pendingWaiters, 0)
    } finally {
      await queue.cleanup()
    }
  })
})
