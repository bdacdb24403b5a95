/**
 * The credential store port: API keys, by key id (the one lookup a request makes, before its tenant
 * is known) and per tenant (listing, caps). Two adapters, Redis (`redis/credential-store.ts`) and
 * in-memory with a journal file (`memory/credential-store.ts`), pass one contract suite
 * (`test/unit/store/credential-contract.ts`).
 *
 * A record holds the SHA-256 of its key, never the key (`auth/api-keys.ts` says why a fast hash is
 * right for a 256-bit secret). A revoked key is kept, with `revokedAt`, so listings and audits still
 * name it; a tenant keeps at most `maxRevokedKeysPerTenant` of them, and revoking one more forgets
 * the one revoked longest ago (its key id then reads as unknown: refused all the same).
 *
 * A principal id of any kind fits `createdBy` and `revokedBy` (see {@link MAX_ACTOR_LENGTH}).
 *
 * Bounds: a name of 1 to {@link MAX_KEY_NAME_LENGTH} printable characters, 1 to 5 roles without
 * repeats, `createdBy`/`revokedBy` up to 600 characters, and at most
 * `maxActiveKeysPerTenant` unrevoked keys per tenant (`ERR_STORE_FULL` past it).
 */
import { isKeyHash, isKeyId } from '../auth/api-keys.js'
import { isRole, parseRoles, type Role } from '../auth/roles.js'
import { VerifierError } from '../errors/errors.js'
import { assertTenantId, isTenantId } from './keys.js'
import type { TenantId } from './types.js'

/** Longest key name. */
export const MAX_KEY_NAME_LENGTH = 100
/**
 * Longest `createdBy` or `revokedBy`: a principal id, the longest of which is an OIDC one,
 * `oidc:<issuer of up to 300>#<sub of up to 255>`.
 */
export const MAX_ACTOR_LENGTH = 600
/** Largest page of a listing. */
export const MAX_CREDENTIAL_PAGE = 100
const DEFAULT_CREDENTIAL_PAGE = 50

export interface CredentialLimits {
  /** Unrevoked keys a tenant may hold. @defaultValue 100 */
  readonly maxActiveKeysPerTenant: number
  /** Revoked keys a tenant keeps for listings; older ones are forgotten. @defaultValue 100 */
  readonly maxRevokedKeysPerTenant: number
}

export const DEFAULT_CREDENTIAL_LIMITS: CredentialLimits = { maxActiveKeysPerTenant: 100, maxRevokedKeysPerTenant: 100 }

/** A new key as the store takes it. */
export interface NewApiKey {
  readonly keyId: string
  readonly tenant: TenantId
  readonly name: string
  readonly roles: readonly Role[]
  /** Hex SHA-256 of the whole key (`auth/api-keys.ts#keyHash`). */
  readonly hash: string
  /** Who created it (a principal id, or `bootstrap`). */
  readonly createdBy: string
}

/** A stored key. */
export interface ApiKeyRecord extends NewApiKey {
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  readonly revokedAt?: number
  readonly revokedBy?: string
}

export interface CredentialPage {
  readonly items: readonly ApiKeyRecord[]
  /** Present when another page follows: pass it back as `cursor`. */
  readonly cursor?: string
}

export interface CreateOptions {
  /**
   * Create only if the tenant holds no unrevoked key with this role (checked and written in one
   * step, so of several processes starting at once one creates the first admin key).
   */
  readonly unlessActiveRole?: Role
}

export interface CredentialStore {
  /**
   * Stores a new key. Returns the record, or undefined when `unlessActiveRole` found such a key.
   * @throws VerifierError `ERR_STORE_FULL` at `maxActiveKeysPerTenant`; `TypeError` for a record
   *   that breaks the rules above or a key id that exists (key ids are 96 random bits: a bug)
   */
  create(key: NewApiKey, options?: CreateOptions): Promise<ApiKeyRecord | undefined>
  /** The key with this id, in whichever tenant, revoked or not; undefined when unknown or malformed. */
  get(keyId: string): Promise<ApiKeyRecord | undefined>
  /** A page of the tenant's keys (revoked ones too), by key id. */
  list(tenant: TenantId, options?: { readonly limit?: number; readonly cursor?: string }): Promise<CredentialPage>
  /**
   * Revokes the tenant's key `keyId` and returns it; a key revoked already is returned unchanged.
   * Undefined when the tenant has no such key (another tenant's key is not touched).
   */
  revoke(tenant: TenantId, keyId: string, revokedBy: string): Promise<ApiKeyRecord | undefined>
  /** Unrevoked keys of the tenant. */
  countActive(tenant: TenantId): Promise<number>
  close(): Promise<void>
}

// ── rules both adapters apply ──────────────────────────────────────────────────────────────

/** Throws `TypeError` unless both limits are whole numbers of at least 1. */
export function checkLimits(limits: CredentialLimits): CredentialLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1) throw new TypeError(`${name} must be a positive integer`)
  }
  return limits
}

const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]+$/u

/** Throws `TypeError` unless `key` can be stored; returns it with its roles in canonical order. */
export function checkNewKey(key: NewApiKey): NewApiKey {
  if (typeof key !== 'object' || key === null) throw new TypeError('key must be an object')
  if (!isKeyId(key.keyId)) throw new TypeError('keyId must be 24 lower-case hex digits')
  assertTenantId(key.tenant)
  checkName(key.name)
  const roles = parseRoles(key.roles)
  if (!isKeyHash(key.hash)) throw new TypeError('hash must be 64 lower-case hex digits')
  checkActor(key.createdBy, 'createdBy')
  return { keyId: key.keyId, tenant: key.tenant, name: key.name, roles, hash: key.hash, createdBy: key.createdBy }
}

/** Throws `TypeError` unless `name` is 1 to 100 printable characters. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_KEY_NAME_LENGTH || !PRINTABLE.test(name)) {
    throw new TypeError(`name must be 1 to ${MAX_KEY_NAME_LENGTH} printable characters`)
  }
}

/** Throws `TypeError` unless `actor` is 1 to {@link MAX_ACTOR_LENGTH} printable characters. */
export function checkActor(actor: unknown, what: string): asserts actor is string {
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR_LENGTH || !PRINTABLE.test(actor)) {
    throw new TypeError(`${what} must be 1 to ${MAX_ACTOR_LENGTH} printable characters`)
  }
}

/** Page size of a listing: 1 to {@link MAX_CREDENTIAL_PAGE}, default 50. */
export function credentialPageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_CREDENTIAL_PAGE
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_CREDENTIAL_PAGE) {
    throw new TypeError(`limit must be 1 to ${MAX_CREDENTIAL_PAGE}`)
  }
  return limit
}

const CURSOR = /^k1\.([0-9a-f]{24})$/

/** The cursor of a page that ended at `keyId`. */
export function encodeCredentialCursor(keyId: string): string {
  return `k1.${keyId}`
}

/** The key id a cursor resumes after; `ERR_PAGE_CURSOR_INVALID` when it is not one of ours. */
export function decodeCredentialCursor(cursor: unknown): string {
  const match = typeof cursor === 'string' ? CURSOR.exec(cursor) : null
  if (match === null) throw new VerifierError('ERR_PAGE_CURSOR_INVALID', 'the cursor was not made by this listing')
  return match[1]!
}

/** The record `json` holds, checked (`ERR_STORE_CORRUPT` when it is not one, or not of `keyId`). */
export function decodeKeyRecord(json: string, keyId: string): ApiKeyRecord {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (err) {
    throw new VerifierError('ERR_STORE_CORRUPT', 'stored API key record is not JSON', { cause: err })
  }
  const r = value as Partial<Record<keyof ApiKeyRecord, unknown>>
  const ok =
    typeof r === 'object' && r !== null &&
    r.keyId === keyId &&
    isTenantId(r.tenant) &&
    typeof r.name === 'string' &&
    Array.isArray(r.roles) && r.roles.length > 0 && r.roles.every(isRole) &&
    isKeyHash(r.hash) &&
    typeof r.createdBy === 'string' &&
    Number.isSafeInteger(r.createdAt) &&
    (r.revokedAt === undefined || Number.isSafeInteger(r.revokedAt)) &&
    (r.revokedBy === undefined || typeof r.revokedBy === 'string')
  if (!ok) throw new VerifierError('ERR_STORE_CORRUPT', `stored API key record ${keyId} cannot be decoded`)
  return Object.freeze({ ...(r as ApiKeyRecord), roles: Object.freeze([...(r.roles as Role[])]) })
}
