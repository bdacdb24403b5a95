/**
 * Assay's configuration: one zod `.strict()` schema with secure defaults, validated once at start
 * and deep-frozen. Only `src/main/` reads the environment; it maps variables onto this shape.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { keyHash, parseApiKey } from '../auth/api-keys.js'
import { oidcIssuersSetting } from '../auth/oidc-config.js'

const seconds = (def: number, max: number) => z.coerce.number().int().min(1).max(max).default(def)

/** How often every process re-reads the EAR key store, so a rotation by another process reaches it. */
export const EAR_KEY_RELOAD_SECONDS = 5

/**
 * Slack the key publish-ahead keeps beyond the JWKS cache lifetime and the reload interval: for
 * clocks of different hosts that disagree by a few seconds, and whole-second key times.
 */
export const EAR_KEY_PUBLISH_SLACK_SECONDS = 10

/**
 * The shortest publish-ahead that lets a relying party honouring the JWKS `max-age` verify every
 * EAR across a rotation: a JWKS fetched just before a process saw the new key is cached for
 * `max-age` more, and the new key must not sign before that copy is stale.
 */
export function minPublishAheadSeconds(jwksMaxAgeSeconds: number): number {
  return jwksMaxAgeSeconds + EAR_KEY_RELOAD_SECONDS + EAR_KEY_PUBLISH_SLACK_SECONDS
}

export const configSchema = z
  .object({
    /** Interface the HTTP API listens on. @defaultValue 127.0.0.1 */
    host: z.string().min(1).default('127.0.0.1'),
    /** @defaultValue 8080 */
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Redis URL; absent means embedded mode (in-process queue, file-backed store). */
    redisUrl: z.string().url().optional(),
    /** Prefix of every Redis key Assay writes. @defaultValue assay */
    redisPrefix: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/).default('assay'),
    /** Where embedded mode and generated EAR keys persist. @defaultValue .data */
    dataDir: z.string().min(1).default('.data'),
    /**
     * Folder of trust anchors and reference values in the JSON form. Unset: nothing is provisioned,
     * every attester is unknown (the start log says so). @defaultValue unset
     */
    referenceValuesDir: z.string().min(1).optional(),
    /**
     * Folder of appraisal policies (YAML or JSON, `policies/README.md`), read and compiled at start;
     * an invalid policy stops the start. Unset: the shipped `policies/` folder (its defaults apply
     * the built-in comparison unchanged). @defaultValue unset (the shipped folder)
     */
    policiesDir: z.string().min(1).optional(),
    /**
     * Test mode: accept provisioned keys whose private halves are published (RFC 9783's example IAK,
     * the COSE WG and Veraison test keys, …; `src/appraisal/published-keys.ts`). Anyone can forge
     * Evidence those keys verify, so each is a warning at load and every EAR's verifier build says
     * `(test mode: published keys accepted)`. Never in production. @defaultValue false
     */
    allowPublishedKeys: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(false),
    /** PEM or JWK file with the EAR signing key (P-256); generated and persisted when absent. */
    earKeyFile: z.string().min(1).optional(),
    /**
     * The audit log's checkpoints (docs/audit.md): one at the latest when the last is this old and
     * entries follow it (a timer covers quiet tenants too). @defaultValue 300
     */
    auditCheckpointSeconds: seconds(300, 86400),
    /** The audit log's checkpoints: one at the latest after this many entries. @defaultValue 1000 */
    auditCheckpointEntries: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    /** EAR `exp` − `iat`; also how long a retired key stays in the JWKS. @defaultValue 3600 */
    earLifetimeSeconds: seconds(3600, 30 * 86400),
    /**
     * After `assay rotate-key`, how long the new key is only published before it signs. A relying
     * party may cache the JWKS for `jwksMaxAgeSeconds`, and every process re-reads the key store every
     * 5 s, so this must be at least `jwksMaxAgeSeconds` + 5 + 10 s (a start refuses less).
     * @defaultValue 330
     */
    earKeyPublishAheadSeconds: seconds(330, 86400),
    /**
     * `Cache-Control: max-age` of `/.well-known/jwks.json`: how long a relying party may keep the key
     * set. 0 sends `no-cache`. Raising it means raising `earKeyPublishAheadSeconds` too.
     * @defaultValue 300
     */
    jwksMaxAgeSeconds: z.coerce.number().int().min(0).max(86400).default(300),
    /** Verifier identity in every EAR (`ear_verifier_id`). */
    verifierDeveloper: z.string().min(1).default('https://github.com/assay-verifier'),
    verifierBuild: z.string().min(1).default('assay 0.1.0'),
    /** Lifetime of a nonce from `POST /v1/nonces`. @defaultValue 300 */
    nonceTtlSeconds: seconds(300, 86400),
    /**
     * Tolerated clock difference between attesters and this verifier, for `exp`, `nbf` and a future
     * `iat` in every Evidence format. @defaultValue 60
     */
    clockSkewSeconds: z.coerce.number().int().min(0).max(3600).default(60),
    /** Lifetime of a challenge/response session. @defaultValue 300 */
    sessionTtlSeconds: seconds(300, 86400),
    /** How long appraisal results stay retrievable. @defaultValue 86400 */
    resultTtlSeconds: seconds(86400, 30 * 86400),
    /** Largest Evidence body accepted. @defaultValue 65536 */
    bodyLimitBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
    /** Upper bound for `Prefer: wait=N`. @defaultValue 10 */
    maxWaitSeconds: seconds(10, 60),
    /** How long a challenge/response submission waits for its result before answering `processing`. @defaultValue 5 */
    sessionWaitSeconds: seconds(5, 60),
    /** Queue depth past which new Evidence is refused with 503 + Retry-After. @defaultValue 20000 */
    maxQueueDepth: z.coerce.number().int().min(1).default(20_000),
    /**
     * Embedded mode: most bytes the in-memory store holds (estimated), shared out as one eighth for
     * nonces, one quarter for sessions and five eighths for appraisal records and the room reserved
     * for them; at a share's bound new entries are refused (503 + Retry-After), never evicted. Sized
     * with `queueMaxBytes` so the process fits a 128 MiB heap. Redis mode bounds memory with Redis
     * `maxmemory` (policy `noeviction`) instead. @defaultValue 33554432 (32 MiB)
     */
    storeMaxBytes: z.coerce.number().int().min(64 * 1024).default(32 * 1024 * 1024),
    /**
     * Embedded mode: most bytes of queued Evidence (the jobs as JSON) held in memory; past it new
     * Evidence is refused with 503 + Retry-After. @defaultValue 16777216 (16 MiB)
     */
    queueMaxBytes: z.coerce.number().int().min(64 * 1024).default(16 * 1024 * 1024),
    /**
     * How long a worker holds a job without renewing its lock; a worker killed mid-job has its job
     * picked up by another worker after about this long (all workers should share the value). @defaultValue 30
     */
    jobLockSeconds: seconds(30, 3600),
    /** How long shutdown waits for queued and in-flight appraisals to finish. @defaultValue 30 */
    shutdownGraceSeconds: seconds(30, 3600),
    /** Jobs a worker process runs at once. @defaultValue 32 */
    workerConcurrency: z.coerce.number().int().min(1).max(1024).default(32),
    /** Base URI of RFC 9457 problem `type`s; the code's slug is appended. */
    problemTypeBase: z.string().min(1).default('tag:assay-verifier.dev,2026:problem:'),
    /** Most simultaneous HTTP connections; further ones are closed on arrival. @defaultValue 1000 */
    maxConnections: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    /** Time a client has to send a request's head (line and headers). @defaultValue 10 */
    headersTimeoutSeconds: seconds(10, 600),
    /**
     * Time a client has to send a whole request, head and body (not the time to answer it, so
     * `Prefer: wait` is not cut short); at least the head timeout. @defaultValue 30
     */
    requestTimeoutSeconds: seconds(30, 3600),
    /**
     * Points each client address may spend per window; 0 turns rate limiting off. Evidence costs 10
     * points, a new nonce or session 2, anything else 1; `/healthz`, `/readyz` and `/metrics` are free.
     * IPv6 clients are counted per /64. @defaultValue 3000
     */
    rateLimitPoints: z.coerce.number().int().min(0).max(100_000_000).default(3000),
    /** Length of the rate limit window. @defaultValue 10 */
    rateLimitWindowSeconds: seconds(10, 86400),
    /**
     * Least level logged: `trace`, `debug`, `info`, `warn`, `error`, `fatal`, or `silent`. At `info`
     * every request and every appraisal is one line; probes (`/healthz`, `/readyz`, `/metrics`) are
     * logged at `debug`, whatever their status. @defaultValue info
     */
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /**
     * Log format: `json` (one JSON object per line), `pretty` (readable lines, pino-pretty), or `auto`:
     * `pretty` when stdout is a terminal, `json` otherwise. @defaultValue auto
     */
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    /**
     * The legacy operator credential: a bearer token of 32 to 512 printable characters, a principal of
     * tenant `default` with the roles `provisioner` and `policy-admin` (src/auth/authenticate.ts). Only
     * its SHA-256 is kept (the text is dropped here); requests are compared with it in constant time.
     * @defaultValue unset
     */
    operatorToken: z
      .string()
      .min(32, 'the operator token must be at least 32 characters (e.g. openssl rand -base64 32)')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'the operator token must be printable ASCII without spaces')
      .transform((token) => ({ sha256: createHash('sha256').update(token, 'utf8').digest('hex') }))
      .optional(),
    /**
     * Refuse unsigned CoRIMs on the provisioning routes: only a CoRIM signed by a provisioning key
     * or CA of the tenant is accepted. Off: an unsigned CoRIM is accepted from the operator token's
     * holder, its manifest signer. @defaultValue false
     */
    corimRequireSigned: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(false),
    /**
     * OAuth2/OIDC issuers whose JWT access tokens are credentials: a JSON array of issuer objects
     * (`issuer`, `jwksUri` or discovery, `audience`, `algorithms`, `clockToleranceSeconds`, `tenant` or
     * `tenantClaim`, `rolesClaim` or `scopePrefix`; src/auth/oidc-config.ts, docs/credentials.md). Only
     * these issuers' key URLs are ever fetched. @defaultValue unset (no token is accepted)
     */
    oidcIssuers: oidcIssuersSetting.optional(),
    /**
     * An admin API key of tenant `default` chosen by the deployer (`assay_<24 hex>_<43 base64url>`), in
     * place of the one generated and printed at first start. Only its key id and SHA-256 are kept (the
     * text is dropped here). It holds every role; it is revoked by removing the setting. @defaultValue unset
     */
    bootstrapAdminKey: z
      .string()
      .transform((text, ctx) => {
        const parts = parseApiKey(text)
        if (parts === undefined) {
          ctx.addIssue({ code: 'custom', message: 'must be an API key: assay_<24 lower-case hex digits>_<43 base64url characters of 32 random bytes>' })
          return z.NEVER
        }
        return { keyId: parts.keyId, sha256: keyHash(text) }
      })
      .optional(),
    /**
     * Whether Evidence needs a credential: `open` (the Evidence's signature is its authentication; the
     * default tenant) or `attester` (nonces, appraisals and challenge/response sessions need an
     * `attester` credential and run in its tenant; reading a result needs `relying-party` of the tenant
     * or the submitter's own credential). One setting for every tenant for now. @defaultValue open
     */
    evidenceAuth: z.enum(['open', 'attester']).default('open'),
    /** Include the Evidence in EARs (`ear_raw_evidence`). Off by default: it may be personal data. */
    includeRawEvidence: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(false),
  })
  .strict()
  .superRefine((config, ctx) => {
    const least = minPublishAheadSeconds(config.jwksMaxAgeSeconds)
    if (config.earKeyPublishAheadSeconds < least) {
      ctx.addIssue({
        code: 'custom',
        path: ['earKeyPublishAheadSeconds'],
        message:
          `${config.earKeyPublishAheadSeconds} s is too short: a relying party may cache the JWKS for ${config.jwksMaxAgeSeconds} s ` +
          `(jwksMaxAgeSeconds) after a process has re-read the key store (every ${EAR_KEY_RELOAD_SECONDS} s), so a rotated-in key ` +
          `must not sign for at least ${least} s; raise earKeyPublishAheadSeconds or lower jwksMaxAgeSeconds`,
      })
    }
  })

export type Config = Readonly<z.infer<typeof configSchema>>
