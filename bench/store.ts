/**
 * Memory store persistence benchmark (issue 8 item 2): the longest the event loop is held while a
 * file-backed memory store is filled with 50,000 appraisal records of about 2.5 KB (requests arrive in
 * batches of 100, with a turn of the loop between), while its snapshot is written (compaction, with
 * batches of 20 writes still arriving), and while it closes. The test suite asserts only that the
 * compaction yields (test/unit/store/memory-persistence.test.ts); how long each stall lasts depends on
 * the machine and its load, so it is measured here. Production tuning (500 entries or 256 KiB per chunk).
 *
 *   npm run bench:store                      50,000 records
 *   BENCH_RECORDS=200000 npm run bench:store
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import { createMemoryStoreWithPersistence } from '../src/store/memory/create-memory-store.js'
import { SNAPSHOT_FILE_NAME } from '../src/store/memory/snapshot-file.js'
import type { AppraisalRecord } from '../src/store/types.js'

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 50_000)
const PROBE_MS = 5

/** A record of about 2.5 KB, the size of a real appraisal record. */
function record(): AppraisalRecord {
  return {
    id: randomUUID(),
    tenant: 'default',
    status: 'complete',
    createdAt: Date.now(),
    completedAt: Date.now(),
    outcome: { status: 'affirming', trustVector: { 'instance-identity': 2, executables: 2, hardware: 2 } },
    ear: randomBytes(1800).toString('base64url'),
  }
}

/** Longest delay of a 5 ms interval timer beyond its period while it runs: the longest stall. */
function stallProbe(): { stop: () => { maxMs: number; ticks: number } } {
  let maxMs = 0
  let ticks = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    maxMs = Math.max(maxMs, now - last - PROBE_MS)
    last = now
    ticks++
  }, PROBE_MS)
  return {
    stop: () => {
      clearInterval(timer)
      return { maxMs, ticks }
    },
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-store-'))
try {
  const { store, persistence } = createMemoryStoreWithPersistence(
    { dataDir, maxBytes: 1024 * 1024 * 1024, maxResults: 10_000_000, onWarning: (m) => console.error(`warning: ${m}`) },
    { compactMinBytes: Number.MAX_SAFE_INTEGER },
  )
  if (persistence === undefined) throw new Error('the store has no persistence')
  let written = 0
  const batch = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++, written++) await store.results.put(record(), 600)
    await nextTurn()
  }

  const fillStart = performance.now()
  const filling = stallProbe()
  while (written < RECORDS) await batch(100)
  await sleep(300)
  const fill = filling.stop()
  const fillMs = performance.now() - fillStart

  const compactStart = performance.now()
  const compacting = stallProbe()
  let done = false
  const compaction = persistence.compact().finally(() => (done = true))
  const before = written
  while (!done) await batch(20)
  await compaction
  const compact = compacting.stop()
  const compactMs = performance.now() - compactStart

  const closeStart = performance.now()
  const closing = stallProbe()
  await store.close()
  const close = closing.stop()
  const closeMs = performance.now() - closeStart
  const snapshotMiB = statSync(join(dataDir, SNAPSHOT_FILE_NAME)).size / 1024 / 1024

  const ms = (x: number): string => x.toFixed(1).padStart(8)
  console.log(`memory store persistence, ${RECORDS} records of ~2.5 KB; node ${process.version}, ${cpus().length} cores`)
  console.log(`snapshot ${snapshotMiB.toFixed(1)} MiB; ${written - before} writes went through during the compaction`)
  console.log('phase        took (ms)  longest stall (ms)  probe ticks')
  console.log(`fill        ${ms(fillMs)}            ${ms(fill.maxMs)}  ${String(fill.ticks).padStart(11)}`)
  console.log(`compaction  ${ms(compactMs)}            ${ms(compact.maxMs)}  ${String(compact.ticks).padStart(11)}`)
  console.log(`close       ${ms(closeMs)}            ${ms(close.maxMs)}  ${String(close.ticks).padStart(11)}`)
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
