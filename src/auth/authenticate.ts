/**
 * From an `Authorization` header to a {@link Principal}, and from a principal to a yes or a 403.
 *
 * A bearer token (RFC 6750) is judged by its shape, and only as that kind:
 * - the legacy operator token (`ASSAY_OPERATOR_TOKEN`, when set): its SHA-256 compared in constant time
 *   first, whatever it looks like. It maps to tenant `default` with roles `provisioner` and
 *   `policy-admin` ({@link OPERATOR_TOKEN_ROLES}): what it could do before roles existed (the
 *   provisioning routes), nothing more; it cannot manage credentials;
 * - `assay_…`: an API key (`api-keys.ts`). Keys given in settings (`bootstrapKeys`) are checked first,
 *   then the store, by key id; the key's hash is compared in constant time. A revoked key is refused;
 * - three base64url parts: a JWT access token (`oidc.ts`);
 * - anything else is refused.
 *
 * Basic credentials (RFC 7617) are taken too, their password judged exactly as a bearer token (any
 * user name): Veraison's provisioning client (`cocli`, `auth: basic`) can send only Basic or OAuth2,
 * so it reaches the Veraison-compatible routes unchanged with an API key, or the operator token, as
 * its password.
 *
 * Cache: a key record read from the store is kept for `apiKeyCacheMs` (default
 * {@link API_KEY_CACHE_MS}, 5 s) in at most `apiKeyCacheEntries` entries, so a busy client costs one
 * store read per 5 s, not one per request. The hash is compared on every request all the same. So a
 * revocation takes effect in every process within 5 s (at once in a process that calls `forget`);
 * `apiKeyCacheMs: 0` turns the cache off. Unknown key ids are not cached, so a key created in one
 * process works at once in every other.
 *
 * Errors: no credential (no header, or not a bearer one) is `ERR_AUTH_REQUIRED`; a credential that
 * is not accepted is `ERR_AUTH_INVALID` (both 401); a principal without the role, or of another
 * tenant, is `ERR_AUTH_FORBIDDEN` (403).
 */
import { createHash } from 'node:crypto'
import { constantTimeEqual } from '../crypto/compare.js'
import { VerifierError } from '../errors/errors.js'
import type { ApiKeyRecord, CredentialStore } from '../store/credentials.js'
import { DEFAULT_TENANT, type TenantId } from '../store/types.js'
import { keyMatches, looksLikeApiKey, parseApiKey } from './api-keys.js'
import { MAX_JWT_LENGTH, type OidcVerifier } from './oidc.js'
import { grants, type Principal } from './principal.js'
import type { Role } from './roles.js'

/** What the legacy operator token may do: the provisioning and policy routes of tenant `default`. */
export const OPERATOR_TOKEN_ROLES: readonly Role[] = Object.freeze(['provisioner', 'policy-admin'] as const)

/** How long a key record read from the store is trusted: the bound on revocation. */
export const API_KEY_CACHE_MS = 5000

/** Longest Authorization header looked at: a JWT of {@link MAX_JWT_LENGTH} and the scheme. */
export const MAX_AUTHORIZATION_LENGTH = MAX_JWT_LENGTH + 16

/** An API key given in a setting (`ASSAY_BOOTSTRAP_ADMIN_KEY`): never in the store. */
export interface BootstrapKey {
  readonly keyId: string
  /** Hex SHA-256 of the whole key. */
  readonly hash: string
  readonly tenant: TenantId
  readonly roles: readonly Role[]
}

export interface AuthenticatorOptions {
  readonly apiKeys?: CredentialStore
  readonly oidc?: OidcVerifier
  /** The SHA-256 (hex) of the legacy operator token, as config/schema.ts keeps it. */
  readonly operatorToken?: { readonly sha256: string }
  readonly bootstrapKeys?: readonly BootstrapKey[]
  /** @defaultValue {@link API_KEY_CACHE_MS}; 0: no cache */
  readonly apiKeyCacheMs?: number
  /** @defaultValue 10000 */
  readonly apiKeyCacheEntries?: number
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
}

export interface Authenticator {
  /**
   * The principal of an `Authorization` header.
   * @throws VerifierError `ERR_AUTH_REQUIRED`, `ERR_AUTH_INVALID`; `ERR_STORE_UNAVAILABLE` or
   *   `ERR_AUTH_ISSUER_UNAVAILABLE` (503) when the store or an issuer cannot be asked
   */
  authenticate(authorization: string | undefined): Promise<Principal>
  /** Drops a cached key record (call after revoking it in this process). */
  forget(keyId: string): void
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i

/** Longest Basic header looked at: base64 of a user name of up to 256 characters, `:` and a token. */
const MAX_BASIC_LENGTH = 6 + Math.ceil(((MAX_JWT_LENGTH + 257) * 4) / 3) + 4

/**
 * The token of an `Authorization` header: the bearer token, or the password of Basic credentials
 * (printable ASCII without spaces); undefined for any other scheme or shape.
 */
export function credentialOf(authorization: string): string | undefined {
  const bearer = BEARER.exec(authorization)?.[1]
  if (bearer !== undefined) return bearer
  const basic = BASIC.exec(authorization)?.[1]
  if (basic === undefined) return undefined
  const decoded = Buffer.from(basic, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0 || colon > 256) return undefined
  const password = decoded.slice(colon + 1)
  return /^[\x21-\x7e]+$/.test(password) ? password : undefined
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const cacheMs = options.apiKeyCacheMs ?? API_KEY_CACHE_MS
  const cacheEntries = options.apiKeyCacheEntries ?? 10_000
  const nowMs = options.nowMs ?? Date.now
  const operatorHash = options.operatorToken === undefined ? undefined : Buffer.from(options.operatorToken.sha256, 'hex')
  const operator: Principal | undefined =
    options.operatorToken === undefined
      ? undefined
      : Object.freeze({ id: `operator-token:${options.operatorToken.sha256.slice(0, 8)}`, tenant: DEFAULT_TENANT, roles: OPERATOR_TOKEN_ROLES, via: 'operator-token' })
  const bootstrap = new Map((options.bootstrapKeys ?? []).map((key) => [key.keyId, key]))
  const cache = new Map<string, { readonly record: ApiKeyRecord; readonly until: number }>()

  async function lookup(keyId: string): Promise<ApiKeyRecord | undefined> {
    const now = nowMs()
    const cached = cache.get(keyId)
    if (cached !== undefined && cached.until > now) return cached.record
    cache.delete(keyId)
    const record = await options.apiKeys?.get(keyId)
    if (record !== undefined && cacheMs > 0) {
      // Oldest first out: a Map iterates in insertion order.
      if (cache.size >= cacheEntries) cache.delete(cache.keys().next().value!)
      cache.set(keyId, { record, until: now + cacheMs })
    }
    return record
  }

  async function apiKeyPrincipal(token: string): Promise<Principal> {
    const parts = parseApiKey(token)
    if (parts === undefined) throw new VerifierError('ERR_AUTH_INVALID', 'the API key is malformed')
    const given = bootstrap.get(parts.keyId)
    if (given !== undefined) {
      if (!keyMatches(token, given.hash)) throw new VerifierError('ERR_AUTH_INVALID', 'the API key is not accepted')
      return { id: `api-key:${given.keyId}`, tenant: given.tenant, roles: given.roles, via: 'api-key' }
    }
    const record = await lookup(parts.keyId)
    // An unknown key id still costs one comparison, so both refusals take about as long.
    if (!keyMatches(token, record?.hash ?? '') || record === undefined) throw new VerifierError('ERR_AUTH_INVALID', 'the API key is not accepted')
    if (record.revokedAt !== undefined) throw new VerifierError('ERR_AUTH_INVALID', 'the API key is revoked')
    return { id: `api-key:${record.keyId}`, tenant: record.tenant, roles: record.roles, via: 'api-key' }
  }

  return {
    async authenticate(authorization) {
      if (authorization === undefined || authorization === '') throw new VerifierError('ERR_AUTH_REQUIRED')
      if (authorization.length > Math.max(MAX_AUTHORIZATION_LENGTH, MAX_BASIC_LENGTH)) {
        throw new VerifierError('ERR_AUTH_INVALID', `the Authorization header is longer than ${MAX_BASIC_LENGTH} characters`)
      }
      const token = credentialOf(authorization)
      if (token === undefined) {
        throw new VerifierError('ERR_AUTH_REQUIRED', 'the Authorization header is neither a bearer credential nor Basic with a credential as password')
      }
      if (token.length > MAX_JWT_LENGTH) throw new VerifierError('ERR_AUTH_INVALID', `the credential is longer than ${MAX_JWT_LENGTH} characters`)
      if (operatorHash !== undefined && operator !== undefined) {
        const presented = createHash('sha256').update(token, 'utf8').digest()
        if (constantTimeEqual(presented, operatorHash)) return operator
      }
      if (looksLikeApiKey(token)) return apiKeyPrincipal(token)
      if (options.oidc?.looksLikeJwt(token) === true) return options.oidc.verify(token)
      throw new VerifierError('ERR_AUTH_INVALID', 'the bearer token is neither an API key nor a token of a configured issuer')
    },
    forget(keyId) {
      cache.delete(keyId)
    },
  }
}

/**
 * The `WWW-Authenticate` value for a refusal of `authenticate` or `authorize` (RFC 6750 §3): a 401
 * without a credential gets the bare challenge, a refused credential `error="invalid_token"`, a 403
 * `error="insufficient_scope"`. Undefined for any other error.
 */
export function bearerChallenge(err: unknown, realm = 'assay'): string | undefined {
  if (!(err instanceof VerifierError)) return undefined
  if (err.code === 'ERR_AUTH_REQUIRED') return `Bearer realm="${realm}"`
  if (err.code === 'ERR_AUTH_INVALID') return `Bearer realm="${realm}", error="invalid_token"`
  if (err.code === 'ERR_AUTH_FORBIDDEN') return `Bearer realm="${realm}", error="insufficient_scope"`
  return undefined
}

/**
 * Throws `ERR_AUTH_FORBIDDEN` (403) unless `principal` holds `role` (or, given a list, one of them)
 * in `tenant`. The detail names the role wanted, never what the principal holds elsewhere.
 */
export function authorize(principal: Principal, role: Role | readonly Role[], tenant: TenantId): void {
  const wanted: readonly Role[] = typeof role === 'string' ? [role] : role
  if (wanted.some((r) => grants(principal, r, tenant))) return
  throw new VerifierError(
    'ERR_AUTH_FORBIDDEN',
    principal.tenant !== tenant ? `the credential is not one of tenant ${tenant}` : `this needs the role ${wanted.join(' or ')}`,
  )
}
