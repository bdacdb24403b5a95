/**
 * The submitter store (`src/store/submitters.ts`), both adapters against one contract: in memory and
 * on a real Redis under a random prefix.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { createRedisSubmitterStore } from '../../../src/store/redis/submitter-store.js'
import { MAX_SUBMITTER_LENGTH, createMemorySubmitterStore, type SubmitterStore } from '../../../src/store/submitters.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'

function contract(name: string, make: () => SubmitterStore): void {
  describe(`submitter store: ${name}`, () => {
    const store = make()
    after(() => store.close())

    it('remembers who submitted what, per tenant', async () => {
      const id = randomUUID()
      await store.set('default', id, 'api-key:0123456789abcdef01234567', 60)
      assert.equal(await store.get('default', id), 'api-key:0123456789abcdef01234567')
      assert.equal(await store.get('acme', id), undefined, 'another tenant does not see it')
      assert.equal(await store.get('default', randomUUID()), undefined)
    })

    it('refuses ids, tenants, principals and TTLs out of bounds', async () => {
      await assert.rejects(store.set('Default', randomUUID(), 'p', 60), TypeError)
      await assert.rejects(store.set('default', 'a:b', 'p', 60), TypeError)
      await assert.rejects(store.set('default', randomUUID(), '', 60), TypeError)
      await assert.rejects(store.set('default', randomUUID(), 'p'.repeat(MAX_SUBMITTER_LENGTH + 1), 60), TypeError)
      await assert.rejects(store.set('default', randomUUID(), 'p', 0), TypeError)
    })
  })
}

contract('memory', () => createMemorySubmitterStore())

const prefix = `assay-test-sub-${randomUUID().slice(0, 8)}`
contract('Redis', () => createRedisSubmitterStore({ redis: REDIS_URL, prefix }))
after(() => deletePrefix(prefix))

describe('submitter store: bounds and expiry', () => {
  it('memory: forgets an entry at its TTL, and refuses a new one when full of live ones', async () => {
    let now = 1_000_000
    const store = createMemorySubmitterStore({ maxEntries: 2, nowMs: () => now })
    await store.set('default', 'a', 'p1', 10)
    await store.set('default', 'b', 'p2', 20)
    await assert.rejects(store.set('default', 'c', 'p3', 10), (err: { code?: string }) => err.code === 'ERR_STORE_FULL')
    now += 10_000
    assert.equal(await store.get('default', 'a'), undefined, 'expired')
    await store.set('default', 'c', 'p3', 10)
    assert.equal(await store.get('default', 'c'), 'p3')
  })

  it('Redis: writes the entry with its TTL', async () => {
    const redisPrefix = `assay-test-sub-${randomUUID().slice(0, 8)}`
    const store = createRedisSubmitterStore({ redis: REDIS_URL, prefix: redisPrefix })
    const redis = new Redis(REDIS_URL)
    try {
      const id = randomUUID()
      await store.set('default', id, 'p', 30)
      const ttl = await redis.ttl(`${redisPrefix}:{default}:submitter:${id}`)
      assert.ok(ttl > 0 && ttl <= 30, String(ttl))
    } finally {
      redis.disconnect()
      await store.close()
      await deletePrefix(redisPrefix)
    }
  })
})
