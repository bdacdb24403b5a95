/**
 * Stores whose changes are audited: decorators over the endorsement store and the credential store
 * ports that append a change entry (`src/audit/actions.ts`) to the tenant's audit log for every
 * change they make. Whoever writes through them is audited (the provisioning routes, CoRIM, the
 * file loader at start, API key creation and revocation) without knowing it.
 *
 * Order (docs/decisions.md, "Audited changes"): the tenant's audit head is read first, so a log that
 * cannot be reached refuses the change before anything is written (`ERR_STORE_UNAVAILABLE`, nothing
 * changed). Then the store writes, then the entry is appended: its version is only known once the
 * store has made it. When that append fails the change stands but is not audited, and the caller
 * gets `ERR_AUDIT_UNAVAILABLE` (503) saying so, and `onUnaudited` gets the entry that could not be
 * appended (the process logs it, so the change is at least in the process log).
 *
 * Reads pass through untouched. An idempotent write that changed nothing (`putIfChanged`
 * `unchanged`, an activation that was the state already, a revocation of a revoked key) appends
 * nothing.
 */
import { changeAuditEntry, type AuditSubject, type AuditVerb } from '../audit/actions.js'
import { AUDIT_LIMITS, type AuditEntryInput, type AuditJson } from '../audit/entry.js'
import type { AuditAppender, AuditRecorder } from '../audit/recorder.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import type { ApiKeyRecord, CredentialStore } from './credentials.js'
import type { EndorsementStore, EndorsementVersion } from './endorsements.js'
import type { TenantId } from './types.js'

export interface AuditedStoreOptions {
  /** Appends the entries (and checkpoints when due). */
  readonly recorder: Pick<AuditRecorder, 'record'>
  /** The audit store, read before each change to see that the log can be reached. */
  readonly audit: Pick<AuditAppender, 'head'>
  /** Hears of a change that was made but whose entry could not be appended. @defaultValue ignore */
  readonly onUnaudited?: (tenant: TenantId, entry: AuditEntryInput, err: unknown) => void
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
}

/**
 * An actor as an entry holds it: at most 256 characters, no control characters. A longer principal
 * id (an OIDC one may reach 600) is cut, and given whole in `details.actor`.
 */
function actorOf(actor: string): { actor: string; details?: { actor: string } } {
  // eslint-disable-next-line no-control-regex
  const clean = actor.replace(/[\u0000-\u001f\u007f]/g, '?')
  if (clean.length === 0) return { actor: 'unknown' }
  if (clean.length <= AUDIT_LIMITS.maxText) return { actor: clean }
  return { actor: `${clean.slice(0, AUDIT_LIMITS.maxText - 1)}…`, details: { actor: clean.slice(0, 1024) } }
}

function auditor(options: AuditedStoreOptions) {
  const nowMs = options.nowMs ?? Date.now

  /** Fails (nothing written yet) when the tenant's log cannot be read. */
  async function reachable(tenant: TenantId): Promise<void> {
    try {
      await options.audit.head(tenant)
    } catch (err) {
      if (isVerifierError(err)) throw err
      throw new VerifierError('ERR_STORE_UNAVAILABLE', 'the audit log cannot be read, so no change is made', { cause: err })
    }
  }

  async function record(
    tenant: TenantId,
    change: { actor: string; subject: AuditSubject; verb: AuditVerb; id: string; version?: number; outcome: string; details: Record<string, AuditJson> },
  ): Promise<void> {
    const who = actorOf(change.actor)
    const entry = changeAuditEntry({
      time: nowMs(),
      actor: who.actor,
      subject: change.subject,
      verb: change.verb,
      id: change.id,
      ...(change.version === undefined ? {} : { version: change.version }),
      outcome: change.outcome,
      details: { ...change.details, ...who.details },
    })
    try {
      await options.recorder.record(tenant, entry)
    } catch (err) {
      options.onUnaudited?.(tenant, entry, err)
      throw new VerifierError('ERR_AUDIT_UNAVAILABLE', `the change was made (${entry.action} ${change.id}) but could not be recorded in the audit log`, {
        cause: err,
      })
    }
  }
  return { reachable, record }
}

/** The entry fields of a document version. */
function documentChange(v: EndorsementVersion, verb: AuditVerb, outcome: string) {
  return {
    actor: v.createdBy,
    subject: v.kind as AuditSubject,
    verb,
    id: v.id,
    version: v.version,
    outcome,
    details: { source: v.source.slice(0, 512), digest: v.digest, active: v.active },
  }
}

/** The endorsement store with every change audited (see the module comment). */
export function auditedEndorsementStore(store: EndorsementStore, options: AuditedStoreOptions): EndorsementStore {
  const { reachable, record } = auditor(options)
  return {
    async create(tenant, id, write) {
      await reachable(tenant)
      const made = await store.create(tenant, id, write)
      await record(tenant, documentChange(made, 'create', 'created'))
      return made
    },
    async put(tenant, id, write) {
      await reachable(tenant)
      const made = await store.put(tenant, id, write)
      await record(tenant, documentChange(made, 'replace', 'replaced'))
      return made
    },
    async putIfChanged(tenant, id, write) {
      await reachable(tenant)
      const result = await store.putIfChanged(tenant, id, write)
      if (result.outcome !== 'unchanged') {
        await record(tenant, documentChange(result.version, result.outcome === 'created' ? 'create' : 'replace', result.outcome))
      }
      return result
    },
    async delete(tenant, id, change) {
      await reachable(tenant)
      const tombstone = await store.delete(tenant, id, change)
      if (tombstone !== undefined) await record(tenant, documentChange(tombstone, 'delete', 'deleted'))
      return tombstone
    },
    async setActive(tenant, id, active, change) {
      await reachable(tenant)
      const before = await store.get(tenant, id)
      const after = await store.setActive(tenant, id, active, change)
      if (before === undefined || after.version !== before.version) {
        await record(tenant, documentChange(after, active ? 'activate' : 'deactivate', active ? 'activated' : 'deactivated'))
      }
      return after
    },
    get: (tenant, id, version) => store.get(tenant, id, version),
    versions: (tenant, id) => store.versions(tenant, id),
    list: (tenant, listOptions) => store.list(tenant, listOptions),
    lookup: (tenant, indexId) => store.lookup(tenant, indexId),
    revision: (tenant) => store.revision(tenant),
    watch: (listener) => store.watch(listener),
    close: () => store.close(),
  }
}

function keyDetails(key: ApiKeyRecord): Record<string, AuditJson> {
  return { name: key.name, roles: [...key.roles] }
}

/** The credential store with key creation and revocation audited (see the module comment). */
export function auditedCredentialStore(store: CredentialStore, options: AuditedStoreOptions): CredentialStore {
  const { reachable, record } = auditor(options)
  return {
    async create(key, createOptions) {
      await reachable(key.tenant)
      const made = await store.create(key, createOptions)
      if (made !== undefined) {
        await record(made.tenant, { actor: made.createdBy, subject: 'credential', verb: 'create', id: made.keyId, outcome: 'created', details: keyDetails(made) })
      }
      return made
    },
    async revoke(tenant, keyId, revokedBy) {
      await reachable(tenant)
      const before = await store.get(keyId)
      const revoked = await store.revoke(tenant, keyId, revokedBy)
      const wasLive = before !== undefined && before.tenant === tenant && before.revokedAt === undefined
      if (revoked !== undefined && wasLive) {
        await record(tenant, { actor: revokedBy, subject: 'credential', verb: 'revoke', id: keyId, outcome: 'revoked', details: keyDetails(revoked) })
      }
      return revoked
    },
    get: (keyId) => store.get(keyId),
    list: (tenant, listOptions) => store.list(tenant, listOptions),
    countActive: (tenant) => store.countActive(tenant),
    close: () => store.close(),
  }
}
