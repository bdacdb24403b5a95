/**
 * The endorsement store port: what operators provision (trust anchors, reference values, EAT
 * profiles), per tenant, as versioned documents. Two adapters implement it, Redis
 * (`redis/endorsement-store.ts`) and in-memory with a journal in a data directory
 * (`memory/endorsement-store.ts`), and both pass one contract suite
 * (`test/unit/store/endorsement-contract.ts`).
 *
 * Model:
 * - A document has an id (record-id rule, `keys.ts`), a kind fixed at its creation, and versions
 *   numbered 1, 2, 3… Every change (replace, delete, activate, deactivate) is a new version with
 *   when, by whom and from where (`source`); earlier versions stay readable until more than
 *   `maxVersionsPerDocument` exist, when the oldest are pruned (never the latest). A delete is a
 *   tombstone version: the document leaves listings and lookups, its history stays readable, and
 *   creating the id again continues its numbering.
 * - Index identifiers (`psa-instance:<hex>`, `eat-ueid:<hex>`, `x5t:S256:<hex>`…) are supplied by the
 *   caller with each version; the store keeps, per tenant and identifier, the set of documents whose
 *   latest version names it, so `lookup` costs the same with ten documents or ten million.
 * - The body is opaque JSON here: only its shape (JSON values, bounded depth) and size are checked;
 *   the API layer validates it with zod before it gets here.
 * - Every change increments a per-tenant `revision`, and `watch` tells listeners of it. A listener
 *   that may miss a message (Redis pub/sub drops messages while a subscriber reconnects) compares
 *   `revision(tenant)` with the last one it saw: see docs/decisions.md.
 *
 * Errors: caller mistakes the API should have caught are `VerifierError`s of the request family
 * (`ERR_ENDORSEMENT_*`, `ERR_PAGE_CURSOR_INVALID`); a tenant at its document cap is `ERR_STORE_FULL`;
 * an identifier that could reach another tenant's keys (bad tenant or document id) is a `TypeError`,
 * as in `keys.ts`.
 */
import { createHash } from 'node:crypto'
import { VerifierError } from '../errors/errors.js'
import { assertRecordId, assertTenantId, isRecordId } from './keys.js'
import type { TenantId } from './types.js'

/** What a provisioned document is. */
export type EndorsementKind = 'trust-anchor' | 'reference-value' | 'profile'

export const ENDORSEMENT_KINDS: readonly EndorsementKind[] = ['trust-anchor', 'reference-value', 'profile']

/** A JSON value, as the body of a document. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** One version of a document, as stored and returned. */
export interface EndorsementVersion {
  readonly tenant: TenantId
  readonly id: string
  readonly kind: EndorsementKind
  /** 1 for the first version, one more for each change. */
  readonly version: number
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  /** Who made the change (an operator or a process name); free text, at most 256 characters. */
  readonly createdBy: string
  /** Where it came from: `file:<path>`, `api`, `corim:<corim id>#<tag id>@<tag version>`… */
  readonly source: string
  /** Whether lookups return it. Listings and `get` return inactive documents too. */
  readonly active: boolean
  /** A tombstone: the document was deleted by this version (its body is `null`, no index ids). */
  readonly deleted: boolean
  /** Lower-case hex SHA-256 of the content (kind, body, index ids), or the digest the caller gave. */
  readonly digest: string
  readonly indexIds: readonly string[]
  readonly body: JsonValue
}

/** The content of a new version. */
export interface EndorsementWrite {
  readonly kind: EndorsementKind
  readonly body: JsonValue
  readonly indexIds: readonly string[]
  readonly createdBy: string
  readonly source: string
  /** @defaultValue true */
  readonly active?: boolean
  /**
   * The content digest `putIfChanged` compares, e.g. a CoMID's tag digest (lower-case hex, 16 to 128
   * digits). @defaultValue the SHA-256 of the canonical JSON of kind, body and sorted index ids
   */
  readonly digest?: string
}

/** Who makes a change that has no content of its own (delete, activate, deactivate). */
export interface EndorsementChange {
  readonly createdBy: string
  readonly source: string
}

/** What `putIfChanged` did. */
export interface PutIfChangedResult {
  /**
   * `unchanged`: the latest version has the same digest and is not a tombstone; nothing was written
   * (an inactive document stays inactive).
   */
  readonly outcome: 'created' | 'replaced' | 'unchanged'
  /** The new version, or the latest one when unchanged. */
  readonly version: EndorsementVersion
}

/** Options of `list`. */
export interface EndorsementListOptions {
  readonly kind?: EndorsementKind
  /** Only documents whose latest version names this index identifier. */
  readonly indexId?: string
  /** @defaultValue 100; at most {@link MAX_PAGE_SIZE} */
  readonly limit?: number
  /** The `cursor` of the previous page. */
  readonly cursor?: string
}

/** One page of a listing, in ascending order of document id. */
export interface EndorsementPage {
  /** The latest version of each live (not deleted) document, active or not. */
  readonly items: readonly EndorsementVersion[]
  /**
   * Present when more documents may follow: pass it back for the next page. A page filtered by both
   * kind and index identifier may hold fewer than `limit` items and still have a cursor.
   */
  readonly cursor?: string
}

/** A change seen by `watch`. */
export interface EndorsementChangeEvent {
  readonly tenant: TenantId
  /** The tenant's revision after the change. */
  readonly revision: number
  /** The documents the change touched. */
  readonly ids: readonly string[]
}

export type EndorsementListener = (event: EndorsementChangeEvent) => void

export interface EndorsementStore {
  /**
   * Creates document `id` (version 1, or the next version of a deleted id).
   * @throws VerifierError `ERR_ENDORSEMENT_CONFLICT` when the id exists (and is not deleted);
   *   `ERR_ENDORSEMENT_TOO_LARGE`, `ERR_ENDORSEMENT_INVALID` for a body or index ids beyond the caps;
   *   `ERR_STORE_FULL` when the tenant holds as many documents as it may
   */
  create(tenant: TenantId, id: string, write: EndorsementWrite): Promise<EndorsementVersion>
  /**
   * Replaces live document `id` with a new version.
   * @throws VerifierError `ERR_ENDORSEMENT_NOT_FOUND` when there is no live document `id`;
   *   `ERR_ENDORSEMENT_CONFLICT` when `write.kind` differs from the document's; as `create` for caps
   */
  put(tenant: TenantId, id: string, write: EndorsementWrite): Promise<EndorsementVersion>
  /**
   * Creates or replaces `id` unless its latest version has the digest of `write` already: the
   * idempotent write of CoRIM and file loading.
   * @throws as `create` and `put`
   */
  putIfChanged(tenant: TenantId, id: string, write: EndorsementWrite): Promise<PutIfChangedResult>
  /** The latest version (which may be a tombstone), or version `version`; undefined when not kept. */
  get(tenant: TenantId, id: string, version?: number): Promise<EndorsementVersion | undefined>
  /** Every kept version of `id`, oldest first; empty when there is none. */
  versions(tenant: TenantId, id: string): Promise<EndorsementVersion[]>
  /**
   * A page of live documents in ascending id order.
   * @throws VerifierError `ERR_PAGE_CURSOR_INVALID` for a cursor this store did not make;
   *   `ERR_ENDORSEMENT_INVALID` for a malformed index identifier
   */
  list(tenant: TenantId, options?: EndorsementListOptions): Promise<EndorsementPage>
  /**
   * Deletes `id`: a tombstone version. Returns it, or undefined when there was no live document.
   */
  delete(tenant: TenantId, id: string, change: EndorsementChange): Promise<EndorsementVersion | undefined>
  /**
   * Activates or deactivates live document `id`: a new version when its state changes, else the
   * latest version unchanged.
   * @throws VerifierError `ERR_ENDORSEMENT_NOT_FOUND` when there is no live document `id`
   */
  setActive(tenant: TenantId, id: string, active: boolean, change: EndorsementChange): Promise<EndorsementVersion>
  /**
   * The latest versions of the active live documents whose latest version names `indexId`, in id
   * order, at most {@link MAX_LOOKUP_RESULTS}. Costs the same whatever the number of documents.
   * @throws VerifierError `ERR_ENDORSEMENT_INVALID` for a malformed index identifier
   */
  lookup(tenant: TenantId, indexId: string): Promise<EndorsementVersion[]>
  /** The tenant's revision: 0 before its first change, one more with each change. */
  revision(tenant: TenantId): Promise<number>
  /**
   * Calls `listener` after each change of any tenant, made by this store or (Redis) any other
   * process on the same prefix. Resolves, with a function that stops it, once the subscription is in
   * place: a change made after that is heard (unless the connection drops; compare revisions). A
   * cache subscribes first, then reads the revision and its data, so no change falls in between.
   * Listener errors are ignored.
   * @throws VerifierError `ERR_STORE_UNAVAILABLE` when the subscription cannot be made
   */
  watch(listener: EndorsementListener): Promise<() => void>
  close(): Promise<void>
}

// ── bounds and rules both adapters apply ───────────────────────────────────────────────────────

/** Caps of an endorsement store; the defaults suit production, tests shrink them. */
export interface EndorsementLimits {
  /**
   * Most bytes of a body, as UTF-8 JSON.
   * @defaultValue 256 KiB
   */
  readonly maxBodyBytes: number
  /**
   * Most index identifiers per version.
   * @defaultValue 16
   */
  readonly maxIndexIds: number
  /**
   * Versions kept per document; older ones are pruned, never the latest.
   * @defaultValue 100
   */
  readonly maxVersionsPerDocument: number
  /**
   * Most documents per tenant, deleted ones included (their history is kept).
   * @defaultValue 2,000,000
   */
  readonly maxDocumentsPerTenant: number
}

export const DEFAULT_ENDORSEMENT_LIMITS: EndorsementLimits = {
  maxBodyBytes: 256 * 1024,
  maxIndexIds: 16,
  maxVersionsPerDocument: 100,
  maxDocumentsPerTenant: 2_000_000,
}

/** Largest page `list` returns. */
export const MAX_PAGE_SIZE = 1000
export const DEFAULT_PAGE_SIZE = 100
/** Most documents one `lookup` returns. */
export const MAX_LOOKUP_RESULTS = 100
/** Deepest nesting of a body. */
const MAX_BODY_DEPTH = 32
const MAX_TEXT = 256

/**
 * An index identifier: a lower-case scheme, `:`, then 1 to 256 characters of `[A-Za-z0-9._~:/+=-]`
 * (no spaces, braces or glob characters, so it is safe inside a Redis key).
 */
const INDEX_ID = /^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9._~:/+=-]{1,256}$/
const DIGEST = /^[0-9a-f]{16,128}$/
const KINDS = new Set<unknown>(ENDORSEMENT_KINDS)

export function isEndorsementKind(value: unknown): value is EndorsementKind {
  return KINDS.has(value)
}

/** Throws `ERR_ENDORSEMENT_INVALID` unless `indexId` is a well-formed index identifier. */
export function assertIndexId(indexId: unknown): asserts indexId is string {
  if (typeof indexId !== 'string' || !INDEX_ID.test(indexId)) {
    throw invalid(`malformed index identifier ${describe(indexId)}`)
  }
}

/** Throws `TypeError` unless `version` is a version number (a positive integer). */
export function assertVersionNumber(version: unknown): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new TypeError(`version must be a positive integer, got ${describe(version)}`)
  }
}

/** A write checked against `limits`, with its body serialised once and its digest worked out. */
export interface CheckedWrite {
  readonly kind: EndorsementKind
  readonly body: JsonValue
  /** Sorted, without duplicates. */
  readonly indexIds: readonly string[]
  readonly createdBy: string
  readonly source: string
  readonly active: boolean
  readonly digest: string
}

/**
 * Checks a write: tenant and id (TypeError), then kind, provenance, index ids and body (VerifierError
 * of the request family). The body is copied through JSON, so the caller's object is never kept.
 */
export function checkWrite(tenant: TenantId, id: string, write: EndorsementWrite, limits: EndorsementLimits): CheckedWrite {
  assertTenantId(tenant)
  assertRecordId(id)
  if (typeof write !== 'object' || write === null) throw invalid('the write is not an object')
  if (!isEndorsementKind(write.kind)) throw invalid(`unknown kind ${describe(write.kind)}`)
  checkChange(write)
  if (write.active !== undefined && typeof write.active !== 'boolean') throw invalid('active is not a boolean')
  if (!Array.isArray(write.indexIds)) throw invalid('indexIds is not a list')
  const indexIds = [...new Set(write.indexIds as readonly unknown[])]
  if (indexIds.length > limits.maxIndexIds) {
    throw invalid(`${indexIds.length} index identifiers; at most ${limits.maxIndexIds} are kept per document`)
  }
  for (const indexId of indexIds) assertIndexId(indexId)
  const sorted = (indexIds as string[]).sort()
  checkJson(write.body, 0)
  const json = JSON.stringify(write.body)
  const bytes = Buffer.byteLength(json, 'utf8')
  if (bytes > limits.maxBodyBytes) {
    throw new VerifierError('ERR_ENDORSEMENT_TOO_LARGE', `the body is ${bytes} bytes; at most ${limits.maxBodyBytes} are accepted`)
  }
  if (write.digest !== undefined && (typeof write.digest !== 'string' || !DIGEST.test(write.digest))) {
    throw invalid('digest is not 16 to 128 lower-case hex digits')
  }
  const body = JSON.parse(json) as JsonValue
  const digest = write.digest ?? contentDigest(write.kind, body, sorted)
  return { kind: write.kind, body, indexIds: sorted, createdBy: write.createdBy, source: write.source, active: write.active ?? true, digest }
}

/** Checks who and where of a change (`ERR_ENDORSEMENT_INVALID`). */
export function checkChange(change: EndorsementChange): void {
  if (typeof change !== 'object' || change === null) throw invalid('the change is not an object')
  for (const field of ['createdBy', 'source'] as const) {
    const value = change[field]
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
      throw invalid(`${field} must be 1 to ${MAX_TEXT} characters`)
    }
  }
}

/** SHA-256 (hex) of the canonical JSON (object keys sorted) of kind, body and sorted index ids. */
export function contentDigest(kind: EndorsementKind, body: JsonValue, sortedIndexIds: readonly string[]): string {
  return createHash('sha256').update(canonicalJson({ kind, body, indexIds: [...sortedIndexIds] })).digest('hex')
}

/** JSON with object keys in sorted order at every level, so equal content gives equal text. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${(value as readonly JsonValue[]).map(canonicalJson).join(',')}]`
  const object = value as { readonly [key: string]: JsonValue }
  const keys = Object.keys(object).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key]!)}`).join(',')}}`
}

/** The page size `list` uses for `limit` (TypeError unless 1 to {@link MAX_PAGE_SIZE}). */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new TypeError(`limit must be 1 to ${MAX_PAGE_SIZE}, got ${describe(limit)}`)
  }
  return limit
}

const CURSOR = /^e1\.([A-Za-z0-9_-]{1,200})$/

/** The cursor of a page that ended at document `lastId`. */
export function encodeCursor(lastId: string): string {
  return `e1.${Buffer.from(lastId, 'utf8').toString('base64url')}`
}

/** The document id a cursor resumes after; `ERR_PAGE_CURSOR_INVALID` when it is not one of ours. */
export function decodeCursor(cursor: unknown): string {
  const match = typeof cursor === 'string' ? CURSOR.exec(cursor) : null
  const id = match === null ? undefined : Buffer.from(match[1]!, 'base64url').toString('utf8')
  if (id === undefined || !isRecordId(id) || encodeCursor(id) !== cursor) {
    throw new VerifierError('ERR_PAGE_CURSOR_INVALID', 'the cursor was not made by this listing')
  }
  return id
}

/**
 * Checks a version record read back from storage (`ERR_STORE_CORRUPT` when it is not one, or not
 * the one its key names).
 */
export function decodeVersion(json: string, tenant: TenantId, id: string): EndorsementVersion {
  let item: unknown
  try {
    item = JSON.parse(json)
  } catch (err) {
    throw new VerifierError('ERR_STORE_CORRUPT', 'stored endorsement version is not JSON', { cause: err })
  }
  const v = item as Partial<EndorsementVersion> | null
  const ok =
    typeof v === 'object' &&
    v !== null &&
    v.tenant === tenant &&
    v.id === id &&
    isEndorsementKind(v.kind) &&
    Number.isSafeInteger(v.version) &&
    typeof v.createdAt === 'number' &&
    typeof v.createdBy === 'string' &&
    typeof v.source === 'string' &&
    typeof v.active === 'boolean' &&
    typeof v.deleted === 'boolean' &&
    typeof v.digest === 'string' &&
    Array.isArray(v.indexIds) &&
    'body' in v
  if (!ok) throw new VerifierError('ERR_STORE_CORRUPT', 'stored endorsement version cannot be decoded')
  return v as EndorsementVersion
}

/** Calls each listener, ignoring what they throw. */
export function notify(listeners: Iterable<EndorsementListener>, event: EndorsementChangeEvent): void {
  for (const listener of listeners) {
    try {
      listener(event)
    } catch {
      // A listener's fault is its own; the change is made.
    }
  }
}

function checkJson(value: unknown, depth: number): void {
  if (depth > MAX_BODY_DEPTH) throw invalid(`the body nests deeper than ${MAX_BODY_DEPTH}`)
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid('the body holds a number JSON cannot represent')
    return
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, depth + 1)
    return
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) checkJson(item, depth + 1)
    return
  }
  throw invalid(`the body holds a ${typeof value === 'object' ? 'non-plain object' : typeof value}, not a JSON value`)
}

function invalid(message: string): VerifierError {
  return new VerifierError('ERR_ENDORSEMENT_INVALID', message)
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value !== 'string') return typeof value
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}

// ── the decisions both adapters make the same way ──────────────────────────────────────────────

/** What an adapter knows of a document before a change: its latest version. */
export type DocumentHead = Pick<EndorsementVersion, 'kind' | 'version' | 'deleted' | 'active' | 'digest'>

/** How a write treats an existing document. */
export type WriteMode = 'create' | 'put' | 'putIfChanged'

/**
 * The version a write makes of a document whose latest version is `head` (undefined: none), or
 * `unchanged` (putIfChanged only). Throws `ERR_ENDORSEMENT_CONFLICT` or `ERR_ENDORSEMENT_NOT_FOUND`.
 */
export function planWrite(
  mode: WriteMode,
  tenant: TenantId,
  id: string,
  head: DocumentHead | undefined,
  write: CheckedWrite,
  nowMs: number,
): { readonly outcome: 'created' | 'replaced'; readonly record: EndorsementVersion } | { readonly outcome: 'unchanged' } {
  const live = head !== undefined && !head.deleted
  if (mode === 'create' && live) throw new VerifierError('ERR_ENDORSEMENT_CONFLICT', `document ${id} exists already`)
  if (mode === 'put' && !live) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no document ${id}`)
  if (live && head.kind !== write.kind) {
    throw new VerifierError('ERR_ENDORSEMENT_CONFLICT', `document ${id} is a ${head.kind}, not a ${write.kind}`)
  }
  // Same content: unchanged, whatever its active state, so a re-submitted CoRIM never undoes an
  // operator's deactivation.
  if (mode === 'putIfChanged' && live && head.digest === write.digest) return { outcome: 'unchanged' }
  const record: EndorsementVersion = {
    tenant,
    id,
    kind: write.kind,
    version: (head?.version ?? 0) + 1,
    createdAt: nowMs,
    createdBy: write.createdBy,
    source: write.source,
    active: write.active,
    deleted: false,
    digest: write.digest,
    indexIds: write.indexIds,
    body: write.body,
  }
  return { outcome: live ? 'replaced' : 'created', record }
}

/** The tombstone that deletes live document `latest`. */
export function tombstoneOf(latest: EndorsementVersion, change: EndorsementChange, nowMs: number): EndorsementVersion {
  return {
    ...latest,
    version: latest.version + 1,
    createdAt: nowMs,
    createdBy: change.createdBy,
    source: change.source,
    active: false,
    deleted: true,
    indexIds: [],
    body: null,
  }
}

/** The version that activates or deactivates live document `latest`: same content, new state. */
export function activationOf(latest: EndorsementVersion, active: boolean, change: EndorsementChange, nowMs: number): EndorsementVersion {
  return { ...latest, version: latest.version + 1, createdAt: nowMs, createdBy: change.createdBy, source: change.source, active }
}
