/**
 * Appraisal against the endorsement store (issue 9): provisions 1,000 and then N PSA devices into
 * Redis as the provisioning documents the file loader and the API write (one trust anchor per
 * device, one set of reference values), then times whole PSA appraisals (`appraise`: parse, key
 * lookup, signature, reference values; a session nonce, so no nonce store) of random devices of
 * each size, one in flight, in alternating rounds, and prints per-appraisal latency and the ratio.
 *
 * Two readings per size: with the worker's cache as deployed (10,000 lookups: the small tenant fits
 * and is read from memory, the large one mostly is not), and with no cache, where every appraisal
 * looks its anchor and reference values up in Redis and imports the key: the cost that must not grow
 * with the number of devices. Everything is written under a prefix of its own, deleted afterwards.
 *
 *   npm run bench:appraisal-endorsements                        1,000 then 1,000,000 devices
 *   BENCH_DEVICES=100000 npm run bench:appraisal-endorsements   1,000 then 100,000
 *   BENCH_APPRAISALS=5000 …                                     appraisals per size and reading (default 4,000)
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Endorsements } from '../src/appraisal/endorsements.js'
import { appraise, type AppraisalDeps } from '../src/appraisal/pipeline.js'
import { provisioningDocuments } from '../src/appraisal/provisioning-documents.js'
import { referenceValueDocumentSchema } from '../src/appraisal/reference-values.js'
import { openStoreEndorsements, type StoreEndorsements } from '../src/appraisal/store-endorsements.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../src/cose/cbor.js'
import { createDefaultProfiles } from '../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../src/evidence/formats.js'
import { prefixPattern } from '../src/store/keys.js'
import { createMemoryStore } from '../src/store/memory/create-memory-store.js'
import { createRedisEndorsementStore } from '../src/store/redis/endorsement-store.js'
import { fromHex } from '../src/util/bytes.js'
import { systemClock } from '../src/util/clock.js'
import { generateTestKey, signSign1 } from '../test/helpers/cose.js'
import { readVector } from '../test/helpers/vectors.js'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const DEVICES = Number(process.env['BENCH_DEVICES'] ?? 1_000_000)
const APPRAISALS = Number(process.env['BENCH_APPRAISALS'] ?? 4_000)
const SMALL = 1000
const BATCH = 1000
const ROUNDS = 10
const IMPL = '00'.repeat(32)
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const NONCE = new Uint8Array(32).fill(9)

if (!Number.isSafeInteger(DEVICES) || DEVICES < SMALL) throw new Error(`BENCH_DEVICES must be at least ${SMALL}`)

/** One key for every device: the bench measures lookups, not key generation. */
const key = generateTestKey('ES256')
const jwk = key.publicKey.keyObject.export({ format: 'jwk' }) as Record<string, string>
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>

const instanceHex = (n: number): string => `01${n.toString(16).padStart(16, '0')}${'cd'.repeat(24)}`

function token(n: number): Uint8Array {
  const c = new Map(claims)
  c.set(256, fromHex(instanceHex(n)))
  c.set(10, NONCE)
  return signSign1(key, { payload: encodeCbor(c) })
}

const prefix = `assay-bench-appraise-${randomUUID()}`
const admin = new Redis(REDIS_URL)
const store = createRedisEndorsementStore({ redis: REDIS_URL, prefix })

async function provision(tenant: string, count: number): Promise<number> {
  const started = performance.now()
  const reference = referenceValueDocumentSchema.parse({
    tenant,
    psa: { referenceValues: [{ implementationId: IMPL, softwareComponents: [{ measurementType: 'PRoT', measurementValue: '03'.repeat(32), signerId: '04'.repeat(32) }] }] },
  })
  for (const d of provisioningDocuments(reference)) await store.create(tenant, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'bench', source: 'api' })
  for (let written = 0; written < count; ) {
    const end = Math.min(count, written + BATCH)
    const anchors = []
    for (let n = written; n < end; n++) anchors.push({ instanceId: instanceHex(n), key: jwk, implementationId: IMPL })
    const docs = provisioningDocuments(referenceValueDocumentSchema.parse({ tenant, psa: { trustAnchors: anchors } }))
    await Promise.all(docs.map((d) => store.create(tenant, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: 'bench', source: 'api' })))
    written = end
    if (written % 100_000 === 0) process.stdout.write(`  … ${written.toLocaleString('en')} devices\n`)
  }
  return count / ((performance.now() - started) / 1000)
}

function depsWith(endorsements: Endorsements): AppraisalDeps {
  return { registry: createDefaultRegistry(), endorsements, nonces: createMemoryStore().nonces, profiles: createDefaultProfiles(), clock: systemClock }
}

/** Times `count` appraisals of random devices of `tenant` into `times` from `offset`. */
async function appraisals(deps: AppraisalDeps, tenant: string, devices: number, times: Float64Array, offset: number, count: number): Promise<void> {
  // Tokens are signed before the clock starts: signing is the attester's cost.
  const tokens = Array.from({ length: count }, () => token(Math.floor(Math.random() * devices)))
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const out = await appraise({ tenant, mediaType: PSA_TFM, evidence: tokens[i]!, sessionNonce: NONCE }, deps)
    times[offset + i] = performance.now() - started
    const vector = out.submods['PSA']?.vector
    if (vector?.['instance-identity'] !== 2 || vector.executables !== 2) throw new Error(`device of ${tenant} not affirmed: ${JSON.stringify(vector)}`)
  }
}

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

async function deleteUnder(prefixToDelete: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', prefixPattern(prefixToDelete), 'COUNT', 5000)
    if (keys.length > 0) deleted += await admin.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  return deleted
}

const opened: StoreEndorsements[] = []
try {
  console.log(`appraisal against the endorsement store on ${REDIS_URL}, prefix ${prefix}`)
  const sizes = [
    { tenant: 'small', devices: SMALL },
    { tenant: 'large', devices: DEVICES },
  ]
  for (const s of sizes) {
    const rate = await provision(s.tenant, s.devices)
    console.log(`${s.devices.toLocaleString('en').padStart(10)} devices written at ${Math.round(rate).toLocaleString('en')}/s`)
  }
  const cached = await openStoreEndorsements({ store })
  const uncached = await openStoreEndorsements({ store, maxEntries: 0 })
  opened.push(cached, uncached)
  for (const [reading, endorsements] of [
    ['worker cache (10,000 lookups)', cached],
    ['no cache (every lookup in Redis)', uncached],
  ] as const) {
    const deps = depsWith(endorsements)
    const rows = sizes.map((s) => ({ ...s, times: new Float64Array(APPRAISALS) }))
    for (const row of rows) await appraisals(deps, row.tenant, row.devices, row.times, 0, 200)
    const perRound = Math.floor(APPRAISALS / ROUNDS)
    for (let round = 0; round < ROUNDS; round++) {
      for (const row of round % 2 === 0 ? rows : [...rows].reverse()) await appraisals(deps, row.tenant, row.devices, row.times, round * perRound, perRound)
    }
    const measured = rows.map((row) => {
      const times = row.times.slice(0, ROUNDS * perRound).sort()
      return { ...row, p50: percentile(times, 50), p99: percentile(times, 99) }
    })
    console.log(`${reading}:`)
    for (const row of measured) {
      console.log(
        `  ${row.devices.toLocaleString('en').padStart(10)} devices: appraisal p50 ${(row.p50 * 1000).toFixed(0)} µs, p99 ${(row.p99 * 1000).toFixed(0)} µs (${(ROUNDS * perRound).toLocaleString('en')} appraisals)`,
      )
    }
    const [small, large] = measured as [(typeof measured)[0], (typeof measured)[0]]
    console.log(`  ratio ${large.devices.toLocaleString('en')} / ${small.devices.toLocaleString('en')}: p50 ${(large.p50 / small.p50).toFixed(2)}, p99 ${(large.p99 / small.p99).toFixed(2)}`)
  }
} finally {
  for (const o of opened) await o.close()
  await store.close()
  const deleted = await deleteUnder(prefix)
  console.log(`deleted ${deleted.toLocaleString('en')} keys under ${prefix}`)
  await admin.quit()
}
