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
 * Memory is bounded: each kind of entry has a cap, and when it is reached the entry that would expire
 * soonest is dropped (an evicted nonce is refused, an evicted session or record reads as expired).
 */
import {
  assertFinalStatus,
  assertNewSession,
  assertRecordId,
  assertTenantId,
  assertTtlSeconds,
  assertWorkerId,
  nonceId,
} from '../keys.js'
import type {
  AppraisalRecord,
  HeartbeatStore,
  NonceStore,
  ResultStore,
  Session,
  SessionStore,
  Store,
  TenantId,
} from '../types.js'
import { ExpiringMap } from './expiring-map.js'
import { claimLine, createLine, deleteLine, finishLine, putLine, type JournalEntry } from './journal-entry.js'
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
  maxNonces: 1_000_000,
  maxSessions: 100_000,
  maxResults: 100_000,
  writeIntervalMs: 100,
  sweepIntervalMs: 10_000,
} as const

/** Workers are few; the cap only bounds a misbehaving caller that invents worker ids. */
const MAX_WORKERS = 10_000

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
  const nonceMap = new ExpiringMap<true>(options.maxNonces ?? DEFAULTS.maxNonces, nowMs)
  const sessionMap = new ExpiringMap<Session>(options.maxSessions ?? DEFAULTS.maxSessions, nowMs)
  const resultMap = new ExpiringMap<string>(options.maxResults ?? DEFAULTS.maxResults, nowMs)
  const workerMap = new ExpiringMap<true>(MAX_WORKERS, nowMs)

  const apply = (entry: JournalEntry): void => {
    switch (entry.op) {
      case 'put':
        resultMap.set(recordMapKey(entry.tenant, entry.id), entry.json, entry.expiresAt)
        return
      case 'create':
        sessionMap.set(recordMapKey(entry.session.tenant, entry.session.id), entry.session, entry.session.expiresAt)
        return
      case 'claim': {
        const key = recordMapKey(entry.tenant, entry.id)
        const session = sessionMap.get(key)
        if (session === undefined) return
        const { appraisalId, evidenceMediaType, evidence } = entry
        sessionMap.replace(key, { ...session, status: 'processing', appraisalId, evidenceMediaType, evidence })
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
      if (nonceMap.get(key) === undefined) nonceMap.set(key, true, nowMs() + ttlSeconds * 1000)
    },
    async consume(tenant, nonce) {
      return nonceMap.delete(nonceMapKey(tenant, nonce))
    },
  }

  const sessions: SessionStore = {
    async create(session) {
      assertNewSession(session)
      const copy = copySession(session)
      sessionMap.set(recordMapKey(session.tenant, session.id), copy, session.expiresAt)
      persistence?.record(createLine(copy))
    },
    async get(tenant, id) {
      const session = sessionMap.get(recordMapKey(tenant, id))
      return session === undefined ? undefined : copySession(session)
    },
    async claim(tenant, id, submission) {
      const key = recordMapKey(tenant, id)
      const session = sessionMap.get(key)
      if (session === undefined || session.status !== 'waiting') return undefined
      const { appraisalId, evidenceMediaType, evidence } = submission
      const claimed: Session = { ...session, status: 'processing', appraisalId, evidenceMediaType, evidence }
      sessionMap.replace(key, claimed)
      persistence?.record(claimLine(tenant, id, submission))
      return copySession(claimed)
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
      resultMap.set(key, json, expiresAt)
      persistence?.record(putLine(json, expiresAt))
    },
    async get(tenant, id) {
      const json = resultMap.get(recordMapKey(tenant, id))
      return json === undefined ? undefined : (JSON.parse(json) as AppraisalRecord)
    },
  }

  const heartbeats: HeartbeatStore = {
    async beat(workerId, ttlSeconds) {
      assertWorkerId(workerId)
      assertTtlSeconds(ttlSeconds)
      workerMap.set(workerId, true, nowMs() + ttlSeconds * 1000)
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

function nonceMapKey(tenant: TenantId, nonce: Uint8Array): string {
  assertTenantId(tenant)
  return `${tenant}:${nonceId(nonce)}`
}

/** A copy that shares nothing mutable with `session` and leaves absent optional fields out. */
function copySession(session: Session): Session {
  const { appraisalId, evidenceMediaType, evidence } = session
  return {
    id: session.id,
    tenant: session.tenant,
    nonce: new Uint8Array(session.nonce),
    status: session.status,
    expiresAt: session.expiresAt,
    accept: [...session.accept],
    ...(appraisalId === undefined ? {} : { appraisalId }),
    ...(evidenceMediaType === undefined ? {} : { evidenceMediaType }),
    ...(evidence === undefined ? {} : { evidence }),
  }
}
