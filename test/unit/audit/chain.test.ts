/**
 * The audit chain (src/audit): canonical JSON and hashes pinned to hand-computed values, entry rules,
 * and every kind of tampering `verifyChain` must report, with what it cannot see (a cut tail).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { signCheckpoint, verifyCheckpoint } from '../../../src/audit/checkpoint.js'
import {
  AUDIT_LIMITS,
  CHECKPOINT_ACTION,
  canonicalJson,
  chainEntry,
  checkAuditInput,
  entryHash,
  genesisHash,
  type AuditEntry,
  type AuditEntryInput,
} from '../../../src/audit/entry.js'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { verifyChain, type AuditProblemKind, type ChainReport } from '../../../src/audit/verify-chain.js'
import { signJwtClaims } from '../../../src/results/sign.js'
import { createMemoryAuditStore } from '../../../src/store/memory/audit-store.js'
import { buildChain, newKey, relink, type TestKey } from './chain-helpers.js'

const T = 'acme'
const BASE: AuditEntryInput = { time: 1_700_000_000_000, actor: 'operator', action: 'trust-anchor.create' }

function expectProblem(report: ChainReport, kind: AuditProblemKind, seq: number): void {
  assert.ok(report.problem !== undefined, `expected ${kind} at ${seq}, got no problem`)
  assert.equal(report.problem.kind, kind, report.problem.message)
  assert.equal(report.problem.seq, seq, report.problem.message)
}

describe('audit entry encoding', () => {
  it('canonical JSON sorts keys at every level, keeps escapes of JSON.stringify, and holds integers only', () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, 'x"\n\u0001é'], c: { z: 0, y: -3 } }), '{"a":[true,null,"x\\"\\n\\u0001é"],"b":1,"c":{"y":-3,"z":0}}')
    assert.equal(canonicalJson({ b: undefined, a: 1 }), '{"a":1}')
    for (const bad of [1.5, Number.MAX_SAFE_INTEGER + 1, -0, Number.NaN, '\uD800', new Date(0), undefined]) {
      assert.throws(() => canonicalJson({ x: bad === undefined ? [bad] : bad }), TypeError, String(bad))
    }
  })

  it('genesis and entry hashes are SHA-256 as docs/audit.md defines them', () => {
    assert.equal(genesisHash(T), createHash('sha256').update('assay-audit:acme').digest('hex'))
    const entry = chainEntry(T, 1, genesisHash(T), { ...BASE, targets: [{ type: 'trust-anchor', id: 'a', version: 2 }] })
    const text =
      `{"action":"trust-anchor.create","actor":"operator","prev":"${genesisHash(T)}","seq":1,` +
      `"targets":[{"id":"a","type":"trust-anchor","version":2}],"tenant":"acme","time":1700000000000,"v":1}`
    const expected = createHash('sha256').update(Buffer.from(genesisHash(T), 'hex')).update(text).digest('hex')
    assert.equal(entry.hash, expected)
    assert.equal(entryHash(entry), expected)
  })

  it('refuses entries that break the rules, naming the member', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['unknown member', { ...BASE, extra: 1 }],
      ['time', { ...BASE, time: 1.5 }],
      ['actor', { ...BASE, actor: '' }],
      ['actor', { ...BASE, actor: 'x'.repeat(257) }],
      ['control character', { ...BASE, actor: 'a\nb' }],
      ['action', { ...BASE, action: 'Trust Anchor' }],
      ['targets', { ...BASE, targets: Array.from({ length: 17 }, (_, i) => ({ type: 'policy', id: `p${i}` })) }],
      ['target has unknown member', { ...BASE, targets: [{ type: 'policy', id: 'p', extra: 1 }] }],
      ['target version', { ...BASE, targets: [{ type: 'policy', id: 'p', version: -1 }] }],
      ['outcome', { ...BASE, outcome: 'Not OK' }],
      ['evidenceDigest', { ...BASE, evidenceDigest: 'AB'.repeat(32) }],
      ['details', { ...BASE, details: [] }],
      ['safe integer', { ...BASE, details: { x: 0.5 } }],
      ['nests deeper', { ...BASE, details: { a: [[[[[[[[[1]]]]]]]]] } }],
      ['bytes', { ...BASE, details: { big: 'x'.repeat(AUDIT_LIMITS.maxDetailsBytes) } }],
      ['checkpoint', { ...BASE, checkpoint: 'a.b.c' }],
      ['checkpoint', { ...BASE, action: CHECKPOINT_ACTION }],
    ]
    for (const [what, input] of cases) {
      assert.throws(() => checkAuditInput(input as unknown as AuditEntryInput), (err: unknown) => err instanceof TypeError && err.message.includes(what), what)
    }
    assert.throws(() => chainEntry('Bad', 1, genesisHash(T), BASE), TypeError)
    assert.throws(() => chainEntry(T, 0, genesisHash(T), BASE), TypeError)
    assert.throws(() => chainEntry(T, 1, 'zz', BASE), TypeError)
  })

  it('keeps a copy: changing the caller object later changes nothing', () => {
    const details = { n: 1 }
    const entry = chainEntry(T, 1, genesisHash(T), { ...BASE, details })
    details.n = 2
    assert.deepEqual(entry.details, { n: 1 })
    assert.equal(entryHash(entry), entry.hash)
  })
})

describe('audit checkpoints', () => {
  const key = newKey()
  it('verify with the JWKS and carry the kid; refuse another key, an unknown kid, and an EAR-like JWS', () => {
    const jws = signCheckpoint({ tenant: T, seq: 3, hash: 'ab'.repeat(32), time: 5 }, key.signer)
    const ok = verifyCheckpoint(jws, key.jwks)
    assert.ok(ok.ok)
    assert.deepEqual(ok.claims, { tenant: T, seq: 3, hash: 'ab'.repeat(32), time: 5 })
    assert.equal(ok.kid, key.signer.kid)

    const impostor = newKey(key.signer.kid)
    const forged = verifyCheckpoint(signCheckpoint({ tenant: T, seq: 3, hash: 'ab'.repeat(32), time: 5 }, impostor.signer), key.jwks)
    assert.ok(!forged.ok && forged.failure === 'checkpoint-signature')

    const unknown = verifyCheckpoint(jws, newKey().jwks)
    assert.ok(!unknown.ok && unknown.failure === 'checkpoint-key-unknown')

    const ear = verifyCheckpoint(signJwtClaims({ eat_profile: 'tag:github.com,2023:veraison/ear', iat: 1 }, key.signer), key.jwks)
    assert.ok(!ear.ok && ear.failure === 'checkpoint-invalid')
    const extra = signJwtClaims({ typ: 'assay-audit-checkpoint', tenant: T, seq: 1, hash: 'ab'.repeat(32), time: 1, more: 1 }, key.signer)
    assert.ok(!verifyCheckpoint(extra, key.jwks).ok)
    assert.ok(!verifyCheckpoint('not a jws', key.jwks).ok)
  })
})

describe('verifyChain', () => {
  let key: TestKey
  let chain: AuditEntry[]
  /**
   * 20 recorded entries and the checkpoints of the recorder (every 5; the first entry at once):
   * checkpoint entries at 2, 7, 12, 17, 22 (each attesting the entry before), 25 entries in all.
   */
  before(async () => {
    key = newKey()
    chain = await buildChain(T, 20, 5, key)
  })
  const check = (entries: unknown[], extra: { maxGap?: number; anchors?: string[]; jwks?: TestKey['jwks'] } = {}) =>
    verifyChain(T, entries, { jwks: extra.jwks ?? key.jwks, ...(extra.maxGap === undefined ? {} : { maxGap: extra.maxGap }), ...(extra.anchors === undefined ? {} : { anchors: extra.anchors }) })
  const checkpointSeqs = () => chain.filter((e) => e.action === CHECKPOINT_ACTION).map((e) => e.seq)

  it('passes a clean chain and says how much of it no checkpoint covers', () => {
    assert.deepEqual(checkpointSeqs(), [2, 7, 12, 17, 22])
    const report = check(chain, { maxGap: 5 })
    assert.equal(report.problem, undefined, report.problem?.message)
    assert.equal(report.entries, 25)
    assert.equal(report.checkpoints, 5)
    assert.equal(report.lastSeq, 25)
    assert.equal(report.lastHash, chain[24]!.hash)
    assert.equal(report.coveredSeq, 21)
    assert.equal(report.uncovered, 4)
  })

  it('reports a deleted entry in the middle, and a deleted first entry', () => {
    expectProblem(check(chain.filter((e) => e.seq !== 9)), 'missing', 9)
    expectProblem(check(chain.slice(1)), 'missing', 1)
  })

  it('reports an inserted entry, whether it repeats a number or is linked in with later numbers re-computed', () => {
    const copy = [...chain.slice(0, 10), { ...chain[4]! }, ...chain.slice(10)]
    expectProblem(check(copy), 'out-of-order', 5)
    const forged = chainEntry(T, 11, chain[9]!.hash, { ...BASE, actor: 'intruder' })
    const relinked = relink([...chain.slice(0, 10), forged, ...chain.slice(10)], 10, T)
    // Hashes re-computed from there on: the next checkpoint no longer attests the chain.
    expectProblem(check(relinked), 'checkpoint-mismatch', 13)
  })

  it('reports an altered field, an altered hash, and an altered entry whose own hash was re-computed', () => {
    const altered = chain.map((e) => (e.seq === 8 ? { ...e, outcome: 'contraindicated' } : e))
    expectProblem(check(altered), 'altered', 8)
    const hashAltered = chain.map((e) => (e.seq === 8 ? { ...e, hash: 'cd'.repeat(32) } : e))
    expectProblem(check(hashAltered), 'altered', 8)
    const rehashed = chain.map((e) => {
      if (e.seq !== 8) return e
      const { hash: _h, ...rest } = { ...e, actor: 'someone-else' }
      return { ...rest, hash: entryHash(rest) }
    })
    expectProblem(check(rehashed), 'broken-link', 9)
  })

  it('reports reordered entries, with and without re-computed links', () => {
    const swapped = [...chain]
    ;[swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!]
    expectProblem(check(swapped), 'missing', 3)
    expectProblem(check(relink(swapped, 2, T)), 'checkpoint-mismatch', 7)
  })

  it('reports a forged checkpoint signature, a checkpoint of another hash, and an unknown key', () => {
    const impostor = newKey(key.signer.kid)
    const forge = (signer: TestKey['signer'], hash: string) =>
      chain.map((e) => (e.seq === 12 ? { ...e, checkpoint: signCheckpoint({ tenant: T, seq: 11, hash, time: e.time }, signer) } : e))
    // Re-linked so that only the checkpoint differs.
    expectProblem(check(relink(forge(impostor.signer, chain[10]!.hash), 11, T)), 'checkpoint-signature', 12)
    expectProblem(check(relink(forge(key.signer, 'ee'.repeat(32)), 11, T)), 'checkpoint-mismatch', 12)
    expectProblem(check(chain, { jwks: newKey().jwks }), 'checkpoint-key-unknown', 2)
    // Another tenant's checkpoint, or an earlier one of this tenant, copied in.
    const other = chain.map((e) => (e.seq === 12 ? { ...e, checkpoint: signCheckpoint({ tenant: 'other', seq: 11, hash: chain[10]!.hash, time: 1 }, key.signer) } : e))
    expectProblem(check(relink(other, 11, T)), 'checkpoint-mismatch', 12)
    const replayed = chain.map((e) => (e.seq === 12 ? { ...e, checkpoint: chain[6]!.checkpoint } : e))
    expectProblem(check(relink(replayed, 11, T)), 'checkpoint-mismatch', 12)
  })

  it('reports checkpoints removed with the chain re-computed, when the gap is bounded', () => {
    const stripped = relink(chain.filter((e) => e.action !== CHECKPOINT_ACTION || e.seq < 12), 11, T)
    expectProblem(check(stripped, { maxGap: 5 }), 'checkpoint-overdue', 12)
    // Without a bound it cannot tell; the report says how much is not covered.
    const report = check(stripped)
    assert.equal(report.problem, undefined)
    assert.equal(report.coveredSeq, 6)
    assert.equal(report.uncovered, stripped.length - 6)
  })

  it('cannot see a cut tail (docs/audit.md), unless given an anchor kept from earlier', () => {
    const cut = chain.slice(0, 15)
    const report = check(cut)
    assert.equal(report.problem, undefined)
    assert.equal(report.coveredSeq, 11)
    assert.equal(report.uncovered, 4)
    const anchor = chain[21]!.checkpoint!
    expectProblem(check(cut, { anchors: [anchor] }), 'truncated', 16)
    assert.equal(check(chain, { anchors: [anchor, chain[6]!.checkpoint!] }).problem, undefined)
    // The tail rewritten after the last checkpoint: also invisible without an anchor.
    const rewritten = relink(chain.map((e) => (e.seq === 24 ? { ...e, actor: 'x' } : e)), 23, T)
    assert.equal(check(rewritten).problem, undefined)
  })

  it('reports an anchor that does not verify or that attests another hash, and refuses a JWKS that is not one', () => {
    const stranger = newKey()
    const foreignAnchor = signCheckpoint({ tenant: T, seq: 5, hash: chain[4]!.hash, time: 1 }, stranger.signer)
    expectProblem(check(chain, { anchors: [foreignAnchor] }), 'checkpoint-key-unknown', 0)
    const wrongHash = signCheckpoint({ tenant: T, seq: 5, hash: 'ee'.repeat(32), time: 1 }, key.signer)
    expectProblem(check(chain, { anchors: [wrongHash] }), 'checkpoint-mismatch', 5)
    const otherTenant = signCheckpoint({ tenant: 'other', seq: 500, hash: 'ee'.repeat(32), time: 1 }, key.signer)
    assert.equal(check(chain, { anchors: [otherTenant] }).problem, undefined)
    const withPrivate = { keys: [{ ...key.jwks.keys[0]!, d: 'AAAA' }] }
    assert.throws(() => check(chain, { jwks: withPrivate }), TypeError)
  })

  it('reports malformed entries and entries of another tenant', () => {
    expectProblem(check(chain.map((e) => (e.seq === 3 ? { ...e, extra: true } : e))), 'malformed', 3)
    expectProblem(check(chain.map((e) => (e.seq === 3 ? { ...e, details: { x: 1.5 } } : e))), 'malformed', 3)
    expectProblem(check([...chain.slice(0, 2), 'text', ...chain.slice(3)]), 'malformed', 3)
    const foreign = chainEntry('other', 3, chain[1]!.hash, BASE)
    expectProblem(check([...chain.slice(0, 2), foreign]), 'malformed', 3)
  })
})

describe('audit recorder', () => {
  it('checkpoints by count and by age, each checkpoint attesting the entry before it', async () => {
    const key = newKey()
    const store = createMemoryAuditStore()
    let now = 0
    const recorder = createAuditRecorder({ store, signer: () => key.signer, everyEntries: 3, everySeconds: 60, nowMs: () => now })
    for (let i = 0; i < 3; i++) await recorder.record(T, { ...BASE, time: now })
    assert.equal((await store.head(T)).seq, 4)
    assert.equal((await store.head(T)).checkpointSeq, 4)
    now += 10_000
    await recorder.record(T, { ...BASE, time: now })
    assert.equal(await recorder.checkpointIfDue(T), undefined)
    now += 60_000
    const due = await recorder.checkpointIfDue(T)
    assert.equal(due?.seq, 6)
    assert.equal(await recorder.checkpoint(T), undefined, 'the last entry is a checkpoint already')
    await assert.rejects(recorder.record(T, { ...BASE, action: CHECKPOINT_ACTION, checkpoint: 'a.b.c' }), TypeError)
    const page = await store.page(T, { limit: 100 })
    const report = verifyChain(T, page.entries, { jwks: key.jwks, maxGap: 3 })
    assert.equal(report.problem, undefined, report.problem?.message)
    assert.equal(report.checkpoints, 2)
    assert.throws(() => createAuditRecorder({ store, signer: () => key.signer, everyEntries: 0 }), TypeError)
  })
})
