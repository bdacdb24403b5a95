/**
 * The setting `ASSAY_OIDC_ISSUERS`: the OAuth2/OIDC issuers whose JWT access tokens Assay accepts, as a
 * JSON array, one object per issuer (docs/credentials.md has examples):
 *
 * - `issuer`: the exact `iss` of its tokens, an `https` URL (`http` only on a loopback host, for tests);
 * - `jwksUri`: where its keys are (same URL rules); without it, read once from the issuer's
 *   `/.well-known/openid-configuration` (`jwks_uri`);
 * - `audience`: one or a list (up to 10) of `aud` values that mean this verifier;
 * - `algorithms`: the allow-list, a subset of {@link ISSUER_ALGORITHMS}; default {@link DEFAULT_ALGORITHMS}.
 *   Symmetric (`HS*`) and `none` are not accepted at all: with a public JWKS, an HMAC "signature" made
 *   with the public key as secret would verify;
 * - `clockToleranceSeconds`: slack for `exp`, `nbf`, `iat`; default 30, at most 300;
 * - `typ`: when set, the `typ` header every token must have (RFC 9068 access tokens: `at+jwt`; many
 *   issuers send `JWT` or nothing, so it is not required by default);
 * - the tenant: `tenant` (every token of this issuer is of that tenant) or `tenantClaim` (a
 *   top-level claim holding a tenant id), exactly one. With `tenantClaim` the issuer is trusted to name
 *   any tenant, unless `tenants` lists the ones it may name;
 * - the roles: `rolesClaim` (a top-level claim holding an array of role names) or `scopePrefix` (the
 *   space-separated `scope` claim, its entries that start with the prefix, e.g. `assay:provisioner`),
 *   exactly one. Names that are not Assay roles are skipped.
 *
 * Claim names are top-level names taken as they are (`https://example.com/tenant` is one name), not paths.
 */
import { z } from 'zod'

/** Every algorithm an issuer may be allowed: asymmetric signatures only. */
export const ISSUER_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as const

/** The allow-list of an issuer that sets none. */
export const DEFAULT_ALGORITHMS: readonly (typeof ISSUER_ALGORITHMS)[number][] = ['ES256', 'RS256', 'PS256', 'EdDSA']

/** Most issuers configured. */
export const MAX_ISSUERS = 20

/** Longest issuer or JWKS URL. */
export const MAX_ISSUER_URL_LENGTH = 300

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** Whether `text` is a URL Assay may fetch keys from: `https`, or `http` on a loopback host. */
export function isFetchableUrl(text: string): boolean {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return false
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') return false
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}

const fetchableUrl = z
  .string()
  .max(MAX_ISSUER_URL_LENGTH)
  .refine(isFetchableUrl, 'must be an https URL (http only on 127.0.0.1, [::1] or localhost), without credentials or fragment')

const claimName = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'a claim name is 1 to 200 printable ASCII characters')

export const oidcIssuerSchema = z
  .object({
    issuer: fetchableUrl,
    jwksUri: fetchableUrl.optional(),
    audience: z
      .union([z.string().min(1).max(300), z.array(z.string().min(1).max(300)).min(1).max(10)])
      .transform((value) => (typeof value === 'string' ? [value] : value)),
    algorithms: z.array(z.enum(ISSUER_ALGORITHMS)).min(1).max(ISSUER_ALGORITHMS.length).default([...DEFAULT_ALGORITHMS]),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    typ: z.string().regex(/^[\x21-\x7e]{1,50}$/).optional(),
    tenant: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a tenant id is [a-z0-9][a-z0-9-]{0,62}').optional(),
    tenantClaim: claimName.optional(),
    tenants: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a tenant id is [a-z0-9][a-z0-9-]{0,62}')).min(1).max(1000).optional(),
    rolesClaim: claimName.optional(),
    scopePrefix: z.string().regex(/^[\x21-\x7e]{0,50}$/, 'a scope prefix is up to 50 printable ASCII characters').optional(),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    if ((issuer.tenant === undefined) === (issuer.tenantClaim === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'set exactly one of tenant and tenantClaim' })
    }
    if (issuer.tenants !== undefined && issuer.tenantClaim === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tenants'], message: 'tenants limits what tenantClaim may name: set it only with tenantClaim' })
    }
    if ((issuer.rolesClaim === undefined) === (issuer.scopePrefix === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['rolesClaim'], message: 'set exactly one of rolesClaim and scopePrefix' })
    }
  })

export type OidcIssuer = z.infer<typeof oidcIssuerSchema>

export const oidcIssuersSchema = z
  .array(oidcIssuerSchema)
  .max(MAX_ISSUERS)
  .superRefine((issuers, ctx) => {
    const seen = new Set<string>()
    issuers.forEach((issuer, i) => {
      if (seen.has(issuer.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `issuer ${issuer.issuer} is listed twice` })
      seen.add(issuer.issuer)
    })
  })

/** The setting as text (JSON) or as an already parsed array. */
export const oidcIssuersSetting = z.union([
  z
    .string()
    .max(64 * 1024)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON: expected an array of issuer objects' })
        return z.NEVER
      }
    })
    .pipe(oidcIssuersSchema),
  oidcIssuersSchema,
])
