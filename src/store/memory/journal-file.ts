/**
 * The journals of the memory store: `journal-<n>.jsonl` in the data directory, numbered from 0, each
 * a sequence of `journal-entry.ts` lines. Only the highest-numbered journal is ever appended to, and a
 * process never appends to a journal it did not create, so a line cut short by a crash stays last.
 *
 * Invariants:
 * - Lines are buffered and written in batches, one append and one fdatasync per batch, off the event
 *   loop (the encoding of a batch to bytes is the only work on it, a bounded piece at a time).
 * - A batch that fails is kept, in order, ahead of later lines, and written again by the next batch.
 *   The failed file is cut back to its last whole batch, or if that fails too, left for a new
 *   journal, so no later append follows a partial line.
 */
import { readdirSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { syncDirectory, writeAll } from './file-utils.js'
import { decodeEntry, type JournalEntry } from './journal-entry.js'
import { readLinesSync } from './read-lines.js'

const JOURNAL_NAME = /^journal-(\d{12})\.jsonl$/
/** A batch is encoded and written this many characters at a time. */
const WRITE_PIECE_CHARS = 1024 * 1024

/** A journal in the data directory. */
export interface JournalFile {
  readonly seq: number
  readonly name: string
}

/** What {@link readJournal} found. */
export interface ReadJournal {
  readonly bytes: number
  /** Bytes after the last `\n`: a line cut short by a crash during an append, ignored. */
  readonly tornBytes: number
  /** Lines that end in `\n` but do not decode, skipped: the file is corrupt. */
  readonly badLines: readonly { readonly line: number; readonly error: string }[]
}

/** The file name of journal `seq`. */
export function journalFileName(seq: number): string {
  return `journal-${String(seq).padStart(12, '0')}.jsonl`
}

/** The journals in `dataDir`, oldest first. */
export function listJournals(dataDir: string): JournalFile[] {
  const journals: JournalFile[] = []
  for (const name of readdirSync(dataDir)) {
    const match = JOURNAL_NAME.exec(name)
    if (match !== null) journals.push({ seq: Number(match[1]), name })
  }
  return journals.sort((a, b) => a.seq - b.seq)
}

/** Calls `apply` with each entry of the journal at `path`, in order. Throws what `fs` throws. */
export function readJournal(path: string, apply: (entry: JournalEntry) => void): ReadJournal {
  const badLines: { line: number; error: string }[] = []
  let line = 0
  const { bytes, tailBytes } = readLinesSync(path, (text) => {
    line++
    let entry: JournalEntry
    try {
      entry = decodeEntry(text)
    } catch (err) {
      badLines.push({ line, error: err instanceof Error ? err.message : String(err) })
      return
    }
    apply(entry)
  })
  return { bytes, tornBytes: tailBytes, badLines }
}

/** Appends lines to the current journal in batches; one batch at a time (see the file comment). */
export class JournalWriter {
  readonly #dataDir: string
  #seq: number
  #pending: string[] = []
  #pendingChars = 0
  #handle: FileHandle | undefined
  #handleSeq = -1
  /** Bytes of whole batches in the open journal. */
  #handleBytes = 0
  /** Bytes in each journal this writer knows of, by number. */
  readonly #bytes = new Map<number, number>()
  /** Serialises writes, releases and closes. */
  #tail: Promise<unknown> = Promise.resolve()

  /**
   * @param dataDir - the data directory
   * @param seq - number of the journal to create for the first batch (higher than any existing one)
   */
  constructor(dataDir: string, seq: number) {
    this.#dataDir = dataDir
    this.#seq = seq
  }

  /** Number of the journal the next batch goes to. */
  get seq(): number {
    return this.#seq
  }

  /** Characters buffered for the next batch. */
  get pendingChars(): number {
    return this.#pendingChars
  }

  /** Buffers `line` (ending in `\n`) for the next batch. */
  append(line: string): void {
    this.#pending.push(line)
    this.#pendingChars += line.length
  }

  /** Drops the buffered lines; the caller makes up for them with a snapshot. */
  discard(): void {
    this.#pending = []
    this.#pendingChars = 0
  }

  /** Records the size of an existing journal, so {@link bytesFrom} counts it. */
  noteExisting(seq: number, bytes: number): void {
    this.#bytes.set(seq, bytes)
  }

  /** Bytes in journals numbered `seq` and up. */
  bytesFrom(seq: number): number {
    let total = 0
    for (const [n, bytes] of this.#bytes) if (n >= seq) total += bytes
    return total
  }

  /**
   * Sends later batches, including lines buffered now, to a new journal.
   * @returns the number of the new journal; every line appended before the call is in a lower one
   *   or in the buffer
   */
  rotate(): number {
    return ++this.#seq
  }

  /**
   * Writes the buffered lines as one batch and fdatasyncs it. On failure the lines stay buffered and
   * the error is thrown.
   */
  write(): Promise<void> {
    return this.#serial(() => this.#write())
  }

  /** Forgets the journals numbered below `seq` and closes the one held open if among them. */
  release(seq: number): Promise<void> {
    return this.#serial(async () => {
      for (const n of this.#bytes.keys()) if (n < seq) this.#bytes.delete(n)
      if (this.#handle !== undefined && this.#handleSeq < seq) await this.#closeHandle()
    })
  }

  /** Waits for the batch in progress and closes the journal; buffered lines are not written. */
  close(): Promise<void> {
    return this.#serial(() => this.#closeHandle())
  }

  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(task)
    this.#tail = run.catch(() => {})
    return run
  }

  async #write(): Promise<void> {
    if (this.#pending.length === 0) return
    const lines = this.#pending
    this.#pending = []
    const chars = this.#pendingChars
    this.#pendingChars = 0
    let handle: FileHandle | undefined
    let written = 0
    try {
      handle = await this.#currentHandle()
      for (let start = 0; start < lines.length; ) {
        let end = start
        for (let pieceChars = 0; end < lines.length && pieceChars < WRITE_PIECE_CHARS; end++) {
          pieceChars += lines[end]!.length
        }
        const data = Buffer.from(lines.slice(start, end).join(''), 'utf8')
        await writeAll(handle, data)
        written += data.length
        start = end
      }
      await handle.datasync()
    } catch (err) {
      this.#pending = lines.concat(this.#pending)
      this.#pendingChars += chars
      // Even with nothing counted as written: a failed write may still have written part of a line.
      if (handle !== undefined) await this.#cutBack(handle)
      throw err
    }
    this.#handleBytes += written
    this.#bytes.set(this.#handleSeq, this.#handleBytes)
  }

  async #currentHandle(): Promise<FileHandle> {
    if (this.#handle !== undefined && this.#handleSeq === this.#seq) return this.#handle
    await this.#closeHandle()
    const seq = this.#seq
    this.#handle = await open(join(this.#dataDir, journalFileName(seq)), 'a', 0o600)
    this.#handleSeq = seq
    this.#handleBytes = 0
    this.#bytes.set(seq, 0)
    await syncDirectory(this.#dataDir)
    return this.#handle
  }

  async #cutBack(handle: FileHandle): Promise<void> {
    try {
      await handle.truncate(this.#handleBytes)
    } catch {
      const seq = this.#handleSeq
      await this.#closeHandle()
      if (this.#seq === seq) this.#seq++
    }
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    this.#handleSeq = -1
    await handle?.close().catch(() => {})
  }
}
