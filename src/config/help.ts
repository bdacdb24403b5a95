/**
 * What `assay <server command> --help` says about each setting: one line per setting, beside the
 * schema so that a new setting cannot be added without its help (the record is keyed by every
 * `Config` key). Defaults are never written here: `settingsHelp()` reads them from the schema
 * itself, and the environment variable from `ENV_NAMES`, so the help cannot drift from the code.
 */
import { ENV_NAMES } from './load.js'
import { configSchema, type Config } from './schema.js'

/** One-line description of every setting (the JSDoc in schema.ts says more). */
export const SETTING_DESCRIPTIONS: Readonly<Record<keyof Config, string>> = {
  host: 'interface the HTTP API listens on',
  port: 'TCP port of the HTTP API (0: any free port)',
  redisUrl: 'Redis URL; unset means embedded mode (in-process queue, file-backed store)',
  redisPrefix: 'prefix of every Redis key Assay writes',
  dataDir: 'where embedded mode and generated EAR keys persist',
  referenceValuesDir: 'folder of trust anchors and reference values (JSON); unset: nothing is provisioned',
  policiesDir: 'folder of appraisal policies (YAML or JSON), compiled at start; unset: the shipped policies/ folder',
  allowPublishedKeys: 'test mode: accept provisioned keys whose private halves are published; never in production',
  earKeyFile: 'PEM or JWK file with the EAR signing key (P-256); unset: generated in the data directory',
  auditCheckpointSeconds: 'audit log: a signed checkpoint at the latest when the last is this old (seconds)',
  auditCheckpointEntries: 'audit log: a signed checkpoint at the latest after this many entries',
  earLifetimeSeconds: 'EAR exp - iat; also how long a retired key stays in the JWKS',
  earKeyPublishAheadSeconds: 'after rotate-key, how long a new key is only published before it signs (at least the JWKS max-age + 15 s)',
  jwksMaxAgeSeconds: 'Cache-Control max-age of the JWKS; 0 sends no-cache',
  verifierDeveloper: 'ear_verifier_id.developer of every EAR',
  verifierBuild: 'ear_verifier_id.build of every EAR',
  nonceTtlSeconds: 'lifetime of a nonce from POST /v1/nonces',
  clockSkewSeconds: 'tolerated clock difference for exp, nbf and a future iat in Evidence',
  sessionTtlSeconds: 'lifetime of a challenge/response session',
  resultTtlSeconds: 'how long appraisal results stay retrievable',
  bodyLimitBytes: 'largest Evidence body accepted',
  maxWaitSeconds: 'upper bound for Prefer: wait=N',
  sessionWaitSeconds: 'how long a challenge/response submission waits for its result',
  maxQueueDepth: 'queue depth past which new Evidence is refused (503)',
  storeMaxBytes: 'embedded mode: most bytes the in-memory store holds',
  queueMaxBytes: 'embedded mode: most bytes of queued Evidence held in memory',
  jobLockSeconds: 'how long a worker holds a job without renewing its lock',
  shutdownGraceSeconds: 'how long shutdown waits for queued and in-flight appraisals',
  workerConcurrency: 'jobs a worker process runs at once',
  problemTypeBase: 'base URI of RFC 9457 problem types',
  maxConnections: 'most simultaneous HTTP connections',
  headersTimeoutSeconds: 'time a client has to send a request head',
  requestTimeoutSeconds: 'time a client has to send a whole request',
  rateLimitPoints: 'points each client address may spend per window; 0 turns rate limiting off',
  rateLimitWindowSeconds: 'length of the rate limit window',
  logLevel: 'log level: trace, debug, info, warn, error, fatal or silent',
  logFormat: 'log format: json, pretty (readable lines), or auto (pretty on a terminal, json otherwise)',
  includeRawEvidence: 'include the Evidence in EARs (ear_raw_evidence)',
  oidcIssuers: 'JSON array of OAuth2/OIDC issuers whose JWT access tokens are accepted (issuer, jwksUri, audience, tenant, roles); unset: none',
  bootstrapAdminKey: 'admin API key of tenant default chosen by the deployer (only its hash is kept); unset: one is generated and printed at first start',
  operatorToken: 'legacy bearer token: provisioner and policy-admin of tenant default (at least 32 characters; only its SHA-256 is kept); unset: none',
  evidenceAuth: 'open: Evidence routes need no credential (the Evidence signature authenticates); attester: they need an attester credential, results a relying-party one or the submitter\'s',
  corimRequireSigned: 'accept only CoRIMs signed by a provisioning key or CA of the tenant (unsigned ones are refused)',
}

/** One setting as the help lists it. */
export interface SettingHelp {
  readonly key: keyof Config
  readonly env: string
  readonly description: string
  /** The schema's default as text, or `unset` for a setting without one. */
  readonly defaultText: string
}

/** The schema's default for `key`, as text; `unset` when the setting has none. */
export function defaultText(key: keyof Config): string {
  const value = configSchema.shape[key].safeParse(undefined)
  if (!value.success || value.data === undefined) return 'unset'
  return String(value.data)
}

/** Every setting of the schema, in schema order. */
export function settingsHelp(): SettingHelp[] {
  return (Object.keys(configSchema.shape) as (keyof Config)[]).map((key) => ({
    key,
    env: ENV_NAMES[key],
    description: SETTING_DESCRIPTIONS[key],
    defaultText: defaultText(key),
  }))
}
