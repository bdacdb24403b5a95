/**
 * `assay audit verify` as a real process on exports made here through the recorder and the
 * embedded store: a clean export of two tenants exits 0; each tampering exits 3 naming its kind and
 * seq; the JWKS from a file and from a loopback URL; an anchor that shows a cut tail; usage and
 * input errors.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { canonicalJson, type AuditEntry } from '../../../src/audit/entry.js'
import { runAssay } from '../../helpers/cli.js'
import { buildChain, newKey, type TestKey } from '../../unit/audit/chain-helpers.js'

describe('assay audit verify', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-audit-cli-'))
  let key: TestKey
  let acme: AuditEntry[]
  let beta: AuditEntry[]
  let jwksFile: string
  let server: Server
  let jwksUrl: string
  const write = (name: string, entries: readonly unknown[]) => {
    const path = join(dir, name)
    writeFileSync(path, entries.map((e) => `${typeof e === 'string' ? e : canonicalJson(e)}\n`).join(''))
    return path
  }

  before(async () => {
    key = newKey()
    acme = await buildChain('acme', 12, 4, key)
    beta = await buildChain('beta', 3, 4, key)
    jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, JSON.stringify(key.jwks))
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(key.jwks))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/.well-known/jwks.json`
  })
  after(() => {
    server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('verifies a clean export of two tenants, interleaved, with the JWKS from a file or a URL: exit 0', async () => {
    const mixed = [...acme.slice(0, 5), ...beta, ...acme.slice(5)]
    const file = write('clean.jsonl', mixed)
    for (const jwks of [jwksFile, jwksUrl]) {
      const r = await runAssay(['audit', 'verify', file, '--jwks', jwks, '--max-gap', '4'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(r.stdout, new RegExp(`tenant acme: ${acme.length} entries checked, \\d+ checkpoints verified, last seq ${acme.length}`))
      assert.match(r.stdout, /tenant beta: 4 entries checked, 1 checkpoints verified/)
      assert.match(r.stdout, /^verified$/m)
    }
    const json = await runAssay(['audit', 'verify', file, '--jwks', jwksFile, '--json', '--tenant', 'beta'])
    assert.equal(json.code, 0)
    const report = JSON.parse(json.stdout) as { ok: boolean; tenants: { tenant: string; lastSeq: number }[] }
    assert.equal(report.ok, true)
    assert.deepEqual(report.tenants.map((t) => [t.tenant, t.lastSeq]), [['beta', 4]])
  })

  it('exits 3 on each kind of tampering, naming its kind and seq', async () => {
    const cases: [string, unknown[], RegExp][] = [
      ['deleted', acme.filter((e) => e.seq !== 5), /PROBLEM missing at seq 5/],
      ['inserted', [...acme.slice(0, 6), acme[2], ...acme.slice(6)], /PROBLEM out-of-order at seq 3/],
      ['altered', acme.map((e) => (e.seq === 7 ? { ...e, outcome: 'affirming-not' } : e)), /PROBLEM altered at seq 7/],
      ['reordered', [acme[0], acme[2], acme[1], ...acme.slice(3)], /PROBLEM missing at seq 2/],
      ['not an entry', [...acme.slice(0, 3), 'not json'], /PROBLEM in the export file: line 4 is not JSON/],
    ]
    for (const [what, entries, expected] of cases) {
      const r = await runAssay(['audit', 'verify', write(`${what}.jsonl`, entries), '--jwks', jwksFile])
      assert.equal(r.code, 3, `${what}: ${r.stdout}${r.stderr}`)
      assert.match(r.stdout, expected, what)
      assert.match(r.stdout, /^NOT verified$/m)
    }
    const otherKey = newKey()
    const otherJwks = join(dir, 'other-jwks.json')
    writeFileSync(otherJwks, JSON.stringify(otherKey.jwks))
    const r = await runAssay(['audit', 'verify', write('clean-again.jsonl', acme), '--jwks', otherJwks])
    assert.equal(r.code, 3)
    assert.match(r.stdout, /PROBLEM checkpoint-key-unknown at seq 2/)
  })

  it('shows a cut tail only with an anchor kept from earlier', async () => {
    const lastCheckpoint = [...acme].reverse().find((e) => e.action === 'audit.checkpoint')!
    const cut = acme.filter((e) => e.seq < lastCheckpoint.seq - 1)
    const file = write('cut.jsonl', cut)
    const without = await runAssay(['audit', 'verify', file, '--jwks', jwksFile])
    assert.equal(without.code, 0, without.stdout)
    assert.match(without.stdout, /note: the last \d+ entries follow the last checkpoint/)
    const anchor = join(dir, 'anchor.jws')
    writeFileSync(anchor, `${lastCheckpoint.checkpoint!}\n`)
    const withAnchor = await runAssay(['audit', 'verify', file, '--jwks', jwksFile, '--anchor', anchor])
    assert.equal(withAnchor.code, 3)
    assert.match(withAnchor.stdout, new RegExp(`PROBLEM truncated at seq ${lastCheckpoint.seq - 1}`))
  })

  it('exits 1 for an unreadable export or JWKS, 2 for a bad option', async () => {
    const clean = write('ok.jsonl', acme)
    const missing = await runAssay(['audit', 'verify', join(dir, 'nope.jsonl'), '--jwks', jwksFile])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /cannot read/)
    const notJwks = join(dir, 'not-jwks.json')
    writeFileSync(notJwks, '{"keys": 3}')
    assert.equal((await runAssay(['audit', 'verify', clean, '--jwks', notJwks])).code, 1)
    const privateJwks = join(dir, 'private-jwks.json')
    writeFileSync(privateJwks, JSON.stringify({ keys: [{ ...key.jwks.keys[0], d: 'AAAA' }] }))
    const withPrivate = await runAssay(['audit', 'verify', clean, '--jwks', privateJwks])
    assert.equal(withPrivate.code, 1)
    assert.match(withPrivate.stderr, /JWKS cannot be used/)
    assert.equal((await runAssay(['audit', 'verify', clean, '--jwks', jwksFile, '--max-gap', 'x'])).code, 2)
    assert.equal((await runAssay(['audit', 'verify', clean])).code, 2)
  })
})
