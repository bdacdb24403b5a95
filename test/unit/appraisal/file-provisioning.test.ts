/**
 * The reference-values folder written into the endorsement store at start (file-provisioning.ts):
 * provenance, idempotence across restarts, entries whose file is gone, and an operator's
 * deactivation that a restart does not undo. Real files in a temporary folder, the embedded store
 * with its journal.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { provisionFromFiles, type LoadedFile } from '../../../src/appraisal/file-provisioning.js'
import { loadReferenceValueDir } from '../../../src/appraisal/reference-values.js'
import { createMemoryEndorsementStore } from '../../../src/store/memory/endorsement-store.js'
import type { EndorsementStore } from '../../../src/store/endorsements.js'
import { generateTestKey } from '../../helpers/cose.js'

const key = generateTestKey('ES256').publicKey.keyObject.export({ format: 'jwk' })
const anchor = (n: number) => ({ instanceId: `01${n.toString(16).padStart(2, '0').repeat(32)}`, key, implementationId: 'any' })
const ANCHOR_ID = (n: number) => `psa-ta-01${n.toString(16).padStart(2, '0').repeat(32)}`

/** Validates the folder as the start does, keeping each parsed file. */
function load(dir: string): LoadedFile[] {
  const files: LoadedFile[] = []
  loadReferenceValueDir(dir, { onDocument: (file, document) => files.push({ file, document }) })
  return files
}

describe('reference-values files written to the endorsement store', () => {
  const dirs: string[] = []
  const stores: EndorsementStore[] = []
  after(async () => {
    for (const s of stores) await s.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const temp = () => {
    const d = mkdtempSync(join(tmpdir(), 'assay-file-prov-'))
    dirs.push(d)
    return d
  }
  const open = (dataDir: string) => {
    const s = createMemoryEndorsementStore({ dataDir })
    stores.push(s)
    return s
  }

  it('entries appear with their file as source; the same files again make no new versions', async () => {
    const dir = temp()
    const dataDir = temp()
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ psa: { trustAnchors: [anchor(2), anchor(3)] } }))
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ tenant: 'acme', psa: { trustAnchors: [anchor(4)] } }))
    let store = open(dataDir)
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 3, replaced: 0, unchanged: 0, reactivated: 0, deactivated: 0 })
    const a = await store.get('default', ANCHOR_ID(2))
    assert.equal(a?.source, `file:${join(dir, 'a.json')}`)
    assert.equal(a?.createdBy, 'file')
    assert.equal(a?.active, true)
    assert.deepEqual(a?.body, anchor(2))
    assert.equal((await store.get('acme', ANCHOR_ID(4)))?.source, `file:${join(dir, 'b.json')}`)
    const revision = await store.revision('default')

    // A restart: the journal is read back, and the same files change nothing.
    await store.close()
    store = open(dataDir)
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 0, replaced: 0, unchanged: 3, reactivated: 0, deactivated: 0 })
    assert.equal(await store.revision('default'), revision)
    assert.equal((await store.versions('default', ANCHOR_ID(2))).length, 1)
  })

  it('an entry whose file is gone is deactivated, and activated again when it comes back', async () => {
    const dir = temp()
    const store = open(temp())
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ psa: { trustAnchors: [anchor(2)] } }))
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ psa: { trustAnchors: [anchor(3)] } }))
    await provisionFromFiles(store, load(dir))
    renameSync(join(dir, 'b.json'), join(dir, 'b.json.off'))
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 0, replaced: 0, unchanged: 1, reactivated: 0, deactivated: 1 })
    assert.equal((await store.get('default', ANCHOR_ID(3)))?.active, false)
    assert.deepEqual(await store.lookup('default', `psa-instance:01${'03'.repeat(32)}`), [])
    assert.equal((await store.get('default', ANCHOR_ID(2)))?.active, true)
    renameSync(join(dir, 'b.json.off'), join(dir, 'b.json'))
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 0, replaced: 0, unchanged: 2, reactivated: 1, deactivated: 0 })
    assert.equal((await store.get('default', ANCHOR_ID(3)))?.active, true)
  })

  it('a process that manages no folder deactivates nothing', async () => {
    const dir = temp()
    const store = open(temp())
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ psa: { trustAnchors: [anchor(2)] } }))
    await provisionFromFiles(store, load(dir))
    assert.equal((await provisionFromFiles(store, [], { deactivateRemoved: false })).deactivated, 0)
    assert.equal((await store.get('default', ANCHOR_ID(2)))?.active, true)
    // The same empty load from a process that does manage the (now empty) folder deactivates it.
    assert.equal((await provisionFromFiles(store, [])).deactivated, 1)
  })

  it('an entry moved to another file records its new file; changed content is a new version', async () => {
    const dir = temp()
    const store = open(temp())
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ psa: { trustAnchors: [anchor(2)] } }))
    await provisionFromFiles(store, load(dir))
    renameSync(join(dir, 'a.json'), join(dir, 'c.json'))
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 0, replaced: 1, unchanged: 0, reactivated: 0, deactivated: 0 })
    assert.equal((await store.get('default', ANCHOR_ID(2)))?.source, `file:${join(dir, 'c.json')}`)
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ psa: { trustAnchors: [{ ...anchor(2), comment: 'changed' }] } }))
    assert.equal((await provisionFromFiles(store, load(dir))).replaced, 1)
    assert.equal((await store.versions('default', ANCHOR_ID(2))).length, 3)
  })

  it("an operator's deactivation is not undone by a restart with the same file", async () => {
    const dir = temp()
    const store = open(temp())
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ psa: { trustAnchors: [anchor(2)] } }))
    await provisionFromFiles(store, load(dir))
    await store.setActive('default', ANCHOR_ID(2), false, { createdBy: 'operator', source: 'api' })
    assert.deepEqual(await provisionFromFiles(store, load(dir)), { created: 0, replaced: 0, unchanged: 1, reactivated: 0, deactivated: 0 })
    assert.equal((await store.get('default', ANCHOR_ID(2)))?.active, false)
  })

  it('documents not from files are left alone', async () => {
    const dir = temp()
    const store = open(temp())
    await store.create('default', 'psa-ta-api', { kind: 'trust-anchor', body: {}, indexIds: ['psa-instance:ab'], createdBy: 'operator', source: 'api' })
    assert.equal((await provisionFromFiles(store, load(dir))).deactivated, 0)
    assert.equal((await store.get('default', 'psa-ta-api'))?.active, true)
  })
})
