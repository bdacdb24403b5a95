/**
 * The store contract: one suite that every adapter of the store port must pass (memory in
 * `memory.test.ts`, Redis in `test/integration/store/redis.test.ts`).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import type { AppraisalRecord, Session, SessionSubmission, Store, TenantId } from '../../../src/store/types.js'

/** A store under test and how to dispose of it. */
export interface StoreHarness {
  readonly store: Store
  readonly cleanup: () => Promise<void>
  /**
   * Moves the store's clock forward. Absent for a store on wall time (Redis), where the suite
   * sleeps instead; only one test group waits for expiry.
   */
  readonly advanceMs?: (ms: number) => Promise<void>
  /** How long the store remembers a nonce after its TTL (its `nonceRecallSeconds`). */
  readonly nonceRecallSeconds: number
}

const TENANT_A: TenantId = 'tenant-a'
const TENANT_B: TenantId = 'tenant-b'

function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

function newSession(overrides: Partial<Session> = {}): Session {
  return {
    id: randomUUID(),
    tenant: TENANT_A,
    nonce: newNonce(),
    status: 'waiting',
    expiresAt: Date.now() + 60_000,
    accept: ['application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"', 'application/eat+cwt'],
    ...overrides,
  }
}

function newSubmission(n = 0): SessionSubmission {
  return {
    appraisalId: randomUUID(),
    evidenceMediaType: 'application/eat+cwt',
    evidenceDigest: createHash('sha256').update(`evidence ${n}`).digest('base64'),
  }
}

function newRecord(overrides: Partial<AppraisalRecord> = {}): AppraisalRecord {
  return {
    id: randomUUID(),
    tenant: TENANT_A,
    status: 'complete',
    createdAt: 1_732_000_000_000,
    completedAt: 1_732_000_000_042,
    outcome: { status: 'affirming', trustVector: { 'instance-identity': 2, executables: 2 }, notes: [null, 'é'] },
    ear: 'eyJhbGciOiJFUzI1NiJ9.eyJlYXIudmVyaWZpZXItaWQiOnt9fQ.c2ln',
    ...overrides,
  }
}

/** Runs the store contract against the adapter `make` builds (once, shared by the whole suite). */
export function storeContract(name: string, make: () => Promise<StoreHarness>): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness | undefined
    let store: Store

    before(async () => {
      harness = await make()
      store = harness.store
    })

    after(async () => {
      await harness?.cleanup()
    })

    describe('nonces', () => {
      it('consumes an issued nonce exactly once', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'consumed')
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'used')
      })

      it('refuses a nonce that was never issued as unknown', async () => {
        assert.equal(await store.nonces.consume(TENANT_A, newNonce()), 'unknown')
      })

      it('does not make a nonce usable twice by issuing it twice', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'consumed')
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'used')
      })

      it('lets exactly one of 100 concurrent consumers win', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        const consumers = Array.from({ length: 100 }, () => store.nonces.consume(TENANT_A, nonce))
        const outcomes = await Promise.all(consumers)
        assert.equal(outcomes.filter((o) => o === 'consumed').length, 1)
        assert.equal(outcomes.filter((o) => o === 'used').length, 99)
      })

      it('consumed by an appraisal: the same appraisal may consume it again, no other may', async () => {
        const nonce = newNonce()
        const appraisal = randomUUID()
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, nonce, appraisal), 'consumed')
        assert.equal(await store.nonces.consume(TENANT_A, nonce, appraisal), 'consumed', 'a retry of the same appraisal')
        assert.equal(await store.nonces.consume(TENANT_A, nonce, randomUUID()), 'used', 'another appraisal')
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'used', 'a consumer that names no appraisal')
        assert.equal(await store.nonces.consume(TENANT_B, nonce, appraisal), 'unknown', 'the same appraisal id in another tenant')
        const anonymous = newNonce()
        await store.nonces.issue(TENANT_A, anonymous, 60)
        assert.equal(await store.nonces.consume(TENANT_A, anonymous), 'consumed')
        assert.equal(await store.nonces.consume(TENANT_A, anonymous, ''), 'used', 'an empty appraisal id names nobody')
      })

      it('does not revive a used nonce by issuing it again within its lifetime', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, nonce, randomUUID()), 'consumed')
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, nonce, randomUUID()), 'used')
      })

      it('lets exactly one of 100 concurrent appraisals consume a nonce', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        const outcomes = await Promise.all(Array.from({ length: 100 }, () => store.nonces.consume(TENANT_A, nonce, randomUUID())))
        assert.equal(outcomes.filter((o) => o === 'consumed').length, 1)
        assert.equal(outcomes.filter((o) => o === 'used').length, 99)
      })

      it('scopes nonces by tenant', async () => {
        const nonce = newNonce()
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_B, nonce), 'unknown')
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'consumed')
      })

      it('tells apart nonces that differ in one bit', async () => {
        const nonce = newNonce()
        const other = new Uint8Array(nonce)
        other[31]! ^= 1
        await store.nonces.issue(TENANT_A, nonce, 60)
        assert.equal(await store.nonces.consume(TENANT_A, other), 'unknown')
        assert.equal(await store.nonces.consume(TENANT_A, nonce), 'consumed')
      })

      it('throws TypeError for a malformed tenant, nonce or TTL', async () => {
        await assert.rejects(store.nonces.issue('Tenant A', newNonce(), 60), TypeError)
        await assert.rejects(store.nonces.issue('a}:x', newNonce(), 60), TypeError)
        await assert.rejects(store.nonces.consume('', newNonce()), TypeError)
        await assert.rejects(store.nonces.issue(TENANT_A, new Uint8Array(0), 60), TypeError)
        await assert.rejects(store.nonces.issue(TENANT_A, new Uint8Array(65), 60), TypeError)
        await assert.rejects(store.nonces.issue(TENANT_A, newNonce(), 0), TypeError)
        await assert.rejects(store.nonces.issue(TENANT_A, newNonce(), 1.5), TypeError)
      })
    })

    describe('sessions', () => {
      it('reads back a created session as it was given', async () => {
        const session = newSession()
        await store.sessions.create(session)
        const got = await store.sessions.get(TENANT_A, session.id)
        assert.deepEqual(got, session)
        assert.ok(got?.nonce instanceof Uint8Array)
      })

      it('answers undefined for an unknown session', async () => {
        assert.equal(await store.sessions.get(TENANT_A, randomUUID()), undefined)
      })

      it('claims a waiting session once and records the submission', async () => {
        const session = newSession()
        await store.sessions.create(session)
        const submission = newSubmission()
        const claimed = await store.sessions.claim(TENANT_A, session.id, submission)
        const expected: Session = { ...session, status: 'processing', ...submission }
        assert.deepEqual(claimed, expected)
        assert.deepEqual(await store.sessions.get(TENANT_A, session.id), expected)
        assert.equal(await store.sessions.claim(TENANT_A, session.id, newSubmission(1)), undefined)
        assert.deepEqual(await store.sessions.get(TENANT_A, session.id), expected)
      })

      it('lets exactly one of 50 concurrent claims win', async () => {
        const session = newSession()
        await store.sessions.create(session)
        const submissions = Array.from({ length: 50 }, (_, i) => newSubmission(i))
        const claims = await Promise.all(submissions.map((s) => store.sessions.claim(TENANT_A, session.id, s)))
        const winners = claims.filter((claim) => claim !== undefined)
        assert.equal(winners.length, 1)
        const stored = await store.sessions.get(TENANT_A, session.id)
        assert.equal(stored?.status, 'processing')
        assert.equal(stored?.appraisalId, winners[0]?.appraisalId)
      })

      it('does not claim a session that has expired', async () => {
        const session = newSession({ expiresAt: Date.now() - 1000 })
        await store.sessions.create(session)
        assert.equal(await store.sessions.get(TENANT_A, session.id), undefined)
        assert.equal(await store.sessions.claim(TENANT_A, session.id, newSubmission()), undefined)
      })

      it('does not claim an unknown session', async () => {
        assert.equal(await store.sessions.claim(TENANT_A, randomUUID(), newSubmission()), undefined)
      })

      it('undoes a claim for its own appraisal only, and the session takes Evidence again', async () => {
        const session = newSession()
        await store.sessions.create(session)
        const first = newSubmission()
        await store.sessions.claim(TENANT_A, session.id, first)
        assert.equal(await store.sessions.unclaim(TENANT_A, session.id, randomUUID()), false)
        assert.equal(await store.sessions.unclaim(TENANT_B, session.id, first.appraisalId), false)
        assert.equal((await store.sessions.get(TENANT_A, session.id))?.status, 'processing')
        assert.equal(await store.sessions.unclaim(TENANT_A, session.id, first.appraisalId), true)
        assert.deepEqual(await store.sessions.get(TENANT_A, session.id), session)
        assert.equal(await store.sessions.unclaim(TENANT_A, session.id, first.appraisalId), false)
        const second = newSubmission(1)
        assert.deepEqual(await store.sessions.claim(TENANT_A, session.id, second), { ...session, status: 'processing', ...second })
        await store.sessions.finish(TENANT_A, session.id, 'complete')
        assert.equal(await store.sessions.unclaim(TENANT_A, session.id, second.appraisalId), false, 'a finished session stays finished')
        assert.equal(await store.sessions.unclaim(TENANT_A, randomUUID(), second.appraisalId), false)
        assert.equal(await store.sessions.get(TENANT_A, randomUUID()), undefined)
      })

      it('finishes a claimed session', async () => {
        const session = newSession()
        await store.sessions.create(session)
        await store.sessions.claim(TENANT_A, session.id, newSubmission())
        await store.sessions.finish(TENANT_A, session.id, 'complete')
        assert.equal((await store.sessions.get(TENANT_A, session.id))?.status, 'complete')
        await store.sessions.finish(TENANT_A, session.id, 'failed')
        assert.equal((await store.sessions.get(TENANT_A, session.id))?.status, 'failed')
      })

      it('leaves a waiting session waiting on finish, and does not create an unknown one', async () => {
        const session = newSession()
        await store.sessions.create(session)
        await store.sessions.finish(TENANT_A, session.id, 'complete')
        assert.deepEqual(await store.sessions.get(TENANT_A, session.id), session)
        const unknown = randomUUID()
        await store.sessions.finish(TENANT_A, unknown, 'failed')
        assert.equal(await store.sessions.get(TENANT_A, unknown), undefined)
      })

      it('deletes a session', async () => {
        const session = newSession()
        await store.sessions.create(session)
        assert.equal(await store.sessions.delete(TENANT_A, session.id), true)
        assert.equal(await store.sessions.get(TENANT_A, session.id), undefined)
        assert.equal(await store.sessions.claim(TENANT_A, session.id, newSubmission()), undefined)
        assert.equal(await store.sessions.delete(TENANT_A, session.id), false)
      })

      it('scopes sessions by tenant', async () => {
        const session = newSession()
        await store.sessions.create(session)
        assert.equal(await store.sessions.get(TENANT_B, session.id), undefined)
        assert.equal(await store.sessions.claim(TENANT_B, session.id, newSubmission()), undefined)
        assert.equal(await store.sessions.delete(TENANT_B, session.id), false)
        await store.sessions.finish(TENANT_B, session.id, 'failed')
        assert.deepEqual(await store.sessions.get(TENANT_A, session.id), session)
      })

      it('hands out copies: changing a returned nonce does not change the stored one', async () => {
        const session = newSession()
        await store.sessions.create(session)
        const first = await store.sessions.get(TENANT_A, session.id)
        first?.nonce.fill(0)
        assert.deepEqual((await store.sessions.get(TENANT_A, session.id))?.nonce, session.nonce)
      })

      it('throws TypeError for a malformed tenant, id or session', async () => {
        await assert.rejects(store.sessions.get(TENANT_A, 'a:b'), TypeError)
        await assert.rejects(store.sessions.get('*', randomUUID()), TypeError)
        await assert.rejects(store.sessions.claim(TENANT_A, '', newSubmission()), TypeError)
        await assert.rejects(store.sessions.create(newSession({ expiresAt: Date.now() + 0.5 })), TypeError)
        await assert.rejects(store.sessions.create(newSession({ id: '{x}' })), TypeError)
      })
    })

    describe('results', () => {
      it('reads back a stored record as it was given', async () => {
        const record = newRecord()
        await store.results.put(record, 60)
        assert.deepEqual(await store.results.get(TENANT_A, record.id), record)
      })

      it('answers undefined for an unknown record', async () => {
        assert.equal(await store.results.get(TENANT_A, randomUUID()), undefined)
      })

      it('keeps the first record put under an id, and returns the stored one to every put', async () => {
        const first = newRecord()
        assert.deepEqual(await store.results.put(first, 60), first)
        const fault = { code: 'ERR_VERIFIER_INTERNAL', title: 'Internal verifier error' }
        const second = newRecord({ id: first.id, status: 'failed', fault })
        assert.deepEqual(await store.results.put(second, 60), first, 'a second put answers with the first record')
        assert.deepEqual(await store.results.get(TENANT_A, first.id), first, 'the first record is kept')
      })

      it('of 20 concurrent puts under one id, one is stored and all of them return it', async () => {
        const id = randomUUID()
        const records = Array.from({ length: 20 }, (_, i) => newRecord({ id, completedAt: 1000 + i }))
        const answers = await Promise.all(records.map((r) => store.results.put(r, 60)))
        const stored = await store.results.get(TENANT_A, id)
        assert.ok(stored !== undefined && records.some((r) => r.completedAt === stored.completedAt))
        for (const a of answers) assert.deepEqual(a, stored)
      })

      it('stores a record whose room was reserved, and takes back an unused reservation', async () => {
        const record = newRecord()
        await store.results.reserve(TENANT_A, record.id, 4096)
        await store.results.reserve(TENANT_A, record.id, 4096)
        await store.results.put(record, 60)
        assert.deepEqual(await store.results.get(TENANT_A, record.id), record)
        const unused = randomUUID()
        await store.results.reserve(TENANT_A, unused, 4096)
        await store.results.unreserve(TENANT_A, unused)
        await store.results.unreserve(TENANT_A, unused)
        assert.equal(await store.results.get(TENANT_A, unused), undefined)
        await assert.rejects(store.results.reserve(TENANT_A, 'a:b', 1), TypeError)
        await assert.rejects(store.results.reserve(TENANT_A, randomUUID(), -1), TypeError)
      })

      it('scopes records by tenant', async () => {
        const record = newRecord()
        await store.results.put(record, 60)
        assert.equal(await store.results.get(TENANT_B, record.id), undefined)
      })

      it('throws TypeError for a malformed tenant, id or TTL', async () => {
        await assert.rejects(store.results.put(newRecord({ tenant: 'A' }), 60), TypeError)
        await assert.rejects(store.results.put(newRecord({ id: 'x y' }), 60), TypeError)
        await assert.rejects(store.results.put(newRecord(), -1), TypeError)
        await assert.rejects(store.results.get(TENANT_A, '../etc'), TypeError)
      })
    })

    describe('heartbeats', () => {
      it('counts each live worker once', async () => {
        const base = await store.heartbeats.live()
        const [w1, w2] = [`worker-${randomUUID()}`, `worker-${randomUUID()}`]
        await store.heartbeats.beat(w1, 60)
        await store.heartbeats.beat(w2, 60)
        await store.heartbeats.beat(w1, 60)
        assert.equal(await store.heartbeats.live(), base + 2)
      })

      it('forgets an ended worker at once, and ending an unknown one is a no-op', async () => {
        const base = await store.heartbeats.live()
        const [w1, w2] = [`worker-${randomUUID()}`, `worker-${randomUUID()}`]
        await store.heartbeats.beat(w1, 60)
        await store.heartbeats.beat(w2, 60)
        await store.heartbeats.end(w1)
        assert.equal(await store.heartbeats.live(), base + 1)
        await store.heartbeats.end(w1)
        await store.heartbeats.end(`worker-${randomUUID()}`)
        assert.equal(await store.heartbeats.live(), base + 1)
        await store.heartbeats.end(w2)
        assert.equal(await store.heartbeats.live(), base)
      })

      it('throws TypeError for a malformed worker id or TTL', async () => {
        await assert.rejects(store.heartbeats.beat('worker:1', 60), TypeError)
        await assert.rejects(store.heartbeats.beat('worker-1', 0), TypeError)
        await assert.rejects(store.heartbeats.end('worker:1'), TypeError)
      })
    })

    describe('what a nonce was, after its TTL and after the recall time', () => {
      const expiring = newNonce()
      const used = newNonce()
      const usedBy = randomUUID()
      const states: Record<string, string> = {}

      before(async () => {
        const wait = harness?.advanceMs ?? sleep
        await store.nonces.issue(TENANT_A, expiring, 1)
        await store.nonces.issue(TENANT_A, used, 1)
        states['used, within its TTL'] = await store.nonces.consume(TENANT_A, used, usedBy)
        await wait(1100)
        states['unused, past its TTL'] = await store.nonces.consume(TENANT_A, expiring)
        states['used, past its TTL, by another'] = await store.nonces.consume(TENANT_A, used, randomUUID())
        states['used, past its TTL, retried by the same appraisal'] = await store.nonces.consume(TENANT_A, used, usedBy)
        states['issued to another tenant'] = await store.nonces.consume(TENANT_B, expiring)
        await wait((harness?.nonceRecallSeconds ?? 0) * 1000 + 100)
        states['unused, past its TTL and the recall time'] = await store.nonces.consume(TENANT_A, expiring)
        states['used, past its TTL and the recall time'] = await store.nonces.consume(TENANT_A, used, randomUUID())
      })

      it('a used nonce is used, also past its TTL, and not even its own appraisal may retry then', () => {
        assert.equal(states['used, within its TTL'], 'consumed')
        assert.equal(states['used, past its TTL, by another'], 'used')
        assert.equal(states['used, past its TTL, retried by the same appraisal'], 'used')
      })

      it('an unused nonce past its TTL is expired (and unknown to another tenant)', () => {
        assert.equal(states['unused, past its TTL'], 'expired')
        assert.equal(states['issued to another tenant'], 'unknown')
      })

      it('past the recall time both are forgotten: unknown, like a nonce never issued', () => {
        assert.equal(states['unused, past its TTL and the recall time'], 'unknown')
        assert.equal(states['used, past its TTL and the recall time'], 'unknown')
      })
    })

    describe('expiry (one wait of 1.1 s shared by these tests)', () => {
      const shortNonce = newNonce()
      const longNonce = newNonce()
      const shortRecord = newRecord()
      const longRecord = newRecord()
      const shortWorker = `worker-${randomUUID()}`
      let shortSession: Session
      let liveWithShortWorker = 0

      before(async () => {
        shortSession = newSession({ expiresAt: Date.now() + 1000 })
        await store.nonces.issue(TENANT_A, shortNonce, 1)
        await store.nonces.issue(TENANT_A, longNonce, 60)
        await store.results.put(shortRecord, 1)
        await store.results.put(longRecord, 60)
        await store.sessions.create(shortSession)
        // Counted before the beat, not after: on a busy machine the 1 s heartbeat could expire before
        // a count taken after it.
        liveWithShortWorker = (await store.heartbeats.live()) + 1
        await store.heartbeats.beat(shortWorker, 1)
        await (harness?.advanceMs ?? sleep)(1100)
      })

      it('refuses a nonce after its TTL', async () => {
        assert.equal(await store.nonces.consume(TENANT_A, shortNonce), 'expired')
        assert.equal(await store.nonces.consume(TENANT_A, longNonce), 'consumed')
      })


      it('forgets a record after its TTL', async () => {
        assert.equal(await store.results.get(TENANT_A, shortRecord.id), undefined)
        assert.deepEqual(await store.results.get(TENANT_A, longRecord.id), longRecord)
      })

      it('forgets a session at expiresAt, and will not claim it', async () => {
        assert.equal(await store.sessions.get(TENANT_A, shortSession.id), undefined)
        assert.equal(await store.sessions.claim(TENANT_A, shortSession.id, newSubmission()), undefined)
      })

      it('stops counting a worker whose heartbeat expired', async () => {
        assert.equal(await store.heartbeats.live(), liveWithShortWorker - 1)
      })
    })

    it('answers ping', async () => {
      assert.equal(await store.ping(), true)
    })
  })
}
