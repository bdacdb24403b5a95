/**
 * Re-computes a tenant's audit chain and checks its signed checkpoints (docs/audit.md). Entries are
 * fed in the order of the export, one at a time (`ChainVerifier.add`), and only the last hash is
 * kept, so an export of any length is checked in constant memory as it is read; the first problem
 * stops the check of that tenant.
 *
 * Checks of each entry, in order, and the problem each reports:
 *
 * 1. Its shape (`entry.ts#entryShapeProblem`) and its tenant: `malformed`.
 * 2. Its `seq` is one more than the entry before (1 for the first): a higher number is `missing`
 *    (entries were deleted, the first ones included), a lower one `out-of-order` (an entry was
 *    inserted, repeated or moved).
 * 3. Its `prev` is the hash of the entry before (the genesis hash for seq 1): `broken-link` (an
 *    entry was replaced or inserted with its hash re-computed, or one before it deleted).
 * 4. Its `hash` is the hash of its content: `altered`.
 * 5. A checkpoint entry's JWS verifies with a key of the JWKS (`checkpoint-key-unknown`,
 *    `checkpoint-signature`, `checkpoint-invalid`) and attests this tenant's entry right before it,
 *    with the hash the chain has there: `checkpoint-mismatch` (the chain was re-computed from an
 *    earlier point, or the checkpoint was moved).
 * 6. With `maxGap`, no more than `maxGap` entries follow the last attested one at any point, the end
 *    included: `checkpoint-overdue` (checkpoints were removed and the chain re-computed, or the
 *    writer did not checkpoint).
 *
 * Anchors (checkpoints the caller kept from earlier, e.g. fetched from the API) are verified first
 * (an anchor that does not verify is the problem, at seq 0); the entry each attests must have its
 * hash (`checkpoint-mismatch`), and the chain must reach it (`truncated`).
 *
 * What cannot be detected: entries after the last attested one (`uncovered` in the report) can be
 * deleted, or changed with their hashes re-computed, by whoever can write the log, unless an anchor
 * newer than them is given. Without an external anchor, cutting off the tail of the log, signed
 * checkpoints included, leaves a shorter chain that verifies.
 */
import type { EarJwks } from '../results/verify.js'
import { verifyCheckpoint } from './checkpoint.js'
import { CHECKPOINT_ACTION, entryHash, entryShapeProblem, genesisHash, type AuditEntry } from './entry.js'

export type AuditProblemKind =
  | 'malformed'
  | 'missing'
  | 'out-of-order'
  | 'broken-link'
  | 'altered'
  | 'checkpoint-invalid'
  | 'checkpoint-key-unknown'
  | 'checkpoint-signature'
  | 'checkpoint-mismatch'
  | 'checkpoint-overdue'
  | 'truncated'

export interface AuditProblem {
  readonly kind: AuditProblemKind
  /** The sequence number where it was found (for `missing`, the first one absent). */
  readonly seq: number
  readonly message: string
}

/** What {@link ChainVerifier.finish} found for one tenant. */
export interface ChainReport {
  readonly tenant: string
  /** Entries checked (up to and including the one with the problem). */
  readonly entries: number
  /** Checkpoint entries whose signature verified and that matched the chain. */
  readonly checkpoints: number
  /** `seq` and `hash` of the last entry that passed, 0 and the genesis hash when none did. */
  readonly lastSeq: number
  readonly lastHash: string
  /** The highest seq a verified checkpoint or anchor attests; 0 when none. */
  readonly coveredSeq: number
  /** Entries after `coveredSeq`: a cut or a rewrite of these is not detectable (docs/audit.md). */
  readonly uncovered: number
  /** The first problem, if any. */
  readonly problem?: AuditProblem
}

export interface ChainVerifyOptions {
  /** The verifier's JWKS (`/.well-known/jwks.json`): checkpoints verify with its keys only. */
  readonly jwks: EarJwks
  /** Most entries allowed after the last attested one (see check 6). @defaultValue no limit */
  readonly maxGap?: number
  /** Checkpoint JWSs kept from earlier; those of other tenants are ignored. */
  readonly anchors?: readonly string[]
}

/** Verifies one tenant's chain, entry by entry, in export order. */
export class ChainVerifier {
  readonly tenant: string
  readonly #options: ChainVerifyOptions
  /** The anchors of this tenant that verified: the hash each attests, by seq. */
  readonly #anchors = new Map<number, string>()
  #lastSeq = 0
  #lastHash: string
  #checked = 0
  #checkpoints = 0
  #covered = 0
  #problem: AuditProblem | undefined

  constructor(tenant: string, options: ChainVerifyOptions) {
    if (options.maxGap !== undefined && (!Number.isSafeInteger(options.maxGap) || options.maxGap < 1)) {
      throw new TypeError('maxGap must be a positive integer')
    }
    this.tenant = tenant
    this.#options = options
    this.#lastHash = genesisHash(tenant)
    for (const anchor of options.anchors ?? []) {
      const result = verifyCheckpoint(anchor, options.jwks)
      if (!result.ok) {
        this.#problem = { kind: result.failure, seq: 0, message: `an anchor does not verify: ${result.message}` }
        break
      }
      if (result.claims.tenant === tenant) this.#anchors.set(result.claims.seq, result.claims.hash)
    }
  }

  /** Whether a problem was found (further entries are then ignored). */
  get failed(): boolean {
    return this.#problem !== undefined
  }

  /** Checks the next entry (parsed JSON, not yet trusted). Returns false once a problem is found. */
  add(value: unknown): boolean {
    if (this.#problem !== undefined) return false
    this.#checked++
    const seq = this.#lastSeq + 1
    const shape = entryShapeProblem(value)
    if (shape !== undefined) return this.#fail('malformed', seq, `entry ${seq}: ${shape}`)
    const entry = value as AuditEntry
    if (entry.tenant !== this.tenant) return this.#fail('malformed', seq, `entry ${seq} belongs to tenant ${entry.tenant}`)
    if (entry.seq > seq) return this.#fail('missing', seq, `entries ${seq} to ${entry.seq - 1} are missing (deleted?): the next entry is ${entry.seq}`)
    if (entry.seq < seq) return this.#fail('out-of-order', entry.seq, `entry ${entry.seq} comes after entry ${seq - 1} (inserted, repeated or moved)`)
    if (entry.prev !== this.#lastHash) {
      return this.#fail('broken-link', seq, `entry ${seq} does not follow the entry before it: its prev is not that entry's hash (one was replaced, inserted or deleted)`)
    }
    if (entryHash(entry) !== entry.hash) return this.#fail('altered', seq, `entry ${seq} was altered: its content does not hash to its hash`)
    if (entry.action === CHECKPOINT_ACTION && !this.#checkCheckpoint(entry)) return false
    const anchored = this.#anchors.get(seq)
    if (anchored !== undefined) {
      if (anchored !== entry.hash) return this.#fail('checkpoint-mismatch', seq, `an anchor attests another hash for entry ${seq} than the chain holds`)
      this.#covered = Math.max(this.#covered, seq)
    }
    this.#lastSeq = seq
    this.#lastHash = entry.hash
    return this.#checkGap(seq)
  }

  /** The report, after checking the anchors against the chain as read. */
  finish(): ChainReport {
    const lastSeq = this.#lastSeq
    if (this.#problem === undefined) {
      const beyond = [...this.#anchors.keys()].filter((seq) => seq > lastSeq)
      if (beyond.length > 0) {
        this.#fail('truncated', lastSeq + 1, `an anchor attests entry ${Math.max(...beyond)}, but the chain ends at ${lastSeq}: entries were cut off`)
      }
    }
    return {
      tenant: this.tenant,
      entries: this.#checked,
      checkpoints: this.#checkpoints,
      lastSeq,
      lastHash: this.#lastHash,
      coveredSeq: this.#covered,
      uncovered: Math.max(0, lastSeq - this.#covered),
      ...(this.#problem === undefined ? {} : { problem: this.#problem }),
    }
  }

  #checkCheckpoint(entry: AuditEntry): boolean {
    const result = verifyCheckpoint(entry.checkpoint!, this.#options.jwks)
    if (!result.ok) return this.#fail(result.failure, entry.seq, `checkpoint entry ${entry.seq}: ${result.message}`)
    const { claims } = result
    if (claims.tenant !== this.tenant || claims.seq !== entry.seq - 1 || claims.hash !== entry.prev) {
      return this.#fail(
        'checkpoint-mismatch',
        entry.seq,
        `checkpoint entry ${entry.seq} attests entry ${claims.seq} of tenant ${claims.tenant} with another hash than the chain holds (re-computed from an earlier point?)`,
      )
    }
    this.#checkpoints++
    this.#covered = Math.max(this.#covered, claims.seq)
    return true
  }

  #checkGap(seq: number): boolean {
    const { maxGap } = this.#options
    if (maxGap === undefined || seq - this.#covered <= maxGap) return true
    return this.#fail('checkpoint-overdue', seq, `entry ${seq} is ${seq - this.#covered} entries after the last attested one (${this.#covered}); at most ${maxGap} are allowed`)
  }

  #fail(kind: AuditProblemKind, seq: number, message: string): false {
    this.#problem = { kind, seq, message }
    return false
  }
}

/** Verifies one tenant's entries (in order) at once. */
export function verifyChain(tenant: string, entries: Iterable<unknown>, options: ChainVerifyOptions): ChainReport {
  const verifier = new ChainVerifier(tenant, options)
  for (const entry of entries) if (!verifier.add(entry)) break
  return verifier.finish()
}
