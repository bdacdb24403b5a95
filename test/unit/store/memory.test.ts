import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import { createMemoryStore, type MemoryStoreOptions } from '../../../src/store/memory/create-memory-store.js'
import { LOCK_FILE_NAME } from '../../../src/store/memory/dir-lock.js'
import { SNAPSHOT_FILE_NAME } from '../../../src/store/memory/snapshot-file.js'
import type { AppraisalRecord, Session, Store } from '../../../src/store/types.js'
import { storeContract } from './contract.js'

/** Wall time plus an offset the test moves forward. */
function testClock(): { nowMs: () => number; advanceMs: (ms: number) => Promise<void> } {
  let offsetMs = 0
  return {
    nowMs: () => Date.now() + offsetMs,
    advanceMs: async (ms) => {
      offsetMs += ms
    },
  }
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'assay-store-'))
}

storeContract('memory', async () => {
  const clock = testClock()
  const store = createMemoryStore({ nowMs: clock.nowMs, nonceRecallSeconds: 1 })
  return { store, cleanup: () => store.close(), advanceMs: clock.advanceMs, nonceRecallSeconds: 1 }
})

storeContract('memory with a data directory', async () => {
  const clock = testClock()
  const dataDir = await tempDir()
  const warnings: string[] = []
  const store = createMemoryStore({ dataDir, nowMs: clock.nowMs, onWarning: (message) => warnings.push(message), nonceRecallSeconds: 1 })
  return {
    store,
    advanceMs: clock.advanceMs,
    nonceRecallSeconds: 1,
    cleanup: async () => {
      await store.close()
      await rm(dataDir, { recursive: true, force: true })
      assert.deepEqual(warnings, [])
    },
  }
})

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

function record(overrides: Partial<AppraisalRecord> = {}): AppraisalRecord {
  const base = { id: randomUUID(), tenant: 'default', status: 'complete', createdAt: Date.now() } as const
  return { ...base, outcome: { ok: true }, ...overrides }
}

describe('memory store persistence', () => {
  let dataDir: string
  let warnings: string[]
  const open: Store[] = []

  /**
   * What a restart would find in `dataDir` now, read by a second store from a copy of it while the
   * first one runs (the directory itself is locked; the copy's warnings are not collected: it may
   * catch an append in progress).
   */
  async function onDisk<T>(read: (store: Store) => Promise<T>): Promise<T> {
    const copy = await tempDir()
    await cp(dataDir, copy, { recursive: true, filter: (source) => !source.endsWith(LOCK_FILE_NAME) })
    const peek = createMemoryStore({ dataDir: copy, onWarning: () => {} })
    try {
      return await read(peek)
    } finally {
      await peek.close()
      await rm(copy, { recursive: true, force: true })
    }
  }

  /** A store on `dataDir` that records its warnings; closed after each test. */
  function openStore(options: MemoryStoreOptions = {}): Store {
    const store = createMemoryStore({ dataDir, onWarning: (message) => warnings.push(message), ...options })
    open.push(store)
    return store
  }

  beforeEach(async () => {
    dataDir = await tempDir()
    warnings = []
  })

  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((store) => store.close()))
    await rm(dataDir, { recursive: true, force: true })
  })

  it('restarts with the sessions and records, but not the nonces', async () => {
    const first = openStore()
    const waiting = session()
    const claimed = session({ tenant: 'tenant-b' })
    const submission = { appraisalId: randomUUID(), evidenceMediaType: 'application/eat+cwt', evidenceDigest: 'AAEC' }
    const stored = record({ ear: 'a.b.c' })
    const nonce = new Uint8Array(randomBytes(16))
    await first.sessions.create(waiting)
    await first.sessions.create(claimed)
    await first.sessions.claim('tenant-b', claimed.id, submission)
    await first.results.put(stored, 60)
    await first.nonces.issue('default', nonce, 60)
    await first.close()

    const second = openStore()
    assert.deepEqual(await second.sessions.get('default', waiting.id), waiting)
    const expectedClaimed = { ...claimed, status: 'processing', ...submission }
    assert.deepEqual(await second.sessions.get('tenant-b', claimed.id), expectedClaimed)
    assert.deepEqual(await second.results.get('default', stored.id), stored)
    assert.equal(await second.nonces.consume('default', nonce), 'unknown', 'nonces are not persisted: one issued before a restart is unknown')
    assert.deepEqual(warnings, [])
  })

  it('writes changes within the write interval, without waiting for close', async () => {
    const store = openStore({ writeIntervalMs: 20 })
    const created = session()
    await store.sessions.create(created)
    let written: Session | undefined
    for (let i = 0; i < 1000 && written === undefined; i++) {
      await sleep(20)
      written = await onDisk((peek) => peek.sessions.get('default', created.id))
    }
    assert.deepEqual(written, created, 'creation written')
    await store.sessions.delete('default', created.id)
    for (let i = 0; i < 1000 && written !== undefined; i++) {
      await sleep(20)
      written = await onDisk((peek) => peek.sessions.get('default', created.id))
    }
    assert.equal(written, undefined, 'deletion written')
    const names = await readdir(dataDir)
    const known = (name: string): boolean =>
      name === SNAPSHOT_FILE_NAME || name === LOCK_FILE_NAME || /^journal-\d{12}\.jsonl$/.test(name)
    assert.deepEqual(names.filter((name) => !known(name)), [], 'no temporary file left behind')
  })

  it('writes the last of a stream of changes made while earlier writes were running', async () => {
    const store = openStore({ writeIntervalMs: 1 })
    const ids: string[] = []
    for (let i = 0; i < 40; i++) {
      const created = session()
      ids.push(created.id)
      await store.sessions.create(created)
      await sleep(1)
    }
    const written = async (): Promise<boolean[]> =>
      onDisk((peek) => Promise.all(ids.map(async (id) => (await peek.sessions.get('default', id)) !== undefined)))
    let found = await written()
    for (let i = 0; i < 1000 && !found.every(Boolean); i++) {
      await sleep(20)
      found = await written()
    }
    assert.ok(found.every(Boolean), 'every session written without close')
  })

  it('moves aside a snapshot path it cannot read (here a directory)', async () => {
    await mkdir(join(dataDir, SNAPSHOT_FILE_NAME))
    const store = openStore()
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /cannot be read .*moved it to/)
    await store.results.put(record(), 60)
    await store.close()
    assert.equal((await readdir(dataDir)).length, 2)
  })

  it('drops entries that expired while it was down', async () => {
    const clock = testClock()
    const first = openStore({ nowMs: clock.nowMs })
    const [shortSession, longSession] = [session({ expiresAt: Date.now() + 1000 }), session()]
    const [shortRecord, longRecord] = [record(), record()]
    await first.sessions.create(shortSession)
    await first.sessions.create(longSession)
    await first.results.put(shortRecord, 1)
    await first.results.put(longRecord, 60)
    await first.close()

    await clock.advanceMs(2000)
    const second = openStore({ nowMs: clock.nowMs })
    assert.equal(await second.sessions.get('default', shortSession.id), undefined)
    assert.deepEqual(await second.sessions.get('default', longSession.id), longSession)
    assert.equal(await second.results.get('default', shortRecord.id), undefined)
    assert.deepEqual(await second.results.get('default', longRecord.id), longRecord)
  })

  for (const [what, text] of [
    ['not JSON', '{"format":"assay-memory-store","vers'],
    ['JSON of another shape', '{"sessions":[],"results":[]}'],
    [
      'a snapshot with one bad session',
      '{"format":"assay-memory-store","version":1,' +
        '"sessions":[{"id":"x","tenant":"default","nonce":"!!"}],"results":[]}',
    ],
    [
      'a snapshot with one bad record',
      '{"format":"assay-memory-store","version":1,' +
        '"sessions":[],"results":[{"expiresAt":1,"record":{"id":"a:b"}}]}',
    ],
  ] as const) {
    it(`moves aside a file that is ${what}, warns, and starts empty`, async () => {
      await writeFile(join(dataDir, SNAPSHOT_FILE_NAME), text)
      const store = openStore()
      assert.equal(warnings.length, 1)
      assert.match(warnings[0]!, /is corrupt .*moved it to .*store\.json\.corrupt-/)
      const names = await readdir(dataDir)
      const aside = names.filter((name) => name.startsWith(`${SNAPSHOT_FILE_NAME}.corrupt-`))
      assert.equal(aside.length, 1)
      assert.equal(await readFile(join(dataDir, aside[0]!), 'utf8'), text)

      const created = session()
      await store.sessions.create(created)
      await store.close()
      assert.equal(await readFile(join(dataDir, aside[0]!), 'utf8'), text, 'the corrupt file is not overwritten')
      const reopened = openStore()
      assert.deepEqual(await reopened.sessions.get('default', created.id), created)
      assert.equal(warnings.length, 1)
    })
  }

  it('removes temporary files a crash left behind', async () => {
    await writeFile(join(dataDir, `${SNAPSHOT_FILE_NAME}.tmp-99999-0`), '{"half":')
    openStore()
    assert.deepEqual(await readdir(dataDir), [LOCK_FILE_NAME])
  })

  it('warns once when background writes fail, and close reports ERR_STORE_PERSIST_FAILED', async () => {
    const store = openStore({ writeIntervalMs: 5 })
    await rm(dataDir, { recursive: true, force: true })
    await store.sessions.create(session())
    for (let i = 0; i < 1000 && warnings.length === 0; i++) await sleep(10)
    await store.sessions.create(session())
    await sleep(50)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /cannot write/)
    await assert.rejects(store.close(), (err) => isVerifierError(err, 'ERR_STORE_PERSIST_FAILED'))
  })
})

describe('memory store bounds', () => {
  it('refuses a nonce past the cap with ERR_STORE_FULL, and every live nonce stays usable', async () => {
    const store = createMemoryStore({ maxNonces: 2 })
    const [a, b, c] = [1, 2, 3].map(() => new Uint8Array(randomBytes(8))) as [Uint8Array, Uint8Array, Uint8Array]
    await store.nonces.issue('default', a, 60)
    await store.nonces.issue('default', b, 10)
    await assert.rejects(store.nonces.issue('default', c, 30), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    await store.nonces.issue('default', a, 60)
    assert.equal(await store.nonces.consume('default', b), 'consumed')
    assert.equal(await store.nonces.consume('default', a), 'consumed')
    assert.equal(await store.nonces.consume('default', c), 'unknown')
    // A used nonce frees its room at once (only a small marker of who used it stays, for retries).
    await store.nonces.issue('default', c, 30)
    assert.equal(await store.nonces.consume('default', c), 'consumed')
    // The markers of a and b fill the map of past nonces: c's marker is not kept, so its replay
    // reads as unknown, and is refused all the same.
    assert.equal(await store.nonces.consume('default', a), 'used')
    assert.equal(await store.nonces.consume('default', c), 'unknown')
    await store.close()
  })

  it('refuses sessions and records past the cap; the live ones stay, and expired ones make room', async () => {
    const clock = testClock()
    const store = createMemoryStore({ maxSessions: 2, maxResults: 2, nowMs: clock.nowMs })
    const now = Date.now()
    const sessions = [60_000, 10_000, 30_000].map((ms) => session({ expiresAt: now + ms }))
    await store.sessions.create(sessions[0]!)
    await store.sessions.create(sessions[1]!)
    await assert.rejects(store.sessions.create(sessions[2]!), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    assert.deepEqual(
      await Promise.all(sessions.map(async (s) => (await store.sessions.get('default', s.id)) !== undefined)),
      [true, true, false],
    )
    const records = [record(), record(), record()]
    await store.results.put(records[0]!, 60)
    await store.results.put(records[1]!, 10)
    await assert.rejects(store.results.put(records[2]!, 30), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    assert.deepEqual(
      await Promise.all(records.map(async (r) => (await store.results.get('default', r.id)) !== undefined)),
      [true, true, false],
    )
    await clock.advanceMs(11_000)
    await store.sessions.create(sessions[2]!)
    await store.results.put(records[2]!, 30)
    assert.deepEqual(await store.results.get('default', records[2]!.id), records[2])
    await store.close()
  })

  it('bounds sessions by bytes: a session keeps its Evidence digest, so its size does not grow with the Evidence', async () => {
    const store = createMemoryStore({ maxBytes: 64 * 1024 })
    let created = 0
    for (;;) {
      try {
        await store.sessions.create(session())
        created++
      } catch (err) {
        assert.ok(isVerifierError(err, 'ERR_STORE_FULL'))
        break
      }
    }
    // A quarter of 64 KiB, at about 1.3 KiB a session.
    assert.ok(created > 5 && created < 16, `${created} sessions`)
    await store.close()
  })

  it('keeps room reserved for results: an unreserved put may not take it, a reserved put always succeeds', async () => {
    const store = createMemoryStore({ maxResults: 3 })
    const [r1, r2, r3, r4] = [record(), record(), record(), record()]
    await store.results.reserve('default', r1.id, 1024)
    await store.results.reserve('default', r2.id, 1024)
    await store.results.put(r3, 60)
    await assert.rejects(store.results.put(r4, 60), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    await assert.rejects(store.results.reserve('default', r4.id, 1024), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    await store.results.put(r1, 60)
    await store.results.put(r2, 60)
    assert.deepEqual(await store.results.get('default', r1.id), r1)
    assert.deepEqual(await store.results.get('default', r2.id), r2)
    await store.close()

    const small = createMemoryStore({ maxBytes: 80 * 1024 })
    const big = record({ outcome: { padding: 'x'.repeat(20 * 1024) } })
    await small.results.reserve('default', big.id, 1024)
    const other = record({ outcome: { padding: 'y'.repeat(49 * 1024) } })
    await assert.rejects(small.results.put(other, 60), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    await small.results.put(big, 60)
    assert.deepEqual(await small.results.get('default', big.id), big, 'stored although larger than reserved')
    await small.close()
  })

  it('loads every live entry from its data directory, even past the bounds it now has', async () => {
    const dataDir = await tempDir()
    const first = createMemoryStore({ dataDir })
    const sessions = [session(), session(), session()]
    for (const s of sessions) await first.sessions.create(s)
    await first.close()
    const second = createMemoryStore({ dataDir, maxSessions: 1 })
    for (const s of sessions) assert.deepEqual(await second.sessions.get('default', s.id), s)
    await assert.rejects(second.sessions.create(session()), (err) => isVerifierError(err, 'ERR_STORE_FULL'))
    await second.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('locks its data directory: a second store on it fails with ERR_STORE_LOCKED until the first closes', async () => {
    const dataDir = await tempDir()
    const first = createMemoryStore({ dataDir })
    assert.equal((await readFile(join(dataDir, LOCK_FILE_NAME), 'utf8')).trim(), String(process.pid))
    assert.throws(() => createMemoryStore({ dataDir }), (err) => isVerifierError(err, 'ERR_STORE_LOCKED'))
    await first.close()
    assert.deepEqual(await readdir(dataDir), [], 'the lock is released on close')
    const second = createMemoryStore({ dataDir })
    await second.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('takes over a lock left by a process that no longer runs, and not one of a running process', async () => {
    const dataDir = await tempDir()
    // A pid above the kernel's pid_max (at most 2^22) never runs.
    await writeFile(join(dataDir, LOCK_FILE_NAME), '99999999\n')
    const store = createMemoryStore({ dataDir })
    assert.equal((await readFile(join(dataDir, LOCK_FILE_NAME), 'utf8')).trim(), String(process.pid))
    await store.close()
    // pid 1 always runs (as another user: EPERM counts as running).
    await writeFile(join(dataDir, LOCK_FILE_NAME), '1\n')
    assert.throws(() => createMemoryStore({ dataDir }), (err) => isVerifierError(err, 'ERR_STORE_LOCKED') && /process 1\b/.test(err.message))
    await rm(dataDir, { recursive: true, force: true })
  })

  it('answers ping with true and closes twice without error', async () => {
    const store = createMemoryStore()
    assert.equal(await store.ping(), true)
    await store.close()
    await store.close()
  })
})
