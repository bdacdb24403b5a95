/** docs/audit.md's example entries hash as the document says (the genesis hash included). */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { entryHash, genesisHash, type AuditEntry } from '../../../src/audit/entry.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { ROOT } from '../../helpers/cli.js'

describe('docs/audit.md example', () => {
  it('holds a chain that verifies, from the genesis hash it names', () => {
    const doc = readFileSync(join(ROOT, 'docs/audit.md'), 'utf8')
    const example = doc.slice(doc.indexOf('### Example'))
    const genesis = /genesis hash is\s+`([0-9a-f]{64})`/.exec(example)?.[1]
    assert.equal(genesis, genesisHash('acme'))
    const block = /```json\n([\s\S]*?)```/.exec(example)![1]!
    const entries = block.trim().split('\n').map((line) => JSON.parse(line) as AuditEntry)
    assert.equal(entries.length, 2)
    for (const entry of entries) assert.equal(entryHash(entry), entry.hash)
    const report = verifyChain('acme', entries, { jwks: { keys: [] } })
    assert.equal(report.problem, undefined, report.problem?.message)
    assert.equal(report.lastSeq, 2)
  })
})
