/**
 * The Redis adapter of the endorsement store port (`../endorsements.ts`). Key layout: see
 * `keys.ts#endorsementBase`; every key of a tenant shares its hash tag.
 *
 * A change is one read of the document's head, then one script (`endorsement-scripts.ts`) that
 * writes the version, moves the index, prunes old versions, increments the tenant's revision and
 * publishes it, all or nothing. The script writes only if the head is still the one read; when
 * another process wrote first, the change is planned again on the new head (a few times, then
 * `ERR_ENDORSEMENT_CONFLICT`). Lookups and list pages are one read-only script each.
 *
 * `watch` subscribes a second connection (pub/sub needs its own) to `<prefix>:endorsements` on first
 * use. Pub/sub loses messages while that connection is down; a cache built on `watch` also compares
 * `revision(tenant)` now and then, which catches what it missed (docs/decisions.md).
 *
 * Errors as in `create-redis-store.ts`: a failed command is `ERR_STORE_UNAVAILABLE` (`ERR_STORE_FULL`
 * at `maxmemory`), a stored value that does not decode is `ERR_STORE_CORRUPT`.
 */
import type { Redis } from 'ioredis'
import { clientFromUrl, unavailable } from './client.js'
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
  type DocumentHead,
  type EndorsementChange,
  type EndorsementLimits,
  type EndorsementListener,
  type EndorsementStore,
  type EndorsementVersion,
  type EndorsementWrite,
  type PutIfChangedResult,
  type WriteMode,
} from '../endorsements.js'
import { assertKeyPrefix, assertRecordId, assertTenantId, endorsementBase, endorsementChannel, isRecordId, isTenantId } from '../keys.js'
import type { TenantId } from '../types.js'
import { COMMIT_VERSION, ENDORSEMENT_SCRIPT_NAMES as NAMES, LATEST_VERSION, LIST_PAGE, LOOKUP } from './endorsement-scripts.js'

/** Options of {@link createRedisEndorsementStore}. */
export interface RedisEndorsementStoreOptions {
  /** An ioredis client, or a `redis://` URL to create one from (as `createRedisStore`). */
  readonly redis: Redis | string
  /** First part of every key, as for `createRedisStore`. */
  readonly prefix: string
  /**
   * Whether `close()` quits the client.
   * @defaultValue `true` when `redis` is a URL, `false` when it is a client
   */
  readonly ownsClient?: boolean
  /** @defaultValue DEFAULT_ENDORSEMENT_LIMITS */
  readonly limits?: Partial<EndorsementLimits>
  /** @defaultValue `Date.now` */
  readonly nowMs?: () => number
  /** Receives connection errors of the clients this store creates. @defaultValue ignore them */
  readonly onClientError?: (err: Error) => void
}

interface Scripts {
  [NAMES.commit](...args: (string | number)[]): Promise<unknown>
  [NAMES.lookup](key: string, base: string, limit: number): Promise<unknown>
  [NAMES.list](key: string, base: string, start: string, limit: number, kind: string): Promise<unknown>
  [NAMES.latest](key: string, base: string, id: string): Promise<unknown>
}

/** Tries of a change that loses the race to another process before it gives up. */
const WRITE_TRIES = 5

/** Creates the Redis endorsement store under `prefix`. */
export function createRedisEndorsementStore(options: RedisEndorsementStoreOptions): EndorsementStore {
  const { prefix } = options
  assertKeyPrefix(prefix)
  const limits: EndorsementLimits = { ...DEFAULT_ENDORSEMENT_LIMITS, ...options.limits }
  const nowMs = options.nowMs ?? Date.now
  const onClientError = options.onClientError ?? (() => {})
  const redis = typeof options.redis === 'string' ? clientFromUrl(options.redis, onClientError) : options.redis
  const ownsClient = options.ownsClient ?? typeof options.redis === 'string'
  const channel = endorsementChannel(prefix)
  redis.defineCommand(NAMES.commit, { numberOfKeys: 2, lua: COMMIT_VERSION })
  redis.defineCommand(NAMES.lookup, { numberOfKeys: 1, lua: LOOKUP })
  redis.defineCommand(NAMES.list, { numberOfKeys: 1, lua: LIST_PAGE })
  redis.defineCommand(NAMES.latest, { numberOfKeys: 1, lua: LATEST_VERSION })
  const scripts = redis as unknown as Scripts

  async function command<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (err) {
      throw unavailable(err)
    }
  }

  async function readHead(base: string, id: string): Promise<DocumentHead | undefined> {
    const text = await command(() => redis.get(`${base}m:${id}`))
    if (text === null) return undefined
    const [latest, , kind, deleted, active, digest] = text.split(' ')
    const version = Number(latest)
    if (!Number.isSafeInteger(version) || !isEndorsementKind(kind) || digest === undefined) {
      throw new VerifierError('ERR_STORE_CORRUPT', 'stored endorsement head cannot be decoded')
    }
    return { version, kind, deleted: deleted === '1', active: active === '1', digest }
  }

  async function readLatest(tenant: TenantId, base: string, id: string): Promise<EndorsementVersion | undefined> {
    const json = await command(() => scripts[NAMES.latest](`${base}m:${id}`, base, id))
    if (json === null) return undefined
    if (typeof json !== 'string') throw new VerifierError('ERR_STORE_CORRUPT', 'stored endorsement head cannot be decoded')
    return decodeVersion(json, tenant, id)
  }

  /** Writes `record` if the head is still at `expected`; false when another process wrote first. */
  async function commit(base: string, expected: number, record: EndorsementVersion): Promise<boolean> {
    const reply = await command(() =>
      scripts[NAMES.commit](
        `${base}m:${record.id}`,
        `${base}t`,
        base,
        record.id,
        expected,
        record.version,
        JSON.stringify(record),
        record.kind,
        record.deleted ? '1' : '0',
        record.active ? '1' : '0',
        record.digest,
        record.indexIds.join(' '),
        limits.maxVersionsPerDocument,
        limits.maxDocumentsPerTenant,
        channel,
        record.tenant,
      ),
    )
    const status = Array.isArray(reply) ? (reply[0] as unknown) : undefined
    if (status === 'ok') return true
    if (status === 'stale') return false
    if (status === 'full') {
      throw new VerifierError('ERR_STORE_FULL', `tenant ${record.tenant} holds as many documents as it may (${limits.maxDocumentsPerTenant})`)
    }
    throw unavailable(new Error(`endorsement commit answered ${JSON.stringify(reply)}`))
  }

  /**
   * Plans a change on the current head and commits it, again on a newer head when another process
   * wrote first. `plan` returns the new version, or a version to return as is (nothing to write).
   */
  async function change(
    tenant: TenantId,
    id: string,
    plan: (head: DocumentHead | undefined, latest: () => Promise<EndorsementVersion>) => Promise<{ write?: EndorsementVersion; keep?: EndorsementVersion }>,
  ): Promise<EndorsementVersion | undefined> {
    const base = endorsementBase(prefix, tenant)
    assertRecordId(id)
    for (let attempt = 0; attempt < WRITE_TRIES; attempt++) {
      const head = await readHead(base, id)
      const latest = async () => {
        const found = await readLatest(tenant, base, id)
        if (found === undefined) throw new VerifierError('ERR_STORE_CORRUPT', `document ${id} has a head but no latest version`)
        return found
      }
      const planned = await plan(head, latest)
      if (planned.write === undefined) return planned.keep
      if (await commit(base, head?.version ?? 0, planned.write)) return planned.write
    }
    throw new VerifierError('ERR_ENDORSEMENT_CONFLICT', `document ${id} kept changing while it was written; try again`)
  }

  async function write(mode: WriteMode, tenant: TenantId, id: string, input: EndorsementWrite): Promise<PutIfChangedResult> {
    const checked = checkWrite(tenant, id, input, limits)
    let outcome: PutIfChangedResult['outcome'] = 'unchanged'
    const version = await change(tenant, id, async (head, latest) => {
      const planned = planWrite(mode, tenant, id, head, checked, nowMs())
      outcome = planned.outcome
      return planned.outcome === 'unchanged' ? { keep: await latest() } : { write: planned.record }
    })
    return { outcome, version: version! }
  }

  async function liveChange(
    tenant: TenantId,
    id: string,
    next: (latest: EndorsementVersion) => EndorsementVersion | undefined,
  ): Promise<EndorsementVersion | undefined> {
    return change(tenant, id, async (head, latest) => {
      if (head === undefined || head.deleted) return {}
      const current = await latest()
      const made = next(current)
      return made === undefined ? { keep: current } : { write: made }
    })
  }

  const listeners = new Set<EndorsementListener>()
  let subscriber: Redis | undefined
  let subscribed: Promise<void> | undefined

  function subscribe(): Promise<void> {
    if (subscribed !== undefined) return subscribed
    const sub = redis.duplicate()
    sub.on('error', onClientError)
    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return
      const [tenant, revision, id] = message.split(' ')
      const rev = Number(revision)
      if (!isTenantId(tenant) || !Number.isSafeInteger(rev) || !isRecordId(id)) return
      notify(listeners, { tenant, revision: rev, ids: [id] })
    })
    subscriber = sub
    // ioredis subscribes again by itself after a reconnection.
    subscribed = sub.subscribe(channel).then(
      () => undefined,
      (err: unknown) => {
        subscribed = undefined
        subscriber = undefined
        sub.disconnect()
        throw unavailable(err)
      },
    )
    return subscribed
  }

  let closed = false
  return {
    async create(tenant, id, input) {
      return (await write('create', tenant, id, input)).version
    },
    async put(tenant, id, input) {
      return (await write('put', tenant, id, input)).version
    },
    putIfChanged(tenant, id, input) {
      return write('putIfChanged', tenant, id, input)
    },
    async get(tenant, id, version) {
      const base = endorsementBase(prefix, tenant)
      assertRecordId(id)
      if (version === undefined) return readLatest(tenant, base, id)
      assertVersionNumber(version)
      const json = await command(() => redis.get(`${base}v:${id}:${version}`))
      return json === null ? undefined : decodeVersion(json, tenant, id)
    },
    async versions(tenant, id) {
      const base = endorsementBase(prefix, tenant)
      assertRecordId(id)
      const text = await command(() => redis.get(`${base}m:${id}`))
      if (text === null) return []
      const [latest, first] = text.split(' ').map(Number)
      if (!Number.isSafeInteger(latest) || !Number.isSafeInteger(first)) {
        throw new VerifierError('ERR_STORE_CORRUPT', 'stored endorsement head cannot be decoded')
      }
      const keys: string[] = []
      for (let n = first!; n <= latest!; n++) keys.push(`${base}v:${id}:${n}`)
      if (keys.length === 0) return []
      const found = await command(() => redis.mget(...keys))
      return found.filter((json): json is string => json !== null).map((json) => decodeVersion(json, tenant, id))
    },
    async list(tenant, listOptions = {}) {
      const base = endorsementBase(prefix, tenant)
      const limit = pageSize(listOptions.limit)
      const after = listOptions.cursor === undefined ? undefined : decodeCursor(listOptions.cursor)
      const { kind, indexId } = listOptions
      if (kind !== undefined && !isEndorsementKind(kind)) throw new TypeError('unknown kind')
      if (indexId !== undefined) assertIndexId(indexId)
      const key = indexId !== undefined ? `${base}i:${indexId}` : kind !== undefined ? `${base}kind:${kind}` : `${base}live`
      const reply = await command(() => scripts[NAMES.list](key, base, after === undefined ? '-' : `(${after}`, limit, kind ?? ''))
      if (!Array.isArray(reply) || reply.length < 2 || reply.length % 2 !== 0) throw corruptReply()
      const [more, last] = reply as string[]
      const items = pairs(reply.slice(2), tenant)
      return more === '1' && isRecordId(last) ? { items, cursor: encodeCursor(last) } : { items }
    },
    async delete(tenant, id, changeBy: EndorsementChange) {
      assertTenantId(tenant)
      checkChange(changeBy)
      return liveChange(tenant, id, (latest) => tombstoneOf(latest, changeBy, nowMs()))
    },
    async setActive(tenant, id, active, changeBy) {
      assertTenantId(tenant)
      if (typeof active !== 'boolean') throw new TypeError('active must be a boolean')
      checkChange(changeBy)
      const version = await liveChange(tenant, id, (latest) =>
        latest.active === active ? undefined : activationOf(latest, active, changeBy, nowMs()),
      )
      if (version === undefined) throw new VerifierError('ERR_ENDORSEMENT_NOT_FOUND', `no document ${id}`)
      return version
    },
    async lookup(tenant, indexId) {
      const base = endorsementBase(prefix, tenant)
      assertIndexId(indexId)
      const reply = await command(() => scripts[NAMES.lookup](`${base}i:${indexId}`, base, MAX_LOOKUP_RESULTS))
      if (!Array.isArray(reply) || reply.length % 2 !== 0) throw corruptReply()
      return pairs(reply, tenant)
    },
    async revision(tenant) {
      const base = endorsementBase(prefix, tenant)
      const rev = await command(() => redis.hget(`${base}t`, 'rev'))
      return rev === null ? 0 : Number(rev)
    },
    async watch(listener) {
      await subscribe()
      const own = (event: Parameters<EndorsementListener>[0]) => listener(event)
      listeners.add(own)
      return () => void listeners.delete(own)
    },
    async close() {
      if (closed) return
      closed = true
      listeners.clear()
      subscriber?.disconnect()
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

/** `[id, json, id, json…]` as versions. */
function pairs(flat: unknown[], tenant: TenantId): EndorsementVersion[] {
  const versions: EndorsementVersion[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const [id, json] = [flat[i], flat[i + 1]]
    if (typeof id !== 'string' || typeof json !== 'string') throw corruptReply()
    versions.push(decodeVersion(json, tenant, id))
  }
  return versions
}

function corruptReply(): VerifierError {
  return new VerifierError('ERR_STORE_CORRUPT', 'endorsement script answered in an unexpected shape')
}

