import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import { failedOutcome, parseJob, parseOutcome } from '../../../src/queue/job-schema.js'
import { bullmqPrefix } from '../../../src/queue/names.js'
import { backoffDelayMs, runJob } from '../../../src/queue/run-job.js'
import type { JobProcessor } from '../../../src/queue/types.js'
import { completeOutcome, makeJob } from './contract.js'

const never = new AbortController().signal

function rejectsAsInvalid(data: unknown, where: RegExp): void {
  assert.throws(
    () => parseJob(data),
    (err) => isVerifierError(err, 'ERR_QUEUE_JOB_INVALID') && err.family === 'fault' && where.test(err.message),
  )
}

describe('parseJob', () => {
  it('returns a valid job, optional fields included', () => {
    const job = makeJob({ sessionId: 'c2Vzc2lvbg', expectedNonce: 'AAECAw==' })
    assert.deepEqual(parseJob(JSON.parse(JSON.stringify(job))), job)
  })

  it('rejects unknown keys, missing keys and wrong types', () => {
    rejectsAsInvalid({ ...makeJob(), admin: true }, /admin/)
    const { evidence: _evidence, ...noEvidence } = makeJob()
    rejectsAsInvalid(noEvidence, /evidence/)
    rejectsAsInvalid({ ...makeJob(), receivedAt: 1.5 }, /receivedAt/)
    rejectsAsInvalid({ ...makeJob(), earProfile: 'ear-02' }, /earProfile/)
    rejectsAsInvalid(null, /\(root\)/)
    rejectsAsInvalid('{"id":"x"}', /\(root\)/)
  })

  it('rejects ids BullMQ or the store would refuse, and bad tenants', () => {
    for (const id of ['', '12345', 'a:b', '{x}', 'x'.repeat(129)]) rejectsAsInvalid({ ...makeJob(), id }, /id/)
    for (const tenant of ['', 'ACME', 'a b', '-x']) rejectsAsInvalid({ ...makeJob(), tenant }, /tenant/)
  })

  it('rejects Evidence and nonces that are not base64, and odd media types', () => {
    rejectsAsInvalid({ ...makeJob(), evidence: 'not base64!' }, /evidence/)
    rejectsAsInvalid({ ...makeJob(), evidence: '' }, /evidence/)
    rejectsAsInvalid({ ...makeJob(), expectedNonce: '***' }, /expectedNonce/)
    rejectsAsInvalid({ ...makeJob(), mediaType: 'a/b\nX-Injected: 1' }, /mediaType/)
  })

  it('names the offending keys but never echoes their values', () => {
    const secret = 'c2VjcmV0LWV2aWRlbmNl'
    try {
      parseJob({ ...makeJob({ evidence: secret }), receivedAt: 'yesterday', extra: secret })
      assert.fail('expected a throw')
    } catch (err) {
      assert.ok(isVerifierError(err, 'ERR_QUEUE_JOB_INVALID'))
      assert.doesNotMatch(err.message, /secret|c2VjcmV0|yesterday/)
      assert.match(err.message, /receivedAt/)
    }
  })
})

describe('outcomes', () => {
  it('parseOutcome accepts exactly a JobOutcome', () => {
    const job = makeJob()
    assert.deepEqual(parseOutcome(completeOutcome(job)), completeOutcome(job))
    assert.equal(parseOutcome({ ...completeOutcome(job), extra: 1 }), undefined)
    assert.equal(parseOutcome({ ...completeOutcome(job), status: 'done' }), undefined)
    assert.equal(parseOutcome(null), undefined)
  })

  it('failedOutcome takes the tenant from the payload only when it is valid', () => {
    assert.deepEqual(failedOutcome('j1', { tenant: 'acme' }), { id: 'j1', tenant: 'acme', status: 'failed' })
    assert.deepEqual(failedOutcome('j1', { tenant: 'NOT OK' }), { id: 'j1', tenant: '', status: 'failed' })
    assert.deepEqual(failedOutcome('j1', undefined), { id: 'j1', tenant: '', status: 'failed' })
  })
})

describe('runJob', () => {
  it('returns only the outcome fields of what the processor returned: id, tenant, status, ear, completedAt', async () => {
    const job = makeJob()
    const withEar = { ...completeOutcome(job), ear: 'e30.e30.c2ln', completedAt: 1_700_000_000_000 }
    const bulky: JobProcessor = async () => ({ ...withEar, claims: 'x'.repeat(1000) }) as never
    assert.deepEqual(await runJob(bulky, job.id, job, never), withEar)
    const plain: JobProcessor = async (j) => ({ ...completeOutcome(j), extra: 1 }) as never
    assert.deepEqual(await runJob(plain, job.id, job, never), completeOutcome(job))
  })

  it('refuses an outcome whose EAR is larger than an outcome may carry', async () => {
    const job = makeJob()
    const huge: JobProcessor = async (j) => ({ ...completeOutcome(j), ear: 'x'.repeat(64 * 1024 + 1) })
    await assert.rejects(runJob(huge, job.id, job, never), (err) => isVerifierError(err, 'ERR_VERIFIER_INTERNAL'))
  })

  it('refuses a payload for another job id, and an outcome for another job or tenant', async () => {
    const job = makeJob()
    await assert.rejects(
      runJob(async (j) => completeOutcome(j), 'other-id', job, never),
      (err) => isVerifierError(err, 'ERR_QUEUE_JOB_INVALID'),
    )
    for (const wrong of [{ id: 'other-id' }, { tenant: 'acme' }]) {
      await assert.rejects(
        runJob(async (j) => ({ ...completeOutcome(j), ...wrong }), job.id, job, never),
        (err) => isVerifierError(err, 'ERR_VERIFIER_INTERNAL'),
      )
    }
  })

  it('backs off exponentially, as BullMQ does', () => {
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelayMs(n, 1000)), [1000, 2000, 4000, 8000])
  })
})

describe('bullmqPrefix', () => {
  it('wraps the prefix in a Redis Cluster hash tag', () => {
    assert.equal(bullmqPrefix('assay'), '{assay}')
  })

  it('refuses a prefix that could break the hash tag or reach other keys', () => {
    for (const prefix of ['', 'a}b', '{a', 'a:b', 'a*', 'a b']) {
      assert.throws(() => bullmqPrefix(prefix), TypeError)
    }
  })
})
