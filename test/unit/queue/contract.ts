/**
 * The queue port's contract: one suite that every adapter must pass (in-process and BullMQ), so
 * the embedded mode and production behave alike. Each test gets a fresh, empty queue from `make`.
 */
import assert from 'node:assert/strict'
import { isVerifierError } from '../../../src/errors/errors.js'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import type {
  AppraisalJob,
  JobFailure,
  JobOutcome,
  JobProcessor,
  QueueConsumer,
  QueueProducer,
} from '../../../src/queue/types.js'

/** Tries per job the adapters under test must be configured with (the production default). */
export const CONTRACT_ATTEMPTS = 3
/** Backoff base the adapters under test must be configured with, small to keep retries fast. */
export const CONTRACT_BACKOFF_MS = 20
/** Close grace period the consumers under test must be configured with. */
export const CONTRACT_CLOSE_GRACE_MS = 300

export interface QueueHarness {
  readonly producer: QueueProducer & { readonly pendingWaiters: number }
  readonly consumer: QueueConsumer
  /** Queues `data` as job `id` past the producer's typing, as a buggy or hostile writer could. */
  enqueueRaw(id: string, data: unknown): Promise<void>
  /** Tries of job `id` that have ended so far. */
  attemptsMade(id: string): Promise<number | undefined>
  /** Closes everything `make` opened and removes what it wrote. Safe to call twice. */
  cleanup(): Promise<void>
}

const TEST_TIMEOUT_MS = 60_000
/** How long a test waits for a job it expects to finish: far beyond the time it takes, even on a busy machine. */
const WAIT_MS = 15_000

/** A valid job with a fresh id; `overrides` replace fields. */
export function makeJob(overrides: Partial<AppraisalJob> = {}): AppraisalJob {
  return {
    id: randomUUID(),
    tenant: 'default',
    mediaType: 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"',
    evidence: Buffer.from('not really evidence').toString('base64'),
    receivedAt: 1_760_000_000_000,
    earProfile: 'ear-03',
    ...overrides,
  }
}

/** The outcome a succeeding processor returns for `job`. */
export function completeOutcome(job: AppraisalJob): JobOutcome {
  return { id: job.id, tenant: job.tenant, status: 'complete' }
}

/** A promise with its resolver, to hold a processor until the test lets it go. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Polls `condition` until it holds; fails the test after `timeoutMs`. */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(5)
  }
}

/** Runs the contract suite against the adapter that `make` builds. */
export function queueContract(name: string, make: () => Promise<QueueHarness>): void {
  /** Runs `body` on a fresh queue, cleaning up whatever happens. */
  const withQueue = (body: (queue: QueueHarness) => Promise<void>) => async () => {
    const queue = await make()
    try {
      await body(queue)
    } finally {
      await queue.cleanup()
    }
  }

  const succeed: JobProcessor = async (job) => completeOutcome(job)

  describe(`queue contract: ${name}`, { timeout: 120_000 }, () => {
    it(
      'hands the processor an equal copy of the job and resolves waitFor with its outcome',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        const received: AppraisalJob[] = []
        await consumer.start(
          async (job) => {
            received.push(job)
            return completeOutcome(job)
          },
          { concurrency: 1 },
        )
        const job = makeJob({ sessionId: 'session-1', expectedNonce: Buffer.alloc(32, 7).toString('base64') })
        await producer.enqueue(job)

        assert.deepEqual(await producer.waitFor(job.id, WAIT_MS), completeOutcome(job))
        assert.deepEqual(received, [job])
        assert.notEqual(received[0], job, 'the processor gets a copy, not the enqueued object')
        assert.equal(producer.pendingWaiters, 0)
      }),
    )

    it(
      'enqueueAndWait returns the outcome with the EAR the processor signed, and state() follows the job',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        await consumer.start(async (job) => ({ ...completeOutcome(job), ear: 'e30.e30.c2ln', completedAt: 1 }), { concurrency: 1 })
        const job = makeJob()
        assert.deepEqual(await producer.enqueueAndWait(job, 5_000), { ...completeOutcome(job), ear: 'e30.e30.c2ln', completedAt: 1 })
        assert.equal(producer.pendingWaiters, 0)
        assert.equal(await producer.state(job.id), 'complete')
        assert.equal(await producer.state('never-queued'), undefined)
        await assert.rejects(producer.enqueueAndWait({ ...makeJob(), id: '' }, 5_000), (err) => isVerifierError(err, 'ERR_QUEUE_JOB_INVALID'))
        assert.equal(producer.pendingWaiters, 0, 'a job that could not be queued leaves no waiter')
      }),
    )

    it(
      'resolves waitFor for a job that finished before the wait began',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        await consumer.start(succeed, { concurrency: 1 })
        const first = makeJob()
        await producer.enqueue(first)
        await until(async () => (await producer.depth()) === 0, 'the first job finished')
        await sleep(50)
        assert.deepEqual(await producer.waitFor(first.id, WAIT_MS), completeOutcome(first))

        // Again with the producer already subscribed: the finish event came and went with no waiter.
        const second = makeJob()
        await producer.enqueue(second)
        await until(async () => (await producer.depth()) === 0, 'the second job finished')
        await sleep(50)
        // A timeout longer than the test's: only the state check can resolve this wait.
        assert.deepEqual(await producer.waitFor(second.id, 10 * TEST_TIMEOUT_MS), completeOutcome(second))
      }),
    )

    it(
      'resolves waitFor with undefined on timeout and leaves no waiter behind',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer }) => {
        const id = randomUUID()
        const pending = [
          producer.waitFor(id, 1_000),
          producer.waitFor(id, 1_200),
          producer.waitFor(randomUUID(), 1_100),
        ]
        await until(() => producer.pendingWaiters === 3, 'three waiters are registered', 2_000)
        assert.deepEqual(await Promise.all(pending), [undefined, undefined, undefined])
        assert.equal(producer.pendingWaiters, 0)

        for (let i = 0; i < 50; i++) assert.equal(await producer.waitFor(id, 1), undefined)
        assert.equal(producer.pendingWaiters, 0)
      }),
    )

    it(
      'runs no more jobs at once than the concurrency limit',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        let inFlight = 0
        let maxInFlight = 0
        await consumer.start(
          async (job) => {
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
            await sleep(40)
            inFlight--
            return completeOutcome(job)
          },
          { concurrency: 2 },
        )
        const jobs = Array.from({ length: 6 }, () => makeJob())
        for (const job of jobs) await producer.enqueue(job)
        const outcomes = await Promise.all(jobs.map((job) => producer.waitFor(job.id, WAIT_MS)))

        assert.deepEqual(outcomes, jobs.map(completeOutcome))
        assert.equal(maxInFlight, 2)
      }),
    )

    it(
      'retries a job whose processor threw, and completes it',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer, attemptsMade }) => {
        let calls = 0
        await consumer.start(
          async (job) => {
            calls++
            if (calls === 1) throw new Error('transient fault')
            return completeOutcome(job)
          },
          { concurrency: 1 },
        )
        const job = makeJob()
        await producer.enqueue(job)

        assert.deepEqual(await producer.waitFor(job.id, WAIT_MS), completeOutcome(job))
        assert.equal(calls, 2)
        assert.equal(await attemptsMade(job.id), 2)
      }),
    )

    it(
      'ends a job that always throws failed after the configured attempts',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer, attemptsMade }) => {
        let calls = 0
        await consumer.start(
          async () => {
            calls++
            throw new Error('persistent fault')
          },
          { concurrency: 1 },
        )
        const job = makeJob({ tenant: 'acme' })
        await producer.enqueue(job)

        assert.deepEqual(await producer.waitFor(job.id, WAIT_MS), { id: job.id, tenant: 'acme', status: 'failed' })
        assert.equal(calls, CONTRACT_ATTEMPTS)
        assert.equal(await attemptsMade(job.id), CONTRACT_ATTEMPTS)
        assert.equal(await producer.depth(), 0)
      }),
    )

    it(
      'tells onFailed of a job that fails for good, once, with the last error, before any waiter hears of it',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer, enqueueRaw }) => {
        const failures = [] as JobFailure[] as readonly JobFailure[] & JobFailure[]
        let calls = 0
        await consumer.start(
          async (job) => {
            calls++
            if (job.tenant === 'flaky' && calls === 1) throw new Error('transient fault')
            if (job.tenant === 'flaky') return completeOutcome(job)
            throw new Error(`persistent fault ${calls}`)
          },
          {
            concurrency: 1,
            onFailed: async (failure) => {
              await sleep(30)
              failures.push(failure)
              throw new Error('a handler that throws changes nothing')
            },
          },
        )
        const flaky = makeJob({ tenant: 'flaky' })
        assert.deepEqual(await producer.enqueueAndWait(flaky, 10_000), completeOutcome(flaky))
        assert.equal(failures.length, 0, 'a job that succeeds on retry has not failed')

        const job = makeJob({ tenant: 'acme' })
        const outcome = await producer.enqueueAndWait(job, 10_000)
        assert.deepEqual(outcome, { id: job.id, tenant: 'acme', status: 'failed' })
        assert.equal(failures.length, 1, 'the handler ran before the waiter heard')
        assert.equal(failures[0]!.jobId, job.id)
        assert.deepEqual(failures[0]!.data, job)
        assert.equal(failures[0]!.attemptsMade, CONTRACT_ATTEMPTS)
        assert.match((failures[0]!.error as Error).message, new RegExp(`persistent fault ${2 + CONTRACT_ATTEMPTS}$`))

        const invalid = makeJob()
        await enqueueRaw(invalid.id, { ...invalid, admin: true })
        await producer.waitFor(invalid.id, WAIT_MS)
        assert.equal(failures.length, 2)
        assert.equal(failures[1]!.attemptsMade, 1)
        assert.ok(isVerifierError(failures[1]!.error, 'ERR_QUEUE_JOB_INVALID'))
      }),
    )

    it(
      'fails a job with an invalid payload at once, without calling the processor or retrying',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer, enqueueRaw, attemptsMade }) => {
        let calls = 0
        await consumer.start(
          async (job) => {
            calls++
            return completeOutcome(job)
          },
          { concurrency: 1 },
        )
        const extraKey = makeJob({ tenant: 'acme' })
        const wrongType = makeJob()
        await enqueueRaw(extraKey.id, { ...extraKey, admin: true })
        await enqueueRaw(wrongType.id, { ...wrongType, receivedAt: 'yesterday' })

        const failed = (job: AppraisalJob): JobOutcome => ({ ...completeOutcome(job), status: 'failed' })
        assert.deepEqual(await producer.waitFor(extraKey.id, WAIT_MS), failed(extraKey))
        assert.deepEqual(await producer.waitFor(wrongType.id, WAIT_MS), failed(wrongType))
        assert.equal(calls, 0)
        for (const id of [extraKey.id, wrongType.id]) assert.equal(await attemptsMade(id), 1)
      }),
    )

    it(
      'does not queue a job id twice',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        const received: AppraisalJob[] = []
        const job = makeJob()
        await producer.enqueue(job)
        await producer.enqueue(job)
        await producer.enqueue({ ...job, evidence: Buffer.from('other').toString('base64') })
        assert.equal(await producer.depth(), 1)

        await consumer.start(
          async (taken) => {
            received.push(taken)
            return completeOutcome(taken)
          },
          { concurrency: 4 },
        )
        assert.deepEqual(await producer.waitFor(job.id, WAIT_MS), completeOutcome(job))

        // A finished job that is still kept counts too.
        await producer.enqueue(job)
        await sleep(150)
        assert.deepEqual(received, [job])
        assert.equal(await producer.depth(), 0)
      }),
    )

    it(
      'counts waiting and active jobs in depth()',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        assert.equal(await producer.depth(), 0)
        const jobs = Array.from({ length: 3 }, () => makeJob())
        for (const job of jobs) await producer.enqueue(job)
        assert.equal(await producer.depth(), 3)

        const release = deferred()
        let started = 0
        await consumer.start(
          async (job) => {
            started++
            await release.promise
            return completeOutcome(job)
          },
          { concurrency: 1 },
        )
        await until(() => started === 1, 'the first job started')
        assert.equal(await producer.depth(), 3, 'one active and two waiting')

        release.resolve()
        await Promise.all(jobs.map((job) => producer.waitFor(job.id, WAIT_MS)))
        await until(async () => (await producer.depth()) === 0, 'depth is back to 0')
      }),
    )

    it(
      'close() stops the consumer only after the in-flight job finished',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        const release = deferred()
        let started = false
        let aborted = false
        await consumer.start(
          async (job, signal) => {
            started = true
            await release.promise
            aborted = signal.aborted
            return completeOutcome(job)
          },
          { concurrency: 1 },
        )
        const job = makeJob()
        await producer.enqueue(job)
        await until(() => started, 'the job started')

        let closed = false
        const closing = consumer.close().then(() => {
          closed = true
        })
        await sleep(100)
        assert.equal(closed, false, 'close() waits for the in-flight job')
        release.resolve()
        await closing

        assert.equal(aborted, false, 'a job that ends within the grace period is not aborted')
        assert.deepEqual(await producer.waitFor(job.id, WAIT_MS), completeOutcome(job))
      }),
    )

    it(
      'close() aborts the signal of a job still running after the grace period',
      { timeout: TEST_TIMEOUT_MS },
      withQueue(async ({ producer, consumer }) => {
        let signalSeen: AbortSignal | undefined
        await consumer.start(
          (_job, signal) => {
            signalSeen = signal
            return new Promise<JobOutcome>((_resolve, reject) => {
              signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
            })
          },
          { concurrency: 1 },
        )
        const job = makeJob()
        await producer.enqueue(job)
        await until(() => signalSeen !== undefined, 'the job started')

        const started = Date.now()
        await consumer.close()
        assert.equal(signalSeen?.aborted, true)
        assert.ok(Date.now() - started >= CONTRACT_CLOSE_GRACE_MS - 20, 'aborted only after the grace period')
      }),
    )
  })
}
