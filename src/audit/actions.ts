/**
 * The actions Assay records and builders for their entries, so every caller writes an appraisal or
 * a change the same way (docs/audit.md lists the members). The builders only shape the entry; its
 * rules are checked when it is appended (`entry.ts`).
 */
import { AUDIT_LIMITS, type AuditEntryInput, type AuditJson, type AuditTarget } from './entry.js'

/** What a change is made to. */
export type AuditSubject = 'trust-anchor' | 'reference-value' | 'profile' | 'policy' | 'credential' | 'tenant'

/** What a change does. */
export type AuditVerb = 'create' | 'replace' | 'delete' | 'activate' | 'deactivate' | 'revoke' | 'update'

/** A versioned thing an appraisal used. */
export interface UsedVersion {
  readonly id: string
  readonly version: number
  /** The target type: `reference-value` (the default), `trust-anchor`, `profile`. */
  readonly type?: string
}

export interface AppraisalAudit {
  readonly time: number
  /** The worker (or process) that appraised. */
  readonly actor: string
  readonly appraisalId: string
  /** The EAR status (`affirming`, `warning`, `contraindicated`, `none`), or `failed`. */
  readonly outcome: string
  readonly policy?: UsedVersion
  /** The reference values and trust anchors (documents) used, with the versions used. */
  readonly referenceValues?: readonly UsedVersion[]
  /** Lower-case hex SHA-256 of the Evidence as received. */
  readonly evidenceDigest?: string
  readonly details?: { readonly [key: string]: AuditJson }
}

/**
 * The entry of an appraisal: targets are the appraisal, then the policy, then the reference values,
 * each with the version used. Reference values beyond what an entry holds are counted in
 * `details.referenceValuesOmitted` rather than listed.
 */
export function appraisalAuditEntry(appraisal: AppraisalAudit): AuditEntryInput {
  const targets: AuditTarget[] = [{ type: 'appraisal', id: appraisal.appraisalId }]
  if (appraisal.policy !== undefined) targets.push({ type: 'policy', id: appraisal.policy.id, version: appraisal.policy.version })
  const room = AUDIT_LIMITS.maxTargets - targets.length
  const used = appraisal.referenceValues ?? []
  for (const rv of used.slice(0, room)) targets.push({ type: rv.type ?? 'reference-value', id: rv.id, version: rv.version })
  const omitted = Math.max(0, used.length - room)
  const details = omitted > 0 ? { ...appraisal.details, referenceValuesOmitted: omitted } : appraisal.details
  return {
    time: appraisal.time,
    actor: appraisal.actor,
    action: 'appraisal',
    targets,
    outcome: appraisal.outcome,
    ...(appraisal.evidenceDigest === undefined ? {} : { evidenceDigest: appraisal.evidenceDigest }),
    ...(details === undefined ? {} : { details }),
  }
}

export interface ChangeAudit {
  readonly time: number
  /** The credential (or operator) that asked for the change. */
  readonly actor: string
  readonly subject: AuditSubject
  readonly verb: AuditVerb
  readonly id: string
  /** The version the change made, for versioned subjects. */
  readonly version?: number
  /** `created`, `replaced`, `unchanged`, `deleted`, `denied`… */
  readonly outcome?: string
  readonly details?: { readonly [key: string]: AuditJson }
}

/** The entry of a provisioning, policy, credential or tenant change: action `<subject>.<verb>`. */
export function changeAuditEntry(change: ChangeAudit): AuditEntryInput {
  return {
    time: change.time,
    actor: change.actor,
    action: `${change.subject}.${change.verb}`,
    targets: [{ type: change.subject, id: change.id, ...(change.version === undefined ? {} : { version: change.version }) }],
    ...(change.outcome === undefined ? {} : { outcome: change.outcome }),
    ...(change.details === undefined ? {} : { details: change.details }),
  }
}
