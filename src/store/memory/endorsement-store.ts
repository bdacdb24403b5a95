/**
 * The embedded adapter of the endorsement store port (`../endorsements.ts`): documents in this
 * process's memory, with the semantics of the Redis adapter (same contract suite). Every change runs
 * without an `await` between its check and its write, so it is atomic; listeners are called
 * synchronously after it.
 *
 * With `dataDir`, every version is appended to `endorsements.jsonl` there and fdatasynced before the
 * change is applied in memory and answered, so a change that was answered survives a crash, and one
 * whose write failed (`ERR_STORE_PERSIST_FAILED`) changed nothing. Provisioning is rare and small
 * (a body is at most 256 KiB), so a synchronous write per change costs less than the batching of the
 * session store would. Each line is `{"rev":<tenant revision>,"v":<version>}`; loading replays them in
 * order, so the state, the index and each tenant's revision come back exactly. When the file holds
 * more than twice the kept versions (pruned and superseded lines), it is rewritten with the kept
 * versions only: a temporary file, fsynced, renamed over it. A last line cut short by a crash is
 * ignored with a warning; a line that does not decode is skipped with a warning and the file is moved
 * aside (`.corrupt-<time>`) before the rewrite, never deleted. The directory is locked
 * (`dir-lock.ts`) for the life of the store.
 *
 * Versions are deep-frozen when stored and returned as they are, shared by every reader: a lookup
 * copies nothing, and no caller can change what another reads.
 *
 * Cost: lookups and version reads are map reads. Listings keep each id set sorted, so a page costs a
 * binary search plus the page; adding or removing a document costs a move of the sorted array
 * (memmove of pointers: fine at the embedded mode's scale, a few hundred thousand documents).
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { VerifierError } from '../../errors/errors.js'
import {
  DEFAULT_ENDORSEMENT_LIMITS,
  MAX_LOOKUP_RESULTS,
  activationOf,
  assertIndexId,
  assertVersionNumber,
  checkChange,
  checkWrite,
  decodeCursor,
  decodeVersion,
  encodeCursor,
  isEndorsementKind,
  notify,
  pageSize,
  planWrite,
  tombstoneOf,
  type EndorsementKind,
  type EndorsementLimits,
  type EndorsementListener,
  type EndorsementStore,
  type EndorsementVersion,
  type WriteMode,
} from '../endorsements.js'
import { assertRecordId, assertTenantId, isTenantId } from '../keys.js'
import type { TenantId } from '../types.js'
import { lockDirectory, type DirLock } from './dir-lock.js'
import { errorMessage, moveAside } from './file-utils.js'
import { readLinesSync } from './read-lines.js'

/** Name of the journal inside the data directory. */
export const ENDORSEMENT_JOURNAL = 'endorsements.jsonl'

/** Options of {@link createMemoryEndorsementStore}. */
export interface MemoryEndorsementStoreOptions {
  /**
   * Directory of the journal (created if missing; locked while the store is open). Without it nothing
   * is written to disk.
   * @defaultValue none
   */
  readonly dataDir?: string
  /** @defaultValue DEFAULT_ENDORSEMENT_LIMITS */
  readonly limits?: Partial<EndorsementLimits>
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
  /** @defaultValue write the message to stderr */
  readonly onWarning?: (message: string) => void
}

/** Below this many lines the journal is never rewritten. */
const MIN_COMPACT_LINES = 1000

/** Ids kept in ascending order, for paging. */
class SortedIds {
  readonly #ids: string[] = []

  get size(): number {
    return this.#ids.length
  }

  add(id: string): void {
    const at = this.#search(id)
    if (this.#ids[at] !== id) this.#ids.splice(at, 0, id)
  }

  delete(id: string): void {
    const at = this.#search(id)
    if (this.#ids[at] === id) this.#ids.splice(at, 1)
  }

  /** Up to `count` ids after `after` (exclusive; from the start when undefined), in order. */
  after(after: string | undefined, count: number): string[] {
    let from = 0
    if (after !== undefined) {
      from = this.#search(after)
      if (this.#ids[from] === after) from++
    }
    return this.#ids.slice(from, from + count)
  }

  /** First index whose id is not below `id`. Ids compare by code unit, as Redis compares bytes (ids are ASCII). */
  #search(id: string): number {
    let low = 0
    let high = this.#ids.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.#ids[mid]! < id) low = mid + 1
      else high = mid
    }
    return low
  }
}

interface Doc {
  /** Kept versions by number, from `first` to the latest. */
  readonly versions: Map<number, EndorsementVersion>
  first: number
  latest: EndorsementVersion
}

interface TenantState {
  readonly docs: Map<string, Doc>
  /** Live (not deleted) documents. */
  readonly live: SortedIds
  readonly byKind: Map<EndorsementKind, SortedIds>
  readonly byIndex: Map<string, SortedIds>
  revision: number
}

/**
 * Creates the in-memory endorsement store, loading `dataDir`'s journal first when one is given.
 * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when `dataDir` cannot be created or read;
 *   `ERR_STORE_LOCKED` when another process (or store) holds it
 */
export function createMemoryEndorsementStore(options: MemoryEndorsementStoreOptions = {}): EndorsementStore {
  const limits: EndorsementLimits = { ...DEFAULT_ENDORSEMENT_LIMITS, ...options.limits }
  const nowMs = options.nowMs ?? Date.now
  const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`assay endorsements: ${message}\n`))
  const tenants = new Map<TenantId, TenantState>()
  const listeners = new Set<EndorsementListener>()
  let keptVersions = 0

  function state(tenant: TenantId): TenantState {
    let found = tenants.get(tenant)
    if (found === undefined) {
      found = { docs: new Map(), live: new SortedIds(), byKind: new Map(), byIndex: new Map(), revision: 0 }
      tenants.set(tenant, found)
    }
    return found
  }

  function setOf<K>(map: Map<K, SortedIds>, key: K): SortedIds {
    let set = map.get(key)
    if (set === undefined) {
      set = new SortedIds()
      map.set(key, set)
    }
    return set
  }

  function unindex(t: TenantState, version: EndorsementVersion): void {
    if (version.deleted) return
    t.live.delete(version.id)
    t.byKind.get(version.kind)?.delete(version.id)
    for (const indexId of version.indexIds) {
      const set = t.byIndex.get(indexId)
      set?.delete(version.id)
      if (set?.size === 0) t.byIndex.delete(indexId)
    }
  }

  /**
   * Makes `record` the latest version of its document, moving the index and pruning the oldest, and
   * sets the tenant's revision to `revision` (the one after the change; never lowered).
   */
  function apply(record: EndorsementVersion, revision: number): void {
    deepFreeze(record)
    const t = state(record.tenant)
    const doc = t.docs.get(record.id)
    if (doc === undefined) {
      t.docs.set(record.id, { versions: new Map([[record.version, record]]), first: record.version, latest: record })
      keptVersions++
    } else {
      unindex(t, doc.latest)
      if (!doc.versions.has(record.version)) keptVersions++
      doc.versions.set(record.version, record)
      doc.latest = record
      while (doc.versions.size > limits.maxVersionsPerDocument && doc.first < record.version) {
        if (doc.versions.delete(doc.first)) keptVersions--
        doc.first++
      }
    }
    if (!record.deleted) {
      t.live.add(record.id)
      setOf(t.byKind, record.kind).add(record.id)
      for (const indexId of record.indexIds) setOf(t.byIndex, indexId).add(record.id)
    }
    t.revision = Math.max(t.revision, revision)
  }

  const journal = options.dataDir === undefined ? undefined : openJournal(options.dataDir, warn, apply)
  if (journal?.needsRewrite === true) journal.rewrite(allVersions())

  /** Writes (when persisted), applies and announces one new version. */
  function commit(record: EndorsementVersion): EndorsementVersion {
    const t = state(record.tenant)
    journal?.append(record, t.revision + 1)
    apply(record, t.revision + 1)
    notify(listeners, { tenant: record.tenant, revision: t.revision, ids: [record.id] })
    journal?.maybeCompact(() => allVersions(), keptVersions)
    return record
  }

  function* allVersions(): Generator<[EndorsementVersion, number]> {
    for (const t of tenants.values()) {
      for (const doc of t.docs.values()) {
        for (let n = doc.first; n <= doc.latest.version; n++) {
          const version = doc.versions.get(n)
          if (version !== undefined) yield [version, t.revision]
        }
      }
    }
  }

  function liveDoc(tenant: TenantId, id: string): Doc {
    assertTenantId(tenant)
    assertRecordId(id)
    const doc = tenants.get(tenant)?.docs.get(id)
    if (doc === undefined || doc.latest.deleted) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no document ${id}`)
    return doc
  }

  function write(mode: WriteMode, tenant: TenantId, id: string, input: Parameters<EndorsementStore['create']>[2]) {
    const checked = checkWrite(tenant, id, input, limits)
    const t = tenants.get(tenant)
    const doc = t?.docs.get(id)
    const plan = planWrite(mode, tenant, id, doc?.latest, checked, nowMs())
    if (plan.outcome === 'unchanged') return { outcome: plan.outcome, version: doc!.latest }
    if (doc === undefined && (t?.docs.size ?? 0) >= limits.maxDocumentsPerTenant) {
      throw new VerifierError('ERR_STORE_FULL', `tenant ${tenant} holds as many documents as it may (${limits.maxDocumentsPerTenant})`)
    }
    return { outcome: plan.outcome, version: commit(plan.record) }
  }

  let closed: Promise<void> | undefined
  return {
    async create(tenant, id, input) {
      return write('create', tenant, id, input).version
    },
    async put(tenant, id, input) {
      return write('put', tenant, id, input).version
    },
    async putIfChanged(tenant, id, input) {
      return write('putIfChanged', tenant, id, input)
    },
    async get(tenant, id, version) {
      assertTenantId(tenant)
      assertRecordId(id)
      if (version !== undefined) assertVersionNumber(version)
      const doc = tenants.get(tenant)?.docs.get(id)
      return version === undefined ? doc?.latest : doc?.versions.get(version)
    },
    async versions(tenant, id) {
      assertTenantId(tenant)
      assertRecordId(id)
      const doc = tenants.get(tenant)?.docs.get(id)
      if (doc === undefined) return []
      const list: EndorsementVersion[] = []
      for (let n = doc.first; n <= doc.latest.version; n++) {
        const version = doc.versions.get(n)
        if (version !== undefined) list.push(version)
      }
      return list
    },
    async list(tenant, listOptions = {}) {
      assertTenantId(tenant)
      const limit = pageSize(listOptions.limit)
      const after = listOptions.cursor === undefined ? undefined : decodeCursor(listOptions.cursor)
      const { kind, indexId } = listOptions
      if (kind !== undefined && !isEndorsementKind(kind)) throw new TypeError('unknown kind')
      if (indexId !== undefined) assertIndexId(indexId)
      const t = tenants.get(tenant)
      const set =
        t === undefined ? undefined : indexId !== undefined ? t.byIndex.get(indexId) : kind !== undefined ? t.byKind.get(kind) : t.live
      if (set === undefined) return { items: [] }
      // Taking one more than asked tells whether another page follows.
      const ids = set.after(after, limit + 1)
      const more = ids.length > limit
      const items = ids
        .slice(0, limit)
        .map((id) => t!.docs.get(id)!.latest)
        .filter((version) => kind === undefined || version.kind === kind)
      return more ? { items, cursor: encodeCursor(ids[limit - 1]!) } : { items }
    },
    async delete(tenant, id, change) {
      assertTenantId(tenant)
      assertRecordId(id)
      checkChange(change)
      const doc = tenants.get(tenant)?.docs.get(id)
      if (doc === undefined || doc.latest.deleted) return undefined
      return commit(tombstoneOf(doc.latest, change, nowMs()))
    },
    async setActive(tenant, id, active, change) {
      if (typeof active !== 'boolean') throw new TypeError('active must be a boolean')
      checkChange(change)
      const doc = liveDoc(tenant, id)
      if (doc.latest.active === active) return doc.latest
      return commit(activationOf(doc.latest, active, change, nowMs()))
    },
    async lookup(tenant, indexId) {
      assertTenantId(tenant)
      assertIndexId(indexId)
      const t = tenants.get(tenant)
      const set = t?.byIndex.get(indexId)
      if (set === undefined) return []
      const found: EndorsementVersion[] = []
      for (const id of set.after(undefined, MAX_LOOKUP_RESULTS)) {
        const latest = t!.docs.get(id)!.latest
        if (latest.active) found.push(latest)
      }
      return found
    },
    async revision(tenant) {
      assertTenantId(tenant)
      return tenants.get(tenant)?.revision ?? 0
    },
    async watch(listener) {
      const own = (event: Parameters<EndorsementListener>[0]) => listener(event)
      listeners.add(own)
      return () => void listeners.delete(own)
    },
    close() {
      closed ??= (async () => {
        listeners.clear()
        journal?.close()
      })()
      return closed
    },
  }
}

interface Journal {
  /** The file was damaged (a torn or bad line): rewrite it once loading is complete. */
  readonly needsRewrite: boolean
  /** Rewrites the file with `versions`, at once. */
  rewrite(versions: Iterable<[EndorsementVersion, number]>): void
  /** Appends and fdatasyncs one line. @throws VerifierError `ERR_STORE_PERSIST_FAILED` */
  append(record: EndorsementVersion, revision: number): void
  /** Rewrites the file with the kept versions when it holds more than twice as many lines. */
  maybeCompact(versions: () => Iterable<[EndorsementVersion, number]>, kept: number): void
  close(): void
}

function openJournal(
  dataDir: string,
  warn: (message: string) => void,
  apply: (record: EndorsementVersion, revision: number) => void,
): Journal {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot open data directory ${dataDir}`, { cause: err })
  }
  const lock: DirLock = lockDirectory(dataDir)
  const path = join(dataDir, ENDORSEMENT_JOURNAL)
  let fd: number
  let size: number
  let lines = 0
  let broken = false
  try {
    let bad = 0
    let firstBad = ''
    let tail = 0
    try {
      const read = readLinesSync(path, (line) => {
        lines++
        try {
          const { record, revision } = decodeLine(line)
          apply(record, revision)
        } catch (err) {
          bad++
          firstBad ||= `line ${lines}: ${errorMessage(err)}`
        }
      })
      tail = read.tailBytes
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (tail > 0) warn(`${path}: ignored a last line cut short (${tail} bytes), left by a crash during an append`)
    if (bad > 0) {
      warn(`${path} is corrupt: skipped ${bad} line(s) that do not decode (${firstBad}); moved it to ${moveAside(path)}`)
    }
    fd = openSync(path, 'a', 0o600)
    size = fstatSync(fd).size
    if (tail > 0 || bad > 0) {
      // Rewritten at once, so the damage is not met again at every start.
      closeSync(fd)
      fd = -1
    }
  } catch (err) {
    lock.release()
    if (err instanceof VerifierError) throw err
    throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot read ${path}: ${errorMessage(err)}`, { cause: err })
  }

  function rewrite(versions: Iterable<[EndorsementVersion, number]>): void {
    const temp = `${path}.tmp-${process.pid}`
    const out = openSync(temp, 'w', 0o600)
    let count = 0
    try {
      for (const [record, revision] of versions) {
        writeAllSync(out, encodeLine(record, revision))
        count++
      }
      fdatasyncSync(out)
    } finally {
      closeSync(out)
    }
    renameSync(temp, path)
    syncDirectorySync(dataDir)
    if (fd >= 0) closeSync(fd)
    fd = openSync(path, 'a', 0o600)
    size = fstatSync(fd).size
    lines = count
  }

  const journal: Journal = {
    get needsRewrite() {
      return fd < 0
    },
    rewrite,
    append(record, revision) {
      if (broken || fd < 0) throw new VerifierError('ERR_STORE_PERSIST_FAILED', `${path} cannot be written since an earlier failure`)
      const line = encodeLine(record, revision)
      try {
        writeAllSync(fd, line)
        fdatasyncSync(fd)
        size += Buffer.byteLength(line, 'utf8')
        lines++
      } catch (err) {
        // Take back a partial line, so the next one starts on a line of its own.
        try {
          ftruncateSync(fd, size)
        } catch {
          broken = true
        }
        throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot write ${path}: ${errorMessage(err)}`, { cause: err })
      }
    },
    maybeCompact(versions, keptNow) {
      if (lines < MIN_COMPACT_LINES || lines <= 2 * keptNow) return
      try {
        rewrite(versions())
      } catch (err) {
        warn(`cannot rewrite ${path}: ${errorMessage(err)}`)
        rmSync(`${path}.tmp-${process.pid}`, { force: true })
      }
    },
    close() {
      if (fd >= 0) closeSync(fd)
      fd = -1
      lock.release()
    },
  }
  return journal
}

/** Writes all of `text` (a single `write` may write less). */
function writeAllSync(fd: number, text: string): void {
  const data = Buffer.from(text, 'utf8')
  for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset)
}

/** Makes a rename in `dir` durable, where the platform can fsync a directory. */
function syncDirectorySync(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is atomic regardless.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const item of Object.values(value)) deepFreeze(item)
}

function encodeLine(record: EndorsementVersion, revision: number): string {
  return `{"rev":${revision},"v":${JSON.stringify(record)}}\n`
}

function decodeLine(line: string): { record: EndorsementVersion; revision: number } {
  const item = JSON.parse(line) as { rev?: unknown; v?: { tenant?: unknown; id?: unknown; version?: unknown } }
  if (typeof item !== 'object' || item === null || !Number.isSafeInteger(item.rev)) throw new Error('bad revision')
  const v = item.v
  if (typeof v !== 'object' || v === null || !isTenantId(v.tenant) || typeof v.id !== 'string') throw new Error('bad version')
  const record = decodeVersion(JSON.stringify(v), v.tenant, v.id)
  assertVersionNumber(record.version)
  return { record, revision: item.rev as number }
}
