/**
 * The endorsement store contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379), with
 * two stores of their own connections on one prefix standing in for two processes; plus what only
 * the Redis adapter has: the key layout (the index moved and emptied with the versions), stored values
 * that do not decode, an unreachable server (races between two stores are in the contract). Every
 * key lives under a prefix unique to this run and is deleted afterwards.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { EndorsementStore, EndorsementWrite } from '../../../src/store/endorsements.js'
import { endorsementBase, prefixPattern } from '../../../src/store/keys.js'
import { createRedisEndorsementStore } from '../../../src/store/redis/endorsement-store.js'
import { endorsementContract } from '../../unit/store/endorsement-contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', prefixPattern(prefix), 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

async function deleteUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix)
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500))
}

const contractPrefix = `assay-test-${randomUUID()}`
endorsementContract('redis', async () => {
  const admin = new Redis(REDIS_URL)
  return {
    // Each store has its own client (and, once watched, its own subscriber): a second process.
    open: async (limits) => createRedisEndorsementStore({ redis: REDIS_URL, prefix: contractPrefix, ...(limits === undefined ? {} : { limits }) }),
    shared: true,
    cleanup: async () => {
      await deleteUnder(admin, contractPrefix)
      await admin.quit()
    },
  }
})

const BY = { createdBy: 'operator', source: 'api' }
function anchor(n: number, extra: Partial<EndorsementWrite> = {}): EndorsementWrite {
  return { kind: 'trust-anchor', body: { n }, indexIds: [`eat-ueid:0${n}`, 'eat-class:acme/01'], ...BY, ...extra }
}

describe('redis endorsement store: layout and faults', () => {
  const prefix = `assay-test-${randomUUID()}`
  let admin: Redis
  let store: EndorsementStore

  before(async () => {
    admin = new Redis(REDIS_URL)
    store = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
  })

  after(async () => {
    await store.close()
    await deleteUnder(admin, prefix)
    assert.deepEqual(await keysUnder(admin, prefix), [])
    await admin.quit()
  })

  it('keeps every key of a tenant under its hash tag, and moves index keys with the versions', async () => {
    await store.create('a', 'dev', anchor(1))
    await store.put('a', 'dev', anchor(2))
    const base = endorsementBase(prefix, 'a')
    assert.equal(base, `${prefix}:{a}:e:`)
    const keys = (await keysUnder(admin, prefix)).sort()
    assert.deepEqual(keys, [
      `${base}i:eat-class:acme/01`,
      `${base}i:eat-ueid:02`,
      `${base}kind:trust-anchor`,
      `${base}live`,
      `${base}m:dev`,
      `${base}t`,
      `${base}v:dev:1`,
      `${base}v:dev:2`,
    ])
    assert.deepEqual(await admin.hgetall(`${base}t`), { docs: '1', rev: '2' })
    await store.delete('a', 'dev', BY)
    const left = (await keysUnder(admin, prefix)).sort()
    assert.deepEqual(left, [`${base}m:dev`, `${base}t`, `${base}v:dev:1`, `${base}v:dev:2`, `${base}v:dev:3`])
  })

  it('reports a stored version or head that does not decode as ERR_STORE_CORRUPT', async () => {
    await store.create('bad', 'dev', anchor(1))
    const base = endorsementBase(prefix, 'bad')
    await admin.set(`${base}v:dev:1`, '{"tenant":"other"}')
    for (const read of [store.get('bad', 'dev'), store.lookup('bad', 'eat-ueid:01'), store.list('bad')]) {
      await assert.rejects(read, (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    }
    await admin.set(`${base}v:dev:1`, 'not json')
    await assert.rejects(store.get('bad', 'dev', 1), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    // A head that does not parse: every read and write of the document says so.
    await admin.set(`${base}m:dev`, 'garbage')
    const reads = [
      store.get('bad', 'dev'),
      store.versions('bad', 'dev'),
      store.lookup('bad', 'eat-ueid:01'),
      store.list('bad'),
      store.put('bad', 'dev', anchor(2)),
      store.delete('bad', 'dev', BY),
    ]
    for (const read of reads) await assert.rejects(read, (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
  })

  it('answers ERR_STORE_UNAVAILABLE when Redis cannot be reached', async () => {
    const down = createRedisEndorsementStore({ redis: 'redis://127.0.0.1:1', prefix })
    try {
      await assert.rejects(down.create('a', 'x', anchor(1)), (err: unknown) => isVerifierError(err, 'ERR_STORE_UNAVAILABLE'))
      await assert.rejects(down.lookup('a', 'eat-ueid:01'), (err: unknown) => isVerifierError(err, 'ERR_STORE_UNAVAILABLE'))
    } finally {
      await down.close()
    }
  })
})
