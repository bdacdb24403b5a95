/**
 * The endorsement store contract against the in-memory adapter, plus what only it has: the journal
 * in a data directory (restart, torn and corrupt lines, rewriting, the lock).
 */
import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { EndorsementWrite } from '../../../src/store/endorsements.js'
import { ENDORSEMENT_JOURNAL, createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import { endorsementContract } from './endorsement-contract.js'

endorsementContract('memory', async () => ({
  open: async (limits) => createMemoryEndorsementStore(limits === undefined ? {} : { limits }),
  shared: false,
  cleanup: async () => {},
}))

const BY = { createdBy: 'operator', source: 'api' }

function anchor(n: number, extra: Partial<EndorsementWrite> = {}): EndorsementWrite {
  return { kind: 'trust-anchor', body: { n, text: 'é' }, indexIds: [`eat-ueid:0${n}`], ...BY, ...extra }
}

describe('memory endorsement store: the journal', () => {
  const dirs: string[] = []
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-endorse-'))
    dirs.push(dir)
    return dir
  }
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('brings back documents, versions, the index and revisions after a restart', async () => {
    const dataDir = newDir()
    const first = createMemoryEndorsementStore({ dataDir })
    await first.create('a', 'dev-1', anchor(1))
    await first.put('a', 'dev-1', anchor(2, { source: 'file:/srv/ta.json' }))
    await first.create('a', 'dev-2', anchor(3))
    await first.setActive('a', 'dev-2', false, BY)
    await first.create('a', 'dev-3', anchor(4))
    await first.delete('a', 'dev-3', BY)
    await first.create('b', 'dev-1', anchor(1))
    const before = { v: await first.versions('a', 'dev-1'), list: await first.list('a') }
    await first.close()

    const second = createMemoryEndorsementStore({ dataDir })
    try {
      assert.deepEqual(await second.versions('a', 'dev-1'), before.v)
      assert.deepEqual(await second.list('a'), before.list)
      assert.equal(await second.revision('a'), 6)
      assert.equal(await second.revision('b'), 1)
      assert.deepEqual(await second.lookup('a', 'eat-ueid:01'), [])
      assert.deepEqual((await second.lookup('a', 'eat-ueid:02')).map((v) => [v.id, v.version, v.source]), [['dev-1', 2, 'file:/srv/ta.json']])
      assert.deepEqual(await second.lookup('a', 'eat-ueid:03'), [])
      assert.equal((await second.get('a', 'dev-3'))?.deleted, true)
      assert.equal((await second.put('a', 'dev-1', anchor(5))).version, 3)
      assert.equal(await second.revision('a'), 7)
    } finally {
      await second.close()
    }
  })

  it('locks its directory against a second store', async () => {
    const dataDir = newDir()
    const first = createMemoryEndorsementStore({ dataDir })
    try {
      assert.throws(() => createMemoryEndorsementStore({ dataDir }), (err: unknown) => isVerifierError(err, 'ERR_STORE_LOCKED'))
    } finally {
      await first.close()
    }
    await createMemoryEndorsementStore({ dataDir }).close()
  })

  it('ignores a last line cut short by a crash, with a warning, and rewrites the file', async () => {
    const dataDir = newDir()
    const first = createMemoryEndorsementStore({ dataDir })
    await first.create('a', 'dev', anchor(1))
    await first.close()
    const path = join(dataDir, ENDORSEMENT_JOURNAL)
    appendFileSync(path, '{"rev":2,"v":{"tenant":"a"')
    const warnings: string[] = []
    const second = createMemoryEndorsementStore({ dataDir, onWarning: (m) => warnings.push(m) })
    try {
      assert.equal(warnings.length, 1)
      assert.match(warnings[0]!, /cut short/)
      assert.equal((await second.get('a', 'dev'))?.version, 1)
      assert.ok(readFileSync(path, 'utf8').endsWith('\n'))
      await second.put('a', 'dev', anchor(2))
    } finally {
      await second.close()
    }
    const third = createMemoryEndorsementStore({ dataDir, onWarning: (m) => warnings.push(m) })
    assert.equal((await third.get('a', 'dev'))?.version, 2)
    assert.equal(warnings.length, 1)
    await third.close()
  })

  it('skips a line that does not decode, moves the file aside and keeps the rest', async () => {
    const dataDir = newDir()
    const first = createMemoryEndorsementStore({ dataDir })
    await first.create('a', 'one', anchor(1))
    await first.close()
    const path = join(dataDir, ENDORSEMENT_JOURNAL)
    appendFileSync(path, '{"rev":2,"v":{"tenant":"a","id":"two","version":"x"}}\nnot json\n')
    const warnings: string[] = []
    const second = createMemoryEndorsementStore({ dataDir, onWarning: (m) => warnings.push(m) })
    try {
      assert.equal(warnings.length, 1)
      assert.match(warnings[0]!, /skipped 2 line/)
      assert.equal((await second.get('a', 'one'))?.version, 1)
      assert.equal(await second.get('a', 'two'), undefined)
      assert.ok(readdirSync(dataDir).some((name) => name.startsWith(`${ENDORSEMENT_JOURNAL}.corrupt-`)))
      assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1)
    } finally {
      await second.close()
    }
  })

  it('rewrites the journal once pruned versions make up most of it', async () => {
    const dataDir = newDir()
    const store = createMemoryEndorsementStore({ dataDir, limits: { maxVersionsPerDocument: 2 } })
    const path = join(dataDir, ENDORSEMENT_JOURNAL)
    try {
      await store.create('a', 'dev', anchor(1))
      for (let i = 0; i < 1200; i++) await store.put('a', 'dev', anchor(1, { body: { i } }))
      // 1,201 versions were written; 2 are kept, and the file was rewritten on its way.
      const lines = readFileSync(path, 'utf8').trim().split('\n').length
      assert.ok(lines < 1000, `${lines} lines`)
      assert.deepEqual((await store.versions('a', 'dev')).map((v) => v.version), [1200, 1201])
    } finally {
      await store.close()
    }
    const again = createMemoryEndorsementStore({ dataDir, limits: { maxVersionsPerDocument: 2 } })
    try {
      assert.deepEqual((await again.versions('a', 'dev')).map((v) => v.version), [1200, 1201])
      assert.equal(await again.revision('a'), 1201)
      assert.ok(!existsSync(`${path}.tmp-${process.pid}`))
    } finally {
      await again.close()
    }
  })
})
