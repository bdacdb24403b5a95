/**
 * Persistence of the memory store: a snapshot (`snapshot-file.ts`) plus the journals of every change
 * since (`journal-file.ts`), in the data directory. The cost of a change is proportional to the change,
 * and no step holds the event loop for long, whatever the size of the store.
 *
 * - Recording: each change is one journal line, buffered; the buffer is appended to the current
 *   journal at most once per `intervalMs` (one write and one fdatasync), so a change reaches the disk
 *   within about that.
 * - Compaction: when the journals since the snapshot outgrow `max(compactMinBytes, compactRatio ×
 *   snapshot size)`, later changes go to a new journal, and the live entries as of that instant are
 *   written as a new snapshot, a chunk at a time, while changes keep flowing to the new journal; once
 *   the snapshot is renamed into place, the journals it covers are deleted. Entries may be written in
 *   a state newer than that instant; replaying the new journal over them still ends in the right state,
 *   because journal entries set state rather than test it (`journal-entry.ts`).
 * - Loading (synchronous: the store serves nothing before): the snapshot, then the journals it does
 *   not cover, in order; the store's maps drop what has expired. A journal's last line cut short by a
 *   crash is ignored with a warning. A line that does not decode is skipped with a warning, and its
 *   journal is moved aside (`.corrupt-<time>`) instead of deleted once a snapshot covers it; either
 *   finding starts a compaction at once. A bad snapshot is moved aside and the journals are loaded
 *   alone.
 * - Locking: the data directory is locked for the life of the store (`dir-lock.ts`): a second
 *   process (or a second store in this one) on the same directory fails to load with
 *   `ERR_STORE_LOCKED` instead of appending to the same journal.
 * - Failures: a failed append is warned about once per outage and retried every `retryMs`, its lines
 *   kept; past `maxPendingChars` they are dropped and a snapshot makes up for them. A failed
 *   compaction is warned about and retried later. Only `close()` reports an error: when what it
 *   writes last cannot be written.
 */
import { mkdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { VerifierError } from '../../errors/errors.js'
import { lockDirectory, type DirLock } from './dir-lock.js'
import { errorMessage, moveAside } from './file-utils.js'
import { JournalWriter, journalFileName, listJournals, readJournal } from './journal-file.js'
import type { JournalEntry } from './journal-entry.js'
import { loadSnapshot, removeSnapshotTempFiles, writeSnapshot, type SnapshotSource } from './snapshot-file.js'

/** Bounds of the persistence; the defaults suit production, tests shrink them. */
export interface PersistenceTuning {
  /**
   * Journal bytes since the snapshot below which there is no compaction.
   * @defaultValue 32 MiB
   */
  readonly compactMinBytes: number
  /**
   * Compaction starts when the journals since the snapshot reach this multiple of its size.
   * @defaultValue 2
   */
  readonly compactRatio: number
  /**
   * Most entries per snapshot chunk; the event loop runs between chunks.
   * @defaultValue 500
   */
  readonly chunkEntries: number
  /**
   * Most characters buffered (while appends fail or lag) before the buffer is dropped for a snapshot.
   * @defaultValue 64 Mi
   */
  readonly maxPendingChars: number
  /**
   * Wait before retrying a failed append, in milliseconds.
   * @defaultValue 1_000
   */
  readonly retryMs: number
  /**
   * Wait before retrying a failed compaction, in milliseconds.
   * @defaultValue 30_000
   */
  readonly compactRetryMs: number
}

/** The production bounds. */
export const DEFAULT_TUNING: PersistenceTuning = {
  compactMinBytes: 32 * 1024 * 1024,
  compactRatio: 2,
  chunkEntries: 500,
  maxPendingChars: 64 * 1024 * 1024,
  retryMs: 1000,
  compactRetryMs: 30_000,
}

/** Options of {@link StorePersistence.load}. */
export interface StorePersistenceOptions {
  /** Created if missing. */
  readonly dataDir: string
  /** Least time between the starts of two appends, in milliseconds. */
  readonly intervalMs: number
  readonly nowMs: () => number
  readonly warn: (message: string) => void
  /** Applies a loaded entry to the store. */
  readonly apply: (entry: JournalEntry) => void
  /** The live entries of the store, as arrays taken at the call. */
  readonly live: () => SnapshotSource
  readonly tuning?: Partial<PersistenceTuning>
}

/** The snapshot and journals of one data directory (see the file comment). */
export class StorePersistence {
  readonly #options: StorePersistenceOptions
  readonly #tuning: PersistenceTuning
  readonly #lock: DirLock
  /** Undefined when nothing may be written (a bad snapshot could not be moved aside). */
  readonly #writer: JournalWriter | undefined
  /** Journals that had lines that do not decode: moved aside, not deleted, once covered. */
  readonly #corruptJournals: Set<number>
  /** Journals numbered below this are covered by the snapshot. */
  #coveredSeq: number
  #snapshotBytes: number
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #lastFlushStart = Number.NEGATIVE_INFINITY
  #failing = false
  #compacting: Promise<void> | undefined
  #compactFailing = false
  #compactRetryAt = Number.NEGATIVE_INFINITY
  readonly #abort = new AbortController()
  /** Lines were dropped: only a snapshot taken after that puts the disk in step again. */
  #needsSnapshot = false
  #discards = 0
  #closing: Promise<void> | undefined

  /**
   * Loads the data directory into the store through `options.apply` and returns what keeps it
   * written. Warnings go to `options.warn`.
   * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when the directory cannot be created or listed;
   *   `ERR_STORE_LOCKED` when another process (or store) holds it
   */
  static load(options: StorePersistenceOptions): StorePersistence {
    const { dataDir } = options
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot open data directory ${dataDir}`, { cause: err })
    }
    const lock = lockDirectory(dataDir)
    try {
      return StorePersistence.#loadLocked(options, lock)
    } catch (err) {
      lock.release()
      throw err
    }
  }

  static #loadLocked(options: StorePersistenceOptions, lock: DirLock): StorePersistence {
    const { dataDir, warn, apply } = options
    let journals
    try {
      journals = listJournals(dataDir)
    } catch (err) {
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot open data directory ${dataDir}`, { cause: err })
    }
    removeSnapshotTempFiles(dataDir)
    const snapshot = loadSnapshot(dataDir, warn)
    for (const entry of snapshot.entries) apply(entry)
    const corrupt = new Set<number>()
    const sizes = new Map<number, number>()
    let torn = false
    let nextSeq = snapshot.nextJournal
    for (const { seq, name } of journals) {
      nextSeq = Math.max(nextSeq, seq + 1)
      // Covered by the snapshot: the process stopped between renaming it and deleting them.
      if (seq < snapshot.nextJournal) continue
      const path = join(dataDir, name)
      try {
        const read = readJournal(path, apply)
        sizes.set(seq, read.bytes)
        if (read.tornBytes > 0) {
          torn = true
          warn(`${path}: ignored a last line cut short (${read.tornBytes} bytes), left by a crash during an append`)
        }
        const [first] = read.badLines
        if (first !== undefined) {
          corrupt.add(seq)
          warn(
            `${path} is corrupt: skipped ${read.badLines.length} line(s) that do not decode ` +
              `(line ${first.line}: ${first.error}); it will be moved aside, not deleted`,
          )
        }
      } catch (err) {
        corrupt.add(seq)
        warn(`${path} cannot be read (${errorMessage(err)}); skipped it, and it will be moved aside, not deleted`)
      }
    }
    const writer = snapshot.writable ? new JournalWriter(dataDir, nextSeq) : undefined
    for (const [seq, bytes] of sizes) writer?.noteExisting(seq, bytes)
    const persistence = new StorePersistence(options, lock, writer, corrupt, snapshot.nextJournal, snapshot.bytes)
    // At once rather than at the next threshold, so the damaged journals are gone (or moved aside) and
    // the warnings are not repeated at every start.
    if (writer !== undefined && (torn || corrupt.size > 0)) void persistence.#startCompaction()
    return persistence
  }

  private constructor(
    options: StorePersistenceOptions,
    lock: DirLock,
    writer: JournalWriter | undefined,
    corruptJournals: Set<number>,
    coveredSeq: number,
    snapshotBytes: number,
  ) {
    this.#options = options
    this.#lock = lock
    this.#tuning = { ...DEFAULT_TUNING, ...options.tuning }
    this.#writer = writer
    this.#corruptJournals = corruptJournals
    this.#coveredSeq = coveredSeq
    this.#snapshotBytes = snapshotBytes
  }

  /** Records a change: `line` (from `journal-entry.ts`) reaches the journal with the next append. */
  record(line: string): void {
    const writer = this.#writer
    if (writer === undefined || this.#closing !== undefined) return
    writer.append(line)
    if (writer.pendingChars > this.#tuning.maxPendingChars) {
      writer.discard()
      this.#discards++
      this.#needsSnapshot = true
    }
    this.#schedule()
  }

  /**
   * Compacts now, after any compaction in progress. For tests; compaction otherwise starts on its own.
   * @throws what the compaction throws (an `AbortError` when `close()` interrupts it)
   */
  compact(): Promise<void> {
    if (this.#writer === undefined || this.#closing !== undefined) return Promise.resolve()
    return this.#startCompaction()
  }

  /**
   * Stops compaction and timers, then writes what is buffered (and a snapshot if lines were dropped).
   * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when that last write fails
   */
  close(): Promise<void> {
    this.#closing ??= this.#close().finally(() => this.#lock.release())
    return this.#closing
  }

  async #close(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const writer = this.#writer
    if (writer === undefined) return
    this.#abort.abort()
    await this.#compacting
    await this.#flushing
    try {
      if (this.#needsSnapshot) await this.#compactOnce()
      await writer.write()
    } catch (err) {
      const { dataDir } = this.#options
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot write to ${dataDir}: ${errorMessage(err)}`, {
        cause: err,
      })
    } finally {
      await writer.close()
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#flushing !== undefined || this.#closing !== undefined) return
    const wait = this.#failing
      ? this.#tuning.retryMs
      : Math.max(0, this.#lastFlushStart + this.#options.intervalMs - performance.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#flush()
    }, wait)
    // A retry must not keep a process alive that is otherwise done; a first attempt may.
    if (this.#failing) this.#timer.unref()
  }

  #flush(): void {
    const writer = this.#writer!
    const { dataDir, warn } = this.#options
    this.#lastFlushStart = performance.now()
    this.#flushing = writer
      .write()
      .then(
        () => {
          if (this.#failing) warn(`writes to ${dataDir} succeed again`)
          this.#failing = false
        },
        (err: unknown) => {
          const path = join(dataDir, journalFileName(writer.seq))
          if (!this.#failing) warn(`cannot write ${path}: ${errorMessage(err)}`)
          this.#failing = true
        },
      )
      .finally(() => {
        this.#flushing = undefined
        if (this.#closing !== undefined) return
        this.#maybeCompact(writer)
        if (writer.pendingChars > 0) this.#schedule()
      })
  }

  #maybeCompact(writer: JournalWriter): void {
    if (this.#compacting !== undefined || this.#failing || performance.now() < this.#compactRetryAt) return
    const { compactMinBytes, compactRatio } = this.#tuning
    const bound = Math.max(compactMinBytes, compactRatio * this.#snapshotBytes)
    if (this.#needsSnapshot || writer.bytesFrom(this.#coveredSeq) >= bound) void this.#startCompaction()
  }

  /** Starts a compaction after the one in progress; failures are also warned about and retried. */
  #startCompaction(): Promise<void> {
    const previous = this.#compacting
    const run = (async () => {
      await previous
      this.#abort.signal.throwIfAborted()
      await this.#compactOnce(this.#abort.signal)
    })()
    const { dataDir, warn } = this.#options
    const tracked: Promise<void> = run
      .then(
        () => {
          if (this.#compactFailing) warn(`compaction of ${dataDir} succeeds again`)
          this.#compactFailing = false
        },
        (err: unknown) => {
          if (this.#abort.signal.aborted) return
          this.#compactRetryAt = performance.now() + this.#tuning.compactRetryMs
          if (!this.#compactFailing) warn(`cannot compact ${dataDir}: ${errorMessage(err)}`)
          this.#compactFailing = true
        },
      )
      .finally(() => {
        if (this.#compacting === tracked) this.#compacting = undefined
      })
    this.#compacting = tracked
    return run
  }

  async #compactOnce(signal?: AbortSignal): Promise<void> {
    const writer = this.#writer!
    const { dataDir, nowMs, live } = this.#options
    const discards = this.#discards
    // One instant: every change before it is in the arrays, every change after it in the new journal.
    const nextJournal = writer.rotate()
    const source = live()
    const bytes = await writeSnapshot(dataDir, source, {
      nextJournal,
      nowMs,
      chunkEntries: this.#tuning.chunkEntries,
      ...(signal === undefined ? {} : { signal }),
    })
    this.#snapshotBytes = bytes
    this.#coveredSeq = nextJournal
    if (this.#discards === discards) this.#needsSnapshot = false
    await writer.release(nextJournal)
    await this.#removeCovered(nextJournal)
  }

  async #removeCovered(nextJournal: number): Promise<void> {
    const { dataDir, warn } = this.#options
    for (const { seq, name } of listJournals(dataDir)) {
      if (seq >= nextJournal) continue
      const path = join(dataDir, name)
      if (!this.#corruptJournals.has(seq)) {
        // A journal left behind is harmless: the snapshot says it is covered.
        await rm(path, { force: true }).catch(() => {})
        continue
      }
      this.#corruptJournals.delete(seq)
      try {
        warn(`${path} is covered by a new snapshot; moved it to ${moveAside(path)} for inspection`)
      } catch (err) {
        warn(`${path} is covered by a new snapshot but cannot be moved aside (${errorMessage(err)})`)
      }
    }
  }
}
