/**
 * The lines of the memory store's files. Each line is one JSON object ending in `\n`: a change to the
 * store in a journal, or a live entry in a snapshot (which uses `create` and `put` only).
 *
 * Every entry sets state rather than testing it (`claim` sets the submission whatever the status), so
 * replaying an entry twice, or replaying entries over a snapshot taken after them, ends in the same
 * state as replaying them once. Compaction relies on this (see `store-persistence.ts`).
 *
 * Lines are decoded as hostile: a file may be corrupt, so each field is checked before use.
 */
import { createHash } from 'node:crypto'
import { assertNewSession, isAppraisalStatus, isRecordId, isTenantId } from '../keys.js'
import type { AppraisalRecord, Session, SessionSubmission, TenantId } from '../types.js'

/** A change or a live entry, decoded and checked. */
export type JournalEntry =
  | {
      readonly op: 'put'
      readonly tenant: TenantId
      readonly id: string
      /** The record as the store holds it: JSON text. */
      readonly json: string
      /** Milliseconds since the epoch. */
      readonly expiresAt: number
    }
  | { readonly op: 'create'; readonly session: Session }
  | ({ readonly op: 'claim'; readonly tenant: TenantId; readonly id: string } & SessionSubmission)
  | { readonly op: 'unclaim'; readonly tenant: TenantId; readonly id: string; readonly appraisalId: string }
  | {
      readonly op: 'finish'
      readonly tenant: TenantId
      readonly id: string
      readonly status: 'complete' | 'failed'
    }
  | { readonly op: 'delete'; readonly tenant: TenantId; readonly id: string }

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const SESSION_TEXT_FIELDS = ['appraisalId', 'evidenceMediaType', 'evidenceDigest'] as const

/** The line of a stored appraisal record; `json` is embedded as is, so the cost is one copy. */
export function putLine(json: string, expiresAt: number): string {
  return `{"op":"put","expiresAt":${expiresAt},"record":${json}}\n`
}

/** The line of a created session, or of a live session in a snapshot. */
export function createLine(session: Session): string {
  return `{"op":"create","session":${JSON.stringify(sessionToJson(session))}}\n`
}

/** The line of a successful claim. */
export function claimLine(tenant: TenantId, id: string, submission: SessionSubmission): string {
  const { appraisalId, evidenceMediaType, evidenceDigest } = submission
  return `${JSON.stringify({ op: 'claim', tenant, id, appraisalId, evidenceMediaType, evidenceDigest })}\n`
}

/** The line of a claim undone because its Evidence could not be queued. */
export function unclaimLine(tenant: TenantId, id: string, appraisalId: string): string {
  return `${JSON.stringify({ op: 'unclaim', tenant, id, appraisalId })}\n`
}

/** The line of a session given its final status. */
export function finishLine(tenant: TenantId, id: string, status: 'complete' | 'failed'): string {
  return `${JSON.stringify({ op: 'finish', tenant, id, status })}\n`
}

/** The line of a deleted session. */
export function deleteLine(tenant: TenantId, id: string): string {
  return `${JSON.stringify({ op: 'delete', tenant, id })}\n`
}

/** Decodes one line (without its `\n`); throws an `Error` saying what is wrong. */
export function decodeEntry(text: string): JournalEntry {
  const item = JSON.parse(text) as unknown
  if (!isObject(item)) throw new Error('not an object')
  switch (item.op) {
    case 'put': {
      if (!Number.isSafeInteger(item.expiresAt)) throw new Error('put: bad expiresAt')
      const record = decodeRecord(item.record)
      const { tenant, id } = record
      return { op: 'put', tenant, id, json: JSON.stringify(record), expiresAt: item.expiresAt as number }
    }
    case 'create':
      return { op: 'create', session: decodeSession(item.session) }
    case 'claim': {
      const { tenant, id } = decodeTarget(item)
      const { appraisalId, evidenceMediaType } = item
      if (typeof appraisalId !== 'string') throw new Error('claim: bad appraisalId')
      if (typeof evidenceMediaType !== 'string') throw new Error('claim: bad evidenceMediaType')
      const evidenceDigest = digestOf(item)
      if (evidenceDigest === undefined) throw new Error('claim: bad evidenceDigest')
      return { op: 'claim', tenant, id, appraisalId, evidenceMediaType, evidenceDigest }
    }
    case 'unclaim': {
      const { tenant, id } = decodeTarget(item)
      if (typeof item.appraisalId !== 'string') throw new Error('unclaim: bad appraisalId')
      return { op: 'unclaim', tenant, id, appraisalId: item.appraisalId }
    }
    case 'finish': {
      const { tenant, id } = decodeTarget(item)
      if (item.status !== 'complete' && item.status !== 'failed') throw new Error('finish: bad status')
      return { op: 'finish', tenant, id, status: item.status }
    }
    case 'delete':
      return { op: 'delete', ...decodeTarget(item) }
    default:
      throw new Error('unknown op')
  }
}

/** A session as JSON: the nonce in base64, absent optional fields left out. */
export function sessionToJson(session: Session): Record<string, unknown> {
  const { nonce } = session
  return { ...session, nonce: Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64') }
}

/** The inverse of {@link sessionToJson}; throws an `Error` when `item` is not a valid session. */
export function decodeSession(item: unknown): Session {
  if (!isObject(item) || typeof item.nonce !== 'string' || !BASE64.test(item.nonce)) {
    throw new Error('session: malformed')
  }
  const text: Record<string, string> = {}
  const digest = digestOf(item)
  if (digest !== undefined) text.evidenceDigest = digest
  else if (item.evidenceDigest !== undefined || item.evidence !== undefined) throw new Error('session: bad evidenceDigest')
  for (const field of SESSION_TEXT_FIELDS) {
    if (field === 'evidenceDigest') continue
    const value = item[field]
    if (value === undefined) continue
    if (typeof value !== 'string') throw new Error(`session: bad ${field}`)
    text[field] = value
  }
  const session = {
    id: item.id,
    tenant: item.tenant,
    nonce: new Uint8Array(Buffer.from(item.nonce, 'base64')),
    status: item.status,
    expiresAt: item.expiresAt,
    accept: item.accept,
    ...text,
  } as Session
  try {
    assertNewSession(session)
  } catch (err) {
    throw new Error(`session: ${err instanceof Error ? err.message : String(err)}`)
  }
  return session
}

/** Checks the fields the store relies on; the rest of a record is opaque to it. */
export function decodeRecord(item: unknown): AppraisalRecord {
  if (!isObject(item)) throw new Error('record: malformed')
  const record = item as Partial<AppraisalRecord>
  if (!isRecordId(record.id) || !isTenantId(record.tenant) || !isAppraisalStatus(record.status)) {
    throw new Error('record: bad id, tenant or status')
  }
  if (typeof record.createdAt !== 'number') throw new Error('record: bad createdAt')
  return record as AppraisalRecord
}

/**
 * The Evidence digest of a claim or session: `evidenceDigest`, or, in files written before sessions
 * kept digests, the SHA-256 of the base64 `evidence` they held. Undefined when neither is valid.
 */
function digestOf(item: Record<string, unknown>): string | undefined {
  const { evidenceDigest, evidence } = item
  if (typeof evidenceDigest === 'string') return BASE64.test(evidenceDigest) ? evidenceDigest : undefined
  if (typeof evidence === 'string' && BASE64.test(evidence)) {
    return createHash('sha256').update(Buffer.from(evidence, 'base64')).digest('base64')
  }
  return undefined
}

function decodeTarget(item: Record<string, unknown>): { tenant: TenantId; id: string } {
  if (!isTenantId(item.tenant) || !isRecordId(item.id)) throw new Error(`${String(item.op)}: bad tenant or id`)
  return { tenant: item.tenant, id: item.id }
}

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
