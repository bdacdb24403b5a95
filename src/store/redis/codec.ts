/**
 * How sessions and appraisal records are laid out in Redis. A session is a hash (so the claim script
 * can test and set single fields); an appraisal record is one JSON string. Anything read back that
 * does not decode is `ERR_STORE_CORRUPT`: the key was written by something else, or by an
 * incompatible version.
 */
import { VerifierError } from '../../errors/errors.js'
import { isAppraisalStatus, isSessionStatus } from '../keys.js'
import type { AppraisalRecord, Session, TenantId } from '../types.js'

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** The hash fields of a session; optional fields are left out rather than stored empty. */
export function encodeSession(session: Session): Record<string, string> {
  const { nonce } = session
  const fields: Record<string, string> = {
    id: session.id,
    tenant: session.tenant,
    nonce: Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64'),
    status: session.status,
    expiresAt: String(session.expiresAt),
    accept: JSON.stringify(session.accept),
  }
  if (session.appraisalId !== undefined) fields.appraisalId = session.appraisalId
  if (session.evidenceMediaType !== undefined) fields.evidenceMediaType = session.evidenceMediaType
  if (session.evidenceDigest !== undefined) fields.evidenceDigest = session.evidenceDigest
  return fields
}

/**
 * The session in a hash read back from `sessionKey(tenant, id)`; undefined for an empty hash (no
 * such key). The stored id and tenant must be the ones the key names.
 */
export function decodeSession(fields: Record<string, string>, tenant: TenantId, id: string): Session | undefined {
  if (Object.keys(fields).length === 0) return undefined
  const { nonce, status, expiresAt, accept, appraisalId, evidenceMediaType, evidenceDigest } = fields
  if (fields.id !== id || fields.tenant !== tenant) throw corrupt('session', 'id or tenant differs from its key')
  if (!isSessionStatus(status)) throw corrupt('session', 'unknown status')
  if (nonce === undefined || !BASE64.test(nonce)) throw corrupt('session', 'nonce is not base64')
  const expiresAtMs = Number(expiresAt)
  if (expiresAt === undefined || !Number.isSafeInteger(expiresAtMs)) throw corrupt('session', 'bad expiresAt')
  const acceptList = parseJson(accept, 'session')
  if (!Array.isArray(acceptList) || !acceptList.every((item) => typeof item === 'string')) {
    throw corrupt('session', 'accept is not a list of strings')
  }
  return {
    id,
    tenant,
    nonce: new Uint8Array(Buffer.from(nonce, 'base64')),
    status,
    expiresAt: expiresAtMs,
    accept: acceptList,
    ...(appraisalId === undefined ? {} : { appraisalId }),
    ...(evidenceMediaType === undefined ? {} : { evidenceMediaType }),
    ...(evidenceDigest === undefined ? {} : { evidenceDigest }),
  }
}

/** A flat `[field, value, field, value, …]` reply (HGETALL inside a script) as an object. */
export function fieldsFromFlatReply(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw corrupt('session', 'unexpected script reply')
  const fields: Record<string, string> = Object.create(null) as Record<string, string>
  for (let i = 0; i < reply.length; i += 2) {
    const [field, value] = [reply[i] as unknown, reply[i + 1] as unknown]
    if (typeof field !== 'string' || typeof value !== 'string') throw corrupt('session', 'unexpected script reply')
    fields[field] = value
  }
  return fields
}

/** The appraisal record in a JSON string read back from `resultKey(tenant, id)`. */
export function decodeResult(json: string, tenant: TenantId, id: string): AppraisalRecord {
  const record = parseJson(json, 'appraisal record')
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw corrupt('appraisal record', 'not a JSON object')
  }
  const { id: storedId, tenant: storedTenant, status, createdAt } = record as Record<string, unknown>
  if (storedId !== id || storedTenant !== tenant) {
    throw corrupt('appraisal record', 'id or tenant differs from its key')
  }
  if (!isAppraisalStatus(status)) throw corrupt('appraisal record', 'unknown status')
  if (typeof createdAt !== 'number') throw corrupt('appraisal record', 'createdAt is not a number')
  return record as AppraisalRecord
}

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) throw corrupt(what, 'field missing')
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw corrupt(what, 'not JSON', err)
  }
}

function corrupt(what: string, why: string, cause?: unknown): VerifierError {
  return new VerifierError('ERR_STORE_CORRUPT', `stored ${what} cannot be decoded: ${why}`, { cause })
}
