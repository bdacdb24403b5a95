/** Audit chains for tests: built through the real recorder and embedded store, and tampered with. */
import { canonicalJson, entryHash, genesisHash, type AuditEntry } from '../../../src/audit/entry.js'
import { createAuditRecorder } from '../../../src/audit/recorder.js'
import { generateEs256Key } from '../../../src/crypto/sign.js'
import { createEarSigner, type EarSigner } from '../../../src/results/sign.js'
import type { EarJwks } from '../../../src/results/verify.js'
import { auditEntries } from '../../../src/store/audit.js'
import { createMemoryAuditStore } from '../../../src/store/memory/audit-store.js'

export interface TestKey {
  readonly signer: EarSigner
  readonly jwks: EarJwks
}

export function newKey(kid?: string): TestKey {
  const key = generateEs256Key()
  const signer = createEarSigner(key, kid)
  return { signer, jwks: { keys: [{ ...key.publicJwk, kid: signer.kid, alg: 'ES256', use: 'sig' }] } }
}

/** A chain of `count` recorded entries (plus the checkpoints the recorder adds every `every`). */
export async function buildChain(tenant: string, count: number, every: number, key: TestKey): Promise<AuditEntry[]> {
  const store = createMemoryAuditStore()
  let now = 1_700_000_000_000
  const recorder = createAuditRecorder({ store, signer: () => key.signer, everyEntries: every, everySeconds: 3600, nowMs: () => now })
  for (let i = 1; i <= count; i++) {
    now += 1000
    await recorder.record(tenant, {
      time: now,
      actor: `operator-${i % 3}`,
      action: i % 2 === 0 ? 'appraisal' : 'trust-anchor.create',
      targets: [{ type: 'trust-anchor', id: `anchor-${i}`, version: i }],
      outcome: i % 2 === 0 ? 'affirming' : 'created',
      ...(i % 2 === 0 ? { evidenceDigest: 'ab'.repeat(32) } : {}),
      details: { n: i, text: 'é€😀', nested: { list: [1, 'two', null, true] } },
    })
  }
  const entries: AuditEntry[] = []
  for await (const entry of auditEntries(store, tenant)) entries.push(entry)
  await store.close()
  // Plain copies, as read back from an export.
  return entries.map((entry) => JSON.parse(canonicalJson(entry)) as AuditEntry)
}

/** Re-computes seq, prev and hash from index `from` on, as someone who can write the log but not sign would. */
export function relink(entries: AuditEntry[], from: number, tenant: string): AuditEntry[] {
  const out = entries.map((entry) => ({ ...entry }))
  for (let i = from; i < out.length; i++) {
    const prev = i === 0 ? genesisHash(tenant) : out[i - 1]!.hash
    const { hash: _h, ...rest } = { ...out[i]!, seq: i + 1, prev }
    out[i] = { ...rest, hash: entryHash(rest) } as AuditEntry
  }
  return out
}
