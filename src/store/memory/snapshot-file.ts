/**
 * The snapshot of the memory store: every live session and appraisal record as of one point in the
 * journal, in `store.json` in the data directory. The journals numbered from the snapshot's `journal`
 * on hold every change made since (`store-persistence.ts`).
 *
 * Format (version 2), JSON lines, so it is written and read a chunk at a time:
 * ```
 * {"format":"assay-memory-store","version":2,"journal":<first journal not covered>}
 * <one `create` or `put` line per entry (journal-entry.ts)>
 * {"end":<number of entries>}
 * ```
 * Version 1 (one JSON document, written by earlier releases) is still read.
 *
 * Invariants:
 * - A write never leaves a half-written snapshot: the lines go to a temporary file in the same
 *   directory, a chunk at a time with the event loop free in between, which is fsynced and then
 *   renamed over the old file (atomic within one file system); the directory is fsynced after.
 * - A snapshot that cannot be read or decoded, in whole or in any line, or that lacks its end line, is
 *   never used in part and never overwritten: it is renamed aside (`store.json.corrupt-<time>`) with a
 *   warning. If it cannot be moved aside, nothing may be written over it (`writable: false`).
 * - One process per data directory: `store-persistence.ts` locks it (`dir-lock.ts`).
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Session } from '../types.js'
import type { ExpiringEntry } from './expiring-map.js'
import { errorMessage, hasErrorCode, moveAside, syncDirectory, writeAll } from './file-utils.js'
import {
  createLine,
  decodeEntry,
  decodeRecord,
  decodeSession,
  isObject,
  putLine,
  type JournalEntry,
} from './journal-entry.js'
import { readLinesSync } from './read-lines.js'

/** Name of the snapshot file inside the data directory. */
export const SNAPSHOT_FILE_NAME = 'store.json'

const FORMAT = 'assay-memory-store'
const VERSION = 2
const TEMP_INFIX = '.tmp-'
/** A chunk is written once it holds this many characters, even before `chunkEntries` entries. */
const CHUNK_CHARS = 256 * 1024

let tempCounter = 0

/** What {@link loadSnapshot} found. */
export interface LoadedSnapshot {
  /** The entries, in file order; some may have expired since. Empty when there is no usable file. */
  readonly entries: readonly JournalEntry[]
  /** Journals numbered below this are covered by the snapshot (0 without one). */
  readonly nextJournal: number
  /** Size of the file in bytes (0 without one). */
  readonly bytes: number
  /** False when a bad file could not be moved aside: then nothing may be written over it. */
  readonly writable: boolean
}

/** The live entries to write; arrays taken at one instant, so the map may change during the write. */
export interface SnapshotSource {
  readonly sessions: readonly ExpiringEntry<Session>[]
  /** Records as JSON text. */
  readonly results: readonly ExpiringEntry<string>[]
}

/** Options of {@link writeSnapshot}. */
export interface WriteSnapshotOptions {
  /** The first journal whose changes the snapshot does not hold. */
  readonly nextJournal: number
  /** Entries that expire by the time they are reached are left out. */
  readonly nowMs: () => number
  /** Most entries per chunk; the event loop runs between chunks. */
  readonly chunkEntries: number
  /** Aborting stops the write between two chunks and removes the temporary file. */
  readonly signal?: AbortSignal
}

/**
 * Reads the snapshot in `dataDir`. A missing file is an empty snapshot; a bad one is moved aside with
 * a warning (see the file comment).
 */
export function loadSnapshot(dataDir: string, warn: (message: string) => void): LoadedSnapshot {
  const path = join(dataDir, SNAPSHOT_FILE_NAME)
  const empty = { entries: [], nextJournal: 0, bytes: 0 }
  try {
    return { ...readSnapshot(path), writable: true }
  } catch (err) {
    if (hasErrorCode(err, 'ENOENT')) return { ...empty, writable: true }
    const why =
      err instanceof SnapshotCorrupt ? `is corrupt (${err.message})` : `cannot be read (${errorMessage(err)})`
    try {
      const target = moveAside(path)
      warn(`${path} ${why}; moved it to ${target} and starting without it`)
      return { ...empty, writable: true }
    } catch (moveErr) {
      warn(
        `${path} ${why} and cannot be moved aside (${errorMessage(moveErr)}); ` +
          'starting without it, with persistence off so it is not overwritten',
      )
      return { ...empty, writable: false }
    }
  }
}

/**
 * Writes a snapshot of `source` and renames it over the current one (see the file comment).
 * @returns its size in bytes
 */
export async function writeSnapshot(
  dataDir: string,
  source: SnapshotSource,
  options: WriteSnapshotOptions,
): Promise<number> {
  const path = join(dataDir, SNAPSHOT_FILE_NAME)
  const tempPath = `${path}${TEMP_INFIX}${process.pid}-${tempCounter++}`
  let bytes = 0
  try {
    const handle = await open(tempPath, 'wx', 0o600)
    try {
      let parts = [`{"format":"${FORMAT}","version":${VERSION},"journal":${options.nextJournal}}\n`]
      let chars = parts[0]!.length
      let count = 0
      let now = options.nowMs()
      const writeChunk = async (): Promise<void> => {
        const data = Buffer.from(parts.join(''), 'utf8')
        parts = []
        chars = 0
        await writeAll(handle, data)
        bytes += data.length
        options.signal?.throwIfAborted()
        now = options.nowMs()
      }
      const add = async (line: string): Promise<void> => {
        parts.push(line)
        chars += line.length
        count++
        if (parts.length >= options.chunkEntries || chars >= CHUNK_CHARS) await writeChunk()
      }
      // `value` is read now, not when the arrays were taken: a session claimed since is written claimed.
      // The journal replays that claim again on load, which ends in the same state.
      for (const entry of source.sessions) if (entry.expiresAt > now) await add(createLine(entry.value))
      for (const entry of source.results) {
        if (entry.expiresAt > now) await add(putLine(entry.value, entry.expiresAt))
      }
      parts.push(`{"end":${count}}\n`)
      await writeChunk()
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tempPath, path)
  } catch (err) {
    await rm(tempPath, { force: true }).catch(() => {})
    throw err
  }
  await syncDirectory(dataDir)
  return bytes
}

/** Removes temporary snapshot files a crash left behind (best effort: they are never read). */
export function removeSnapshotTempFiles(dataDir: string): void {
  let names: string[]
  try {
    names = readdirSync(dataDir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(`${SNAPSHOT_FILE_NAME}${TEMP_INFIX}`)) continue
    try {
      unlinkSync(join(dataDir, name))
    } catch {
      // Left for the next start.
    }
  }
}

class SnapshotCorrupt extends Error {}

function readSnapshot(path: string): Omit<LoadedSnapshot, 'writable'> {
  let header: unknown
  readLinesSync(path, (line) => {
    header = parseOrUndefined(line)
    return false
  })
  if (isObject(header) && header.format === FORMAT && header.version === VERSION) {
    if (!Number.isSafeInteger(header.journal) || (header.journal as number) < 0) {
      throw new SnapshotCorrupt('bad journal number')
    }
    return { ...readVersion2(path), nextJournal: header.journal as number }
  }
  const text = readFileSync(path, 'utf8')
  return { entries: decodeVersion1(text), nextJournal: 0, bytes: Buffer.byteLength(text) }
}

function readVersion2(path: string): { entries: JournalEntry[]; bytes: number } {
  const entries: JournalEntry[] = []
  let lineNumber = 0
  let end: unknown
  const { bytes, tailBytes } = readLinesSync(path, (line) => {
    lineNumber++
    if (lineNumber === 1) return
    if (end !== undefined) throw new SnapshotCorrupt(`line ${lineNumber}: after the end line`)
    if (line.startsWith('{"end":')) {
      end = (parseOrUndefined(line) as { end?: unknown } | undefined)?.end ?? null
      return
    }
    let entry: JournalEntry
    try {
      entry = decodeEntry(line)
    } catch (err) {
      throw new SnapshotCorrupt(`line ${lineNumber}: ${errorMessage(err)}`)
    }
    if (entry.op !== 'create' && entry.op !== 'put') throw new SnapshotCorrupt(`line ${lineNumber}: ${entry.op}`)
    entries.push(entry)
  })
  if (tailBytes > 0 || end !== entries.length) throw new SnapshotCorrupt('truncated: no valid end line')
  return { entries, bytes }
}

function decodeVersion1(text: string): JournalEntry[] {
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (err) {
    throw new SnapshotCorrupt(errorMessage(err))
  }
  if (!isObject(root) || root.format !== FORMAT || root.version !== 1) {
    throw new SnapshotCorrupt(`not a ${FORMAT} file of version 1 or ${VERSION}`)
  }
  if (!Array.isArray(root.sessions) || !Array.isArray(root.results)) {
    throw new SnapshotCorrupt('sessions or results missing')
  }
  const entries: JournalEntry[] = []
  root.sessions.forEach((item: unknown, i) => {
    try {
      entries.push({ op: 'create', session: decodeSession(item) })
    } catch (err) {
      throw new SnapshotCorrupt(`session ${i}: ${errorMessage(err)}`)
    }
  })
  root.results.forEach((item: unknown, i) => {
    try {
      if (!isObject(item) || !Number.isSafeInteger(item.expiresAt)) throw new Error('malformed')
      const record = decodeRecord(item.record)
      const json = JSON.stringify(record)
      entries.push({ op: 'put', tenant: record.tenant, id: record.id, json, expiresAt: item.expiresAt as number })
    } catch (err) {
      throw new SnapshotCorrupt(`result ${i}: ${errorMessage(err)}`)
    }
  })
  return entries
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
