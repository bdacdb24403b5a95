/**
 * The only Redis key builder, and the identifier and argument rules both store adapters share.
 *
 * Record keys are `<prefix>:{<tenant>}:<kind>:<id>`. The braces are a Redis Cluster hash tag: every
 * key of one tenant hashes to the same slot, so a tenant's keys can be used together in one script or
 * transaction. Worker heartbeats are not per tenant: one sorted set, `<prefix>:hb`.
 *
 * Identifiers are checked here, not trusted: a tenant or id with `:`, `{`, `}` or a glob character
 * could reach another tenant's keys or widen a `SCAN MATCH`. A bad identifier is a programming error
 * (the API validates input first), so it throws `TypeError`, not a `VerifierError`.
 */
import { toHex } from '../util/bytes.js'
import type { AppraisalStatus, Session, SessionStatus, TenantId } from './types.js'

const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const NONCE_ID = /^(?:[0-9a-f]{2}){1,64}$/
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

/** Largest nonce accepted, in bytes: `eat_nonce` is 8 to 64 bytes (RFC 9711 §4.1). */
export const MAX_NONCE_BYTES = 64

/** What a record key holds. */
export type RecordKind = 'nonce' | 'session' | 'result' | 'submitter'

/** Whether `value` is a valid tenant id: `[a-z0-9][a-z0-9-]{0,62}`. */
export function isTenantId(value: unknown): value is TenantId {
  return typeof value === 'string' && TENANT_ID.test(value)
}

/** Whether `value` is a valid session, appraisal or worker id: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. */
export function isRecordId(value: unknown): value is string {
  return typeof value === 'string' && RECORD_ID.test(value)
}

/** Throws `TypeError` unless `tenant` is a valid tenant id. */
export function assertTenantId(tenant: unknown): asserts tenant is TenantId {
  if (!isTenantId(tenant)) throw new TypeError(`invalid tenant id: ${describe(tenant)}`)
}

/** Throws `TypeError` unless `id` is a valid record id. */
export function assertRecordId(id: unknown): asserts id is string {
  if (!isRecordId(id)) throw new TypeError(`invalid record id: ${describe(id)}`)
}

/** Throws `TypeError` unless `workerId` is a valid worker id (same rule as record ids). */
export function assertWorkerId(workerId: unknown): asserts workerId is string {
  if (!isRecordId(workerId)) throw new TypeError(`invalid worker id: ${describe(workerId)}`)
}

/** The id under which a nonce is stored: lower-case hex of its bytes (1 to 64 bytes). */
export function nonceId(nonce: Uint8Array): string {
  if (!(nonce instanceof Uint8Array) || nonce.length === 0 || nonce.length > MAX_NONCE_BYTES) {
    throw new TypeError(`nonce must be a Uint8Array of 1 to ${MAX_NONCE_BYTES} bytes`)
  }
  return toHex(nonce)
}

/**
 * Throws `TypeError` unless `prefix` is a valid key prefix, `[A-Za-z0-9][A-Za-z0-9._-]{0,99}`: no `:`,
 * braces, spaces or glob characters, so one prefix's `SCAN MATCH` never reaches another's keys.
 */
export function assertKeyPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new TypeError(`invalid key prefix: ${describe(prefix)}`)
  }
}

/** `<prefix>:{<tenant>}:<kind>:<id>`, after checking every part. */
export function recordKey(prefix: string, tenant: TenantId, kind: RecordKind, id: string): string {
  assertKeyPrefix(prefix)
  assertTenantId(tenant)
  if (kind === 'nonce') {
    if (!NONCE_ID.test(id)) throw new TypeError(`invalid nonce id: ${describe(id)}`)
  } else {
    assertRecordId(id)
  }
  return `${prefix}:{${tenant}}:${kind}:${id}`
}

/** Key of an issued nonce: `<prefix>:{<tenant>}:nonce:<hex>`. */
export function nonceKey(prefix: string, tenant: TenantId, nonce: Uint8Array): string {
  return recordKey(prefix, tenant, 'nonce', nonceId(nonce))
}

/** Key of a challenge/response session: `<prefix>:{<tenant>}:session:<id>`. */
export function sessionKey(prefix: string, tenant: TenantId, id: string): string {
  return recordKey(prefix, tenant, 'session', id)
}

/** Key of an appraisal record: `<prefix>:{<tenant>}:result:<appraisal id>`. */
export function resultKey(prefix: string, tenant: TenantId, id: string): string {
  return recordKey(prefix, tenant, 'result', id)
}

/** Key of the sorted set of worker ids scored by heartbeat expiry (ms): `<prefix>:hb`. */
export function heartbeatsKey(prefix: string): string {
  assertKeyPrefix(prefix)
  return `${prefix}:hb`
}

/**
 * First part of every endorsement key of a tenant: `<prefix>:{<tenant>}:e:`. Under it (see
 * `redis/endorsement-store.ts`): `m:<id>` the head of a document (one string), `v:<id>:<n>` its version `n`
 * (JSON string), `live` and `kind:<kind>` the live documents (sorted sets, by id), `i:<index id>` the
 * documents whose latest version names that index identifier (sorted set), `t` the tenant's revision
 * and document count (hash). The hash tag keeps them in one slot, so one script may touch them all.
 */
export function endorsementBase(prefix: string, tenant: TenantId): string {
  assertKeyPrefix(prefix)
  assertTenantId(tenant)
  return `${prefix}:{${tenant}}:e:`
}

/**
 * First part of every credential key: `<prefix>:{_credentials}:`. Unlike everything else, API keys
 * are not under their tenant's hash tag: a request's key is looked up by key id before its tenant is
 * known, so all credentials share one slot (`_` is not allowed in a tenant id, so no tenant's keys
 * meet these). Under it (see `redis/credential-store.ts`): `k:<key id>` a key's record (JSON),
 * `t:<tenant>:ids` the tenant's key ids and `t:<tenant>:revoked` its revoked ones (sorted sets).
 */
export function credentialBase(prefix: string): string {
  assertKeyPrefix(prefix)
  return `${prefix}:{_credentials}:`
}

/**
 * Keys of a tenant's audit chain: `<prefix>:{<tenant>}:audit` (a stream, entry ids `<seq>-0`) and
 * `<prefix>:{<tenant>}:audit-head` (a hash: seq, hash, time, cps, cpt of the last entry and the last
 * checkpoint entry). One hash tag, so the append script touches both in one slot.
 */
export function auditKeys(prefix: string, tenant: TenantId): { readonly stream: string; readonly head: string } {
  assertKeyPrefix(prefix)
  assertTenantId(tenant)
  return { stream: `${prefix}:{${tenant}}:audit`, head: `${prefix}:{${tenant}}:audit-head` }
}

/** The pub/sub channel of endorsement changes under `prefix`: `<prefix>:endorsements`. */
export function endorsementChannel(prefix: string): string {
  assertKeyPrefix(prefix)
  return `${prefix}:endorsements`
}

/** `SCAN MATCH` pattern for every key under `prefix` (safe: prefixes hold no glob characters). */
export function prefixPattern(prefix: string): string {
  assertKeyPrefix(prefix)
  return `${prefix}:*`
}

// ── argument rules both adapters apply, so a misuse fails the same way on either ───────────────

const SESSION_STATUSES = new Set<unknown>(['waiting', 'processing', 'complete', 'failed'] satisfies SessionStatus[])
const APPRAISAL_STATUSES = new Set<unknown>(['queued', 'processing', 'complete', 'failed'] satisfies AppraisalStatus[])

/** Whether `value` is a {@link SessionStatus}. */
export function isSessionStatus(value: unknown): value is SessionStatus {
  return SESSION_STATUSES.has(value)
}

/** Whether `value` is an {@link AppraisalStatus}. */
export function isAppraisalStatus(value: unknown): value is AppraisalStatus {
  return APPRAISAL_STATUSES.has(value)
}

/** Throws `TypeError` unless `ttlSeconds` is a whole number of seconds, at least 1 (Redis `EX`). */
export function assertTtlSeconds(ttlSeconds: unknown): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TypeError(`ttlSeconds must be a positive integer, got ${describe(ttlSeconds)}`)
  }
}

/** Throws `TypeError` unless `status` is a final session status. */
export function assertFinalStatus(status: unknown): asserts status is 'complete' | 'failed' {
  if (status !== 'complete' && status !== 'failed') {
    throw new TypeError(`invalid final status: ${describe(status)}`)
  }
}

/**
 * Throws `TypeError` unless `session` can be stored: valid tenant and id, a known status, a nonce of
 * 1 to 64 bytes, an integer `expiresAt` (Redis `PEXPIREAT`) and a list of media types.
 */
export function assertNewSession(session: Session): void {
  assertTenantId(session.tenant)
  assertRecordId(session.id)
  nonceId(session.nonce)
  if (!isSessionStatus(session.status)) {
    throw new TypeError(`invalid session status: ${describe(session.status)}`)
  }
  if (!Number.isSafeInteger(session.expiresAt)) throw new TypeError('session.expiresAt must be an integer (ms)')
  if (!Array.isArray(session.accept) || !session.accept.every((item) => typeof item === 'string')) {
    throw new TypeError('session.accept must be a list of media types')
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value !== 'string') return typeof value
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}
