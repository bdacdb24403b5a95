/**
 * The Redis adapter of the audit store port (`../audit.ts`). Per tenant, a stream of entries (stream
 * id `<seq>-0`, one field `e`: the entry's JSON) and a head hash (`keys.ts#auditKeys`).
 *
 * Redis's Lua has no SHA-256, so the hash is computed here and the script only checks and writes:
 * `APPEND_ENTRY` appends the entry only if the head is still the one the entry was built on (its seq
 * and hash); otherwise it answers the current head, the entry is built again on it, and the script
 * runs again. So two processes appending to one tenant at once never fork the chain: one of them
 * wins each seq and the other re-links onto it. Under contention each lost race costs one round
 * trip, and the loser claims the next append (see the script), so no writer is kept out for long;
 * an append that cannot get through for {@link APPEND_TIMEOUT_MS} fails (`ERR_STORE_UNAVAILABLE`).
 *
 * Within a process, appends to one tenant are queued, and those that wait while a script call is in
 * flight go together in the next one (a batch: one round trip for all of them); the head each last
 * saw is cached, so a batch is one script call when no other process wrote in between. The stream is never trimmed: retention is the operator's (export, then
 * delete the tenant's keys), see docs/audit.md.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { clientFromUrl, unavailable as redisUnavailable } from './client.js'
import { chainEntry, emptyHead, headAfter, isHashHex, type AuditEntry, type AuditEntryInput, type AuditHead } from '../../audit/entry.js'
import { VerifierError } from '../../errors/errors.js'
import { auditPageRange, decodeAuditEntry, type AuditAppendResult, type AuditPageOptions, type AuditStore } from '../audit.js'
import { assertKeyPrefix, assertTenantId, auditKeys } from '../keys.js'
import type { TenantId } from '../types.js'

export interface RedisAuditStoreOptions {
  /** An ioredis client, or a `redis://` URL to create one from. */
  readonly redis: Redis | string
  /** First part of every key, as for `createRedisStore`. */
  readonly prefix: string
  /** Whether `close()` quits the client. @defaultValue `true` for a URL, `false` for a client */
  readonly ownsClient?: boolean
  /** Receives connection errors of a client this store creates. @defaultValue ignore them */
  readonly onClientError?: (err: Error) => void
}

/** How long an append may keep losing races (or waiting for another's claim) before it gives up. */
export const APPEND_TIMEOUT_MS = 10_000
/** How long a writer that lost a race has the next append to itself. */
export const CLAIM_MS = 250

/** Most tenants whose head is cached; past it the cache starts over. */
const HEAD_CACHE_TENANTS = 10_000

const SCRIPT_NAME = 'assayAuditAppend'

/**
 * KEYS[1] stream, KEYS[2] head hash. ARGV: expected seq, expected hash ('' for an empty chain),
 * writer id, claim time (ms), the number of entries n, then per entry: seq, entry JSON, hash, '1'
 * for a checkpoint entry else '0', entry time (ms). The entries are consecutive and chained on the
 * expected head (the caller builds them so).
 *
 * Appends them all and moves the head to the last when the head is the expected one and no other
 * writer holds a claim: `{'ok'}`. Otherwise answers the head as it is, `{'stale' | 'claimed', seq,
 * hash, time, checkpoint seq, checkpoint time}`. A writer whose entries were stale claims the next
 * append for the claim time (unless another holds a claim), and appends of other writers are refused
 * as 'claimed' until it has appended or the claim ran out: without this, a writer that always
 * answers first (it needs no retry) could keep another from ever appending. Time is Redis's TIME.
 */
const APPEND_ENTRIES = `#!lua
local h = redis.call('HMGET', KEYS[2], 'seq', 'hash', 'time', 'cps', 'cpt', 'claim', 'until')
local seq = h[1] and tonumber(h[1]) or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local active = h[6] and tonumber(h[7] or '0') >= now
local claimed = active and h[6] ~= ARGV[3]
local stale = seq ~= tonumber(ARGV[1]) or (h[2] or '') ~= ARGV[2]
if claimed or stale then
  if not active then
    redis.call('HSET', KEYS[2], 'claim', ARGV[3], 'until', now + tonumber(ARGV[4]))
  end
  return {claimed and 'claimed' or 'stale', tostring(seq), h[2] or '', h[3] or '0', h[4] or '0', h[5] or '0'}
end
local n = tonumber(ARGV[5])
local last = 0
for i = 0, n - 1 do
  local a = 6 + i * 5
  redis.call('XADD', KEYS[1], ARGV[a] .. '-0', 'e', ARGV[a + 1])
  if ARGV[a + 3] == '1' then
    redis.call('HSET', KEYS[2], 'cps', ARGV[a], 'cpt', ARGV[a + 4])
  end
  last = a
end
redis.call('HSET', KEYS[2], 'seq', ARGV[last], 'hash', ARGV[last + 2], 'time', ARGV[last + 4])
if h[6] then redis.call('HDEL', KEYS[2], 'claim', 'until') end
return {'ok'}
`

/** Most entries one script call appends: the appends waiting for a tenant go together, up to this. */
export const MAX_APPEND_BATCH = 256

interface Scripts {
  [SCRIPT_NAME](stream: string, head: string, ...args: (string | number)[]): Promise<unknown>
}

export function createRedisAuditStore(options: RedisAuditStoreOptions): AuditStore {
  const { prefix } = options
  assertKeyPrefix(prefix)
  const onClientError = options.onClientError ?? (() => {})
  const redis = typeof options.redis === 'string' ? clientFromUrl(options.redis, onClientError) : options.redis
  const ownsClient = options.ownsClient ?? typeof options.redis === 'string'
  redis.defineCommand(SCRIPT_NAME, { numberOfKeys: 2, lua: APPEND_ENTRIES })
  const scripts = redis as unknown as Scripts
  const heads = new Map<TenantId, AuditHead>()
  /** Names this store in claims. */
  const writerId = randomUUID()

  async function command<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (err) {
      throw unavailable(err)
    }
  }

  async function readHead(tenant: TenantId): Promise<AuditHead> {
    const { head } = auditKeys(prefix, tenant)
    const [seq, hash, time, cps, cpt] = await command(() => redis.hmget(head, 'seq', 'hash', 'time', 'cps', 'cpt'))
    return seq === null ? emptyHead(tenant) : decodeHead(tenant, [seq, hash, time, cps, cpt])
  }

  function remember(tenant: TenantId, head: AuditHead): void {
    if (heads.size >= HEAD_CACHE_TENANTS && !heads.has(tenant)) heads.clear()
    heads.set(tenant, head)
  }

  /**
   * Appends waiting per tenant. One batch per tenant is in flight at a time (racing itself would
   * only cost retries); the appends that arrive meanwhile wait, and go together in the next script
   * call: one round trip for up to {@link MAX_APPEND_BATCH} entries, so a busy tenant's appends cost
   * what a Redis round trip costs divided by how many arrived during the last one.
   */
  interface Waiting {
    readonly build: (head: AuditHead) => AuditEntryInput | undefined
    readonly resolve: (result: AuditAppendResult | undefined) => void
    readonly reject: (err: unknown) => void
  }
  const waiting = new Map<TenantId, Waiting[]>()
  const running = new Set<TenantId>()

  function appendWith(tenant: TenantId, build: (head: AuditHead) => AuditEntryInput | undefined): Promise<AuditAppendResult | undefined> {
    assertTenantId(tenant)
    return new Promise((resolve, reject) => {
      const list = waiting.get(tenant)
      if (list === undefined) waiting.set(tenant, [{ build, resolve, reject }])
      else list.push({ build, resolve, reject })
      if (!running.has(tenant)) void drain(tenant)
    })
  }

  async function drain(tenant: TenantId): Promise<void> {
    running.add(tenant)
    try {
      for (;;) {
        const list = waiting.get(tenant)
        if (list === undefined || list.length === 0) break
        const batch = list.splice(0, MAX_APPEND_BATCH)
        if (list.length === 0) waiting.delete(tenant)
        try {
          const results = await appendBatch(tenant, batch)
          batch.forEach((w, i) => w.resolve(results[i]))
        } catch (err) {
          for (const w of batch) w.reject(err)
        }
      }
    } finally {
      running.delete(tenant)
    }
  }

  /** Builds the batch's entries on `head`, in order; a build that answers undefined appends nothing. */
  function chainBatch(tenant: TenantId, head: AuditHead, batch: readonly Waiting[]): { entries: AuditEntry[]; results: (AuditAppendResult | undefined)[] } {
    const entries: AuditEntry[] = []
    const results: (AuditAppendResult | undefined)[] = []
    let at = head
    for (const w of batch) {
      const input = w.build(at)
      if (input === undefined) {
        results.push(undefined)
        continue
      }
      const entry = chainEntry(tenant, at.seq + 1, at.hash, input)
      at = headAfter(at, entry)
      entries.push(entry)
      results.push({ entry, head: at })
    }
    return { entries, results }
  }

  async function appendBatch(tenant: TenantId, batch: readonly Waiting[]): Promise<(AuditAppendResult | undefined)[]> {
    const keys = auditKeys(prefix, tenant)
    let head = heads.get(tenant) ?? (await readHead(tenant))
    const deadline = Date.now() + APPEND_TIMEOUT_MS
    for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt++) {
      const { entries, results } = chainBatch(tenant, head, batch)
      if (entries.length === 0) return results
      const args: (string | number)[] = [head.seq, head.seq === 0 ? '' : head.hash, writerId, CLAIM_MS, entries.length]
      for (const e of entries) args.push(e.seq, JSON.stringify(e), e.hash, e.action === 'audit.checkpoint' ? '1' : '0', e.time)
      const reply = await command(() => scripts[SCRIPT_NAME](keys.stream, keys.head, ...args))
      if (!Array.isArray(reply) || (reply[0] !== 'ok' && reply[0] !== 'stale' && reply[0] !== 'claimed')) {
        throw new VerifierError('ERR_STORE_CORRUPT', 'audit append script answered in an unexpected shape')
      }
      if (reply[0] === 'ok') {
        remember(tenant, results.findLast((r) => r !== undefined)!.head)
        return results
      }
      head = decodeHead(tenant, reply.slice(1) as unknown[])
      remember(tenant, head)
      // Another writer has the next append: give it the time of a round trip.
      if (reply[0] === 'claimed') await sleep(1)
    }
    throw new VerifierError('ERR_STORE_UNAVAILABLE', `audit append to tenant ${tenant} kept losing races for ${APPEND_TIMEOUT_MS} ms`)
  }

  let closed = false
  return {
    appendWith,
    async append(tenant, input) {
      return (await appendWith(tenant, () => input))!
    },
    async head(tenant) {
      assertTenantId(tenant)
      const head = await readHead(tenant)
      remember(tenant, head)
      return head
    },
    async page(tenant, pageOptions?: AuditPageOptions) {
      assertTenantId(tenant)
      const { after, limit } = auditPageRange(pageOptions)
      const { stream } = auditKeys(prefix, tenant)
      const rows = await command(() => redis.xrange(stream, `${after + 1}-0`, '+', 'COUNT', limit + 1))
      // Entries as stored: one whose seq is not its stream id's (written behind the store's back) is
      // returned for `assay audit verify` to report; the paging follows the stream ids.
      const entries = rows.slice(0, limit).map(([id, fields]) => {
        if (fields.length !== 2 || fields[0] !== 'e') throw new VerifierError('ERR_STORE_CORRUPT', `audit stream entry ${id} has unexpected fields`)
        return decodeAuditEntry(fields[1]!, tenant)
      })
      if (rows.length <= limit) return { entries }
      const lastId = rows[limit - 1]![0]
      const next = Number(lastId.slice(0, lastId.indexOf('-')))
      if (!Number.isSafeInteger(next) || next <= after) throw new VerifierError('ERR_STORE_CORRUPT', `audit stream id ${lastId} is not a seq`)
      return { entries, next }
    },
    async close() {
      if (closed) return
      closed = true
      if (!ownsClient) return
      if (redis.status !== 'ready') {
        redis.disconnect()
        return
      }
      try {
        await redis.quit()
      } catch {
        redis.disconnect()
      }
    },
  }
}

function decodeHead(tenant: TenantId, fields: readonly unknown[]): AuditHead {
  const [seq, hash, time, cps, cpt] = fields.map((field) => (typeof field === 'string' ? field : ''))
  const numbers = [seq, time, cps ?? '0', cpt ?? '0'].map(Number)
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new VerifierError('ERR_STORE_CORRUPT', 'audit head cannot be decoded')
  if (numbers[0] === 0) return emptyHead(tenant)
  if (!isHashHex(hash)) throw new VerifierError('ERR_STORE_CORRUPT', 'audit head hash cannot be decoded')
  return { seq: numbers[0]!, hash: hash!, time: numbers[1]!, checkpointSeq: numbers[2]!, checkpointTime: numbers[3]! }
}


/** As every Redis store (`client.ts`), and an XADD under the stream's last id: the stream is ahead of the head. */
function unavailable(cause: unknown): VerifierError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  if (!(cause instanceof VerifierError) && !reason.startsWith('OOM ') && reason.includes('equal or smaller')) {
    return new VerifierError('ERR_STORE_CORRUPT', `the audit stream is ahead of its head: ${reason}`, { cause })
  }
  return redisUnavailable(cause)
}
