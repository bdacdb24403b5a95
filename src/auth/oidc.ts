/**
 * OAuth2/OIDC JWT access tokens (RFC 9068 shape), verified with `jose` against the configured issuers
 * (`oidc-config.ts`) and mapped to a {@link Principal}.
 *
 * Order of checks, cheapest and least trusting first:
 * 1. length: a token longer than {@link MAX_JWT_LENGTH} is refused unread;
 * 2. the issuer: the payload is decoded *unverified* only to read `iss`, which must equal a configured
 *    issuer exactly. An unknown issuer is refused without fetching anything: only the JWKS (or
 *    discovery) URLs of configured issuers are ever fetched, never a URL a token names (no SSRF);
 * 3. `jwtVerify` with the issuer's algorithm allow-list (checked by jose before any key is looked
 *    up, so `none` or `HS256` never reach the key set), `iss`, `aud`, `exp` required, `nbf`, the
 *    clock tolerance, and the `typ` header when the issuer sets one (RFC 9068: `at+jwt`);
 * 4. the claims: `sub` (1 to 255 characters), the tenant, the roles.
 *
 * A verified token is remembered by its SHA-256 for up to a minute (never past its `exp`), so a
 * client that sends the same token with every request pays for one signature check a minute.
 *
 * Keys: one `createRemoteJWKSet` per issuer, made on its first token. It keeps the key set for
 * `cacheMaxAgeMs` (10 min), refetches for an unknown `kid` at most once per `cooldownMs` (30 s), gives
 * up a fetch after `timeoutMs` (5 s), follows no redirect, and reads at most `maxJwksBytes` (64 KiB).
 * When the issuer's keys cannot be had (network, timeout, not 200, not a JWKS) the request fails with
 * `ERR_AUTH_ISSUER_UNAVAILABLE` (503): the caller's token may be fine. Every other failure is
 * `ERR_AUTH_INVALID`, its detail naming jose's error code (`ERR_JWT_EXPIRED`, ...).
 */
import { createHash } from 'node:crypto'
import { createRemoteJWKSet, customFetch, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { VerifierError } from '../errors/errors.js'
import type { TenantId } from '../store/types.js'
import { isFetchableUrl, type OidcIssuer } from './oidc-config.js'
import type { Principal } from './principal.js'
import { knownRoles, type Role } from './roles.js'

/** Longest token looked at. */
export const MAX_JWT_LENGTH = 8192

/** Longest `sub` accepted. */
export const MAX_SUBJECT_LENGTH = 255

/** Most entries of a roles claim or of `scope` looked at. */
const MAX_ROLE_ENTRIES = 100
/** Longest `scope` claim looked at. */
const MAX_SCOPE_LENGTH = 4096

const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
/** Printable: no control, format, separator-line/paragraph or lone surrogate code points. */
const SUBJECT = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]+$/u

export interface JwksOptions {
  /** @defaultValue 5000 */
  readonly timeoutMs: number
  /** @defaultValue 30000 */
  readonly cooldownMs: number
  /** @defaultValue 600000 */
  readonly cacheMaxAgeMs: number
  /** Largest JWKS or discovery document read. @defaultValue 65536 */
  readonly maxBytes: number
}

export const DEFAULT_JWKS_OPTIONS: JwksOptions = { timeoutMs: 5000, cooldownMs: 30_000, cacheMaxAgeMs: 600_000, maxBytes: 64 * 1024 }

export interface OidcVerifierOptions {
  readonly jwks?: Partial<JwksOptions>
  /**
   * Tokens verified recently, remembered by SHA-256 so a client sending the same token again costs a
   * hash, not a signature check: each for at most `tokenCacheMs` and never past its `exp`.
   * @defaultValue 10000 entries; 0 turns the cache off
   */
  readonly tokenCacheEntries?: number
  /** @defaultValue 60000 */
  readonly tokenCacheMs?: number
  /** For tests: the time tokens are judged at. @defaultValue now */
  readonly now?: () => Date
}

export interface OidcVerifier {
  /**
   * The principal of a JWT access token.
   * @throws VerifierError `ERR_AUTH_INVALID` for any token not accepted; `ERR_AUTH_ISSUER_UNAVAILABLE`
   *   when a configured issuer's keys cannot be fetched
   */
  verify(token: string): Promise<Principal>
  /** Whether `token` has the shape of a JWS compact serialization (three base64url parts). */
  looksLikeJwt(token: string): boolean
}

/** The key set of an issuer could not be had: not the token's fault. */
class IssuerUnavailable extends Error {}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export function createOidcVerifier(issuers: readonly OidcIssuer[], options: OidcVerifierOptions = {}): OidcVerifier {
  const jwksOptions: JwksOptions = { ...DEFAULT_JWKS_OPTIONS, ...options.jwks }
  const byIssuer = new Map(issuers.map((issuer) => [issuer.issuer, { config: issuer, keys: keysOf(issuer, jwksOptions) }]))
  const cacheEntries = options.tokenCacheEntries ?? 10_000
  const cacheMs = options.tokenCacheMs ?? 60_000
  const nowMs = () => (options.now === undefined ? Date.now() : options.now().getTime())
  const verified = new Map<string, { readonly principal: Principal; readonly until: number }>()

  return {
    looksLikeJwt: (token) => token.length <= MAX_JWT_LENGTH && JWT_SHAPE.test(token),
    async verify(token) {
      if (token.length > MAX_JWT_LENGTH) throw invalid(`the token is longer than ${MAX_JWT_LENGTH} characters`)
      const digest = cacheEntries > 0 ? createHash('sha256').update(token, 'utf8').digest('base64url') : ''
      const hit = cacheEntries > 0 ? verified.get(digest) : undefined
      if (hit !== undefined) {
        if (hit.until > nowMs()) return hit.principal
        verified.delete(digest)
      }
      let iss: unknown
      try {
        iss = decodeJwt(token).iss
      } catch (err) {
        throw invalid('the token is not a JWT', err)
      }
      const entry = typeof iss === 'string' ? byIssuer.get(iss) : undefined
      if (entry === undefined) throw invalid('the token is not from a configured issuer')
      const { config } = entry
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(token, entry.keys, {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          clockTolerance: config.clockToleranceSeconds,
          requiredClaims: ['exp', 'sub'],
          ...(config.typ === undefined ? {} : { typ: config.typ }),
          ...(options.now === undefined ? {} : { currentDate: options.now() }),
        }))
      } catch (err) {
        if (err instanceof IssuerUnavailable) {
          throw new VerifierError('ERR_AUTH_ISSUER_UNAVAILABLE', `the keys of ${config.issuer} cannot be fetched: ${err.message}`, { cause: err.cause })
        }
        if (err instanceof errors.JOSEError) throw invalid(`the token is not accepted (${err.code})`, err)
        throw err
      }
      const principal = principalOf(config, payload)
      if (cacheEntries > 0) {
        // Until exp at the latest (exp is required and checked above), without the clock tolerance.
        const until = Math.min(nowMs() + cacheMs, payload.exp! * 1000)
        if (verified.size >= cacheEntries) verified.delete(verified.keys().next().value!)
        verified.set(digest, { principal, until })
      }
      return principal
    },
  }
}

function principalOf(config: OidcIssuer, payload: JWTPayload): Principal {
  const sub = payload.sub
  if (typeof sub !== 'string' || sub.length > MAX_SUBJECT_LENGTH || !SUBJECT.test(sub)) {
    throw invalid(`the token's sub is not 1 to ${MAX_SUBJECT_LENGTH} printable characters`)
  }
  let tenant: TenantId
  if (config.tenant !== undefined) {
    tenant = config.tenant
  } else {
    const value = claim(payload, config.tenantClaim!)
    if (typeof value !== 'string' || !TENANT_ID.test(value)) throw invalid(`the token's ${config.tenantClaim} claim is not a tenant id`)
    tenant = value
    if (config.tenants !== undefined && !config.tenants.includes(tenant)) throw invalid(`the issuer may not name tenant ${tenant}`)
  }
  return { id: `oidc:${config.issuer}#${sub}`, tenant, roles: rolesOf(config, payload), via: 'oidc' }
}

function rolesOf(config: OidcIssuer, payload: JWTPayload): Role[] {
  if (config.rolesClaim !== undefined) {
    const value = claim(payload, config.rolesClaim)
    if (value === undefined) return []
    if (!Array.isArray(value) || value.length > MAX_ROLE_ENTRIES || !value.every((item) => typeof item === 'string')) {
      throw invalid(`the token's ${config.rolesClaim} claim is not a list of at most ${MAX_ROLE_ENTRIES} names`)
    }
    return knownRoles(value as string[])
  }
  const scope = claim(payload, 'scope')
  if (scope === undefined) return []
  if (typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH) throw invalid(`the token's scope is not a string of at most ${MAX_SCOPE_LENGTH} characters`)
  const prefix = config.scopePrefix!
  const names = scope.split(' ', MAX_ROLE_ENTRIES).filter((entry) => entry.startsWith(prefix)).map((entry) => entry.slice(prefix.length))
  return knownRoles(names)
}

/** A top-level claim, own properties only (`__proto__` or `constructor` read as absent). */
function claim(payload: JWTPayload, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined
}

function invalid(detail: string, cause?: unknown): VerifierError {
  return new VerifierError('ERR_AUTH_INVALID', detail, cause === undefined ? {} : { cause })
}

/**
 * The key resolver of one issuer, made on first use: from `jwksUri`, or from the discovery document
 * (fetched once; after a failure, again no sooner than the cooldown).
 */
function keysOf(issuer: OidcIssuer, options: JwksOptions): JWTVerifyGetKey {
  const fetchBounded = boundedFetch(options.maxBytes)
  let remote: ReturnType<typeof createRemoteJWKSet> | undefined
  let discovering: Promise<string> | undefined
  let failedAt = -Infinity

  const remoteOf = (uri: string) =>
    createRemoteJWKSet(new URL(uri), {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs,
      [customFetch]: fetchBounded,
    })

  async function discover(): Promise<string> {
    const url = `${issuer.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    const response = await fetchBounded(url, { headers: new Headers({ accept: 'application/json' }), method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) })
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}`)
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown }
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if (typeof document !== 'object' || document === null || document.issuer !== issuer.issuer) throw new Error(`${url} names another issuer`)
    if (typeof document.jwks_uri !== 'string' || !isFetchableUrl(document.jwks_uri)) throw new Error(`${url} has no usable jwks_uri`)
    return document.jwks_uri
  }

  return async (header, token) => {
    try {
      if (remote === undefined) {
        if (issuer.jwksUri !== undefined) {
          remote = remoteOf(issuer.jwksUri)
        } else {
          if (discovering === undefined) {
            if (Date.now() - failedAt < options.cooldownMs) throw new Error('discovery failed recently; waiting for the cooldown')
            discovering = discover()
          }
          let uri: string
          try {
            uri = await discovering
          } catch (err) {
            failedAt = Date.now()
            discovering = undefined
            throw err
          }
          remote ??= remoteOf(uri)
        }
      }
      return await remote(header, token)
    } catch (err) {
      // A key the set does not have (or has twice) is the token's fault; anything else is the issuer's.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err
      throw new IssuerUnavailable(err instanceof Error ? err.message : String(err), { cause: err })
    }
  }
}

/** `fetch` that reads at most `maxBytes` of a body and follows no redirect. */
function boundedFetch(maxBytes: number) {
  return async (url: string, init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal }): Promise<Response> => {
    const response = await fetch(url, { ...init, redirect: 'manual' })
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel()
      return new Response(null, { status: response.status === 200 ? 502 : response.status })
    }
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > maxBytes) {
      await response.body.cancel()
      throw new Error(`${url} sent ${declared} bytes, more than ${maxBytes}`)
    }
    const chunks: Uint8Array[] = []
    let total = 0
    const reader = response.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel()
        throw new Error(`${url} sent more than ${maxBytes} bytes`)
      }
      chunks.push(value)
    }
    return new Response(Buffer.concat(chunks), { status: 200, headers: { 'content-type': response.headers.get('content-type') ?? 'application/json' } })
  }
}
