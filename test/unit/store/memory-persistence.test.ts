/**
 * The memory store's journal and snapshot: what a restart restores, damaged files, compaction while
 * writes continue, and that compaction of a large store lets the event loop run between chunks
 * (how long it holds the loop is measured by `npm run bench:store`, not asserted here).
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, it } from 'node:test'
import {
  createMemoryStoreWithPersistence,
  type MemoryStoreOptions,
} from '../../../src/store/memory/create-memory-store.js'
import { LOCK_FILE_NAME } from '../../../src/store/memory/dir-lock.js'
import { SNAPSHOT_FILE_NAME } from '../../../src/store/memory/snapshot-file.js'
import type { PersistenceTuning, StorePersistence } from '../../../src/store/memory/store-persistence.js'
import type { AppraisalRecord, Session, Store } from '../../../src/store/types.js'

const JOURNAL = /^journal-\d{12}\.jsonl$/

function session(overrides: Partial<Session> = {}): Session {
  return {
    id: randomUUID(),
    tenant: 'default',
    nonce: new Uint8Array(randomBytes(32)),
    status: 'waiting',
    expiresAt: Date.now() + 60_000,
    accept: ['application/eat+cwt'],
    ...overrides,
  }
}

/** A record of about 2.5 KB, the size of a real appraisal record. */
function record(overrides: Partial<AppraisalRecord> = {}): AppraisalRecord {
  return {
    id: randomUUID(),
    tenant: 'default',
    status: 'complete',
    createdAt: Date.now(),
    completedAt: Date.now(),
    outcome: { status: 'affirming', trustVector: { 'instance-identity': 2, executables: 2, hardware: 2 } },
    ear: randomBytes(1800).toString('base64url'),
    ...overrides,
  }
}

/**
 * A clock that moves only when the test moves it (from the wall time at its creation), so that what
 * has expired does not depend on how fast the machine runs the test.
 */
function testClock(): { nowMs: () => number; advanceMs: (ms: number) => void } {
  let nowMs = Date.now()
  return { nowMs: () => nowMs, advanceMs: (ms) => void (nowMs += ms) }
}

describe('memory store journal and snapshot', () => {
  let dataDir: string
  let warnings: string[]
  const open: Store[] = []

  function openStore(
    options: MemoryStoreOptions = {},
    tuning: Partial<PersistenceTuning> = {},
    dir = dataDir,
  ): { store: Store; persistence: StorePersistence } {
    const opened = createMemoryStoreWithPersistence(
      { dataDir: dir, onWarning: (message) => warnings.push(message), ...options },
      tuning,
    )
    open.push(opened.store)
    assert.ok(opened.persistence !== undefined)
    return { store: opened.store, persistence: opened.persistence }
  }

  async function journals(dir = dataDir): Promise<string[]> {
    return (await readdir(dir)).filter((name) => JOURNAL.test(name)).sort()
  }

  /**
   * Waits until the journals on disk hold every one of `ids` (the background writer appends them on
   * its own schedule, later on a busy machine); fails after 1,000 polls.
   */
  async function untilJournaled(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      const names = await journals()
      const text = (await Promise.all(names.map((name) => readFile(join(dataDir, name), 'utf8')))).join('')
      if (ids.every((id) => text.includes(id))) return
      await sleep(10)
    }
    assert.fail(`the journals never held all of ${ids.length} id(s)`)
  }

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'assay-journal-'))
    warnings = []
  })

  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((store) => store.close()))
    await rm(dataDir, { recursive: true, force: true })
  })

  it('restores exactly the live sessions and records after many changes and compactions', async () => {
    const clock = testClock()
    const tuning = { compactMinBytes: 64 * 1024, compactRatio: 1, chunkEntries: 7 }
    const { store } = openStore({ nowMs: clock.nowMs, writeIntervalMs: 2 }, tuning)
    const records = new Map<string, { record: AppraisalRecord; expiresAt: number }>()
    const sessions = new Map<string, Session | undefined>()
    const recordIds = Array.from({ length: 300 }, () => randomUUID())
    const sessionIds = Array.from({ length: 200 }, () => randomUUID())
    let seed = 7
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    for (let i = 0; i < 4000; i++) {
      const op = random(10)
      if (op < 5) {
        const id = recordIds[random(recordIds.length)]!
        const ttlSeconds = random(4) === 0 ? 1 : 60
        const put = record({ id, status: random(2) === 0 ? 'queued' : 'complete', createdAt: i })
        await store.results.put(put, ttlSeconds)
        // The first record of an appraisal wins until it expires (ResultStore.put).
        const current = records.get(id)
        if (current === undefined || current.expiresAt <= clock.nowMs()) {
          records.set(id, { record: put, expiresAt: clock.nowMs() + ttlSeconds * 1000 })
        }
      } else {
        const id = sessionIds[random(sessionIds.length)]!
        const current = sessions.get(id)
        if (current === undefined || op === 5) {
          const created = session({ id, expiresAt: clock.nowMs() + (random(4) === 0 ? 1000 : 60_000) })
          await store.sessions.create(created)
          sessions.set(id, created)
        } else if (op === 6 && current.status === 'waiting') {
          const submission = { appraisalId: randomUUID(), evidenceMediaType: 'a/b', evidenceDigest: 'AA==' }
          await store.sessions.claim('default', id, submission)
          sessions.set(id, { ...current, status: 'processing', ...submission })
        } else if (op === 7 && current.status !== 'waiting') {
          const status = random(2) === 0 ? 'complete' : 'failed'
          await store.sessions.finish('default', id, status)
          sessions.set(id, { ...current, status })
        } else if (op === 8) {
          await store.sessions.delete('default', id)
          sessions.set(id, undefined)
        }
      }
      if (i % 50 === 0) await sleep(1)
      // 4 s of the test's time over the run: entries of 1 s expire along the way, whatever the speed.
      clock.advanceMs(1)
    }
    await store.close()
    assert.deepEqual(warnings, [])
    assert.ok((await readdir(dataDir)).includes(SNAPSHOT_FILE_NAME), 'compacted at least once')

    clock.advanceMs(1500)
    const { store: restarted } = openStore({ nowMs: clock.nowMs })
    const now = clock.nowMs()
    for (const id of recordIds) {
      const expected = records.get(id)
      const live = expected !== undefined && expected.expiresAt > now ? expected.record : undefined
      assert.deepEqual(await restarted.results.get('default', id), live, `record ${id}`)
    }
    for (const id of sessionIds) {
      const expected = sessions.get(id)
      const live = expected !== undefined && expected.expiresAt > now ? expected : undefined
      assert.deepEqual(await restarted.sessions.get('default', id), live, `session ${id}`)
    }
    assert.deepEqual(warnings, [])
  })

  it('restores what was appended before a crash, without close', async () => {
    const { store } = openStore({ writeIntervalMs: 5 })
    const stored = Array.from({ length: 200 }, () => record())
    for (const r of stored) await store.results.put(r, 60)
    await untilJournaled(stored.map((r) => r.id))
    // A copy of the directory as it is now stands for the disk of a process that died here.
    const crashed = await mkdtemp(join(tmpdir(), 'assay-journal-crash-'))
    try {
      await cp(dataDir, crashed, { recursive: true })
      // The dead process's lock is left behind; a pid above the kernel's pid_max never runs.
      await writeFile(join(crashed, LOCK_FILE_NAME), '99999999\n')
      const { store: restarted } = openStore({}, {}, crashed)
      for (const r of stored) assert.deepEqual(await restarted.results.get('default', r.id), r)
      await restarted.close()
    } finally {
      await rm(crashed, { recursive: true, force: true })
    }
    assert.deepEqual(warnings, [])
  })

  it('ignores a torn last journal line with a warning, and compacts it away', async () => {
    const { store } = openStore()
    const kept = [record(), record()]
    for (const r of kept) await store.results.put(r, 60)
    await store.close()
    const [journal] = await journals()
    assert.ok(journal !== undefined)
    const torn = record()
    const cut = `{"op":"put","expiresAt":${Date.now() + 60_000},"record":{"id":"${torn.id}"`
    await appendFile(join(dataDir, journal), cut)

    const { store: restarted, persistence } = openStore()
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /journal-\d+\.jsonl: ignored a last line cut short \(\d+ bytes\)/)
    for (const r of kept) assert.deepEqual(await restarted.results.get('default', r.id), r)
    assert.equal(await restarted.results.get('default', torn.id), undefined)
    await persistence.compact()
    assert.ok(!(await journals()).includes(journal), 'the torn journal is deleted once compacted')
    await restarted.close()

    openStore()
    assert.equal(warnings.length, 1, 'no warning at the next start')
  })

  it('skips a journal line that does not decode, and moves that journal aside instead of deleting it', async () => {
    const { store } = openStore()
    const before = record()
    const after = record()
    await store.results.put(before, 60)
    await store.close()
    const [journal] = await journals()
    await appendFile(join(dataDir, journal!), '{"op":"put","expiresAt":1,"record":{"id":"../x"}}\n')
    const { store: second } = openStore()
    await second.results.put(after, 60)
    await second.close()

    const { store: third, persistence } = openStore()
    const corrupt = /is corrupt: skipped 1 line\(s\) .*line 2: record: bad id/
    assert.ok(warnings.some((w) => corrupt.test(w)), warnings.join())
    assert.deepEqual(await third.results.get('default', before.id), before)
    assert.deepEqual(await third.results.get('default', after.id), after)
    await persistence.compact()
    const names = await readdir(dataDir)
    assert.equal(names.filter((name) => name.startsWith(`${journal!}.corrupt-`)).length, 1)
    assert.ok(!names.includes(journal!))
  })

  it('loses nothing written while a compaction runs', async () => {
    const tuning = { compactMinBytes: Number.MAX_SAFE_INTEGER, chunkEntries: 5 }
    const { store, persistence } = openStore({ writeIntervalMs: 1 }, tuning)
    const early = Array.from({ length: 1000 }, () => record({ status: 'queued' }))
    for (const r of early) await store.results.put(r, 60)
    const late: AppraisalRecord[] = []
    let compacting = true
    let writtenDuring = 0
    const compaction = persistence.compact().finally(() => (compacting = false))
    for (let i = 0; compacting || i < 100; i++) {
      const r = record()
      late.push(r)
      await store.results.put(r, 60)
      // Half the early records are put again too, some after the snapshot already holds them: the
      // first record wins, so the put answers with it and nothing changes.
      if (i < early.length / 2) {
        const done: AppraisalRecord = { ...early[i * 2]!, status: 'complete' }
        assert.deepEqual(await store.results.put(done, 60), early[i * 2])
      }
      if (compacting) writtenDuring++
      if (i % 3 === 0) await nextTurn()
    }
    await compaction
    assert.ok(writtenDuring >= 50, `only ${writtenDuring} writes overlapped the compaction`)
    await store.close()
    const snapshot = await readFile(join(dataDir, SNAPSHOT_FILE_NAME), 'utf8')
    assert.match(snapshot, /^\{"format":"assay-memory-store","version":2,"journal":1\}\n/)
    assert.deepEqual(await journals(), ['journal-000000000001.jsonl'], 'the covered journal is deleted')

    const { store: restarted } = openStore()
    for (const r of [...early, ...late]) assert.deepEqual(await restarted.results.get('default', r.id), r)
    assert.deepEqual(warnings, [])
  })

  it('moves a corrupt snapshot aside and starts from the journals', async () => {
    const { store, persistence } = openStore({ writeIntervalMs: 5 })
    const inSnapshot = session()
    const inJournal = session()
    await store.sessions.create(inSnapshot)
    // Appended first, so the compaction deletes the only journal that holds it.
    await untilJournaled([inSnapshot.id])
    await persistence.compact()
    await store.sessions.create(inJournal)
    await store.close()
    const path = join(dataDir, SNAPSHOT_FILE_NAME)
    // Cut before its end line, as a disk that lost the last block would leave it.
    const text = await readFile(path, 'utf8')
    const damaged = text.slice(0, text.lastIndexOf('{"end"'))
    await writeFile(path, damaged)

    const { store: restarted } = openStore()
    assert.equal(warnings.length, 1)
    const movedAside = /store\.json is corrupt \(truncated: no valid end line\); moved it to .*store\.json\.corrupt-/
    assert.match(warnings[0]!, movedAside)
    const aside = (await readdir(dataDir)).filter((name) => name.startsWith(`${SNAPSHOT_FILE_NAME}.corrupt-`))
    assert.equal(aside.length, 1)
    assert.equal(await readFile(join(dataDir, aside[0]!), 'utf8'), damaged, 'kept as it was')
    assert.deepEqual(await restarted.sessions.get('default', inJournal.id), inJournal)
    assert.equal(await restarted.sessions.get('default', inSnapshot.id), undefined)
  })

  it('reads a snapshot of version 1, written by earlier releases', async () => {
    const submission = { appraisalId: randomUUID(), evidenceMediaType: 'a/b', evidenceDigest: 'AA==' }
    const s = session({ status: 'processing', ...submission })
    const r = record()
    const nonce = Buffer.from(s.nonce).toString('base64')
    const v1 =
      `{"format":"assay-memory-store","version":1,\n"sessions":[${JSON.stringify({ ...s, nonce })}],\n` +
      `"results":[{"expiresAt":${Date.now() + 60_000},"record":${JSON.stringify(r)}}]}\n`
    await writeFile(join(dataDir, SNAPSHOT_FILE_NAME), v1)
    const { store } = openStore()
    assert.deepEqual(await store.sessions.get('default', s.id), s)
    assert.deepEqual(await store.results.get('default', r.id), r)
    assert.deepEqual(warnings, [])
  })

  it('keeps changes while the disk fails and writes them once it works again', async () => {
    const { store } = openStore({ writeIntervalMs: 5 }, { retryMs: 20 })
    await rm(dataDir, { recursive: true, force: true })
    const stored = [record(), record()]
    await store.results.put(stored[0]!, 60)
    for (let i = 0; i < 1000 && warnings.length === 0; i++) await sleep(10)
    assert.match(warnings[0] ?? '', /cannot write/)
    await store.results.put(stored[1]!, 60)
    await mkdir(dataDir)
    for (let i = 0; i < 1000 && warnings.length === 1; i++) await sleep(10)
    assert.match(warnings[1] ?? '', /succeed again/)
    await store.close()

    const { store: restarted } = openStore()
    for (const r of stored) assert.deepEqual(await restarted.results.get('default', r.id), r)
    assert.equal(warnings.length, 2)
  })

  it('lets the event loop run between snapshot chunks while writes continue (timings: npm run bench:store)', async () => {
    const RECORDS = 10_000
    const CHUNK = 100
    const { store, persistence } = openStore(
      { maxBytes: 1024 * 1024 * 1024, maxResults: 1_000_000 },
      { compactMinBytes: Number.MAX_SAFE_INTEGER, chunkEntries: CHUNK },
    )
    const ids: string[] = []
    while (ids.length < RECORDS) {
      const r = record()
      ids.push(r.id)
      await store.results.put(r, 600)
      if (ids.length % 100 === 0) await nextTurn()
    }

    // Counts the turns of the event loop while the compaction runs: an immediate that re-arms itself
    // runs once per turn, and a compaction that held the loop from start to end would see none.
    let turns = 0
    let ticking = true
    const tick = (): void => {
      turns++
      if (ticking) setImmediate(tick)
    }
    let done = false
    let timerFiredBeforeEnd = false
    const compaction = persistence.compact().finally(() => (done = true))
    setImmediate(tick)
    setTimeout(() => (timerFiredBeforeEnd = !done), 0)
    let writtenDuring = 0
    while (!done) {
      const r = record()
      ids.push(r.id)
      await store.results.put(r, 600)
      writtenDuring++
      await nextTurn()
    }
    await compaction
    ticking = false
    const minChunks = Math.floor(RECORDS / CHUNK)

    assert.ok(timerFiredBeforeEnd, 'a timer set when the compaction started fired only after it ended')
    assert.ok(turns >= minChunks / 2, `the event loop turned ${turns} times during a compaction of at least ${minChunks} chunks`)
    assert.ok(writtenDuring > 0, 'no write went through while the compaction ran')
    await store.close()
    const snapshotBytes = (await readFile(join(dataDir, SNAPSHOT_FILE_NAME))).length
    assert.ok(snapshotBytes > RECORDS * 2000, `snapshot of ${snapshotBytes} bytes holds every record`)
    const { store: restarted } = openStore()
    for (const id of ids) assert.ok(await restarted.results.get('default', id), `record ${id} lost`)
  })
})
