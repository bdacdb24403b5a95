/**
 * The audit store port: each tenant's audit chain (`src/audit/entry.ts`), appended atomically and
 * read in pages. Two adapters implement it, Redis (`redis/audit-store.ts`: a stream per tenant and a
 * script that appends only onto the head it was given) and embedded (`memory/audit-store.ts`: a
 * JSON-lines file per tenant), and both pass one contract suite (`test/unit/store/audit-contract.ts`).
 *
 * The store keeps the chain honest only against its own callers: it numbers and links every entry,
 * and two processes appending to one tenant at once still make one unbroken chain. Against someone
 * who can write Redis or the file directly, the chain and its signed checkpoints make tampering
 * detectable, not impossible (`assay audit verify`, docs/audit.md).
 *
 * Errors: an entry that breaks the rules of `entry.ts`, a bad tenant id or page option is a
 * `TypeError` (the caller builds entries; the API validates its input first). A stored entry that
 * does not decode is `ERR_STORE_CORRUPT`; Redis down is `ERR_STORE_UNAVAILABLE`; a file that cannot be
 * written is `ERR_STORE_PERSIST_FAILED`.
 */
import type { AuditAppendResult, AuditAppender } from '../audit/recorder.js'
import { entryShapeProblem, type AuditEntry, type AuditEntryInput } from '../audit/entry.js'
import { VerifierError } from '../errors/errors.js'
import type { TenantId } from './types.js'

export type { AuditAppendResult } from '../audit/recorder.js'

/** Options of `page`. */
export interface AuditPageOptions {
  /** Entries after this seq. @defaultValue 0 (from the first) */
  readonly after?: number
  /** @defaultValue {@link DEFAULT_AUDIT_PAGE}; at most {@link MAX_AUDIT_PAGE} */
  readonly limit?: number
}

/** One page of a chain, in seq order. */
export interface AuditPage {
  readonly entries: readonly AuditEntry[]
  /** Present when more entries follow: the `after` of the next page. */
  readonly next?: number
}

export interface AuditStore extends AuditAppender {
  /** Appends `input` as the tenant's next entry. @throws TypeError for an entry that breaks the rules */
  append(tenant: TenantId, input: AuditEntryInput): Promise<AuditAppendResult>
  /** A page of the tenant's entries. */
  page(tenant: TenantId, options?: AuditPageOptions): Promise<AuditPage>
  close(): Promise<void>
}

/** Largest page `page` returns. */
export const MAX_AUDIT_PAGE = 1000
export const DEFAULT_AUDIT_PAGE = 100

/** The checked `after` and `limit` of a page (TypeError when out of range). */
export function auditPageRange(options: AuditPageOptions = {}): { after: number; limit: number } {
  const after = options.after ?? 0
  const limit = options.limit ?? DEFAULT_AUDIT_PAGE
  if (!Number.isSafeInteger(after) || after < 0) throw new TypeError('after must be a non-negative integer')
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) throw new TypeError(`limit must be 1 to ${MAX_AUDIT_PAGE}`)
  return { after, limit }
}

/**
 * Decodes a stored entry, checking it is an entry of `tenant` (and number `seq`, when given).
 * @throws VerifierError `ERR_STORE_CORRUPT`
 */
export function decodeAuditEntry(json: string, tenant: TenantId, seq?: number): AuditEntry {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (cause) {
    throw new VerifierError('ERR_STORE_CORRUPT', 'stored audit entry is not JSON', { cause })
  }
  const problem = entryShapeProblem(value)
  if (problem !== undefined) throw new VerifierError('ERR_STORE_CORRUPT', `stored audit entry cannot be decoded: ${problem}`)
  const entry = value as AuditEntry
  if (entry.tenant !== tenant || (seq !== undefined && entry.seq !== seq)) {
    throw new VerifierError('ERR_STORE_CORRUPT', `stored audit entry is not entry ${seq ?? '?'} of tenant ${tenant}`)
  }
  return entry
}

/**
 * Every entry of a tenant from seq `after + 1` on, page by page: the export of one tenant (JSON
 * lines of these entries, docs/audit.md).
 */
export async function* auditEntries(store: Pick<AuditStore, 'page'>, tenant: TenantId, after = 0): AsyncGenerator<AuditEntry> {
  let from: number | undefined = after
  while (from !== undefined) {
    const page: AuditPage = await store.page(tenant, { after: from, limit: MAX_AUDIT_PAGE })
    yield* page.entries
    if (page.next !== undefined && page.next <= from) throw new VerifierError('ERR_STORE_CORRUPT', `audit page after ${from} does not move on`)
    from = page.next
  }
}
