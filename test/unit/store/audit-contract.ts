/**
 * The audit store contract: one suite every adapter of the port passes (embedded in
 * `audit-memory.test.ts`, Redis in `test/integration/store/audit-redis.test.ts`). Each test works in
 * a tenant of its own.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CHECKPOINT_ACTION, entryHash, genesisHash, type AuditEntryInput } from '../../../src/audit/entry.js'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { MAX_AUDIT_PAGE, auditEntries, type AuditStore } from '../../../src/store/audit.js'
import { newKey } from '../audit/chain-helpers.js'

export interface AuditHarness {
  /** A store over this harness's backing data. */
  open(): Promise<AuditStore>
  /** Whether two stores from `open` share their data (Redis: two processes on one prefix). */
  readonly shared: boolean
  cleanup(): Promise<void>
}

const newTenant = () => `t-${randomBytes(6).toString('hex')}`

function input(n: number, extra: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    time: 1_700_000_000_000 + n,
    actor: 'operator@example',
    action: 'reference-value.replace',
    targets: [{ type: 'reference-value', id: `rv-${n}`, version: n }],
    outcome: 'replaced',
    details: { n, note: 'é😀' },
    ...extra,
  }
}

export function auditContract(name: string, makeHarness: () => Promise<AuditHarness>): void {
  describe(`audit store contract (${name})`, () => {
    let harness: AuditHarness
    let store: AuditStore
    before(async () => {
      harness = await makeHarness()
      store = await harness.open()
    })
    after(async () => {
      await store.close()
      await harness.cleanup()
    })

    it('starts a tenant at its genesis hash and links each entry to the one before', async () => {
      const tenant = newTenant()
      assert.deepEqual(await store.head(tenant), { seq: 0, hash: genesisHash(tenant), time: 0, checkpointSeq: 0, checkpointTime: 0 })
      assert.deepEqual(await store.page(tenant), { entries: [] })
      const first = await store.append(tenant, input(1))
      assert.equal(first.entry.seq, 1)
      assert.equal(first.entry.prev, genesisHash(tenant))
      assert.equal(first.entry.hash, entryHash(first.entry))
      assert.equal(first.entry.tenant, tenant)
      const second = await store.append(tenant, input(2))
      assert.equal(second.entry.seq, 2)
      assert.equal(second.entry.prev, first.entry.hash)
      assert.deepEqual(second.head, { seq: 2, hash: second.entry.hash, time: input(2).time, checkpointSeq: 0, checkpointTime: 0 })
      assert.deepEqual(await store.head(tenant), second.head)
      assert.deepEqual((await store.page(tenant)).entries, [first.entry, second.entry])
    })

    it('pages in seq order with a bounded size, and says where the next page starts', async () => {
      const tenant = newTenant()
      for (let n = 1; n <= 25; n++) await store.append(tenant, input(n))
      const one = await store.page(tenant, { limit: 10 })
      assert.deepEqual(one.entries.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      assert.equal(one.next, 10)
      const two = await store.page(tenant, { after: 10, limit: 10 })
      assert.deepEqual(two.entries.map((e) => e.seq), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
      const last = await store.page(tenant, { after: 20, limit: 10 })
      assert.deepEqual(last.entries.map((e) => e.seq), [21, 22, 23, 24, 25])
      assert.equal(last.next, undefined)
      assert.deepEqual(await store.page(tenant, { after: 17, limit: 1 }), { entries: [two.entries[7]], next: 18 })
      assert.deepEqual(await store.page(tenant, { after: 25 }), { entries: [] })
      assert.deepEqual(await store.page(tenant, { after: 1000 }), { entries: [] })
      for (const bad of [{ limit: 0 }, { limit: MAX_AUDIT_PAGE + 1 }, { limit: 1.5 }, { after: -1 }, { after: 0.5 }]) {
        await assert.rejects(store.page(tenant, bad), TypeError, JSON.stringify(bad))
      }
    })

    it('refuses a bad tenant id or entry, and appends nothing then', async () => {
      const tenant = newTenant()
      await assert.rejects(store.append('Bad:Tenant', input(1)), TypeError)
      await assert.rejects(store.page('{x}', {}), TypeError)
      await assert.rejects(store.append(tenant, { ...input(1), details: { x: 0.5 } }), TypeError)
      await assert.rejects(store.append(tenant, { ...input(1), actor: '' }), TypeError)
      assert.equal((await store.head(tenant)).seq, 0)
    })

    it('keeps tenants apart', async () => {
      const [a, b] = [newTenant(), newTenant()]
      await store.append(a, input(1))
      await store.append(a, input(2))
      const onB = await store.append(b, input(3))
      assert.equal(onB.entry.seq, 1)
      assert.equal(onB.entry.prev, genesisHash(b))
      assert.deepEqual((await store.page(b)).entries.map((e) => e.tenant), [b])
      assert.equal((await store.head(a)).seq, 2)
    })

    it('builds an entry on the current head, and appends nothing when the builder declines', async () => {
      const tenant = newTenant()
      await store.append(tenant, input(1))
      const seen: number[] = []
      const none = await store.appendWith(tenant, (head) => {
        seen.push(head.seq)
        return undefined
      })
      assert.equal(none, undefined)
      assert.deepEqual(seen, [1])
      assert.equal((await store.head(tenant)).seq, 1)
    })

    it('records checkpoints in the head, and the chain it keeps verifies', async () => {
      const tenant = newTenant()
      const key = newKey()
      let now = 5_000
      const recorder = createAuditRecorder({ store, signer: () => key.signer, everyEntries: 7, everySeconds: 3600, nowMs: () => now })
      for (let n = 1; n <= 40; n++) {
        now += 1
        await recorder.record(tenant, input(n, { time: now }))
      }
      const head = await store.head(tenant)
      assert.ok(head.checkpointSeq > 0)
      const entries = []
      for await (const entry of auditEntries(store, tenant)) entries.push(entry)
      assert.equal(entries.length, head.seq)
      assert.equal(entries[head.checkpointSeq - 1]!.action, CHECKPOINT_ACTION)
      assert.equal(head.checkpointTime, entries[head.checkpointSeq - 1]!.time)
      const report = verifyChain(tenant, entries, { jwks: key.jwks, maxGap: 7 })
      assert.equal(report.problem, undefined, report.problem?.message)
      assert.ok(report.checkpoints >= 5)
    })

    it('makes one unbroken chain of appends made at the same time (two stores when they share data)', async () => {
      const tenant = newTenant()
      const other = harness.shared ? await harness.open() : store
      try {
        const perWriter = 60
        await Promise.all([
          Promise.all(Array.from({ length: perWriter }, (_, n) => store.append(tenant, input(n, { actor: 'writer-a' })))),
          Promise.all(Array.from({ length: perWriter }, (_, n) => other.append(tenant, input(n, { actor: 'writer-b' })))),
        ])
        const entries = []
        for await (const entry of auditEntries(store, tenant)) entries.push(entry)
        assert.equal(entries.length, 2 * perWriter)
        assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 2 * perWriter }, (_, i) => i + 1))
        assert.equal(entries.filter((e) => e.actor === 'writer-a').length, perWriter)
        const report = verifyChain(tenant, entries, { jwks: { keys: [] } })
        assert.equal(report.problem, undefined, report.problem?.message)
        assert.equal(report.lastSeq, 2 * perWriter)
      } finally {
        if (other !== store) await other.close()
      }
    })
  })
}
