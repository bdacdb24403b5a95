import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import { createMemoryStore, type MemoryStoreOptions } from '../../../src/store/memory/create-memory-store.js'
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
  const store = createMemoryStore({ nowMs: clock.nowMs })
  return { store, cleanup: () => store.close(), advanceMs: clock.advanceMs }
})

storeContract('memory with a data directory', async () => {
  const clock = testClock()
  const dataDir = await tempDir()
  const warnings: string[] = []
  const store = createMemoryStore({ dataDir, nowMs: clock.nowMs, onWarning: (message) => warnings.push(message) })
  return {
    store,
    advanceMs: clock.advanceMs,
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
   * What a restart would find in `dataDir` now, read by a second store while the first one runs (its
   * warnings are not collected: it may see an append in progress).
   */
  async function onDisk<T>(read: (store: Store) => Promise<T>): Promise<T> {
    const peek = createMemoryStore({ dataDir, onWarning: () => {} })
    try {
      return await read(peek)
    } finally {
      await peek.close()
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
    const submission = { appraisalId: randomUUID(), evidenceMediaType: 'application/eat+cwt', evidence: 'AAEC' }
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
    assert.equal(await second.nonces.consume('default', nonce), false)
    assert.deepEqual(warnings, [])
  })

  it('writes changes within the write interval, without waiting for close', async () => {
    const store = openStore({ writeIntervalMs: 20 })
    const created = session()
    await store.sessions.create(created)
    let written: Session | undefined
    for (let i = 0; i < 100 && written === undefined; i++) {
      await sleep(20)
      written = await onDisk((peek) => peek.sessions.get('default', created.id))
    }
    assert.deepEqual(written, created, 'creation written')
    await store.sessions.delete('default', created.id)
    for (let i = 0; i < 100 && written !== undefined; i++) {
      await sleep(20)
      written = await onDisk((peek) => peek.sessions.get('default', created.id))
    }
    assert.equal(written, undefined, 'deletion written')
    const names = await readdir(dataDir)
    const known = (name: string): boolean => name === SNAPSHOT_FILE_NAME || /^journal-\d{12}\.jsonl$/.test(name)
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
    for (let i = 0; i < 100 && !found.every(Boolean); i++) {
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
    assert.deepEqual(await readdir(dataDir), [])
  })

  it('warns once when background writes fail, and close reports ERR_STORE_PERSIST_FAILED', async () => {
    const store = openStore({ writeIntervalMs: 5 })
    await rm(dataDir, { recursive: true, force: true })
    await store.sessions.create(session())
    for (let i = 0; i < 100 && warnings.length === 0; i++) await sleep(10)
    await store.sessions.create(session())
    await sleep(50)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /cannot write/)
    await assert.rejects(store.close(), (err) => isVerifierError(err, 'ERR_STORE_PERSIST_FAILED'))
  })
})

describe('memory store bounds', () => {
  it('evicts the nonce that expires soonest when full', async () => {
    const store = createMemoryStore({ maxNonces: 2 })
    const [a, b, c] = [1, 2, 3].map(() => new Uint8Array(randomBytes(8))) as [Uint8Array, Uint8Array, Uint8Array]
    await store.nonces.issue('default', a, 60)
    await store.nonces.issue('default', b, 10)
    await store.nonces.issue('default', c, 30)
    assert.equal(await store.nonces.consume('default', b), false)
    assert.equal(await store.nonces.consume('default', a), true)
    assert.equal(await store.nonces.consume('default', c), true)
    await store.close()
  })

  it('evicts the session and the record that expire soonest when full', async () => {
    const store = createMemoryStore({ maxSessions: 2, maxResults: 2 })
    const now = Date.now()
    const sessions = [60_000, 10_000, 30_000].map((ms) => session({ expiresAt: now + ms }))
    for (const s of sessions) await store.sessions.create(s)
    assert.deepEqual(
      await Promise.all(sessions.map(async (s) => (await store.sessions.get('default', s.id)) !== undefined)),
      [true, false, true],
    )
    const records = [record(), record(), record()]
    await store.results.put(records[0]!, 60)
    await store.results.put(records[1]!, 10)
    await store.results.put(records[2]!, 30)
    assert.deepEqual(
      await Promise.all(records.map(async (r) => (await store.results.get('default', r.id)) !== undefined)),
      [true, false, true],
    )
    await store.close()
  })

  it('answers ping with true and closes twice without error', async () => {
    const store = createMemoryStore()
    assert.equal(await store.ping(), true)
    await store.close()
    await store.close()
  })
})
