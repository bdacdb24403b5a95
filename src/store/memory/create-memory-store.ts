/**
 * The embedded adapter of the store port: everything in this process's memory, with the semantics of
 * the Redis adapter (same contract suite). Atomicity comes from JavaScript's single thread: every
 * read-check-write below runs without an `await` in between.
 *
 * With `dataDir`, sessions and appraisal records survive a restart: each change is journalled, and
 * the journal is compacted into a snapshot in the background (`store-persistence.ts`). Nonces are not
 * persisted, on purpose: after a restart every outstanding nonce is refused, which costs an attester
 * one retry and can never let a nonce be used twice.
 *
 * Memory is bounded, by count and by bytes (see {@link MemoryStoreOptions.maxBytes}). At a bound new
 * entries are refused with `ERR_STORE_FULL` (503 at the API); no live entry is ever dropped to make
 * room, so a flood of cheap nonces or sessions cannot erase the ones in use. Room for results is
 * reserved at intake (`results.reserve`), and the put of a reserved result is never refused.
 * Sessions keep the digest of their Evidence, not the Evidence.
 */
import { VerifierError } from '../../errors/errors.js'
import {
  assertFinalStatus,
  assertNewSession,
  assertRecordId,
  assertTenantId,
  assertTtlSeconds,
  assertWorkerId,
  nonceId,
} from '../keys.js'
import {
  NONCE_RECALL_SECONDS,
  type AppraisalRecord,
  type HeartbeatStore,
  type NonceStore,
  type ResultStore,
  type Session,
  type SessionStore,
  type Store,
  type TenantId,
} from '../types.js'
import { ExpiringMap, type SetResult } from './expiring-map.js'
import {
  claimLine,
  createLine,
  deleteLine,
  finishLine,
  putLine,
  unclaimLine,
  type JournalEntry,
} from './journal-entry.js'
import { StorePersistence, type PersistenceTuning } from './store-persistence.js'

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Directory for the journal and snapshot of sessions and appraisal records (created if missing).
   * Without it nothing is written to disk.
   * @defaultValue none
   */
  readonly dataDir?: string
  /**
   * Most bytes the store holds, as estimated from what each entry keeps (see `entryBytes` below):
   * an eighth for nonces, a quarter for sessions, and five eighths for appraisal records and the
   * room reserved for them. Each share is a hard bound; the counts below apply as well.
   * @defaultValue 32 MiB
   */
  readonly maxBytes?: number
  /**
   * How long a nonce is remembered after its TTL, to tell `expired` and `used` from `unknown`.
   * @defaultValue NONCE_RECALL_SECONDS (300)
   */
  readonly nonceRecallSeconds?: number
  /**
   * Most outstanding nonces held at once.
   * @defaultValue 1_000_000
   */
  readonly maxNonces?: number
  /**
   * Most sessions held at once.
   * @defaultValue 100_000
   */
  readonly maxSessions?: number
  /**
   * Most appraisal records held at once.
   * @defaultValue 100_000
   */
  readonly maxResults?: number
  /**
   * Least time between two journal writes, in milliseconds: a change reaches the disk within about
   * this long. Each write appends only the changes made since the last one.
   * @defaultValue 100
   */
  readonly writeIntervalMs?: number
  /**
   * How often expired entries are swept, in milliseconds (reads also drop them lazily).
   * @defaultValue 10_000
   */
  readonly sweepIntervalMs?: number
  /**
   * The clock, milliseconds since the epoch; tests inject one to expire entries without waiting.
   * @defaultValue `Date.now`
   */
  readonly nowMs?: () => number
  /**
   * Receives warnings: a file moved aside, a torn journal line ignored, a failed background write.
   * @defaultValue write the message to stderr
   */
  readonly onWarning?: (message: string) => void
}

const DEFAULTS = {
  maxBytes: 32 * 1024 * 1024,
  maxNonces: 1_000_000,
  maxSessions: 100_000,
  maxResults: 100_000,
  writeIntervalMs: 100,
  sweepIntervalMs: 10_000,
} as const

/** Workers are few; the cap only bounds a misbehaving caller that invents worker ids. */
const MAX_WORKERS = 10_000

/**
 * What one map entry costs beyond its key and value, in bytes: the Map slot, the entry object with
 * its expiry, and its heap node (measured on V8: about 150; rounded up).
 */
const ENTRY_OVERHEAD_BYTES = 200
/**
 * What a session object costs beyond its strings: the object, the nonce's typed array and buffer,
 * the accept array.
 */
const SESSION_OVERHEAD_BYTES = 400
/** Room kept in every session for the submission a claim adds (appraisal id, media type, digest). */
const SUBMISSION_BYTES = 128 + 255 + 44 + 3 * 16
/** What each string costs beyond its characters (one byte each for the Latin-1 text stored here). */
const STRING_OVERHEAD_BYTES = 16

function nonceBytes(key: string): number {
  return ENTRY_OVERHEAD_BYTES + STRING_OVERHEAD_BYTES + key.length
}

function sessionBytes(key: string, session: Session): number {
  let bytes = ENTRY_OVERHEAD_BYTES + SESSION_OVERHEAD_BYTES + SUBMISSION_BYTES + key.length
  bytes += session.nonce.byteLength + session.id.length + session.tenant.length + 2 * STRING_OVERHEAD_BYTES
  for (const type of session.accept) bytes += STRING_OVERHEAD_BYTES + 8 + type.length
  return bytes
}

function resultBytes(key: string, json: string): number {
  return ENTRY_OVERHEAD_BYTES + 2 * STRING_OVERHEAD_BYTES + key.length + json.length
}

function full(what: string): VerifierError {
  return new VerifierError('ERR_STORE_FULL', `the store holds as many ${what} as it may`)
}

/** Throws `ERR_STORE_FULL` for a refused entry. */
function stored(result: SetResult, what: string): void {
  if (result === 'full') throw full(what)
}

/**
 * Creates the in-memory store, loading the snapshot and journals from `dataDir` first when one is
 * given. Entries that have expired since are dropped.
 * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when `dataDir` cannot be created or listed
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  return createMemoryStoreWithPersistence(options).store
}

/**
 * {@link createMemoryStore} with its persistence exposed and tunable, so tests can reach compaction
 * with little data and start it on demand.
 * @internal
 */
export function createMemoryStoreWithPersistence(
  options: MemoryStoreOptions = {},
  tuning: Partial<PersistenceTuning> = {},
): { readonly store: Store; readonly persistence: StorePersistence | undefined } {
  const nowMs = options.nowMs ?? Date.now
  const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`assay store: ${message}\n`))
  const maxBytes = options.maxBytes ?? DEFAULTS.maxBytes
  // A consumed or expired nonce leaves nonceMap at once (its room is free again) and leaves in
  // pastNonces what became of it (used by which appraisal, or expired unused) for NONCE_RECALL_SECONDS
  // past its expiry: so the appraisal that used it is not refused by its own retry, and a late or
  // replayed nonce is named for what it is. This map is a courtesy, not a guard: when it is full no
  // marker is kept, such a retry is refused (fails closed) and such a nonce reads as unknown, but no
  // nonce is ever usable twice by two appraisals.
  const recallSeconds = options.nonceRecallSeconds ?? NONCE_RECALL_SECONDS
  if (!Number.isSafeInteger(recallSeconds) || recallSeconds < 0) throw new TypeError('nonceRecallSeconds must be a whole number of seconds')
  const recallMs = recallSeconds * 1000
  const pastNonces = new ExpiringMap<PastNonce>(
    { maxEntries: options.maxNonces ?? DEFAULTS.maxNonces, maxBytes: maxBytes / 32, sizeOf: (key, past) => nonceBytes(key) + (past.usedBy?.length ?? 0) },
    nowMs,
  )
  const nonceMap = new ExpiringMap<true>(
    {
      maxEntries: options.maxNonces ?? DEFAULTS.maxNonces,
      maxBytes: (maxBytes * 3) / 32,
      sizeOf: nonceBytes,
      onExpire: (key, _value, expiresAt) => void pastNonces.set(key, { expiresAt }, expiresAt + recallMs),
    },
    nowMs,
  )
  const sessionMap = new ExpiringMap<Session>(
    { maxEntries: options.maxSessions ?? DEFAULTS.maxSessions, maxBytes: maxBytes / 4, sizeOf: sessionBytes },
    nowMs,
  )
  const resultMap = new ExpiringMap<string>(
    { maxEntries: options.maxResults ?? DEFAULTS.maxResults, maxBytes: (maxBytes * 5) / 8, sizeOf: resultBytes },
    nowMs,
  )
  const workerMap = new ExpiringMap<true>(MAX_WORKERS, nowMs)
  /** Room reserved for results not stored yet: bytes by map key. */
  const reservations = new Map<string, number>()
  let reservedBytes = 0

  const apply = (entry: JournalEntry): void => {
    // Loading restores what was stored before, whatever the bounds are now: nothing live is dropped.
    switch (entry.op) {
      case 'put':
        resultMap.set(recordMapKey(entry.tenant, entry.id), entry.json, entry.expiresAt, true)
        return
      case 'create':
        sessionMap.set(recordMapKey(entry.session.tenant, entry.session.id), entry.session, entry.session.expiresAt, true)
        return
      case 'claim': {
        const key = recordMapKey(entry.tenant, entry.id)
        const session = sessionMap.get(key)
        if (session === undefined) return
        const { appraisalId, evidenceMediaType, evidenceDigest } = entry
        sessionMap.replace(key, { ...session, status: 'processing', appraisalId, evidenceMediaType, evidenceDigest })
        return
      }
      case 'unclaim': {
        const key = recordMapKey(entry.tenant, entry.id)
        const session = sessionMap.get(key)
        if (session?.appraisalId === entry.appraisalId) sessionMap.replace(key, unclaimed(session))
        return
      }
      case 'finish': {
        const key = recordMapKey(entry.tenant, entry.id)
        const session = sessionMap.get(key)
        if (session !== undefined) sessionMap.replace(key, { ...session, status: entry.status })
        return
      }
      case 'delete':
        sessionMap.delete(recordMapKey(entry.tenant, entry.id))
        return
    }
  }

  const persistence =
    options.dataDir === undefined
      ? undefined
      : StorePersistence.load({
          dataDir: options.dataDir,
          intervalMs: options.writeIntervalMs ?? DEFAULTS.writeIntervalMs,
          nowMs,
          warn,
          apply,
          live: () => ({ sessions: sessionMap.list(), results: resultMap.list() }),
          tuning,
        })

  const sweeper = setInterval(() => {
    nonceMap.sweep()
    pastNonces.sweep()
    sessionMap.sweep()
    resultMap.sweep()
    workerMap.sweep()
  }, options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs)
  sweeper.unref()

  const nonces: NonceStore = {
    async issue(tenant, nonce, ttlSeconds) {
      const key = nonceMapKey(tenant, nonce)
      assertTtlSeconds(ttlSeconds)
      // Like Redis SET NX: re-issuing an outstanding nonce must not extend its life.
      if (nonceMap.get(key) === undefined && pastNonces.get(key) === undefined) stored(nonceMap.set(key, true, nowMs() + ttlSeconds * 1000), 'nonces')
    },
    async consume(tenant, nonce, appraisalId) {
      const key = nonceMapKey(tenant, nonce)
      const expiresAt = nonceMap.expiresAt(key)
      if (expiresAt !== undefined) {
        nonceMap.delete(key)
        pastNonces.set(key, { expiresAt, usedBy: appraisalId ?? '' }, expiresAt + recallMs)
        return 'consumed'
      }
      const past = pastNonces.get(key)
      if (past === undefined) return 'unknown'
      if (past.usedBy === undefined) return 'expired'
      const retry = appraisalId !== undefined && appraisalId !== '' && past.usedBy === appraisalId && nowMs() < past.expiresAt
      return retry ? 'consumed' : 'used'
    },
  }

  const sessions: SessionStore = {
    async create(session) {
      assertNewSession(session)
      const copy = copySession(session)
      const result = sessionMap.set(recordMapKey(session.tenant, session.id), copy, session.expiresAt)
      stored(result, 'sessions')
      if (result === 'stored') persistence?.record(createLine(copy))
    },
    async get(tenant, id) {
      const session = sessionMap.get(recordMapKey(tenant, id))
      return session === undefined ? undefined : copySession(session)
    },
    async claim(tenant, id, submission) {
      const key = recordMapKey(tenant, id)
      const session = sessionMap.get(key)
      if (session === undefined || session.status !== 'waiting') return undefined
      const { appraisalId, evidenceMediaType, evidenceDigest } = submission
      const claimed: Session = { ...session, status: 'processing', appraisalId, evidenceMediaType, evidenceDigest }
      sessionMap.replace(key, claimed)
      persistence?.record(claimLine(tenant, id, { appraisalId, evidenceMediaType, evidenceDigest }))
      return copySession(claimed)
    },
    async unclaim(tenant, id, appraisalId) {
      const key = recordMapKey(tenant, id)
      const session = sessionMap.get(key)
      if (session === undefined || session.status !== 'processing' || session.appraisalId !== appraisalId) return false
      sessionMap.replace(key, unclaimed(session))
      persistence?.record(unclaimLine(tenant, id, appraisalId))
      return true
    },
    async finish(tenant, id, status) {
      const key = recordMapKey(tenant, id)
      assertFinalStatus(status)
      const session = sessionMap.get(key)
      if (session === undefined || session.status === 'waiting') return
      sessionMap.replace(key, { ...session, status })
      persistence?.record(finishLine(tenant, id, status))
    },
    async delete(tenant, id) {
      const deleted = sessionMap.delete(recordMapKey(tenant, id))
      if (deleted) persistence?.record(deleteLine(tenant, id))
      return deleted
    },
  }

  const results: ResultStore = {
    async put(record, ttlSeconds) {
      const key = recordMapKey(record.tenant, record.id)
      assertTtlSeconds(ttlSeconds)
      // Held as JSON, as Redis holds it: a caller's later mutation cannot reach the store, what `get`
      // returns is exactly what survives a round trip through the files, and the journal line is a copy.
      const json = JSON.stringify(record)
      const expiresAt = nowMs() + ttlSeconds * 1000
      const reserved = reservations.get(key)
      const existing = resultMap.get(key)
      if (existing !== undefined) {
        if (reserved !== undefined) {
          reservations.delete(key)
          reservedBytes -= reserved
        }
        return JSON.parse(existing) as AppraisalRecord
      }
      // Without a reservation the record must leave room for every reserved one.
      if (reserved === undefined && !resultMap.fits(resultBytes(key, json) + reservedBytes, 1 + reservations.size)) {
        throw full('appraisal records')
      }
      if (reserved !== undefined) {
        reservations.delete(key)
        reservedBytes -= reserved
      }
      if (resultMap.set(key, json, expiresAt, true) === 'stored') persistence?.record(putLine(json, expiresAt))
      return JSON.parse(json) as AppraisalRecord
    },
    async get(tenant, id) {
      const json = resultMap.get(recordMapKey(tenant, id))
      return json === undefined ? undefined : (JSON.parse(json) as AppraisalRecord)
    },
    async reserve(tenant, id, bytes) {
      const key = recordMapKey(tenant, id)
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new TypeError('bytes must be a non-negative integer')
      if (reservations.has(key)) return
      const size = ENTRY_OVERHEAD_BYTES + 2 * STRING_OVERHEAD_BYTES + key.length + bytes
      if (!resultMap.fits(reservedBytes + size, reservations.size + 1)) throw full('appraisal records')
      reservations.set(key, size)
      reservedBytes += size
    },
    async unreserve(tenant, id) {
      const key = recordMapKey(tenant, id)
      const reserved = reservations.get(key)
      if (reserved === undefined) return
      reservations.delete(key)
      reservedBytes -= reserved
    },
  }

  const heartbeats: HeartbeatStore = {
    async beat(workerId, ttlSeconds) {
      assertWorkerId(workerId)
      assertTtlSeconds(ttlSeconds)
      stored(workerMap.set(workerId, true, nowMs() + ttlSeconds * 1000), 'workers')
    },
    async end(workerId) {
      assertWorkerId(workerId)
      workerMap.delete(workerId)
    },
    async live() {
      workerMap.sweep()
      return workerMap.size
    },
  }

  let closing: Promise<void> | undefined
  const store: Store = {
    nonces,
    sessions,
    results,
    heartbeats,
    async ping() {
      return true
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweeper)
        await persistence?.close()
      })()
      return closing
    },
  }
  return { store, persistence }
}

/** Map key of a session or record; tenant ids hold no `:`, so the pair is unambiguous. */
function recordMapKey(tenant: TenantId, id: string): string {
  assertTenantId(tenant)
  assertRecordId(id)
  return `${tenant}:${id}`
}

/** What became of a nonce that left the map of outstanding nonces. */
interface PastNonce {
  /** When the nonce's TTL ended (ms). */
  readonly expiresAt: number
  /** The appraisal that used it ('' for a consume without one); absent when it expired unused. */
  readonly usedBy?: string
}

function nonceMapKey(tenant: TenantId, nonce: Uint8Array): string {
  assertTenantId(tenant)
  return `${tenant}:${nonceId(nonce)}`
}

/** `session` back in `waiting`, without a submission. */
function unclaimed(session: Session): Session {
  const { appraisalId: _a, evidenceMediaType: _m, evidenceDigest: _d, ...rest } = session
  return { ...rest, status: 'waiting' }
}

/** A copy that shares nothing mutable with `session` and leaves absent optional fields out. */
function copySession(session: Session): Session {
  const { appraisalId, evidenceMediaType, evidenceDigest } = session
  return {
    id: session.id,
    tenant: session.tenant,
    nonce: new Uint8Array(session.nonce),
    status: session.status,
    expiresAt: session.expiresAt,
    accept: [...session.accept],
    ...(appraisalId === undefined ? {} : { appraisalId }),
    ...(evidenceMediaType === undefined ? {} : { evidenceMediaType }),
    ...(evidenceDigest === undefined ? {} : { evidenceDigest }),
  }
}
