/**
 * Who submitted an appraisal or opened a session, when Evidence needs a credential
 * (`ASSAY_EVIDENCE_AUTH=attester`): the submitter's principal id, kept beside the result for as long
 * as the result is kept, so that the submitter's own credential may read it (besides a
 * `relying-party` of the tenant). Two adapters: Redis (`redis/submitter-store.ts`) and in memory
 * (here; not written to disk, so in embedded mode after a restart only a `relying-party` reads the
 * results of earlier submissions).
 *
 * Bounds: a principal id of at most {@link MAX_SUBMITTER_LENGTH} characters; the memory adapter holds
 * at most `maxEntries` unexpired entries and refuses more with `ERR_STORE_FULL` (it never forgets a
 * live one to make room, as the other stores).
 */
import { VerifierError } from '../errors/errors.js'
import { assertRecordId, assertTenantId } from './keys.js'
import type { TenantId } from './types.js'

/** Longest principal id kept (the longest is an OIDC one, see `credentials.ts#MAX_ACTOR_LENGTH`). */
export const MAX_SUBMITTER_LENGTH = 600

export interface SubmitterStore {
  /** Records that `principalId` submitted `id` (an appraisal or session id) of `tenant`, for `ttlSeconds`. */
  set(tenant: TenantId, id: string, principalId: string, ttlSeconds: number): Promise<void>
  /** The principal id that submitted `id`, or undefined (unknown, expired, or before a restart in memory). */
  get(tenant: TenantId, id: string): Promise<string | undefined>
  close(): Promise<void>
}

/** Throws `TypeError` for arguments no caller should pass (the API checks ids before). */
export function checkSubmitter(tenant: TenantId, id: string, principalId: string, ttlSeconds: number): void {
  assertTenantId(tenant)
  assertRecordId(id)
  if (typeof principalId !== 'string' || principalId.length === 0 || principalId.length > MAX_SUBMITTER_LENGTH) {
    throw new TypeError(`a principal id is 1 to ${MAX_SUBMITTER_LENGTH} characters`)
  }
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new TypeError('ttlSeconds must be a positive integer')
}

export interface MemorySubmitterStoreOptions {
  /** @defaultValue 100000 */
  readonly maxEntries?: number
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
}

export function createMemorySubmitterStore(options: MemorySubmitterStoreOptions = {}): SubmitterStore {
  const maxEntries = options.maxEntries ?? 100_000
  const nowMs = options.nowMs ?? Date.now
  const entries = new Map<string, { readonly principalId: string; readonly until: number }>()
  const keyOf = (tenant: TenantId, id: string) => `${tenant}\u0000${id}`

  function sweep(now: number): void {
    for (const [key, entry] of entries) if (entry.until <= now) entries.delete(key)
  }

  return {
    async set(tenant, id, principalId, ttlSeconds) {
      checkSubmitter(tenant, id, principalId, ttlSeconds)
      const now = nowMs()
      const key = keyOf(tenant, id)
      if (!entries.has(key) && entries.size >= maxEntries) {
        sweep(now)
        if (entries.size >= maxEntries) throw new VerifierError('ERR_STORE_FULL', 'too many submissions are remembered')
      }
      entries.set(key, { principalId, until: now + ttlSeconds * 1000 })
    },
    async get(tenant, id) {
      const key = keyOf(tenant, id)
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry.until <= nowMs()) {
        entries.delete(key)
        return undefined
      }
      return entry.principalId
    },
    async close() {
      entries.clear()
    },
  }
}
