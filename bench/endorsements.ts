/**
 * Endorsement store benchmark (issue 9): provisions 1,000 and then N devices' trust anchors into
 * Redis through the Redis endorsement store, and measures at each size the latency of `lookup` by
 * instance id (one in flight, as an appraisal makes it), the ratio of the two, and Redis memory per
 * device (`INFO memory` used_memory delta / devices). The two sizes are two tenants, both kept, and
 * their lookups are timed in alternating rounds. Writes go through the store's own script, a
 * batch of concurrent creates at a time (pipelined on one connection). Everything is written under a
 * prefix of its own, deleted afterwards.
 *
 *   npm run bench:endorsements                         1,000 then 1,000,000 devices
 *   BENCH_DEVICES=100000 npm run bench:endorsements    1,000 then 100,000
 *   BENCH_LOOKUPS=50000 …                              lookups per size (default 20,000)
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { EndorsementWrite } from '../src/store/endorsements.js'
import { prefixPattern } from '../src/store/keys.js'
import { createRedisEndorsementStore } from '../src/store/redis/endorsement-store.js'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const DEVICES = Number(process.env['BENCH_DEVICES'] ?? 1_000_000)
const LOOKUPS = Number(process.env['BENCH_LOOKUPS'] ?? 20_000)
const BATCH = 1000
const SMALL = 1000

if (!Number.isSafeInteger(DEVICES) || DEVICES < SMALL) throw new Error(`BENCH_DEVICES must be at least ${SMALL}`)

/** Instance id of device `n`: PSA's 0x01 type byte then 32 bytes, derived from n so lookups can name it. */
function instanceHex(n: number): string {
  return `01${n.toString(16).padStart(16, '0')}${'ab'.repeat(24)}`
}

/** What a PSA device's trust anchor looks like: its key as a JWK, its ids, indexed by instance and implementation. */
function device(n: number): EndorsementWrite {
  const instance = instanceHex(n)
  const implementation = 'acbd'.repeat(16)
  return {
    kind: 'trust-anchor',
    body: {
      instanceId: instance,
      implementationId: implementation,
      key: { kty: 'EC', crv: 'P-256', x: randomBytes(32).toString('base64url'), y: randomBytes(32).toString('base64url') },
    },
    indexIds: [`psa-instance:${instance}`],
    createdBy: 'bench',
    source: 'api',
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  const match = /^used_memory:(\d+)/m.exec(info)
  if (match === null) throw new Error('INFO memory has no used_memory')
  return Number(match[1])
}

async function deleteUnder(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', prefixPattern(prefix), 'COUNT', 5000)
    if (keys.length > 0) deleted += await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  return deleted
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const prefix = `assay-bench-endorse-${randomUUID()}`
const admin = new Redis(REDIS_URL)
const store = createRedisEndorsementStore({ redis: REDIS_URL, prefix })
/** Rounds the lookups are split into, alternating between the two sizes. */
const ROUNDS = 20

/** Writes `count` devices into `tenant`; returns devices per second. */
async function provision(tenant: string, count: number): Promise<number> {
  const started = performance.now()
  for (let written = 0; written < count; ) {
    const end = Math.min(count, written + BATCH)
    const batch: Promise<unknown>[] = []
    for (let n = written; n < end; n++) batch.push(store.create(tenant, `dev-${n}`, device(n)))
    await Promise.all(batch)
    written = end
    if (written % 100_000 === 0) process.stdout.write(`  … ${written.toLocaleString('en')} devices\n`)
  }
  return count / ((performance.now() - started) / 1000)
}

/** Times `count` lookups of random devices of `tenant` into `times` from `offset`, one in flight. */
async function lookups(tenant: string, devices: number, times: Float64Array, offset: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const n = Math.floor(Math.random() * devices)
    const started = performance.now()
    const found = await store.lookup(tenant, `psa-instance:${instanceHex(n)}`)
    times[offset + i] = performance.now() - started
    if (found.length !== 1 || found[0]!.id !== `dev-${n}`) throw new Error(`lookup of device ${n} found ${found.length}`)
  }
}

try {
  console.log(`endorsement store on ${REDIS_URL}, prefix ${prefix}`)
  const sizes = [
    { tenant: 'small', devices: SMALL },
    { tenant: 'large', devices: DEVICES },
  ]
  const rows = []
  for (const { tenant, devices } of sizes) {
    const before = await usedMemory(admin)
    const rate = await provision(tenant, devices)
    const bytesPerDevice = ((await usedMemory(admin)) - before) / devices
    rows.push({ tenant, devices, rate, bytesPerDevice, times: new Float64Array(LOOKUPS) })
  }
  // Both sizes stay provisioned (two tenants) and are measured in alternating rounds, so load from
  // elsewhere on the machine falls on both alike and the ratio stays meaningful.
  for (const row of rows) await lookups(row.tenant, row.devices, row.times, 0, 500)
  const perRound = Math.floor(LOOKUPS / ROUNDS)
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? rows : [...rows].reverse()
    for (const row of order) await lookups(row.tenant, row.devices, row.times, round * perRound, perRound)
  }
  const measured = rows.map((row) => {
    const times = row.times.slice(0, ROUNDS * perRound).sort()
    return { ...row, p50: percentile(times, 50), p99: percentile(times, 99) }
  })
  for (const row of measured) {
    console.log(
      `${row.devices.toLocaleString('en').padStart(10)} devices: written at ${Math.round(row.rate).toLocaleString('en')}/s; ` +
        `lookup p50 ${(row.p50 * 1000).toFixed(0)} µs, p99 ${(row.p99 * 1000).toFixed(0)} µs ` +
        `(${(ROUNDS * perRound).toLocaleString('en')} lookups); Redis memory ${Math.round(row.bytesPerDevice).toLocaleString('en')} B/device`,
    )
  }
  const [small, large] = measured as [(typeof measured)[0], (typeof measured)[0]]
  console.log(
    `ratio ${large.devices.toLocaleString('en')} / ${small.devices.toLocaleString('en')}: ` +
      `p50 ${(large.p50 / small.p50).toFixed(2)}, p99 ${(large.p99 / small.p99).toFixed(2)} (target: within 1.20)`,
  )
} finally {
  await store.close()
  const deleted = await deleteUnder(admin, prefix)
  console.log(`deleted ${deleted.toLocaleString('en')} keys under ${prefix}`)
  await admin.quit()
}
