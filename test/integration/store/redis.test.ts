/**
 * The store contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379), plus what only
 * the Redis adapter has: key layout and TTLs, decoding faults, and an unreachable server. Every key
 * lives under a prefix unique to this run, and only keys under it are deleted afterwards.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { heartbeatsKey, nonceKey, prefixPattern, resultKey, sessionKey } from '../../../src/store/keys.js'
import { createRedisStore } from '../../../src/store/redis/create-redis-store.js'
import { NONCE_RECALL_SECONDS, type Store } from '../../../src/store/types.js'
import { storeContract } from '../../unit/store/contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

function uniquePrefix(): string {
  return `assay-test-${randomUUID()}`
}

/** Every key under `prefix`, found with SCAN (never KEYS). */
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

function isCode(code: ErrorCode): (err: unknown) => boolean {
  return (err) => isVerifierError(err, code)
}

/** A client for the test itself; it fails fast instead of queueing while Redis is away. */
function testClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
}

storeContract('redis', async () => {
  const prefix = uniquePrefix()
  const redis = testClient()
  // One second of recall, so the contract can wait a nonce's recall time out.
  const store = createRedisStore({ redis, prefix, nonceRecallSeconds: 1 })
  return {
    store,
    nonceRecallSeconds: 1,
    cleanup: async () => {
      await store.close()
      await deleteUnder(redis, prefix)
      assert.deepEqual(await keysUnder(redis, prefix), [])
      await redis.quit()
    },
  }
})

describe('redis store', () => {
  const prefix = uniquePrefix()
  let redis: Redis
  let store: Store

  before(() => {
    redis = testClient()
    store = createRedisStore({ redis, prefix })
  })

  after(async () => {
    await store.close()
    await deleteUnder(redis, prefix)
    await redis.quit()
  })

  it('writes only hash-tagged keys under its prefix, each with a TTL', async () => {
    const nonce = new Uint8Array(randomBytes(16))
    const sessionId = randomUUID()
    const recordId = randomUUID()
    await store.nonces.issue('tenant-a', nonce, 60)
    await store.sessions.create({
      id: sessionId,
      tenant: 'tenant-a',
      nonce,
      status: 'waiting',
      expiresAt: Date.now() + 60_000,
      accept: [],
    })
    const submission = { appraisalId: recordId, evidenceMediaType: 'application/eat+cwt', evidenceDigest: '' }
    await store.sessions.claim('tenant-a', sessionId, submission)
    await store.sessions.finish('tenant-a', sessionId, 'complete')
    await store.sessions.finish('tenant-a', randomUUID(), 'complete')
    await store.results.put({ id: recordId, tenant: 'tenant-a', status: 'complete', createdAt: 0 }, 60)
    await store.heartbeats.beat('worker-1', 60)

    const expected = [
      nonceKey(prefix, 'tenant-a', nonce),
      sessionKey(prefix, 'tenant-a', sessionId),
      resultKey(prefix, 'tenant-a', recordId),
      heartbeatsKey(prefix),
    ]
    assert.deepEqual((await keysUnder(redis, prefix)).sort(), [...expected].sort())
    assert.match(expected[1]!, new RegExp(`^${prefix}:\\{tenant-a\\}:session:`))
    for (const key of expected.slice(0, 3)) {
      // A nonce key outlives its nonce by the recall time, so a late nonce is told from an unknown one.
      const max = key === expected[0] ? (60 + NONCE_RECALL_SECONDS) * 1000 : 60_000
      const ttl = await redis.pttl(key)
      assert.ok(ttl > max - 60_000 && ttl <= max, `${key} has TTL ${ttl}`)
    }
    assert.equal(await redis.type(sessionKey(prefix, 'tenant-a', sessionId)), 'hash')
    assert.equal(await redis.type(heartbeatsKey(prefix)), 'zset')
  })

  it('turns a value it cannot decode into ERR_STORE_CORRUPT', async () => {
    const recordId = randomUUID()
    await redis.set(resultKey(prefix, 'default', recordId), '{"id":', 'EX', 60)
    await assert.rejects(store.results.get('default', recordId), isCode('ERR_STORE_CORRUPT'))
    const sessionId = randomUUID()
    await redis.hset(sessionKey(prefix, 'default', sessionId), { id: sessionId, tenant: 'default', status: 'odd' })
    await redis.pexpire(sessionKey(prefix, 'default', sessionId), 60_000)
    await assert.rejects(store.sessions.get('default', sessionId), isCode('ERR_STORE_CORRUPT'))
  })

  it('turns a Redis error into ERR_STORE_UNAVAILABLE with the error as cause', async () => {
    const nonce = new Uint8Array(randomBytes(16))
    await redis.hset(nonceKey(prefix, 'default', nonce), { not: 'a string' })
    await redis.pexpire(nonceKey(prefix, 'default', nonce), 60_000)
    await assert.rejects(store.nonces.consume('default', nonce), (err) => {
      assert.ok(isVerifierError(err, 'ERR_STORE_UNAVAILABLE'))
      assert.match(String((err.cause as Error).message), /WRONGTYPE/)
      return true
    })
  })

  it('leaves a client it does not own open on close', async () => {
    const other = createRedisStore({ redis, prefix })
    await other.close()
    assert.equal(await redis.ping(), 'PONG')
  })

  it('creates, uses and closes its own client from a URL', async () => {
    const owned = createRedisStore({ redis: REDIS_URL, prefix })
    assert.equal(await owned.ping(), true)
    const before = await store.heartbeats.live()
    await owned.heartbeats.beat(`worker-${randomUUID()}`, 60)
    assert.equal(await store.heartbeats.live(), before + 1)
    await owned.close()
  })
})

describe('redis store with no server', () => {
  it('answers ping false without waiting for its timeout, and fails commands with ERR_STORE_UNAVAILABLE', { timeout: 60_000 }, async () => {
    const dead = new Redis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    dead.on('error', () => {})
    // A ping timeout far beyond the test's: ping can only answer false because the client fails a
    // command at once while it is not connected (no offline queue).
    const store = createRedisStore({ redis: dead, prefix: uniquePrefix(), ownsClient: true, pingTimeoutMs: 10 * 60_000 })
    assert.equal(await store.ping(), false)
    await assert.rejects(store.nonces.consume('default', new Uint8Array(8)), isCode('ERR_STORE_UNAVAILABLE'))
    await assert.rejects(store.sessions.get('default', 'x'), isCode('ERR_STORE_UNAVAILABLE'))
    await store.close()
  })

  it('answers ping false after its timeout while commands wait to reconnect', { timeout: 60_000 }, async () => {
    const dead = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: null, retryStrategy: () => 50 })
    dead.on('error', () => {})
    const store = createRedisStore({ redis: dead, prefix: uniquePrefix(), ownsClient: true, pingTimeoutMs: 200 })
    const started = Date.now()
    assert.equal(await store.ping(), false)
    // Not before its timeout (a lower bound: load can only make it later); a ping that never answered
    // would fail the test by its timeout.
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 190, `ping answered after ${elapsed} ms, before its 200 ms timeout`)
    await store.close()
  })
})

describe('redis store at maxmemory with noeviction (a redis-server of its own)', { timeout: 60_000 }, () => {
  let server: ChildProcess | undefined
  let store: Store | undefined

  after(async () => {
    await store?.close()
    server?.kill('SIGKILL')
  })

  it('answers ERR_STORE_FULL once Redis refuses to grow, and keeps every live entry', async () => {
    const port = 16_400 + Math.floor(Math.random() * 500)
    const args = ['--port', String(port), '--save', '', '--appendonly', 'no', '--maxmemory', '4mb']
    server = spawn('redis-server', [...args, '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' })
    const url = `redis://127.0.0.1:${port}`
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    for (let i = 0; i < 400; i++) {
      if (await probe.connect().then(() => true, () => false)) break
      await new Promise((r) => setTimeout(r, 50))
    }
    probe.disconnect()
    store = createRedisStore({ redis: url, prefix: uniquePrefix() })
    const first = new Uint8Array(randomBytes(32))
    await store.nonces.issue('default', first, 600)
    let issued = 0
    let refusal: unknown
    while (refusal === undefined && issued < 1_000_000) {
      const batch = Array.from({ length: 200 }, () => store!.nonces.issue('default', new Uint8Array(randomBytes(64)), 600))
      const settled = await Promise.allSettled(batch)
      issued += settled.filter((s) => s.status === 'fulfilled').length
      refusal = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')?.reason
    }
    assert.ok(isVerifierError(refusal, 'ERR_STORE_FULL'), `refused with ${String(refusal)}`)
    assert.ok(issued > 1000, `${issued} nonces before Redis was full`)
    const session = {
      id: randomUUID(),
      tenant: 'default',
      nonce: new Uint8Array(randomBytes(32)),
      status: 'waiting' as const,
      expiresAt: Date.now() + 60_000,
      accept: ['application/eat+cwt'],
    }
    await assert.rejects(store.sessions.create(session), isCode('ERR_STORE_FULL'))
    assert.equal(await store.nonces.consume('default', first), 'consumed', 'the first nonce was not evicted')
  })
})
