/**
 * The audit store contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379), two stores
 * with connections of their own on one prefix standing in for two processes (the concurrency test of
 * the contract then races them); plus what only the Redis adapter has: the key layout, a head key
 * lost while its stream remains, a stored entry that does not decode. Every key lives under a prefix
 * unique to this run and is deleted afterwards.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { auditEntries } from '../../../src/store/audit.js'
import { auditKeys } from '../../../src/store/keys.js'
import { createRedisAuditStore } from '../../../src/store/redis/audit-store.js'
import { REDIS_URL, deletePrefix } from '../../helpers/redis.js'
import { newKey } from '../../unit/audit/chain-helpers.js'
import { auditContract } from '../../unit/store/audit-contract.js'

const contractPrefix = `assay-test-${randomUUID()}`
auditContract('redis', async () => ({
  open: async () => createRedisAuditStore({ redis: REDIS_URL, prefix: contractPrefix }),
  shared: true,
  cleanup: () => deletePrefix(contractPrefix),
}))

describe('redis audit store', () => {
  const prefix = `assay-test-${randomUUID()}`
  const admin = new Redis(REDIS_URL)
  after(async () => {
    await deletePrefix(prefix)
    await admin.quit()
  })
  const entry = { time: 1, actor: 'op', action: 'tenant.update' }

  it('keeps a tenant in one stream and one head hash under its hash tag', async () => {
    const store = createRedisAuditStore({ redis: REDIS_URL, prefix })
    const { entry: first } = await store.append('acme', entry)
    const keys = auditKeys(prefix, 'acme')
    assert.equal(keys.stream, `${prefix}:{acme}:audit`)
    assert.equal(keys.head, `${prefix}:{acme}:audit-head`)
    const rows = await admin.xrange(keys.stream, '-', '+')
    assert.deepEqual(rows, [['1-0', ['e', JSON.stringify(first)]]])
    assert.deepEqual(await admin.hgetall(keys.head), { seq: '1', hash: first.hash, time: '1' })
    await store.close()
  })

  it('appends the entries that wait for one tenant together: one script call for many, one unbroken chain', async () => {
    const client = new Redis(REDIS_URL)
    const store = createRedisAuditStore({ redis: client, prefix })
    // Count the store's real script calls (the call itself is untouched).
    const named = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
    const original = named['assayAuditAppend']!.bind(client)
    let calls = 0
    named['assayAuditAppend'] = (...args: unknown[]) => {
      calls++
      return original(...args)
    }
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => store.append('batched', { ...entry, time: i + 1 })))
    assert.deepEqual(results.map((r) => r.entry.seq), Array.from({ length: 300 }, (_, i) => i + 1), 'each append gets its own seq, in call order')
    assert.ok(calls < 300 / 4, `${calls} script calls for 300 appends`)
    const stored = []
    for await (const e of auditEntries(store, 'batched')) stored.push(e)
    assert.equal(stored.length, 300)
    for (let i = 1; i < stored.length; i++) assert.equal(stored[i]!.prev, stored[i - 1]!.hash, `entry ${i + 1} links to entry ${i}`)
    assert.deepEqual(stored.map((e) => e.hash), results.map((r) => r.entry.hash))
    await store.close()
    await client.quit()
  })

  it('refuses to append when the head was lost but the stream remains, and reports a stored entry that does not decode', async () => {
    const store = createRedisAuditStore({ redis: REDIS_URL, prefix })
    await store.append('lost', entry)
    await admin.del(auditKeys(prefix, 'lost').head)
    // A fresh store has no cached head: it reads the (now empty) head and the stream refuses seq 1 again.
    const fresh = createRedisAuditStore({ redis: REDIS_URL, prefix })
    await assert.rejects(fresh.append('lost', entry), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    await admin.xadd(auditKeys(prefix, 'garbled').stream, '1-0', 'e', '{"v":1}')
    await assert.rejects(fresh.page('garbled'), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    await fresh.close()
    await store.close()
  })

  it('pages what the stream holds, so an entry deleted behind its back shows as a gap to the verifier', async () => {
    const store = createRedisAuditStore({ redis: REDIS_URL, prefix })
    for (let n = 1; n <= 5; n++) await store.append('gap', { ...entry, time: n })
    await admin.xdel(auditKeys(prefix, 'gap').stream, '3-0')
    const all = []
    for await (const e of auditEntries(store, 'gap')) all.push(e)
    assert.deepEqual(all.map((e) => e.seq), [1, 2, 4, 5])
    const page = await store.page('gap', { limit: 2 })
    assert.deepEqual([page.entries.map((e) => e.seq), page.next], [[1, 2], 2])
    const report = verifyChain('gap', all, { jwks: { keys: [] } })
    assert.deepEqual([report.problem?.kind, report.problem?.seq], ['missing', 3])
    await store.close()
  })

  it('lets neither of two writers appending one after the other keep the other out (claims)', async () => {
    // Each writer sends its next append as soon as the last is answered, so the one that needs no
    // retry would win every race if the loser had no claim on the next append.
    const stores = [createRedisAuditStore({ redis: REDIS_URL, prefix }), createRedisAuditStore({ redis: REDIS_URL, prefix })]
    const per = 400
    await Promise.all(
      stores.map(async (store, w) => {
        for (let n = 0; n < per; n++) await store.append('busy', { ...entry, actor: `writer-${w}`, time: n })
      }),
    )
    const all = []
    for await (const e of auditEntries(stores[0]!, 'busy')) all.push(e)
    assert.equal(all.length, 2 * per)
    assert.equal(verifyChain('busy', all, { jwks: { keys: [] } }).problem, undefined)
    assert.deepEqual(await admin.hkeys(auditKeys(prefix, 'busy').head).then((k) => k.sort()), ['hash', 'seq', 'time'])
    for (const store of stores) await store.close()
  })

  it('keeps checkpoints attesting the entry right before them while two processes record at once', async () => {
    const key = newKey()
    const stores = [createRedisAuditStore({ redis: REDIS_URL, prefix }), createRedisAuditStore({ redis: REDIS_URL, prefix })]
    const recorders = stores.map((store) => createAuditRecorder({ store, signer: () => key.signer, everyEntries: 10 }))
    await Promise.all(
      recorders.map(async (recorder, w) => {
        for (let n = 0; n < 150; n++) await recorder.record('recorded', { ...entry, actor: `worker-${w}`, action: 'appraisal', time: n })
      }),
    )
    const all = []
    for await (const e of auditEntries(stores[0]!, 'recorded')) all.push(e)
    const checkpoints = all.filter((e) => e.action === 'audit.checkpoint')
    assert.ok(checkpoints.length >= 300 / 10 - 1, `${checkpoints.length} checkpoints`)
    // Each process may add an entry between the count and its checkpoint: a slack of one per writer.
    const report = verifyChain('recorded', all, { jwks: key.jwks, maxGap: 10 + 2 })
    assert.equal(report.problem, undefined, report.problem?.message)
    assert.equal(report.checkpoints, checkpoints.length)
    for (const store of stores) await store.close()
  })

  it('reports Redis unreachable as ERR_STORE_UNAVAILABLE', async () => {
    const store = createRedisAuditStore({ redis: 'redis://127.0.0.1:1', prefix })
    await assert.rejects(store.append('acme', entry), (err: unknown) => isVerifierError(err, 'ERR_STORE_UNAVAILABLE'))
    await store.close()
  })
})
