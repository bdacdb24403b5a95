/**
 * Reading an export as `assay audit verify` does (in process): CRLF and blank lines, a line longer
 * than any entry, duplicate members, a line without a tenant, and tenants interleaved.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { canonicalJson, type AuditEntry } from '../../../src/audit/entry.js'
import { exportLines, verifyAuditExport } from '../../../src/main/commands/audit-verify.js'
import { buildChain, newKey, type TestKey } from './chain-helpers.js'

describe('reading an audit export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-audit-export-'))
  let key: TestKey
  let chain: AuditEntry[]
  before(async () => {
    key = newKey()
    chain = await buildChain('acme', 6, 3, key)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const verifyText = async (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return verifyAuditExport(exportLines(path), { jwks: key.jwks })
  }
  const lines = () => chain.map((e) => canonicalJson(e))

  it('accepts CRLF line ends, blank lines and a last line without a line end', async () => {
    const report = await verifyText('crlf.jsonl', `${lines().join('\r\n')}\r\n\r\n`)
    assert.equal(report.ok, true, JSON.stringify(report))
    assert.equal(report.tenants[0]!.lastSeq, chain.length)
    assert.equal((await verifyText('no-end.jsonl', lines().join('\n'))).ok, true)
  })

  it('stops at a line longer than any entry, a line that is not strict JSON, or one without a tenant', async () => {
    const long = await verifyText('long.jsonl', `${lines()[0]}\n${'x'.repeat(40_000)}\n`)
    assert.equal(long.ok, false)
    assert.match(long.fileProblem!.message, /line 2 is longer than any audit entry/)
    const duplicate = lines()[0]!.replace('{"action"', '{"seq":1,"action"')
    const dup = await verifyText('dup.jsonl', `${duplicate}\n`)
    assert.match(dup.fileProblem!.message, /line 1 is not JSON/)
    const noTenant = await verifyText('no-tenant.jsonl', `${lines()[0]}\n{"seq":2}\n`)
    assert.match(noTenant.fileProblem!.message, /line 2 is not an audit entry/)
  })

  it('keeps tenants apart and reports each, even when one of them fails', async () => {
    const other = await buildChain('beta', 2, 3, key)
    const text = [...lines().slice(0, 2), ...other.map((e) => canonicalJson(e)), ...lines().slice(3)].join('\n')
    const report = await verifyText('mixed.jsonl', `${text}\n`)
    assert.equal(report.ok, false)
    const byTenant = Object.fromEntries(report.tenants.map((t) => [t.tenant, t]))
    assert.equal(byTenant['beta']!.problem, undefined)
    assert.deepEqual([byTenant['acme']!.problem?.kind, byTenant['acme']!.problem?.seq], ['missing', 3])
  })
})
