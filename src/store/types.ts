/**
 * The store port: everything Assay keeps between requests. Two adapters implement it, Redis
 * (`store/redis/`) and in-memory with atomic file persistence (`store/memory/`), and both pass one
 * contract suite (`test/unit/store/contract.ts`). Every key is scoped by a tenant.
 *
 * Capacity: a store that is full refuses new entries with `VerifierError('ERR_STORE_FULL')` (503 with
 * `Retry-After` at the API); it never drops a live nonce, session or result to make room. Room for
 * the result of accepted Evidence is reserved at intake (`ResultStore.reserve`), so a worker's `put`
 * of that result is never refused.
 */

/** Tenant identifier: `[a-z0-9][a-z0-9-]{0,62}`. One default tenant until multi-tenancy lands. */
export type TenantId = string
export const DEFAULT_TENANT: TenantId = 'default'

/**
 * How long a nonce is remembered after its TTL ended, so that using it then is told apart:
 * `expired` (never used) or `used`, instead of `unknown`. After that it is forgotten and reads as
 * `unknown`, like a nonce that was never issued.
 */
export const NONCE_RECALL_SECONDS = 300

/**
 * What `NonceStore.consume` found:
 * - `consumed`: issued to this tenant, within its TTL, and now used (by this appraisal);
 * - `used`: issued, and already used by another appraisal (a replay), within its TTL and
 *   {@link NONCE_RECALL_SECONDS} after it;
 * - `expired`: issued, never used, and its TTL ended less than {@link NONCE_RECALL_SECONDS} ago;
 * - `unknown`: none of these as far as the store knows: never issued (to this tenant), or forgotten
 *   (its TTL and the recall time both passed), or, in embedded mode, issued before a restart (nonces
 *   are not persisted) or used when the store's small map of used nonces was full.
 */
export type NonceUse = 'consumed' | 'used' | 'expired' | 'unknown'

export interface NonceStore {
  /**
   * Records `nonce` as issued for `tenant`, usable once within `ttlSeconds`.
   * @throws VerifierError `ERR_STORE_FULL` when the store holds as many nonces as it may
   */
  issue(tenant: TenantId, nonce: Uint8Array, ttlSeconds: number): Promise<void>
  /**
   * Atomically consumes an issued, unexpired nonce. Of any number of concurrent calls for the same
   * nonce exactly one gets `consumed`; the others learn why not (`used`, `expired`, `unknown`).
   *
   * With `appraisalId`, the nonce is consumed *by* that appraisal: a later call with the same id
   * gets `consumed` again (until the nonce's TTL ends), so a retried job (a worker killed after the
   * nonce was used, a Redis restart) is not refused by its own earlier try. Any other caller gets
   * `used`: the nonce is used once, by one appraisal.
   */
  consume(tenant: TenantId, nonce: Uint8Array, appraisalId?: string): Promise<NonceUse>
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
  /**
   * Base64 of the SHA-256 digest of the submitted Evidence. The Evidence itself is not kept: it
   * travels in the queue job only, so a session costs the same whatever the size of its Evidence.
   */
  readonly evidenceDigest?: string
}

/** What a claim records in a session. */
export interface SessionSubmission {
  readonly appraisalId: string
  readonly evidenceMediaType: string
  /** Base64 of the SHA-256 digest of the Evidence. */
  readonly evidenceDigest: string
}

export interface SessionStore {
  /** @throws VerifierError `ERR_STORE_FULL` when the store holds as many sessions as it may */
  create(session: Session): Promise<void>
  get(tenant: TenantId, id: string): Promise<Session | undefined>
  /**
   * Atomically moves a session from `waiting` to `processing` and records the submission. Returns
   * the updated session, or undefined when it does not exist, has expired, or is not `waiting`
   * (so of concurrent submissions to one session exactly one wins).
   */
  claim(tenant: TenantId, id: string, submission: SessionSubmission): Promise<Session | undefined>
  /**
   * Undoes a claim whose Evidence could not be queued: a `processing` session whose submission
   * names `appraisalId` goes back to `waiting`, without the submission. Returns whether it did.
   */
  unclaim(tenant: TenantId, id: string, appraisalId: string): Promise<boolean>
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
  /**
   * Verifier fault, for `failed` appraisals; `id` is a random fault id that also appears in the log
   * line with the stack.
   */
  readonly fault?: { readonly code: string; readonly title: string; readonly id?: string }
}

export interface ResultStore {
  /**
   * Stores `record` unless a record of that appraisal is stored already, and returns the one that is
   * stored: the first result of an appraisal wins, so a job run twice (a worker killed after storing
   * its result but before the queue saw it complete) still has exactly one result, and every waiter
   * gets that one. The put of a record whose room was reserved is never refused.
   * @throws VerifierError `ERR_STORE_FULL` when the store is full and no room was reserved for it
   */
  put(record: AppraisalRecord, ttlSeconds: number): Promise<AppraisalRecord>
  get(tenant: TenantId, id: string): Promise<AppraisalRecord | undefined>
  /**
   * Reserves room for the record of appraisal `id`, about `bytes` long, before its Evidence is
   * accepted; the reservation is used by `put` or given back by `unreserve`. Adapters whose backing
   * service enforces its own memory bound (Redis `maxmemory`) may make this a no-op.
   * @throws VerifierError `ERR_STORE_FULL` when there is no room: refuse the Evidence
   */
  reserve(tenant: TenantId, id: string, bytes: number): Promise<void>
  /** Gives back a reservation whose Evidence was not queued after all. */
  unreserve(tenant: TenantId, id: string): Promise<void>
}

/** Liveness of workers, for `/readyz`. */
export interface HeartbeatStore {
  /** Records that worker `workerId` is alive for the next `ttlSeconds`. */
  beat(workerId: string, ttlSeconds: number): Promise<void>
  /** Forgets worker `workerId` at once (a clean stop), rather than when its last beat expires. */
  end(workerId: string): Promise<void>
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
