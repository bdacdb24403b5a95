/**
 * The audit store contract against the embedded adapter (in memory, and with files), plus what
 * only the files have: a restart, a torn last line, a last line that does not decode, paging by
 * binary search over a long file, and the lock.
 */
import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { canonicalJson, type AuditEntryInput } from '../../../src/audit/entry.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { auditEntries } from '../../../src/store/audit.js'
import { AUDIT_DIR, createMemoryAuditStore } from '../../../src/store/memory/audit-store.js'
import { auditContract } from './audit-contract.js'

const dirs: string[] = []
const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-audit-'))
  dirs.push(dir)
  return dir
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

auditContract('memory', async () => ({ open: async () => createMemoryAuditStore(), shared: false, cleanup: async () => {} }))
auditContract('files', async () => {
  const dataDir = newDir()
  return { open: async () => createMemoryAuditStore({ dataDir }), shared: false, cleanup: async () => {} }
})

const T = 'acme'
const entry = (n: number, extra: Partial<AuditEntryInput> = {}): AuditEntryInput => ({ time: n, actor: 'op', action: 'policy.activate', details: { n }, ...extra })

describe('embedded audit store: the files', () => {
  it('writes one canonical JSON line per entry and continues the chain after a restart', async () => {
    const dataDir = newDir()
    const first = createMemoryAuditStore({ dataDir })
    const written = []
    for (let n = 1; n <= 5; n++) written.push((await first.append(T, entry(n))).entry)
    await first.close()
    const text = readFileSync(join(dataDir, AUDIT_DIR, `${T}.jsonl`), 'utf8')
    assert.equal(text, written.map((e) => `${canonicalJson(e)}\n`).join(''))
    const second = createMemoryAuditStore({ dataDir })
    assert.deepEqual(await second.head(T), { seq: 5, hash: written[4]!.hash, time: 5, checkpointSeq: 0, checkpointTime: 0 })
    const sixth = await second.append(T, entry(6))
    assert.equal(sixth.entry.prev, written[4]!.hash)
    const all = []
    for await (const e of auditEntries(second, T)) all.push(e)
    assert.equal(verifyChain(T, all, { jwks: { keys: [] } }).problem, undefined)
    await second.close()
  })

  it('cuts off a last line left unfinished by a crash, with a warning, and appends after it', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    await store.append(T, entry(1))
    const two = (await store.append(T, entry(2))).entry
    await store.close()
    const path = join(dataDir, AUDIT_DIR, `${T}.jsonl`)
    appendFileSync(path, '{"v":1,"tenant":"acme","seq":3,"ti')
    const warnings: string[] = []
    const reopened = createMemoryAuditStore({ dataDir, onWarning: (m) => warnings.push(m) })
    const three = (await reopened.append(T, entry(3))).entry
    assert.equal(three.seq, 3)
    assert.equal(three.prev, two.hash)
    assert.match(warnings.join('\n'), /unfinished/)
    assert.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 3)
    await reopened.close()
  })

  it('refuses to append onto a last line that does not decode, and leaves the file as it is', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    await store.append(T, entry(1))
    await store.close()
    const path = join(dataDir, AUDIT_DIR, `${T}.jsonl`)
    appendFileSync(path, '{"not":"an entry"}\n')
    const size = statSync(path).size
    const reopened = createMemoryAuditStore({ dataDir })
    await assert.rejects(reopened.append(T, entry(2)), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    assert.equal(statSync(path).size, size)
    await reopened.close()
  })

  it('pages a line deleted behind its back as a gap, for the verifier to report; a read creates no file', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    for (let n = 1; n <= 4; n++) await store.append(T, entry(n))
    assert.deepEqual(await store.page('nobody'), { entries: [] })
    assert.equal((await store.head('nobody')).seq, 0)
    await store.close()
    assert.ok(!existsSync(join(dataDir, AUDIT_DIR, 'nobody.jsonl')))
    const path = join(dataDir, AUDIT_DIR, `${T}.jsonl`)
    const lines = readFileSync(path, 'utf8').split('\n')
    writeFileSync(path, [...lines.slice(0, 1), ...lines.slice(2)].join('\n'))
    const reopened = createMemoryAuditStore({ dataDir })
    const all = []
    for await (const e of auditEntries(reopened, T)) all.push(e)
    assert.deepEqual(all.map((e) => e.seq), [1, 3, 4])
    assert.equal(verifyChain(T, all, { jwks: { keys: [] } }).problem?.kind, 'missing')
    // Lines moved out of order cannot be paged: the file itself is the export then.
    writeFileSync(path, [lines[0], lines[2], lines[1], lines[3], ''].join('\n'))
    await reopened.close()
    const again = createMemoryAuditStore({ dataDir })
    await assert.rejects(again.page(T), (err: unknown) => isVerifierError(err, 'ERR_STORE_CORRUPT'))
    await again.close()
  })

  it('recovers the last checkpoint from the tail', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    await store.append(T, entry(1))
    await store.append(T, { time: 7, actor: 'assay', action: 'audit.checkpoint', checkpoint: 'eyJ.eyJ.sig' })
    await store.append(T, entry(3))
    await store.close()
    const reopened = createMemoryAuditStore({ dataDir })
    const head = await reopened.head(T)
    assert.deepEqual([head.seq, head.checkpointSeq, head.checkpointTime], [3, 2, 7])
    await reopened.close()
  })

  it('finds any page of a long file, entries of every size', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    const count = 700
    for (let n = 1; n <= count; n++) await store.append(T, entry(n, { details: { pad: 'x'.repeat((n * 37) % 3000) } }))
    await store.close()
    const reopened = createMemoryAuditStore({ dataDir })
    for (const after of [0, 1, 2, 99, 350, 511, 698, 699]) {
      const page = await reopened.page(T, { after, limit: 3 })
      assert.deepEqual(page.entries.map((e) => e.seq), [after + 1, after + 2, after + 3].filter((s) => s <= count), `after ${after}`)
    }
    await reopened.close()
  })

  it('locks its folder against a second store, and an empty file is an empty chain', async () => {
    const dataDir = newDir()
    const store = createMemoryAuditStore({ dataDir })
    assert.throws(() => createMemoryAuditStore({ dataDir }), (err: unknown) => isVerifierError(err, 'ERR_STORE_LOCKED'))
    await store.close()
    writeFileSync(join(dataDir, AUDIT_DIR, 'empty.jsonl'), '')
    const again = createMemoryAuditStore({ dataDir })
    assert.equal((await again.head('empty')).seq, 0)
    await again.close()
  })
})
