import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import { createMemoryQueue } from '../../../src/queue/memory.js'
import type { AppraisalJob } from '../../../src/queue/types.js'
import {
  CONTRACT_ATTEMPTS,
  CONTRACT_BACKOFF_MS,
  CONTRACT_CLOSE_GRACE_MS,
  completeOutcome,
  makeJob,
  queueContract,
} from './contract.js'

queueContract('memory', async () => {
  const queue = createMemoryQueue({
    attempts: CONTRACT_ATTEMPTS,
    backoffDelayMs: CONTRACT_BACKOFF_MS,
    closeGraceMs: CONTRACT_CLOSE_GRACE_MS,
  })
  return {
    producer: queue.producer,
    consumer: queue.consumer,
    enqueueRaw: (_id, data) => queue.producer.enqueue(data as AppraisalJob),
    attemptsMade: async (id) => queue.attemptsMade(id),
    cleanup: async () => {
      await queue.consumer.close()
      await queue.producer.close()
    },
  }
})

describe('memory queue', () => {
  it('refuses jobs past maxDepth with ERR_SERVICE_OVERLOADED', async () => {
    const { producer } = createMemoryQueue({ maxDepth: 2 })
    await producer.enqueue(makeJob())
    await producer.enqueue(makeJob())
    await assert.rejects(producer.enqueue(makeJob()), (err) => isVerifierError(err, 'ERR_SERVICE_OVERLOADED'))
    assert.equal(await producer.depth(), 2)
  })

  it('refuses jobs past maxBytes of payload with ERR_SERVICE_OVERLOADED, and takes them again once jobs finish', async () => {
    const queue = createMemoryQueue({ maxBytes: 5000 })
    const big = () => makeJob({ evidence: Buffer.alloc(1500, 1).toString('base64') })
    const first = big()
    await queue.producer.enqueue(first)
    await queue.producer.enqueue(big())
    await assert.rejects(queue.producer.enqueue(big()), (err) => isVerifierError(err, 'ERR_SERVICE_OVERLOADED'))
    await queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 1 })
    await queue.producer.waitFor(first.id, 10_000)
    await sleep(20)
    await queue.producer.enqueue(big())
    await queue.consumer.close()
  })

  it('forgets finished jobs past keepFinishedBytes of outcome, oldest first', async () => {
    const queue = createMemoryQueue({ keepFinishedBytes: 2000 })
    await queue.consumer.start(async (job) => ({ ...completeOutcome(job), ear: 'e'.repeat(500) }), { concurrency: 1 })
    const jobs = Array.from({ length: 4 }, () => makeJob())
    for (const job of jobs) await queue.producer.enqueueAndWait(job, 1_000)
    assert.equal(queue.attemptsMade(jobs[0]!.id), undefined)
    assert.equal(queue.attemptsMade(jobs[3]!.id), 1)
    await queue.consumer.close()
  })

  it('still accepts a duplicate of a queued job at maxDepth (it is not queued again)', async () => {
    const { producer } = createMemoryQueue({ maxDepth: 1 })
    const job = makeJob()
    await producer.enqueue(job)
    await producer.enqueue(job)
    assert.equal(await producer.depth(), 1)
  })

  it('refuses a job without a valid id, and any job once closed', async () => {
    const { producer } = createMemoryQueue()
    await assert.rejects(producer.enqueue({ ...makeJob(), id: 'a:b' }), (err) =>
      isVerifierError(err, 'ERR_QUEUE_JOB_INVALID'),
    )
    await producer.close()
    await assert.rejects(producer.enqueue(makeJob()), (err) => isVerifierError(err, 'ERR_QUEUE_UNAVAILABLE'))
    assert.equal(await producer.waitFor(makeJob().id, 1_000), undefined)
  })

  it('close() of the producer resolves pending waiters with undefined', async () => {
    const { producer } = createMemoryQueue()
    const pending = producer.waitFor(makeJob().id, 60_000)
    await producer.close()
    assert.equal(await pending, undefined)
    assert.equal(producer.pendingWaiters, 0)
  })

  it('forgets the oldest finished jobs past keepFinished, so their ids may be queued again', async () => {
    const queue = createMemoryQueue({ keepFinished: 2 })
    let calls = 0
    await queue.consumer.start(
      async (job) => {
        calls++
        return completeOutcome(job)
      },
      { concurrency: 1 },
    )
    const jobs = [makeJob(), makeJob(), makeJob()]
    for (const job of jobs) {
      await queue.producer.enqueue(job)
      await queue.producer.waitFor(job.id, 10_000)
    }
    assert.equal(queue.attemptsMade(jobs[0]!.id), undefined)
    assert.equal(queue.attemptsMade(jobs[2]!.id), 1)

    await queue.producer.enqueue(jobs[0]!)
    assert.deepEqual(await queue.producer.waitFor(jobs[0]!.id, 10_000), completeOutcome(jobs[0]!))
    await queue.producer.enqueue(jobs[2]!)
    await sleep(20)
    assert.equal(calls, 4)
    await queue.consumer.close()
  })

  it('treats a processor that returns another job\'s outcome as a fault', async () => {
    const queue = createMemoryQueue({ attempts: 2, backoffDelayMs: 1 })
    let calls = 0
    await queue.consumer.start(
      async (job) => {
        calls++
        return { ...completeOutcome(job), id: 'someone-else' }
      },
      { concurrency: 1 },
    )
    const job = makeJob()
    await queue.producer.enqueue(job)
    assert.deepEqual(await queue.producer.waitFor(job.id, 10_000), { ...completeOutcome(job), status: 'failed' })
    assert.equal(calls, 2)
    await queue.consumer.close()
  })

  it('keeps jobs queued across a consumer restart', async () => {
    const queue = createMemoryQueue()
    await queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 1 })
    await queue.consumer.close()
    const job = makeJob()
    await queue.producer.enqueue(job)
    await sleep(20)
    assert.equal(await queue.producer.depth(), 1)
    await queue.consumer.start(async (taken) => completeOutcome(taken), { concurrency: 1 })
    assert.deepEqual(await queue.producer.waitFor(job.id, 10_000), completeOutcome(job))
    await queue.consumer.close()
  })

  it('rejects a concurrency that is not a positive integer, and a second start', async () => {
    const queue = createMemoryQueue()
    await assert.rejects(queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 0 }), RangeError)
    await queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 1 })
    await assert.rejects(queue.consumer.start(async (job) => completeOutcome(job), { concurrency: 1 }))
    await queue.consumer.close()
  })
})
