/**
 * The embedded adapter of the credential store port (`../credentials.ts`): keys in this process's
 * memory, each change checked and written without an `await` between, so it is atomic.
 *
 * With `dataDir`, every change is appended to `credentials.jsonl` there and fdatasynced before it is
 * applied and answered, so an answered change survives a crash and one whose write failed
 * (`ERR_STORE_PERSIST_FAILED`) changed nothing. A line is `{"put":<record>}` (a new or revoked key) or
 * `{"del":"<key id>"}` (a revoked key forgotten past the tenant's bound); loading replays them. When
 * the file holds more than twice as many lines as kept keys (and at least 256), it is rewritten with
 * the kept records (temporary file, fsync, rename). A last line cut short by a crash is ignored with a
 * warning; a file with lines that do not decode is moved aside (`.corrupt-<time>`) and rewritten from
 * what did decode. The directory is locked (`dir-lock.ts`) while the store is open.
 */
import { closeSync, fdatasyncSync, fsyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { isKeyId } from '../../auth/api-keys.js'
import { VerifierError } from '../../errors/errors.js'
import {
  DEFAULT_CREDENTIAL_LIMITS,
  checkActor,
  checkLimits,
  checkNewKey,
  credentialPageSize,
  decodeCredentialCursor,
  decodeKeyRecord,
  encodeCredentialCursor,
  type ApiKeyRecord,
  type CredentialLimits,
  type CredentialStore,
} from '../credentials.js'
import { assertTenantId } from '../keys.js'
import type { TenantId } from '../types.js'
import { lockDirectory } from './dir-lock.js'
import { errorMessage, hasErrorCode, moveAside } from './file-utils.js'
import { readLinesSync } from './read-lines.js'

/** Name of the journal inside the data directory. */
export const CREDENTIAL_JOURNAL = 'credentials.jsonl'

/** Below this many lines the journal is never rewritten. */
const MIN_COMPACT_LINES = 256

export interface MemoryCredentialStoreOptions {
  /** Directory of the journal (created if missing; locked while open). Without it nothing is written. */
  readonly dataDir?: string
  /** @defaultValue DEFAULT_CREDENTIAL_LIMITS */
  readonly limits?: Partial<CredentialLimits>
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
  /** @defaultValue write the message to stderr */
  readonly onWarning?: (message: string) => void
}

interface TenantKeys {
  /** Key ids, ascending. */
  readonly ids: string[]
  active: number
  /** Revoked key ids, oldest revocation first. */
  readonly revoked: string[]
}

type Change = { readonly put: ApiKeyRecord } | { readonly del: string }

/**
 * Creates the in-memory credential store, loading `dataDir`'s journal first when one is given.
 * @throws VerifierError `ERR_STORE_PERSIST_FAILED` when the journal cannot be read; `ERR_STORE_LOCKED`
 */
export function createMemoryCredentialStore(options: MemoryCredentialStoreOptions = {}): CredentialStore {
  const limits = checkLimits({ ...DEFAULT_CREDENTIAL_LIMITS, ...options.limits })
  const nowMs = options.nowMs ?? Date.now
  const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`assay credentials: ${message}\n`))
  const records = new Map<string, ApiKeyRecord>()
  const tenants = new Map<TenantId, TenantKeys>()

  function keysOf(tenant: TenantId): TenantKeys {
    let found = tenants.get(tenant)
    if (found === undefined) {
      found = { ids: [], active: 0, revoked: [] }
      tenants.set(tenant, found)
    }
    return found
  }

  function apply(change: Change): void {
    if ('del' in change) {
      const old = records.get(change.del)
      if (old === undefined) return
      records.delete(change.del)
      const t = keysOf(old.tenant)
      remove(t.ids, change.del)
      if (old.revokedAt === undefined) t.active--
      else {
        const at = t.revoked.indexOf(change.del)
        if (at !== -1) t.revoked.splice(at, 1)
      }
      return
    }
    const record = change.put
    const old = records.get(record.keyId)
    const t = keysOf(record.tenant)
    records.set(record.keyId, record)
    if (old === undefined) {
      insert(t.ids, record.keyId)
      if (record.revokedAt === undefined) t.active++
      else addRevoked(t, record)
    } else if (old.revokedAt === undefined && record.revokedAt !== undefined) {
      t.active--
      addRevoked(t, record)
    }
  }

  /** Keeps `t.revoked` in revocation order (then key id), however the journal lists the records. */
  function addRevoked(t: TenantKeys, record: ApiKeyRecord): void {
    const before = (id: string) => {
      const other = records.get(id)!
      return other.revokedAt! < record.revokedAt! || (other.revokedAt === record.revokedAt && id < record.keyId)
    }
    let at = t.revoked.length
    while (at > 0 && !before(t.revoked[at - 1]!)) at--
    t.revoked.splice(at, 0, record.keyId)
  }

  const journal = options.dataDir === undefined ? undefined : openJournal(options.dataDir, warn, apply)
  if (journal?.needsRewrite === true) journal.rewrite(records.values())

  function commit(changes: readonly Change[]): void {
    journal?.append(changes)
    for (const change of changes) apply(change)
    journal?.maybeCompact(() => records.values(), records.size)
  }

  let closed: Promise<void> | undefined
  return {
    async create(key, createOptions = {}) {
      const checked = checkNewKey(key)
      if (records.has(checked.keyId)) throw new TypeError(`key id ${checked.keyId} exists`)
      const t = tenants.get(checked.tenant)
      const role = createOptions.unlessActiveRole
      if (role !== undefined && t !== undefined) {
        for (const id of t.ids) {
          const other = records.get(id)!
          if (other.revokedAt === undefined && other.roles.includes(role)) return undefined
        }
      }
      if ((t?.active ?? 0) >= limits.maxActiveKeysPerTenant) {
        throw new VerifierError('ERR_STORE_FULL', `tenant ${checked.tenant} holds as many API keys as it may (${limits.maxActiveKeysPerTenant})`)
      }
      const record: ApiKeyRecord = Object.freeze({ ...checked, roles: Object.freeze([...checked.roles]), createdAt: nowMs() })
      commit([{ put: record }])
      return record
    },
    async get(keyId) {
      return isKeyId(keyId) ? records.get(keyId) : undefined
    },
    async list(tenant, listOptions = {}) {
      assertTenantId(tenant)
      const limit = credentialPageSize(listOptions.limit)
      const after = listOptions.cursor === undefined ? undefined : decodeCredentialCursor(listOptions.cursor)
      const ids = tenants.get(tenant)?.ids ?? []
      let from = 0
      if (after !== undefined) {
        from = search(ids, after)
        if (ids[from] === after) from++
      }
      const page = ids.slice(from, from + limit + 1)
      const items = page.slice(0, limit).map((id) => records.get(id)!)
      return page.length > limit ? { items, cursor: encodeCredentialCursor(page[limit - 1]!) } : { items }
    },
    async revoke(tenant, keyId, revokedBy) {
      assertTenantId(tenant)
      checkActor(revokedBy, 'revokedBy')
      const old = isKeyId(keyId) ? records.get(keyId) : undefined
      if (old === undefined || old.tenant !== tenant) return undefined
      if (old.revokedAt !== undefined) return old
      const record: ApiKeyRecord = Object.freeze({ ...old, revokedAt: nowMs(), revokedBy })
      const changes: Change[] = [{ put: record }]
      const t = keysOf(tenant)
      // Past the bound, the keys revoked longest ago are forgotten, in the same write.
      const excess = t.revoked.length + 1 - limits.maxRevokedKeysPerTenant
      for (let i = 0; i < excess; i++) changes.push({ del: t.revoked[i]! })
      commit(changes)
      return record
    },
    async countActive(tenant) {
      assertTenantId(tenant)
      return tenants.get(tenant)?.active ?? 0
    },
    close() {
      closed ??= (async () => journal?.close())()
      return closed
    },
  }
}

function search(ids: readonly string[], id: string): number {
  let low = 0
  let high = ids.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (ids[mid]! < id) low = mid + 1
    else high = mid
  }
  return low
}

function insert(ids: string[], id: string): void {
  const at = search(ids, id)
  if (ids[at] !== id) ids.splice(at, 0, id)
}

function remove(ids: string[], id: string): void {
  const at = search(ids, id)
  if (ids[at] === id) ids.splice(at, 1)
}

interface Journal {
  readonly needsRewrite: boolean
  rewrite(records: Iterable<ApiKeyRecord>): void
  /** Appends the changes as one write, fdatasynced. @throws VerifierError `ERR_STORE_PERSIST_FAILED` */
  append(changes: readonly Change[]): void
  maybeCompact(records: () => Iterable<ApiKeyRecord>, kept: number): void
  close(): void
}

function openJournal(dataDir: string, warn: (message: string) => void, apply: (change: Change) => void): Journal {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot open data directory ${dataDir}`, { cause: err })
  }
  const lock = lockDirectory(dataDir)
  const path = join(dataDir, CREDENTIAL_JOURNAL)
  let fd = -1
  let size = 0
  let lines = 0
  let broken = false
  try {
    let bad = 0
    let firstBad = ''
    let tail = 0
    try {
      tail = readLinesSync(path, (line) => {
        lines++
        try {
          apply(decodeLine(line))
        } catch (err) {
          bad++
          firstBad ||= `line ${lines}: ${errorMessage(err)}`
        }
      }).tailBytes
    } catch (err) {
      if (!hasErrorCode(err, 'ENOENT')) throw err
    }
    if (tail > 0) warn(`${path}: ignored a last line cut short (${tail} bytes), left by a crash during an append`)
    if (bad > 0) warn(`${path} is corrupt: skipped ${bad} line(s) that do not decode (${firstBad}); moved it to ${moveAside(path)}`)
    if (tail === 0 && bad === 0) {
      fd = openSync(path, 'a', 0o600)
      size = fstatSync(fd).size
    }
  } catch (err) {
    lock.release()
    if (err instanceof VerifierError) throw err
    throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot read ${path}: ${errorMessage(err)}`, { cause: err })
  }

  function rewrite(records: Iterable<ApiKeyRecord>): void {
    const temp = `${path}.tmp-${process.pid}`
    const out = openSync(temp, 'w', 0o600)
    let count = 0
    try {
      for (const record of records) {
        writeAllSync(out, encodeLines([{ put: record }]))
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

  return {
    get needsRewrite() {
      return fd < 0
    },
    rewrite,
    append(changes) {
      if (broken || fd < 0) throw new VerifierError('ERR_STORE_PERSIST_FAILED', `${path} cannot be written since an earlier failure`)
      const text = encodeLines(changes)
      try {
        writeAllSync(fd, text)
        fdatasyncSync(fd)
        size += Buffer.byteLength(text, 'utf8')
        lines += changes.length
      } catch (err) {
        try {
          ftruncateSync(fd, size)
        } catch {
          broken = true
        }
        throw new VerifierError('ERR_STORE_PERSIST_FAILED', `cannot write ${path}: ${errorMessage(err)}`, { cause: err })
      }
    },
    maybeCompact(records, kept) {
      if (lines < MIN_COMPACT_LINES || lines <= 2 * kept) return
      try {
        rewrite(records())
      } catch (err) {
        warn(`cannot rewrite ${path}: ${errorMessage(err)}`)
      }
    },
    close() {
      if (fd >= 0) closeSync(fd)
      fd = -1
      lock.release()
    },
  }
}

function encodeLines(changes: readonly Change[]): string {
  return changes.map((change) => `${JSON.stringify(change)}\n`).join('')
}

function decodeLine(line: string): Change {
  const item = JSON.parse(line) as { put?: { keyId?: unknown }; del?: unknown }
  if (typeof item !== 'object' || item === null) throw new Error('not an object')
  if (item.del !== undefined) {
    if (!isKeyId(item.del)) throw new Error('bad key id')
    return { del: item.del }
  }
  const keyId = item.put?.keyId
  if (!isKeyId(keyId)) throw new Error('bad record')
  return { put: decodeKeyRecord(JSON.stringify(item.put), keyId) }
}

function writeAllSync(fd: number, text: string): void {
  const data = Buffer.from(text, 'utf8')
  for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset)
}

function syncDirectorySync(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Some platforms cannot open or fsync a directory; the rename is atomic regardless.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
