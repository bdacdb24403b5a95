/**
 * Persistence of the memory store: sessions and appraisal records, as one JSON file in the data
 * directory, rewritten whole.
 *
 * Invariants:
 * - A write never leaves a half-written file: the text goes to a temporary file in the same
 *   directory, which is fsynced and then renamed over the old file (rename is atomic within one
 *   file system); the directory is fsynced after the rename where the platform allows it.
 * - Writes are throttled: at most one per `minIntervalMs`, or per ten times the last write's
 *   duration if that is longer, so a large store does not spend its time rewriting the file. A
 *   change waits at most that long to reach the disk; `close()` flushes at once.
 * - A file that cannot be read or decoded is renamed aside (`store.json.corrupt-<time>`) with a
 *   warning, and the store starts empty. It is never overwritten: if it cannot be moved aside,
 *   persistence is switched off for this process instead.
 * - One process per data directory; nothing locks it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { VerifierError } from '../../errors/errors.js'
import { assertNewSession, isAppraisalStatus, isRecordId, isTenantId } from '../keys.js'
import type { AppraisalRecord, Session } from '../types.js'

/** Name of the snapshot file inside the data directory. */
export const SNAPSHOT_FILE_NAME = 'store.json'

const FORMAT = 'assay-memory-store'
const VERSION = 1
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const SESSION_TEXT_FIELDS = ['appraisalId', 'evidenceMediaType', 'evidence'] as const

/** An appraisal record as the memory store holds it: its JSON text and its expiry. */
export interface StoredResult {
  readonly json: string
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

/** What a snapshot file holds. Entries may have expired since it was written. */
export interface Snapshot {
  readonly sessions: readonly Session[]
  readonly results: readonly StoredResult[]
}

/** The outcome of {@link loadSnapshot}. */
export interface LoadedSnapshot {
  readonly snapshot: Snapshot
  /** False when a bad file could not be moved aside: then nothing may be written over it. */
  readonly writable: boolean
}

/** The text of a snapshot file. Appraisal records are embedded as the JSON they are held as. */
export function renderSnapshot(sessions: Iterable<Session>, results: Iterable<StoredResult>): string {
  const sessionParts: string[] = []
  for (const session of sessions) {
    const { nonce } = session
    const base64 = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    sessionParts.push(JSON.stringify({ ...session, nonce: base64 }))
  }
  const resultParts: string[] = []
  for (const { json, expiresAt } of results) resultParts.push(`{"expiresAt":${expiresAt},"record":${json}}`)
  return (
    `{"format":"${FORMAT}","version":${VERSION},\n"sessions":[${sessionParts.join(',\n')}],\n` +
    `"results":[${resultParts.join(',\n')}]}\n`
  )
}

/** Decodes a snapshot file; throws (any error) when it is not one, in whole or in any entry. */
export function decodeSnapshot(text: string): Snapshot {
  const root = JSON.parse(text) as unknown
  if (!isObject(root) || root.format !== FORMAT || root.version !== VERSION) {
    throw new Error(`not a ${FORMAT} file of version ${VERSION}`)
  }
  if (!Array.isArray(root.sessions) || !Array.isArray(root.results)) throw new Error('sessions or results missing')
  return {
    sessions: root.sessions.map((item: unknown, i) => decodeSession(item, i)),
    results: root.results.map((item: unknown, i) => decodeResult(item, i)),
  }
}

/**
 * Reads the snapshot in `dataDir` (created if missing), removing temporary files a crash left behind.
 * A missing file is an empty snapshot; a bad one is moved aside (see the file comment).
 */
export function loadSnapshot(dataDir: string, warn: (message: string) => void): LoadedSnapshot {
  const path = join(dataDir, SNAPSHOT_FILE_NAME)
  const empty = { sessions: [], results: [] }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot create data directory ${dataDir}`, { cause: err })
  }
  removeTempFiles(path)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return { snapshot: empty, writable: true }
    return { snapshot: empty, writable: moveAside(path, `cannot be read (${errorMessage(err)})`, warn) }
  }
  try {
    return { snapshot: decodeSnapshot(text), writable: true }
  } catch (err) {
    return { snapshot: empty, writable: moveAside(path, `is corrupt (${errorMessage(err)})`, warn) }
  }
}

/** Options of {@link SnapshotWriter}. */
export interface SnapshotWriterOptions {
  /** Renders the current state; called synchronously when a write starts, so it sees one instant. */
  readonly render: () => string
  readonly warn: (message: string) => void
  /** Least time between the starts of two writes. */
  readonly minIntervalMs: number
}

/** Writes the snapshot file after changes, throttled, and flushes on close. */
export class SnapshotWriter {
  readonly path: string
  readonly #options: SnapshotWriterOptions
  #dirty = false
  #closed = false
  #failing = false
  #timer: NodeJS.Timeout | undefined
  #writing: Promise<void> | undefined
  #lastStart = Number.NEGATIVE_INFINITY
  #lastDurationMs = 0
  #tempCounter = 0

  constructor(dataDir: string, options: SnapshotWriterOptions) {
    this.path = join(dataDir, SNAPSHOT_FILE_NAME)
    this.#options = options
  }

  /** Notes that the state changed; a write follows within the throttle interval. */
  markDirty(): void {
    if (this.#closed) return
    this.#dirty = true
    this.#schedule()
  }

  /**
   * Stops the timer, waits for a write in progress and writes any change not yet on disk.
   * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when that last write fails
   */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#writing
    if (!this.#dirty) return
    this.#dirty = false
    try {
      await this.#write(this.#options.render())
    } catch (err) {
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot write ${this.path}: ${errorMessage(err)}`, {
        cause: err,
      })
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined) return
    const interval = Math.max(this.#options.minIntervalMs, this.#lastDurationMs * 10)
    const wait = Math.max(0, this.#lastStart + interval - performance.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#startWrite()
    }, wait)
  }

  #startWrite(): void {
    this.#dirty = false
    const started = performance.now()
    this.#lastStart = started
    this.#writing = Promise.resolve()
      .then(() => this.#write(this.#options.render()))
      .then(
        () => {
          if (this.#failing) this.#options.warn(`writes to ${this.path} succeed again`)
          this.#failing = false
        },
        (err: unknown) => {
          // Not retried on a timer: the next change (or close) tries again, and one warning per outage
          // is enough.
          this.#dirty = true
          if (!this.#failing) this.#options.warn(`cannot write ${this.path}: ${errorMessage(err)}`)
          this.#failing = true
        },
      )
      .finally(() => {
        this.#writing = undefined
        this.#lastDurationMs = performance.now() - started
        if (this.#dirty && !this.#failing && !this.#closed) this.#schedule()
      })
  }

  async #write(text: string): Promise<void> {
    const tempPath = `${this.path}.tmp-${process.pid}-${this.#tempCounter++}`
    try {
      const handle = await open(tempPath, 'wx', 0o600)
      try {
        await handle.writeFile(text, 'utf8')
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(tempPath, this.path)
    } catch (err) {
      await rm(tempPath, { force: true }).catch(() => {})
      throw err
    }
    await syncDirectory(dirname(this.path))
  }
}

function decodeSession(item: unknown, index: number): Session {
  if (!isObject(item) || typeof item.nonce !== 'string' || !BASE64.test(item.nonce)) {
    throw new Error(`session ${index}: malformed`)
  }
  const text: Record<string, string> = {}
  for (const field of SESSION_TEXT_FIELDS) {
    const value = item[field]
    if (value === undefined) continue
    if (typeof value !== 'string') throw new Error(`session ${index}: bad ${field}`)
    text[field] = value
  }
  const session = {
    id: item.id,
    tenant: item.tenant,
    nonce: new Uint8Array(Buffer.from(item.nonce, 'base64')),
    status: item.status,
    expiresAt: item.expiresAt,
    accept: item.accept,
    ...text,
  } as Session
  try {
    assertNewSession(session)
  } catch (err) {
    throw new Error(`session ${index}: ${errorMessage(err)}`)
  }
  return session
}

function decodeResult(item: unknown, index: number): StoredResult {
  if (!isObject(item) || !Number.isSafeInteger(item.expiresAt) || !isObject(item.record)) {
    throw new Error(`result ${index}: malformed`)
  }
  const record = item.record as Partial<AppraisalRecord>
  if (!isRecordId(record.id) || !isTenantId(record.tenant) || !isAppraisalStatus(record.status)) {
    throw new Error(`result ${index}: bad id, tenant or status`)
  }
  if (typeof record.createdAt !== 'number') throw new Error(`result ${index}: bad createdAt`)
  return { json: JSON.stringify(record), expiresAt: item.expiresAt as number }
}

/** Renames a bad snapshot aside; false (persistence off) when even that fails. */
function moveAside(path: string, why: string, warn: (message: string) => void): boolean {
  const stamp = new Date().toISOString().replaceAll(':', '-')
  let target = `${path}.corrupt-${stamp}`
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${stamp}-${n}`
  try {
    renameSync(path, target)
  } catch (err) {
    warn(
      `${path} ${why} and cannot be moved aside (${errorMessage(err)}); ` +
        'starting empty with persistence off so it is not overwritten',
    )
    return false
  }
  warn(`${path} ${why}; moved it to ${target} and starting empty`)
  return true
}

function removeTempFiles(path: string): void {
  const tempPrefix = `${basename(path)}.tmp-`
  let names: string[]
  try {
    names = readdirSync(dirname(path))
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(tempPrefix)) continue
    try {
      unlinkSync(join(dirname(path), name))
    } catch {
      // Best effort: a leftover temporary file is never read.
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is atomic regardless.
  } finally {
    await handle?.close()
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
