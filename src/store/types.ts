/**
 * The store port: everything Assay keeps between requests. Two adapters implement it, Redis
 * (`store/redis/`) and in-memory with atomic file persistence (`store/memory/`), and both pass one
 * contract suite (`test/unit/store/contract.ts`). Every key is scoped by a tenant.
 */

/** Tenant identifier: `[a-z0-9][a-z0-9-]{0,62}`. One default tenant until multi-tenancy lands. */
export type TenantId = string
export const DEFAULT_TENANT: TenantId = 'default'

export interface NonceStore {
  /** Records `nonce` as issued for `tenant`, usable once within `ttlSeconds`. */
  issue(tenant: TenantId, nonce: Uint8Array, ttlSeconds: number): Promise<void>
  /**
   * Atomically consumes an issued, unexpired nonce. Of any number of concurrent calls for the same
   * nonce exactly one returns true; an unknown, expired or already used nonce returns false.
   */
  consume(tenant: TenantId, nonce: Uint8Array): Promise<boolean>
}

export type SessionStatus = 'waiting' | 'processing' | 'complete' | 'failed'

/** A Veraison-style challenge/response session. */
export interface Session {
  readonly id: string
  readonly tenant: TenantId
  readonly nonce: Uint8Array
  readonly status: SessionStatus
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
  /** Media types the session accepts. */
  readonly accept: readonly string[]
  /** Set when Evidence was submitted: the appraisal that answers this session. */
  readonly appraisalId?: string
  /** Media type of the Evidence that was submitted. */
  readonly evidenceMediaType?: string
  /** Base64 of the submitted Evidence (Veraison echoes it). */
  readonly evidence?: string
}

export interface SessionStore {
  create(session: Session): Promise<void>
  get(tenant: TenantId, id: string): Promise<Session | undefined>
  /**
   * Atomically moves a session from `waiting` to `processing` and records the submission. Returns
   * the updated session, or undefined when it does not exist, has expired, or is not `waiting`
   * (so of concurrent submissions to one session exactly one wins).
   */
  claim(
    tenant: TenantId,
    id: string,
    submission: { readonly appraisalId: string; readonly evidenceMediaType: string; readonly evidence: string },
  ): Promise<Session | undefined>
  /** Sets the final status of a claimed session. */
  finish(tenant: TenantId, id: string, status: 'complete' | 'failed'): Promise<void>
  /** Returns true when a session was deleted. */
  delete(tenant: TenantId, id: string): Promise<boolean>
}

export type AppraisalStatus = 'queued' | 'processing' | 'complete' | 'failed'

/** What is stored for one appraisal; its shape is owned by `appraisal/` and `results/`. */
export interface AppraisalRecord {
  readonly id: string
  readonly tenant: TenantId
  readonly status: AppraisalStatus
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  readonly completedAt?: number
  /** JSON-serialisable outcome of the appraisal (present when complete). */
  readonly outcome?: unknown
  /** The signed EAR in the form and naming requested at submission (compact JWS). */
  readonly ear?: string
  /** Verifier fault, for `failed` appraisals. */
  readonly fault?: { readonly code: string; readonly title: string }
}

export interface ResultStore {
  put(record: AppraisalRecord, ttlSeconds: number): Promise<void>
  get(tenant: TenantId, id: string): Promise<AppraisalRecord | undefined>
}

/** Liveness of workers, for `/readyz`. */
export interface HeartbeatStore {
  beat(workerId: string, ttlSeconds: number): Promise<void>
  /** Number of workers that beat within their TTL. */
  live(): Promise<number>
}

export interface Store {
  readonly nonces: NonceStore
  readonly sessions: SessionStore
  readonly results: ResultStore
  readonly heartbeats: HeartbeatStore
  /** Whether the backing service answers (always true in memory). */
  ping(): Promise<boolean>
  close(): Promise<void>
}
