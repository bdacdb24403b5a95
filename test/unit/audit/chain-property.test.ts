/**
 * Property: any single tampering of a random chain is reported, except the two that docs/audit.md
 * says cannot be seen without an external anchor: a cut tail, and a rewrite (hashes re-computed) of
 * entries after the last checkpoint.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { CHECKPOINT_ACTION, type AuditEntry } from '../../../src/audit/entry.js'
import { verifyChain } from '../../../src/audit/verify-chain.js'
import { buildChain, newKey, relink } from './chain-helpers.js'

const T = 't-prop'
const key = newKey()

type Tamper =
  | { op: 'delete'; at: number }
  | { op: 'duplicate'; at: number; to: number }
  | { op: 'alter'; at: number }
  | { op: 'hash'; at: number }
  | { op: 'swap'; at: number; with: number }
  | { op: 'truncate'; at: number }
  | { op: 'rewrite'; at: number }

const tamper: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('alter' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('hash' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('rewrite' as const), at: fc.nat() }),
)

/** The tampered chain, and whether the verifier must see it. */
function apply(chain: AuditEntry[], t: Tamper): { entries: AuditEntry[]; detectable: boolean } {
  const n = chain.length
  const at = t.at % n
  const out = [...chain]
  switch (t.op) {
    case 'delete':
      // Deleting the last entry is cutting the tail.
      out.splice(at, 1)
      return { entries: out, detectable: at < n - 1 }
    case 'duplicate':
      out.splice(t.to % (n + 1), 0, { ...chain[at]! })
      return { entries: out, detectable: true }
    case 'alter':
      out[at] = { ...chain[at]!, actor: `${chain[at]!.actor}-changed` }
      return { entries: out, detectable: true }
    case 'hash':
      out[at] = { ...chain[at]!, hash: chain[at]!.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) }
      return { entries: out, detectable: true }
    case 'swap': {
      const other = t.with % n
      ;[out[at], out[other]] = [out[other]!, out[at]!]
      return { entries: out, detectable: at !== other }
    }
    case 'truncate':
      return { entries: out.slice(0, at), detectable: false }
    case 'rewrite': {
      out[at] = { ...chain[at]!, actor: `${chain[at]!.actor}-changed` }
      // Seen only through a later checkpoint, which attests the entry before it.
      const later = chain.some((entry, index) => index > at && entry.action === CHECKPOINT_ACTION)
      return { entries: relink(out, at, T), detectable: later }
    }
  }
}

describe('audit chain property', () => {
  it('every single tampering is reported, except a cut or rewritten tail after the last checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 8 }), tamper, async (count, every, t) => {
        const chain = await buildChain(T, count, every, key)
        assert.equal(verifyChain(T, chain, { jwks: key.jwks, maxGap: Math.max(every, 2) }).problem, undefined)
        const { entries, detectable } = apply(chain, t)
        const report = verifyChain(T, entries, { jwks: key.jwks })
        if (detectable) {
          assert.ok(report.problem !== undefined, `${JSON.stringify(t)} on ${chain.length} entries went unnoticed`)
        } else {
          assert.equal(report.problem, undefined, report.problem?.message)
          // What was lost or rewritten lies beyond what checkpoints cover, and the report says so.
          assert.ok(report.coveredSeq <= report.lastSeq)
        }
      }),
      { numRuns: 300 },
    )
  })
})
