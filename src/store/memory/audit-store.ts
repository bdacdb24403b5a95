/**
 * The embedded adapter of the audit store port (`../audit.ts`). Without `dataDir` the chains live in
 * memory only (tests, throw-away runs). With it, each tenant's chain is an append-only JSON-lines
 * file, `<dataDir>/audit/<tenant>.jsonl`, one entry per line in canonical JSON, and the `audit`
 * folder is locked (`dir-lock.ts`) for the life of the store, so one process appends to it.
 *
 * fsync policy: every append is written at once and answered only after an fdatasync covered it,
 * so an entry that was answered survives a crash or a power loss. The fdatasync runs off the event
 * loop, and appends that arrive while one runs share the next (group commit): the disk's sync time
 * bounds the latency of an append, not the rate of appends (docs/audit.md). Reading the head,
 * building the entry and writing its line happen without an `await` in between, so the chain never
 * forks within the process. A page shows only entries an fdatasync has covered. Each tenant used
 * since the store opened keeps its file open (embedded mode serves a few tenants, not thousands).
 *
 * Opening a tenant reads only the tail of its file: the last line gives the head, the last
 * checkpoint within the tail its seq and time. A last line cut short (a crash during a write, so
 * never answered) is cut off with a warning. A last line that does not decode is
 * `ERR_STORE_CORRUPT`: nothing is appended onto a chain whose end is unknown. Nothing else is ever
 * rewritten. A page finds its first line by a binary search over the file's bytes (seqs grow with
 * the offset), so it costs the same at the start and at the end of a long chain. Reading a tenant
 * that has no file creates none.
 */
import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { AUDIT_LIMITS, CHECKPOINT_ACTION, canonicalJson, chainEntry, emptyHead, headAfter, type AuditEntry, type AuditEntryInput, type AuditHead } from '../../audit/entry.js'
import { VerifierError } from '../../errors/errors.js'
import { auditPageRange, decodeAuditEntry, type AuditAppendResult, type AuditPage, type AuditStore } from '../audit.js'
import { assertTenantId } from '../keys.js'
import type { TenantId } from '../types.js'
import { lockDirectory, type DirLock } from './dir-lock.js'
import { errorMessage } from './file-utils.js'

/** The folder of the audit files inside the data directory. */
export const AUDIT_DIR = 'audit'

export interface MemoryAuditStoreOptions {
  /** Data directory; the files go in its `audit` folder. Without it nothing is written to disk. */
  readonly dataDir?: string
  /** @defaultValue write the message to stderr */
  readonly onWarning?: (message: string) => void
}

/** Longest line: the largest entry and its newline. */
const MAX_LINE_BYTES = AUDIT_LIMITS.maxEntryBytes + 1
/** Bytes read from the end of a file to recover its head. */
const TAIL_BYTES = 4 * MAX_LINE_BYTES
const NEWLINE = 0x0a

interface Waiter {
  /** Bytes of the file this append needs synced. */
  readonly size: number
  readonly seq: number
  resolve(): void
  reject(err: unknown): void
}

interface TenantLog {
  head: AuditHead
  /** File mode: how much of the file, and up to which seq, an fdatasync has made durable. */
  syncedSize: number
  syncedSeq: number
  /** Appends written and waiting for an fdatasync; whether one runs. */
  waiters: Waiter[]
  syncing: boolean
  /** Resolves when no fdatasync runs or waits (for close). */
  idle?: () => void
  /** In-memory mode: the entries. */
  readonly entries?: AuditEntry[]
  /** File mode: the open file and its length. */
  readonly fd?: number
  size: number
  readonly path?: string
  broken: boolean
}

export function createMemoryAuditStore(options: MemoryAuditStoreOptions = {}): AuditStore {
  const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`assay audit: ${message}\n`))
  const tenants = new Map<TenantId, TenantLog>()
  let dir: string | undefined
  let lock: DirLock | undefined
  if (options.dataDir !== undefined) {
    dir = join(options.dataDir, AUDIT_DIR)
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot create ${dir}: ${errorMessage(err)}`, { cause: err })
    }
    lock = lockDirectory(dir)
  }

  /** The tenant's log; a read of a tenant without a file creates none (an empty log, not kept). */
  function open(tenant: TenantId, forWrite: boolean): TenantLog {
    assertTenantId(tenant)
    const found = tenants.get(tenant)
    if (found !== undefined) return found
    let log: TenantLog
    if (dir === undefined) {
      log = emptyLog(tenant)
    } else {
      const path = join(dir, `${tenant}.jsonl`)
      if (!forWrite && !existsSync(path)) return emptyLog(tenant)
      let fd: number
      try {
        fd = openSync(path, 'a+', 0o600)
      } catch (err) {
        throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot open ${path}: ${errorMessage(err)}`, { cause: err })
      }
      try {
        const { head, size } = recoverTail(fd, path, tenant, warn)
        log = { head, fd, size, path, broken: false, syncedSize: size, syncedSeq: head.seq, waiters: [], syncing: false }
      } catch (err) {
        closeSync(fd)
        throw err
      }
    }
    tenants.set(tenant, log)
    return log
  }

  /**
   * Writes the entry at once (so the next append links to it) and resolves once an fdatasync has
   * covered it: appends that arrive while one fdatasync runs share the next (group commit), and the
   * event loop never waits for the disk.
   */
  function appendWith(tenant: TenantId, build: (head: AuditHead) => AuditEntryInput | undefined): Promise<AuditAppendResult | undefined> {
    const log = open(tenant, true)
    const input = build(log.head)
    if (input === undefined) return Promise.resolve(undefined)
    const entry = chainEntry(tenant, log.head.seq + 1, log.head.hash, input)
    if (log.fd === undefined) {
      log.entries!.push(Object.freeze(entry))
      log.head = headAfter(log.head, entry)
      return Promise.resolve({ entry, head: log.head })
    }
    if (log.broken) throw new VerifierError('ERR_STORE_PERSIST_FAILED', `${log.path} cannot be written since an earlier failure`)
    const line = Buffer.from(`${canonicalJson(entry)}\n`, 'utf8')
    try {
      for (let offset = 0; offset < line.length; ) offset += writeSync(log.fd, line, offset, line.length - offset)
    } catch (err) {
      // Take back a partial line, so the file still ends at the last entry written whole.
      try {
        ftruncateSync(log.fd, log.size)
      } catch {
        log.broken = true
      }
      throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot write ${log.path}: ${errorMessage(err)}`, { cause: err })
    }
    log.size += line.length
    log.head = headAfter(log.head, entry)
    const head = log.head
    return new Promise((resolve, reject) => {
      log.waiters.push({ size: log.size, seq: entry.seq, resolve: () => resolve({ entry, head }), reject })
      syncSoon(log)
    })
  }

  /** Runs one fdatasync for every append written so far, unless one runs (then the next does). */
  function syncSoon(log: TenantLog): void {
    if (log.syncing || log.waiters.length === 0) {
      if (!log.syncing) log.idle?.()
      return
    }
    log.syncing = true
    const size = log.size
    fdatasync(log.fd!, (err) => {
      log.syncing = false
      if (err !== null) {
        // What is written is not known to be durable: nothing more is appended, every waiter fails.
        log.broken = true
        const failure = new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot sync ${log.path}: ${err.message}`, { cause: err })
        for (const waiter of log.waiters.splice(0)) waiter.reject(failure)
        log.idle?.()
        return
      }
      const done = log.waiters.filter((waiter) => waiter.size <= size)
      log.waiters = log.waiters.filter((waiter) => waiter.size > size)
      for (const waiter of done) {
        log.syncedSize = Math.max(log.syncedSize, waiter.size)
        log.syncedSeq = Math.max(log.syncedSeq, waiter.seq)
        waiter.resolve()
      }
      syncSoon(log)
    })
  }

  function page(tenant: TenantId, after: number, limit: number): AuditPage {
    const log = open(tenant, false)
    // Only what is durable: an entry still waiting for its fdatasync is not shown yet.
    const lastSeq = log.entries === undefined ? log.syncedSeq : log.head.seq
    if (after >= lastSeq) return { entries: [] }
    let entries: AuditEntry[]
    if (log.entries !== undefined) {
      entries = log.entries.slice(after, after + limit)
    } else {
      const start = after === 0 ? 0 : firstLineAfter(log.fd!, log.syncedSize, tenant, after)
      entries = readLines(log.fd!, start, log.syncedSize, limit, tenant, after)
    }
    const last = entries[entries.length - 1]
    return last !== undefined && last.seq < lastSeq ? { entries, next: last.seq } : { entries }
  }

  let closed = false
  return {
    async appendWith(tenant, build) {
      if (closed) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'the audit store is closed')
      return appendWith(tenant, build)
    },
    async append(tenant, input) {
      if (closed) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'the audit store is closed')
      return (await appendWith(tenant, () => input))!
    },
    async head(tenant) {
      if (closed) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'the audit store is closed')
      return open(tenant, false).head
    },
    async page(tenant, pageOptions) {
      assertTenantId(tenant)
      const { after, limit } = auditPageRange(pageOptions)
      return page(tenant, after, limit)
    },
    async close() {
      if (closed) return
      closed = true
      for (const log of tenants.values()) {
        if (log.syncing || log.waiters.length > 0) await new Promise<void>((resolve) => (log.idle = resolve))
        if (log.fd !== undefined) closeSync(log.fd)
      }
      tenants.clear()
      lock?.release()
    },
  }
}

function emptyLog(tenant: TenantId): TenantLog {
  return { head: emptyHead(tenant), entries: [], size: 0, broken: false, syncedSize: 0, syncedSeq: 0, waiters: [], syncing: false }
}

/** The head of a file from its last lines; cuts off a torn last line. */
function recoverTail(fd: number, path: string, tenant: TenantId, warn: (message: string) => void): { head: AuditHead; size: number } {
  let size = fstatSync(fd).size
  if (size === 0) return { head: emptyHead(tenant), size }
  const window = Math.min(size, TAIL_BYTES)
  const buffer = readAt(fd, size - window, window)
  const end = buffer.lastIndexOf(NEWLINE)
  if (end !== buffer.length - 1) {
    if (end === -1 && window < size) throw corrupt(path, `its last ${window} bytes hold no line end`)
    const keep = size - window + end + 1
    ftruncateSync(fd, keep)
    fdatasyncSync(fd)
    warn(`${path}: cut off a last line left unfinished by a crash (${size - keep} bytes; it was never answered)`)
    size = keep
    if (size === 0) return { head: emptyHead(tenant), size }
  }
  const text = buffer.subarray(0, end).toString('utf8')
  const lines = text.split('\n')
  if (window < size && lines.length > 1) lines.shift()
  let last: AuditEntry
  try {
    last = decodeAuditEntry(lines[lines.length - 1]!, tenant)
  } catch (err) {
    throw corrupt(path, `its last entry cannot be decoded (${errorMessage(err)})`)
  }
  let head: AuditHead = { seq: last.seq, hash: last.hash, time: last.time, checkpointSeq: 0, checkpointTime: 0 }
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]!.includes(`"action":"${CHECKPOINT_ACTION}"`)) continue
    try {
      const checkpoint = decodeAuditEntry(lines[i]!, tenant)
      if (checkpoint.action === CHECKPOINT_ACTION) {
        head = { ...head, checkpointSeq: checkpoint.seq, checkpointTime: checkpoint.time }
        break
      }
    } catch {
      // Not one; a checkpoint not found in the tail only makes the next one come sooner.
    }
  }
  return { head, size }
}

/** The offset of the first line whose seq is above `after` (seqs grow with the offset). */
function firstLineAfter(fd: number, size: number, tenant: TenantId, after: number): number {
  // f(pos) = seq of the first line starting at or after pos: non-decreasing in pos.
  let low = 0
  let high = size
  while (low < high) {
    const mid = Math.floor((low + high) / 2)
    const start = lineStartAtOrAfter(fd, size, mid)
    if (start >= size || seqOfLineAt(fd, size, start, tenant) > after) high = mid
    else low = mid + 1
  }
  return lineStartAtOrAfter(fd, size, low)
}

function lineStartAtOrAfter(fd: number, size: number, pos: number): number {
  if (pos === 0) return 0
  const length = Math.min(MAX_LINE_BYTES + 1, size - (pos - 1))
  const buffer = readAt(fd, pos - 1, length)
  const at = buffer.indexOf(NEWLINE)
  if (at === -1) throw new VerifierError('ERR_STORE_CORRUPT', `audit file line at byte ${pos} is longer than any entry`)
  return pos + at
}

function seqOfLineAt(fd: number, size: number, start: number, tenant: TenantId): number {
  const buffer = readAt(fd, start, Math.min(MAX_LINE_BYTES, size - start))
  const end = buffer.indexOf(NEWLINE)
  if (end === -1) throw new VerifierError('ERR_STORE_CORRUPT', `audit file line at byte ${start} is longer than any entry`)
  return decodeAuditEntry(buffer.toString('utf8', 0, end), tenant).seq
}

/**
 * Up to `limit` entries from offset `start`, as stored: a gap in their seqs (a line deleted behind
 * the store's back) is returned for `assay audit verify` to report; seqs that do not grow (lines
 * moved or repeated) break the paging, so they are `ERR_STORE_CORRUPT` (the file itself is then the
 * export, docs/audit.md).
 */
function readLines(fd: number, start: number, size: number, limit: number, tenant: TenantId, after: number): AuditEntry[] {
  const entries: AuditEntry[] = []
  let pos = start
  let carry = Buffer.alloc(0)
  while (entries.length < limit && pos < size) {
    const chunk = readAt(fd, pos, Math.min(256 * 1024, size - pos))
    pos += chunk.length
    const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
    let from = 0
    for (let end = data.indexOf(NEWLINE); end !== -1 && entries.length < limit; end = data.indexOf(NEWLINE, from)) {
      const entry = decodeAuditEntry(data.toString('utf8', from, end), tenant)
      if (entry.seq <= (entries[entries.length - 1]?.seq ?? after)) {
        throw new VerifierError('ERR_STORE_CORRUPT', `audit file of tenant ${tenant}: entry ${entry.seq} is out of order`)
      }
      entries.push(entry)
      from = end + 1
    }
    carry = Buffer.from(data.subarray(from))
    if (entries.length < limit && carry.length > MAX_LINE_BYTES) throw new VerifierError('ERR_STORE_CORRUPT', 'audit file holds a line longer than any entry')
  }
  return entries
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done)
    if (read === 0) break
    done += read
  }
  return buffer.subarray(0, done)
}

function corrupt(path: string, why: string): VerifierError {
  return new VerifierError('ERR_STORE_CORRUPT', `${path}: ${why}; the audit chain is not appended to (inspect it with assay audit verify)`)
}
