/**
 * The job processor: one queued Evidence in, one stored, signed result out. Pure apart from its
 * injected dependencies, so the BullMQ worker and the in-process queue run exactly this.
 *
 * Bad Evidence completes the job with a negative result; only verifier faults throw (and are
 * retried by the queue).
 *
 * A job may run more than once (BullMQ delivers at least once: a worker killed mid-job, a Redis
 * restart), so processing is idempotent per appraisal id: nonces are consumed *by* the appraisal
 * (its retry is not refused by its own earlier try), and the first stored result wins (a second run
 * returns the stored one), so every accepted appraisal ends with exactly one result.
 */
import { createHash, randomUUID } from 'node:crypto'
import { appraise, type Appraisal, type AppraisalDeps } from '../appraisal/pipeline.js'
import { appraisalAuditEntry } from '../audit/actions.js'
import type { AuditEntryInput, AuditJson } from '../audit/entry.js'
import type { Config } from '../config/schema.js'
import type { AppraisalOutcome, SubmodOutcome } from '../results/ear.js'
import { MAX_EAR_ENDORSEMENTS, type EarNaming } from '../results/ear.js'
import { storeOutcome } from '../results/stored.js'
import { NO_CLAIM, TRUST_CLAIMS, deriveStatus, worstTier, type Tier, type TrustClaim } from '../results/trust-vector.js'
import type { Reason } from '../appraisal/types.js'
import { ERROR_CATALOGUE } from '../errors/codes.js'
import { isVerifierError } from '../errors/errors.js'
import { isRecordId, isTenantId } from '../store/keys.js'
import type { AppraisalRecord, Store } from '../store/types.js'
import type { Clock } from '../util/clock.js'
import { appraisalJobSchema } from './job-schema.js'
import type { AppraisalJob, JobFailureHandler, JobOutcome, JobProcessor } from './types.js'

export interface ProcessorDeps {
  readonly store: Store
  readonly appraisal: AppraisalDeps
  /** Signs an EAR as a compact JWS in the given naming. */
  readonly signEar: (outcome: AppraisalOutcome, naming: EarNaming) => string
  readonly config: Pick<
    Config,
    'earLifetimeSeconds' | 'resultTtlSeconds' | 'verifierDeveloper' | 'verifierBuild' | 'includeRawEvidence'
  >
  readonly clock: Clock
  /** Hears of each appraisal done, after its result is stored (the worker logs it). @defaultValue none */
  readonly onAppraised?: (done: AppraisalDone) => void
  /**
   * The audit log: each appraisal's entry is appended before its result is stored, so no result is
   * stored that the log lacks; a failed append fails the run (the queue retries it).
   * @defaultValue no audit
   */
  readonly audit?: AppraisalAuditor
}

/** Where the processor appends its appraisal entries. */
export interface AppraisalAuditor {
  /** The entries' actor: this worker. */
  readonly actor: string
  record(tenant: string, entry: AuditEntryInput): Promise<unknown>
}

/** Most submodules an audit entry lists by name (a bundle may hold more); labels are cut to 64 characters. */
const AUDIT_MAX_SUBMODS = 16
const AUDIT_MAX_LABEL = 64

/** A submodule label (Evidence-controlled text) made safe for an audit entry: short, no lone surrogates. */
function auditLabel(label: string): string {
  return label.slice(0, AUDIT_MAX_LABEL).replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
}

/** The appraisal's audit entry (docs/audit.md): outcome, per-submodule status, policies, documents used, Evidence digest. */
function auditEntryOf(
  job: AppraisalJob,
  actor: string,
  evidence: Uint8Array,
  appraisal: Appraisal,
  submods: Record<string, SubmodOutcome>,
  status: string,
): AuditEntryInput {
  const named = Object.entries(submods)
  const details: Record<string, AuditJson> = {
    submods: named.slice(0, AUDIT_MAX_SUBMODS).map(([name, s]) => ({ name: auditLabel(name), status: s.status ?? 'none' })),
    policyIds: appraisal.policyIds.slice(0, 8).map((id) => id.slice(0, 128)),
    api: job.sessionId === undefined ? 'native' : 'challenge-response',
  }
  if (named.length > AUDIT_MAX_SUBMODS) details['submodsOmitted'] = named.length - AUDIT_MAX_SUBMODS
  return appraisalAuditEntry({
    time: Date.now(),
    actor,
    appraisalId: job.id,
    outcome: status,
    referenceValues: (appraisal.endorsements ?? []).map((d) => ({ id: d.id, version: d.version, type: d.kind })),
    evidenceDigest: createHash('sha256').update(evidence).digest('hex'),
    details,
  })
}

/** An appraisal done, as {@link ProcessorDeps.onAppraised} hears of it: no Evidence, no claims. */
export interface AppraisalDone {
  readonly job: Pick<AppraisalJob, 'id' | 'tenant' | 'mediaType' | 'receivedAt' | 'sessionId'>
  /** The EAR status (the worst submodule status), or `failed` when an earlier run stored a failure. */
  readonly status: Tier | 'failed'
  /** Milliseconds since the epoch when this run took the job, and when its result was stored. */
  readonly startedAt: number
  readonly completedAt: number
}

/**
 * Every submodule carries all eight AR4SI claims: one the appraisal could not assert is 0, which
 * AR4SI defines as "no claim" (relying parties treat it as absent), so it needs no reason of its
 * own; every other value comes with the reason the appraisal gave. Keeping the EAR lean matters:
 * it travels through the queue and the store on every appraisal.
 */
function fullVector(
  vector: Partial<Record<TrustClaim, number>>,
  reasons: readonly Reason[],
): { vector: Record<TrustClaim, number>; reasons: readonly Reason[] } {
  const full = {} as Record<TrustClaim, number>
  for (const claim of TRUST_CLAIMS) full[claim] = vector[claim] ?? NO_CLAIM
  return { vector: full, reasons }
}

export function createProcessor(deps: ProcessorDeps): JobProcessor {
  return async (job: AppraisalJob): Promise<JobOutcome> => {
    const startedAt = Date.now()
    const evidence = new Uint8Array(Buffer.from(job.evidence, 'base64'))
    const sessionNonce = job.expectedNonce === undefined ? undefined : new Uint8Array(Buffer.from(job.expectedNonce, 'base64'))
    const { nonces } = deps.appraisal
    const byThisAppraisal = { issue: nonces.issue.bind(nonces), consume: (tenant: string, nonce: Uint8Array) => nonces.consume(tenant, nonce, job.id) }
    const appraisal = await appraise(
      { tenant: job.tenant, mediaType: job.mediaType, evidence, sessionNonce },
      { ...deps.appraisal, nonces: byThisAppraisal },
    )
    const iat = deps.clock.nowSeconds()
    const submods: Record<string, SubmodOutcome> = {}
    for (const [name, s] of Object.entries(appraisal.submods)) {
      const { vector, reasons } = fullVector(s.vector, s.reasons)
      submods[name] = {
        vector,
        // A policy that decided the status (never better than the vector allows) set it.
        status: s.status ?? deriveStatus(vector, { required: s.required }),
        reasons,
        ...(s.profile === undefined ? {} : { profile: s.profile }),
        ...(s.nonce === undefined ? {} : { nonce: s.nonce }),
        ...(s.attester === undefined ? {} : { attester: s.attester }),
      }
    }
    const outcome: AppraisalOutcome = {
      iat,
      exp: iat + deps.config.earLifetimeSeconds,
      verifier: { developer: deps.config.verifierDeveloper, build: deps.config.verifierBuild },
      policyIds: appraisal.policyIds,
      submods,
      ...(appraisal.nonce === undefined ? {} : { nonce: appraisal.nonce }),
      ...(deps.config.includeRawEvidence ? { rawEvidence: evidence } : {}),
      ...(appraisal.endorsements === undefined || appraisal.endorsements.length === 0
        ? {}
        : { endorsements: appraisal.endorsements.slice(0, MAX_EAR_ENDORSEMENTS).map((d) => `${d.id}@${d.version}`) }),
    }
    const ear = deps.signEar(outcome, job.earProfile)
    const worst = worstTier(Object.values(submods).map((s) => s.status ?? 'none'))
    // Audited before it is stored: a result the log lacks is never released (docs/decisions.md).
    if (deps.audit !== undefined) await deps.audit.record(job.tenant, auditEntryOf(job, deps.audit.actor, evidence, appraisal, submods, worst))
    const completedAt = Date.now()
    const stored = await deps.store.results.put(
      {
        id: job.id,
        tenant: job.tenant,
        status: 'complete',
        createdAt: job.receivedAt,
        completedAt,
        outcome: { naming: job.earProfile, ...storeOutcome(outcome) },
        ear,
      },
      deps.config.resultTtlSeconds,
    )
    // A second run of this job (see above) answers with the first run's result.
    const status = stored.status === 'failed' ? 'failed' : 'complete'
    if (job.sessionId !== undefined) await deps.store.sessions.finish(job.tenant, job.sessionId, status)
    deps.onAppraised?.({
      job,
      status: status === 'failed' ? 'failed' : worst,
      startedAt,
      completedAt: Date.now(),
    })
    return {
      id: job.id,
      tenant: job.tenant,
      status,
      ...(stored.ear === undefined ? {} : { ear: stored.ear }),
      completedAt: stored.completedAt ?? completedAt,
    }
  }
}

/** Dependencies of {@link createFailureRecorder}. */
export interface FailureRecorderDeps {
  readonly store: Store
  readonly config: Pick<Config, 'resultTtlSeconds'>
  /** Where the fault is logged: the message names the appraisal and the fault id, `err` has the stack. */
  readonly log: (message: string, err?: unknown) => void
}

/**
 * What the queue calls for a job that failed for good: logs the fault with its stack, the appraisal
 * id and a fresh fault id, then stores a `failed` record carrying that fault id (and fails the
 * session, if any), so `GET /v1/appraisals/{id}` reports `failed` and a waiting request answers a 500
 * problem naming the fault id instead of "not found". Never throws: a store that cannot take the
 * record is logged too.
 */
export function createFailureRecorder(deps: FailureRecorderDeps): JobFailureHandler {
  return async ({ jobId, data, error, attemptsMade }) => {
    const faultId = randomUUID()
    const code = isVerifierError(error) ? error.code : 'ERR_VERIFIER_INTERNAL'
    deps.log(`appraisal ${jobId} failed for good after ${attemptsMade} tries: ${code} (fault ${faultId})`, error)
    // The payload may be why the job failed: use what of it is valid, and store nothing under ids that are not.
    const parsed = appraisalJobSchema.safeParse(data)
    const fields = (typeof data === 'object' && data !== null ? data : {}) as Partial<Record<keyof AppraisalJob, unknown>>
    const tenant = parsed.success ? parsed.data.tenant : fields.tenant
    if (!isRecordId(jobId) || !isTenantId(tenant)) return
    const now = Date.now()
    const receivedAt = parsed.success ? parsed.data.receivedAt : now
    const record: AppraisalRecord = {
      id: jobId,
      tenant,
      status: 'failed',
      createdAt: receivedAt,
      completedAt: now,
      fault: { code, title: ERROR_CATALOGUE[code].title, id: faultId },
    }
    try {
      await deps.store.results.put(record, deps.config.resultTtlSeconds)
      const sessionId = parsed.success ? parsed.data.sessionId : undefined
      if (sessionId !== undefined) await deps.store.sessions.finish(tenant, sessionId, 'failed')
    } catch (err) {
      deps.log(`appraisal ${jobId}: cannot store its failed state (fault ${faultId})`, err)
    }
  }
}
