/**
 * Wiring: builds the adapters a process needs from its Config. With `redisUrl` Assay runs on Redis
 * (BullMQ queue, Redis store), API and workers in separate processes; without it, in embedded mode:
 * in-process queue and a file-backed store, API and worker in one process.
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadPolicyDir } from '../appraisal/policy-files.js'
import type { PolicySet } from '../policy/evaluate.js'
import type { AppraisalDeps } from '../appraisal/pipeline.js'
import { createAuthenticator, type Authenticator } from '../auth/authenticate.js'
import { bootstrapKeyOf } from '../auth/bootstrap.js'
import { createOidcVerifier } from '../auth/oidc.js'
import { provisionFromFiles, type LoadedFile } from '../appraisal/file-provisioning.js'
import { provisioningCollector, type ProvisionedSummary } from '../appraisal/provisioned.js'
import { openStoreEndorsements, type StoreEndorsements } from '../appraisal/store-endorsements.js'
import { loadReferenceValueDir } from '../appraisal/reference-values.js'
import { EAR_KEY_RELOAD_SECONDS, type Config } from '../config/schema.js'
import { createDefaultProfiles } from '../evidence/eat/profiles.js'
import { createDefaultRegistry } from '../evidence/formats.js'
import { createBullmqConsumer, createBullmqProducer } from '../queue/bullmq.js'
import { createMemoryQueue } from '../queue/memory.js'
import { createFailureRecorder, createProcessor, type AppraisalDone } from '../queue/processor.js'
import type { QueueConsumer, QueueProducer } from '../queue/types.js'
import { TEST_MODE_BUILD_SUFFIX } from '../results/ear.js'
import { loadSigningKeys, type EarKeyManager } from '../results/keys.js'
import { createRenderer, type ResultRenderer } from '../results/renderer.js'
import { signEarJwt } from '../results/sign.js'
import type { CredentialStore } from '../store/credentials.js'
import type { EndorsementStore } from '../store/endorsements.js'
import { createMemoryCredentialStore } from '../store/memory/credential-store.js'
import { createRedisCredentialStore } from '../store/redis/credential-store.js'
import { createRedisSubmitterStore } from '../store/redis/submitter-store.js'
import { createMemorySubmitterStore, type SubmitterStore } from '../store/submitters.js'
import { createMemoryEndorsementStore } from '../store/memory/endorsement-store.js'
import { createMemoryStore } from '../store/memory/create-memory-store.js'
import { createRedisEndorsementStore } from '../store/redis/endorsement-store.js'
import { createRedisStore } from '../store/redis/create-redis-store.js'
import { DEFAULT_TENANT, type Store } from '../store/types.js'
import { systemClock, type Clock } from '../util/clock.js'
import { auditedCredentialStore, auditedEndorsementStore } from '../store/audited.js'
import { openAuditLog, type AuditLog } from './audit-log.js'
import type { ProcessLogger } from './logger.js'
import { redactedText } from './request-log.js'

export type Role = 'api' | 'worker' | 'all'

export interface Services {
  readonly config: Config
  readonly mode: 'redis' | 'embedded'
  readonly store: Store
  readonly producer: QueueProducer | undefined
  readonly consumer: QueueConsumer | undefined
  readonly keys: EarKeyManager
  readonly renderer: ResultRenderer
  readonly clock: Clock
  /** What the reference values provisioned, for roles that appraise (not `api`). */
  readonly provisioned: ProvisionedSummary | undefined
  /**
   * The endorsement store: what the appraisal reads, and what the provisioning API writes. Every
   * role opens it; only roles that appraise write the reference-values folder into it.
   */
  readonly endorsementStore: EndorsementStore
  /**
   * Credentials, for roles that serve the API (undefined for `worker`): the API key store, the
   * submitters of Evidence (`ASSAY_EVIDENCE_AUTH=attester`), and the authenticator over API keys, OIDC
   * tokens and the settings' credentials.
   */
  readonly credentials: CredentialStore | undefined
  readonly submitters: SubmitterStore | undefined
  readonly authenticator: Authenticator | undefined
  /**
   * The audit log (docs/audit.md): changes through `endorsementStore` and every appraisal are
   * appended to it; the API pages through `audit.store`.
   */
  readonly audit: AuditLog
  /** Starts the worker side (if this role has one) and its heartbeat. */
  startWorker(): Promise<void>
  /** Stops intake, lets in-flight jobs finish, closes connections. */
  close(): Promise<void>
}

export interface BuildOptions {
  readonly role: Role
  /** Where messages and faults go. @defaultValue `logger.log`, else nowhere */
  readonly log?: (message: string, err?: unknown) => void
  /** The process logger: also gets one line per appraisal the worker finishes. @defaultValue none */
  readonly logger?: ProcessLogger
  readonly clock?: Clock
}

/**
 * A worker beats every second with a 3 s TTL, so `/readyz` stops counting a worker that died
 * (SIGKILL, lost host) within 3 s of its last beat; a worker that stops cleanly ends its heartbeat
 * at once. One small Redis script call per worker per second.
 */
const HEARTBEAT_INTERVAL_MS = 1000
const HEARTBEAT_TTL_SECONDS = 3

async function drain(producer: QueueProducer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await producer.depth()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
}

/**
 * Validates the reference-values folder (a bad file stops the start) and says what it provisions,
 * and (`nothing`) why that is nothing, if it is. The files are written to the endorsement store once
 * it is open; whether nothing is provisioned at all depends on the store too (`warnIfNothingProvisioned`).
 */
function loadReferenceValueFiles(
  config: Config,
  log: (message: string) => void,
): { files: LoadedFile[]; provisioned: ProvisionedSummary; nothing: string | undefined } {
  if (config.allowPublishedKeys) {
    log(
      'WARNING: TEST MODE (ASSAY_ALLOW_PUBLISHED_KEYS): keys whose private halves are published are accepted, so anyone ' +
        `can forge Evidence they verify; every EAR's verifier build says "${TEST_MODE_BUILD_SUFFIX.trim()}". Never use this in production.`,
    )
  }
  const collector = provisioningCollector(config.referenceValuesDir)
  const files: LoadedFile[] = []
  loadReferenceValueDir(config.referenceValuesDir, {
    allowPublishedKeys: config.allowPublishedKeys,
    warn: (message) => log(`WARNING: ${message}`),
    onDocument: (file, document) => {
      collector.onDocument(file, document)
      files.push({ file, document })
    },
  })
  const provisioned = collector.summary()
  const nothing =
    config.referenceValuesDir === undefined
      ? 'ASSAY_REFERENCE_VALUES_DIR is unset'
      : provisioned.trustAnchors + provisioned.keys + provisioned.referenceValues === 0
        ? `${config.referenceValuesDir} holds no trust anchors, keys or reference values (${provisioned.files.length} JSON files)`
        : undefined
  return { files, provisioned, nothing }
}

/** The shipped `policies/` folder: the default of ASSAY_POLICIES_DIR. */
export const SHIPPED_POLICIES_DIR = fileURLToPath(new URL('../../policies', import.meta.url))

/** Reads and compiles the policies folder; an invalid policy stops the start, naming file, rule and position. */
function loadPolicies(config: Config, log: (message: string) => void): PolicySet {
  const dir = config.policiesDir ?? SHIPPED_POLICIES_DIR
  const { set, loaded } = loadPolicyDir(dir)
  log(`policies: ${loaded.length} from ${dir} (${loaded.map((l) => `${l.policy.document.id}@${l.policy.document.version}`).join(', ') || 'none'})`)
  return set
}

/** Store pages of 1,000 looked at for an active document before the start gives up looking (no warning). */
const PROVISIONED_SCAN_PAGES = 10

/**
 * Warns that nothing is provisioned when the files provision nothing (`nothing` says why) and the
 * endorsement store holds no active trust anchor or reference value of the default tenant either
 * (what operators provisioned through the API or CoRIM). Tenants other than the default come with
 * issue 10.
 */
async function warnIfNothingProvisioned(store: EndorsementStore, nothing: string | undefined, log: (message: string) => void): Promise<void> {
  if (nothing === undefined) return
  let cursor: string | undefined
  for (let page = 0; page < PROVISIONED_SCAN_PAGES; page++) {
    const found = await store.list(DEFAULT_TENANT, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) })
    if (found.items.some((v) => v.active && v.kind !== 'profile')) return
    cursor = found.cursor
    if (cursor === undefined) {
      log(
        `WARNING: no reference values provisioned (${nothing}, and the endorsement store holds no active trust anchor or reference ` +
          'value of the default tenant): every attester is unknown, no Evidence can be affirming until an operator provisions some',
      )
      return
    }
  }
}

/** The worker's line for an appraisal it finished: ids, media type, status, durations; never Evidence or claims. */
function logAppraisal(logger: ProcessLogger, done: AppraisalDone): void {
  const durationMs = done.completedAt - done.startedAt
  // Every field is chosen here and the client's text (the media type) redacted, so `lines` will do.
  logger.lines.info(
    {
      appraisalId: done.job.id,
      tenant: done.job.tenant,
      api: done.job.sessionId === undefined ? 'native' : 'challenge-response',
      ...(done.job.sessionId === undefined ? {} : { sessionId: done.job.sessionId }),
      mediaType: redactedText(done.job.mediaType),
      status: done.status,
      durationMs,
      queuedMs: Math.max(0, done.startedAt - done.job.receivedAt),
    },
    `[assay] appraisal ${done.job.id} ${done.status} in ${durationMs} ms`,
  )
}

export async function buildServices(config: Config, options: BuildOptions): Promise<Services> {
  const clock = options.clock ?? systemClock
  const log = options.log ?? options.logger?.log ?? (() => {})
  const logger = options.logger
  const embedded = config.redisUrl === undefined
  if (embedded && options.role !== 'all') {
    throw new TypeError('embedded mode (no REDIS_URL) runs API and worker in one process: use the "start" role')
  }
  // Endorsements first: a bad or refused reference value stops the start before anything listens.
  const loaded = options.role === 'api' ? undefined : loadReferenceValueFiles(config, log)
  const policies = options.role === 'api' ? undefined : loadPolicies(config, log)
  const keys = await loadSigningKeys({
    ...(config.earKeyFile === undefined ? {} : { keyFile: config.earKeyFile }),
    dataDir: config.dataDir,
    lifetimeSeconds: config.earLifetimeSeconds,
    publishAheadSeconds: config.earKeyPublishAheadSeconds,
    reloadIntervalSeconds: EAR_KEY_RELOAD_SECONDS,
    clock,
  })
  // Rotations by another process (`assay rotate-key`) reach this one within EAR_KEY_RELOAD_SECONDS.
  const keyReload = setInterval(() => void keys.reload().catch((err: unknown) => log('EAR key reload', err)), EAR_KEY_RELOAD_SECONDS * 1000)
  keyReload.unref()
  const store = embedded
    ? createMemoryStore({ dataDir: join(config.dataDir, 'store'), maxBytes: config.storeMaxBytes })
    : createRedisStore({ redis: config.redisUrl!, prefix: config.redisPrefix, onClientError: (err: Error) => log('redis store', err) })

  // Every role opens the endorsement store (the API writes what operators provision). Roles that
  // appraise write the folder's files into it first, then read it and follow its changes: see
  // store-endorsements.ts.
  const rawEndorsementStore: EndorsementStore = embedded
    ? createMemoryEndorsementStore({ dataDir: join(config.dataDir, 'endorsements'), onWarning: (message) => log(`endorsement store: ${message}`) })
    : createRedisEndorsementStore({ redis: config.redisUrl!, prefix: config.redisPrefix, onClientError: (err: Error) => log('redis endorsement store', err) })
  // Audit log (docs/audit.md): every change made through the endorsement store (API, CoRIM, the
  // files below) is appended to it; see store/audited.ts for the order and what a failed append does.
  const audit = openAuditLog(config, keys, log)
  const endorsementStore = auditedEndorsementStore(rawEndorsementStore, {
    recorder: audit.recorder,
    audit: audit.store,
    onUnaudited: (tenant, entry, err) => log(`ERROR: audit log: a change of tenant ${tenant} was made but not audited: ${JSON.stringify(entry)}`, err),
  })
  let endorsements: StoreEndorsements | undefined
  if (loaded !== undefined) {
    try {
      const written = await provisionFromFiles(endorsementStore, loaded.files, { deactivateRemoved: config.referenceValuesDir !== undefined })
      if (written.created + written.replaced + written.reactivated + written.deactivated > 0) {
        log(
          `reference values written to the endorsement store: ${written.created} created, ${written.replaced} replaced, ` +
            `${written.reactivated} reactivated, ${written.deactivated} deactivated (file gone), ${written.unchanged} unchanged`,
        )
      }
      await warnIfNothingProvisioned(endorsementStore, loaded.nothing, log)
      endorsements = await openStoreEndorsements({
        store: endorsementStore,
        allowPublishedKeys: config.allowPublishedKeys,
        clock,
        warn: (message, err) => log(`WARNING: ${message}`, err),
      })
    } catch (err) {
      clearInterval(keyReload)
      await endorsementStore.close().catch(() => {})
      await audit.close().catch(() => {})
      await store.close().catch(() => {})
      throw err
    }
  }

  // Credentials: only roles that serve the API judge them.
  let credentials: CredentialStore | undefined
  let submitters: SubmitterStore | undefined
  let authenticator: Authenticator | undefined
  if (options.role !== 'worker') {
    try {
      const rawCredentials = embedded
        ? createMemoryCredentialStore({ dataDir: join(config.dataDir, 'credentials'), onWarning: (message) => log(`credential store: ${message}`) })
        : createRedisCredentialStore({ redis: config.redisUrl!, prefix: config.redisPrefix, onClientError: (err: Error) => log('redis credential store', err) })
      // API keys made and revoked are audited like provisioning changes (store/audited.ts).
      credentials = auditedCredentialStore(rawCredentials, {
        recorder: audit.recorder,
        audit: audit.store,
        onUnaudited: (tenant, entry, err) => log(`ERROR: audit log: a credential change of tenant ${tenant} was made but not audited: ${JSON.stringify(entry)}`, err),
      })
    } catch (err) {
      clearInterval(keyReload)
      await endorsements?.close().catch(() => {})
      await endorsementStore.close().catch(() => {})
      await audit.close().catch(() => {})
      await store.close().catch(() => {})
      throw err
    }
    submitters = embedded
      ? createMemorySubmitterStore()
      : createRedisSubmitterStore({ redis: config.redisUrl!, prefix: config.redisPrefix, onClientError: (err: Error) => log('redis submitter store', err) })
    authenticator = createAuthenticator({
      apiKeys: credentials,
      ...(config.oidcIssuers === undefined || config.oidcIssuers.length === 0 ? {} : { oidc: createOidcVerifier(config.oidcIssuers) }),
      ...(config.operatorToken === undefined ? {} : { operatorToken: config.operatorToken }),
      ...(config.bootstrapAdminKey === undefined ? {} : { bootstrapKeys: [bootstrapKeyOf(config.bootstrapAdminKey)] }),
    })
  }

  let producer: QueueProducer | undefined
  let consumer: QueueConsumer | undefined
  if (embedded) {
    const queue = createMemoryQueue({
      maxDepth: config.maxQueueDepth,
      maxBytes: config.queueMaxBytes,
      closeGraceMs: config.shutdownGraceSeconds * 1000,
    })
    producer = queue.producer
    consumer = queue.consumer
  } else {
    const common = { connection: config.redisUrl!, prefix: config.redisPrefix, onError: (err: Error) => log('queue', err) }
    if (options.role !== 'worker') producer = createBullmqProducer(common)
    if (options.role !== 'api') {
      consumer = createBullmqConsumer({
        ...common,
        lockDurationMs: config.jobLockSeconds * 1000,
        stalledIntervalMs: config.jobLockSeconds * 1000,
        closeGraceMs: config.shutdownGraceSeconds * 1000,
      })
    }
  }

  let heartbeat: NodeJS.Timeout | undefined
  const workerId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`

  return {
    config,
    mode: embedded ? 'embedded' : 'redis',
    store,
    producer,
    consumer,
    keys,
    renderer: createRenderer(keys),
    clock,
    provisioned: loaded?.provisioned,
    endorsementStore,
    credentials,
    submitters,
    authenticator,
    audit,
    async startWorker() {
      if (consumer === undefined || endorsements === undefined) return
      const appraisal: AppraisalDeps = {
        registry: createDefaultRegistry(),
        endorsements,
        nonces: store.nonces,
        profiles: createDefaultProfiles(),
        clock,
        skewSeconds: config.clockSkewSeconds,
        onEvidenceFault: (err) => log(`appraisal: ${err.code}`, err.cause),
        ...(policies === undefined ? {} : { policies }),
      }
      const processor = createProcessor({
        store,
        appraisal,
        signEar: (outcome, naming) => signEarJwt(outcome, keys.current, naming).token,
        // In test mode every EAR says so, in its verifier id, whatever it appraised.
        config: config.allowPublishedKeys ? { ...config, verifierBuild: `${config.verifierBuild}${TEST_MODE_BUILD_SUFFIX}` } : config,
        clock,
        ...(logger === undefined ? {} : { onAppraised: (done: AppraisalDone) => logAppraisal(logger, done) }),
        audit: { actor: `worker:${workerId}`, record: (tenant, entry) => audit.recorder.record(tenant, entry) },
      })
      const onFailed = createFailureRecorder({ store, config, log })
      await consumer.start(processor, { concurrency: config.workerConcurrency, onFailed })
      const beat = () => store.heartbeats.beat(workerId, HEARTBEAT_TTL_SECONDS).catch((err) => log('heartbeat', err))
      await beat()
      heartbeat = setInterval(beat, HEARTBEAT_INTERVAL_MS)
      heartbeat.unref()
    },
    async close() {
      clearInterval(keyReload)
      if (heartbeat !== undefined) {
        clearInterval(heartbeat)
        heartbeat = undefined
        // A stopping worker takes no new jobs: it stops counting for `/readyz` now, not in 3 s.
        await store.heartbeats.end(workerId).catch((err: unknown) => log('heartbeat', err))
      }
      // The in-process queue keeps nothing across a restart: every appraisal it accepted is finished
      // before the worker stops. On Redis, waiting jobs stay queued for the next worker.
      if (embedded && producer !== undefined) await drain(producer, config.shutdownGraceSeconds * 1000)
      await consumer?.close()
      await producer?.close()
      await endorsements?.close()
      await endorsementStore.close()
      await credentials?.close()
      await submitters?.close()
      await audit.close()
      await store.close()
    },
  }
}
