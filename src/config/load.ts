import { VerifierError } from '../errors/errors.js'
import { configSchema, type Config } from './schema.js'

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Validates `input` (unknown keys are errors) and returns a deep-frozen Config. */
export function loadConfig(input: Record<string, unknown>): Config {
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new VerifierError('ERR_CONFIG_INVALID', `configuration ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return deepFreeze(parsed.data)
}

/** Environment variable for each setting: `redisUrl` ← `REDIS_URL`, `earKeyFile` ← `ASSAY_EAR_KEY_FILE`. */
export const ENV_NAMES: Readonly<Record<keyof Config, string>> = {
  host: 'HOST',
  port: 'PORT',
  redisUrl: 'REDIS_URL',
  redisPrefix: 'ASSAY_REDIS_PREFIX',
  dataDir: 'ASSAY_DATA_DIR',
  referenceValuesDir: 'ASSAY_REFERENCE_VALUES_DIR',
  policiesDir: 'ASSAY_POLICIES_DIR',
  allowPublishedKeys: 'ASSAY_ALLOW_PUBLISHED_KEYS',
  earKeyFile: 'ASSAY_EAR_KEY_FILE',
  auditCheckpointSeconds: 'ASSAY_AUDIT_CHECKPOINT_SECONDS',
  auditCheckpointEntries: 'ASSAY_AUDIT_CHECKPOINT_ENTRIES',
  earLifetimeSeconds: 'ASSAY_EAR_LIFETIME_SECONDS',
  earKeyPublishAheadSeconds: 'ASSAY_EAR_KEY_PUBLISH_AHEAD_SECONDS',
  jwksMaxAgeSeconds: 'ASSAY_JWKS_MAX_AGE_SECONDS',
  verifierDeveloper: 'ASSAY_VERIFIER_DEVELOPER',
  verifierBuild: 'ASSAY_VERIFIER_BUILD',
  nonceTtlSeconds: 'ASSAY_NONCE_TTL_SECONDS',
  clockSkewSeconds: 'ASSAY_CLOCK_SKEW_SECONDS',
  sessionTtlSeconds: 'ASSAY_SESSION_TTL_SECONDS',
  resultTtlSeconds: 'ASSAY_RESULT_TTL_SECONDS',
  bodyLimitBytes: 'ASSAY_BODY_LIMIT_BYTES',
  maxWaitSeconds: 'ASSAY_MAX_WAIT_SECONDS',
  sessionWaitSeconds: 'ASSAY_SESSION_WAIT_SECONDS',
  maxQueueDepth: 'ASSAY_MAX_QUEUE_DEPTH',
  storeMaxBytes: 'ASSAY_STORE_MAX_BYTES',
  queueMaxBytes: 'ASSAY_QUEUE_MAX_BYTES',
  workerConcurrency: 'ASSAY_WORKER_CONCURRENCY',
  jobLockSeconds: 'ASSAY_JOB_LOCK_SECONDS',
  shutdownGraceSeconds: 'ASSAY_SHUTDOWN_GRACE_SECONDS',
  problemTypeBase: 'ASSAY_PROBLEM_TYPE_BASE',
  includeRawEvidence: 'ASSAY_INCLUDE_RAW_EVIDENCE',
  maxConnections: 'ASSAY_MAX_CONNECTIONS',
  headersTimeoutSeconds: 'ASSAY_HEADERS_TIMEOUT_SECONDS',
  requestTimeoutSeconds: 'ASSAY_REQUEST_TIMEOUT_SECONDS',
  rateLimitPoints: 'ASSAY_RATE_LIMIT_POINTS',
  rateLimitWindowSeconds: 'ASSAY_RATE_LIMIT_WINDOW_SECONDS',
  logLevel: 'ASSAY_LOG_LEVEL',
  logFormat: 'ASSAY_LOG_FORMAT',
  operatorToken: 'ASSAY_OPERATOR_TOKEN',
  corimRequireSigned: 'ASSAY_CORIM_REQUIRE_SIGNED',
  oidcIssuers: 'ASSAY_OIDC_ISSUERS',
  bootstrapAdminKey: 'ASSAY_BOOTSTRAP_ADMIN_KEY',
  evidenceAuth: 'ASSAY_EVIDENCE_AUTH',
}

/** Picks the variables named in ENV_NAMES out of `env` (empty strings count as unset). */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): Config {
  const input: Record<string, unknown> = {}
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const value = env[name]
    if (value !== undefined && value !== '') input[key] = value
  }
  return loadConfig(input)
}
