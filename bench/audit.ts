/**
 * Audit log benchmark (issue 10): appends through the recorder (checkpoint every 1,000 entries, ES256
 * signed) to the embedded store with files (fdatasync before each answer; one append in flight, then
 * 32 sharing each fdatasync) and to Redis (one script call
 * per append; then two stores on one tenant, racing), then verifies the chain as `assay audit verify`
 * does. Prints appends per second, the time per append, and entries verified per second. Redis keys
 * live under a prefix of its own and the data directory is temporary; both are deleted afterwards.
 *
 *   npm run bench:audit                       10,000 appraisal-like entries per case
 *   BENCH_AUDIT_ENTRIES=50000 npm run bench:audit
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { AuditEntry, AuditEntryInput } from '../src/audit/entry.js'
import { createAuditRecorder } from '../src/audit/recorder.js'
import { verifyChain } from '../src/audit/verify-chain.js'
import { generateEs256Key } from '../src/crypto/sign.js'
import { createEarSigner } from '../src/results/sign.js'
import { auditEntries, type AuditStore } from '../src/store/audit.js'
import { prefixPattern } from '../src/store/keys.js'
import { createMemoryAuditStore } from '../src/store/memory/audit-store.js'
import { createRedisAuditStore } from '../src/store/redis/audit-store.js'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const ENTRIES = Number(process.env['BENCH_AUDIT_ENTRIES'] ?? 10_000)
if (!Number.isSafeInteger(ENTRIES) || ENTRIES < 100) throw new Error('BENCH_AUDIT_ENTRIES must be at least 100')

const key = generateEs256Key()
const signer = createEarSigner(key)
const jwks = { keys: [{ ...key.publicJwk, kid: signer.kid, alg: 'ES256', use: 'sig' }] }

function appraisal(n: number): AuditEntryInput {
  return {
    time: Date.now(),
    actor: 'worker-1',
    action: 'appraisal',
    targets: [
      { type: 'appraisal', id: `appr-${n.toString(36)}-${'x'.repeat(20)}` },
      { type: 'policy', id: 'default', version: 3 },
      { type: 'reference-value', id: 'psa-device-42', version: 17 },
    ],
    outcome: 'affirming',
    evidenceDigest: 'ab'.repeat(32),
  }
}

/** `writers` appraisals in flight per store, each appending one entry after the other. */
async function appendAll(stores: AuditStore[], tenant: string, writers = 1): Promise<number> {
  const recorders = stores.flatMap((store) => {
    const recorder = createAuditRecorder({ store, signer: () => signer, everyEntries: 1000 })
    return Array.from({ length: writers }, () => recorder)
  })
  const start = process.hrtime.bigint()
  const per = Math.ceil(ENTRIES / recorders.length)
  await Promise.all(
    recorders.map(async (recorder, w) => {
      for (let n = 0; n < per; n++) await recorder.record(tenant, appraisal(w * per + n))
    }),
  )
  return Number(process.hrtime.bigint() - start) / 1e9
}

async function verify(store: AuditStore, tenant: string, label: string): Promise<void> {
  const entries: AuditEntry[] = []
  for await (const entry of auditEntries(store, tenant)) entries.push(entry)
  const start = process.hrtime.bigint()
  const report = verifyChain(tenant, entries, { jwks })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (report.problem !== undefined) throw new Error(`${label}: the chain does not verify: ${report.problem.message}`)
  console.log(`${label}: verify ${entries.length} entries (${report.checkpoints} checkpoints) in ${(seconds * 1000).toFixed(0)} ms: ${Math.round(entries.length / seconds)} entries/s`)
}

function report(label: string, seconds: number): void {
  console.log(`${label}: ${ENTRIES} appends in ${seconds.toFixed(2)} s: ${Math.round(ENTRIES / seconds)} appends/s, ${((seconds * 1e6) / ENTRIES).toFixed(0)} µs each`)
}

const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-audit-'))
const prefix = `assay-bench-${randomUUID()}`
const admin = new Redis(REDIS_URL)
try {
  const files = createMemoryAuditStore({ dataDir })
  report('embedded (files), one append in flight', await appendAll([files], 'bench'))
  await verify(files, 'bench', 'embedded')
  report('embedded (files), 32 appends in flight (group commit)', await appendAll([files], 'many', 32))
  await files.close()

  const redis = createRedisAuditStore({ redis: REDIS_URL, prefix })
  report('redis, one writer', await appendAll([redis], 'one'))
  await verify(redis, 'one', 'redis')
  const other = createRedisAuditStore({ redis: REDIS_URL, prefix })
  report('redis, two writers racing on one tenant', await appendAll([redis, other], 'two'))
  await verify(redis, 'two', 'redis, two writers')
  await other.close()
  await redis.close()
} finally {
  rmSync(dataDir, { recursive: true, force: true })
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', prefixPattern(prefix), 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await admin.unlink(...keys)
  } while (cursor !== '0')
  await admin.quit()
}
