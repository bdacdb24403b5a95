/**
 * Records audit entries and signs checkpoints (docs/audit.md). A thin layer over a store's atomic
 * append (`src/store/audit.ts` implements {@link AuditAppender}): after each entry it checks whether
 * a checkpoint is due, every `everyEntries` entries or `everySeconds` seconds, whichever comes first,
 * and appends one. The checkpoint is built inside the store's append, from the head the append
 * writes after, so it always attests the entry right before it, even when other processes append to
 * the same tenant at the same time.
 *
 * The due test reads the head the store returns (shared by every process on a Redis store), so
 * processes agree on when a checkpoint is due; two may both append one in a race, which costs an
 * entry and breaks nothing. A tenant that gets no entries gets no checkpoints: the caller runs
 * `checkpointIfDue` on a timer to cover the tail of a quiet log.
 */
import type { EarSigner } from '../results/sign.js'
import { signCheckpoint } from './checkpoint.js'
import { CHECKPOINT_ACTION, type AuditEntry, type AuditEntryInput, type AuditHead } from './entry.js'

/** What {@link AuditAppender.appendWith} returns. */
export interface AuditAppendResult {
  readonly entry: AuditEntry
  /** The head right after this entry (later entries by others may already follow it). */
  readonly head: AuditHead
}

/** The part of an audit store the recorder uses. */
export interface AuditAppender {
  /**
   * Appends the entry `build` makes from the current head, atomically: the entry gets the next seq
   * and the head's hash as `prev`. `build` may run more than once (when another process appended
   * first), so it must have no effect beyond its result; it returns undefined to append nothing.
   */
  appendWith(tenant: string, build: (head: AuditHead) => AuditEntryInput | undefined): Promise<AuditAppendResult | undefined>
  /** The head of a tenant's chain (that of an empty chain when it has no entry). */
  head(tenant: string): Promise<AuditHead>
}

export interface AuditRecorderOptions {
  readonly store: AuditAppender
  /** The signer of checkpoints: the verifier's current EAR signer (read at each checkpoint). */
  readonly signer: () => EarSigner
  /** A checkpoint after this many entries not yet attested. @defaultValue 1000 */
  readonly everyEntries?: number
  /** A checkpoint when the last is this old and entries follow it. @defaultValue 300 */
  readonly everySeconds?: number
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
}

export interface AuditRecorder {
  /**
   * Appends an entry (its time is the caller's) and then, when due, a checkpoint.
   * @throws TypeError for an entry that breaks the rules of `entry.ts`, or a checkpoint action;
   *   what the store throws
   */
  record(tenant: string, input: AuditEntryInput): Promise<AuditEntry>
  /** Appends a checkpoint of the tenant's last entry unless that is one already (or there is none). */
  checkpoint(tenant: string): Promise<AuditEntry | undefined>
  /** Appends a checkpoint when one is due by count or by age. */
  checkpointIfDue(tenant: string): Promise<AuditEntry | undefined>
}

export const DEFAULT_CHECKPOINT_ENTRIES = 1000
export const DEFAULT_CHECKPOINT_SECONDS = 300

export function createAuditRecorder(options: AuditRecorderOptions): AuditRecorder {
  const everyEntries = options.everyEntries ?? DEFAULT_CHECKPOINT_ENTRIES
  const everySeconds = options.everySeconds ?? DEFAULT_CHECKPOINT_SECONDS
  if (!Number.isSafeInteger(everyEntries) || everyEntries < 1) throw new TypeError('everyEntries must be a positive integer')
  if (!Number.isSafeInteger(everySeconds) || everySeconds < 1) throw new TypeError('everySeconds must be a positive integer')
  const nowMs = options.nowMs ?? Date.now
  const { store } = options

  function isDue(head: AuditHead): boolean {
    if (head.seq === 0 || head.seq === head.checkpointSeq) return false
    // A checkpoint entry attests the entry before it.
    const attested = head.checkpointSeq === 0 ? 0 : head.checkpointSeq - 1
    return head.seq - attested >= everyEntries || nowMs() - head.checkpointTime >= everySeconds * 1000
  }

  async function checkpoint(tenant: string, onlyIfDue: boolean): Promise<AuditEntry | undefined> {
    const result = await store.appendWith(tenant, (head) => {
      if (head.seq === 0 || head.seq === head.checkpointSeq || (onlyIfDue && !isDue(head))) return undefined
      const time = nowMs()
      const jws = signCheckpoint({ tenant, seq: head.seq, hash: head.hash, time }, options.signer())
      return { time, actor: 'assay', action: CHECKPOINT_ACTION, checkpoint: jws }
    })
    return result?.entry
  }

  return {
    async record(tenant, input) {
      if (typeof input === 'object' && input !== null && input.action === CHECKPOINT_ACTION) {
        throw new TypeError(`${CHECKPOINT_ACTION} entries are made by the recorder only`)
      }
      const result = await store.appendWith(tenant, () => input)
      const { entry, head } = result!
      if (isDue(head)) await checkpoint(tenant, true)
      return entry
    },
    checkpoint: (tenant) => checkpoint(tenant, false),
    checkpointIfDue: (tenant) => checkpoint(tenant, true),
  }
}
