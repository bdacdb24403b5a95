/**
 * Endorsements read from the endorsement store (`store/endorsements.ts`), so a change any process
 * writes is used by every worker without a restart.
 *
 * Each read is an indexed `lookup` (provisioning-documents.ts names the index ids), cached in a
 * bounded LRU with what its documents decode to (keys imported, certificate anchors checked), and
 * decoded documents are cached by (tenant, id, version) so a refetch after a change imports only
 * what changed. Absence is cached too. A tenant's cached lookups are dropped when `watch` reports a
 * change of it, and when polling `revision(tenant)` (every `pollIntervalMs`) finds a revision this
 * cache did not hear of (pub/sub loses messages while a connection is down): a change is used within
 * about `pollIntervalMs`, and usually at once.
 *
 * The verifiers read keys synchronously, so reads go through views (`readEndorsements` in
 * `endorsements.ts`): a view answers from the cache, notes what it lacks, fetches it on `load`, and
 * the read runs again. An appraisal whose endorsements are all cached never waits for the store.
 *
 * A stored document that does not decode, or (outside test mode) holds a key whose private half is
 * published, is read as absent and reported once through `warn`. A document with a `validity`
 * (`provisioning-documents.ts`, e.g. from a CoRIM's rim-validity) is read as absent outside it, at
 * the injected clock: a cached lookup is refetched when the clock passes the next bound of one of
 * its documents.
 */
import type { EatProfile } from '../evidence/eat/profiles.js'
import type { EatKeyStore, ProvisionedCertificate, ProvisionedKey } from '../evidence/eat/verify-eat.js'
import type { SpeaksFor } from '../evidence/speaks-for.js'
import type { X509TrustStore } from '../crypto/x509.js'
import type { EndorsementStore, EndorsementVersion } from '../store/endorsements.js'
import type { TenantId } from '../store/types.js'
import { toHex } from '../util/bytes.js'
import { systemClock, type Clock } from '../util/clock.js'
import {
  MemoryEndorsements,
  type EatReferenceValues,
  type EndorsementView,
  type Endorsements,
  type PsaReferenceValues,
  type PsaTrustAnchor,
  type UsedDocument,
} from './endorsements.js'
import {
  X509_ANCHORS_INDEX_ID,
  decodeProvisioningDocument,
  documentValidity,
  eatClassIndexId,
  eatKidIndexId,
  eatProfileIndexId,
  eatUeidIndexId,
  psaImplementationIndexId,
  psaInstanceIndexId,
  sectionOf,
  withinValidity,
  x5tIndexId,
} from './provisioning-documents.js'

/** Options of {@link openStoreEndorsements}. */
export interface StoreEndorsementsOptions {
  readonly store: EndorsementStore
  /** Test mode: accept keys whose private halves are published. @defaultValue false */
  readonly allowPublishedKeys?: boolean
  /** Most lookups cached (and most decoded documents). @defaultValue 10,000 */
  readonly maxEntries?: number
  /** How often each tenant's revision is compared with the store's, in ms. @defaultValue 1000 */
  readonly pollIntervalMs?: number
  /** Hears of stored documents read as absent, and of failed polls. @defaultValue ignore */
  readonly warn?: (message: string, err?: unknown) => void
  /** The time documents' validity is judged at. @defaultValue systemClock */
  readonly clock?: Clock
}

/** Endorsements from the store, and the means to stop following it. */
export interface StoreEndorsements extends Endorsements {
  view(): EndorsementView
  /** Drops every cached lookup of `tenant`. */
  invalidate(tenant: TenantId): void
  /** Stops watching and polling (the store stays open). */
  close(): Promise<void>
}

/** A document as a lookup found it, decoded; `decoded` is undefined when it did not decode. */
interface CachedDocument {
  readonly decoded: MemoryEndorsements | undefined
  /** The stored version it was decoded from. */
  readonly used: UsedDocument
}

/** One lookup's answer: its documents, in id order, and (X.509 anchors) all of them as one. */
interface CachedLookup {
  readonly generation: number
  /** When (seconds) the lookup was made: a clock set back before it refetches. */
  readonly fetchedAt: number
  /** When (seconds) a document of the lookup enters or leaves its validity: refetch then. */
  readonly refreshAt: number
  readonly documents: readonly CachedDocument[]
  readonly combined?: MemoryEndorsements
}

interface TenantState {
  /** Bumped on each change heard or seen; cached lookups of older generations are stale. */
  generation: number
  /** The last revision heard or read. */
  revision: number
}

/** A map that forgets its least recently used entry beyond `max` entries. */
class Lru<V> {
  readonly #map = new Map<string, V>()
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  set(key: string, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!)
  }

  delete(key: string): void {
    this.#map.delete(key)
  }
}

const cacheKey = (tenant: TenantId, indexId: string): string => `${tenant}\u0000${indexId}`

/**
 * Starts following the store: subscribes to its changes first, so none made after this resolves is
 * missed, then polls revisions.
 * @throws VerifierError `ERR_STORE_UNAVAILABLE` when the subscription cannot be made
 */
export async function openStoreEndorsements(options: StoreEndorsementsOptions): Promise<StoreEndorsements> {
  const { store } = options
  const maxEntries = options.maxEntries ?? 10_000
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const warn = options.warn ?? (() => {})
  const clock = options.clock ?? systemClock
  const lookups = new Lru<CachedLookup>(maxEntries)
  const documents = new Lru<CachedDocument>(maxEntries)
  const tenants = new Map<TenantId, TenantState>()

  const changed = (tenant: TenantId, revision: number) => {
    const state = tenants.get(tenant)
    if (state === undefined || state.revision === revision) return
    state.generation++
    state.revision = revision
  }
  const unwatch = await store.watch((event) => changed(event.tenant, event.revision))

  let polling = false
  const poll = async () => {
    if (polling) return
    polling = true
    try {
      for (const tenant of [...tenants.keys()]) changed(tenant, await store.revision(tenant))
    } catch (err) {
      warn('endorsement revision poll failed', err)
    } finally {
      polling = false
    }
  }
  const timer = setInterval(() => void poll(), pollIntervalMs)
  timer.unref()

  /** The tenant's state, its revision read from the store the first time it is used. */
  async function tenantState(tenant: TenantId): Promise<TenantState> {
    let state = tenants.get(tenant)
    if (state === undefined) {
      const revision = await store.revision(tenant)
      state = tenants.get(tenant) ?? { generation: 0, revision }
      tenants.set(tenant, state)
    }
    return state
  }

  function decode(version: EndorsementVersion): CachedDocument {
    const key = `${version.tenant}\u0000${version.id}\u0000${version.version}`
    const cached = documents.get(key)
    if (cached !== undefined) return cached
    const section = sectionOf(version.id)
    let decoded: MemoryEndorsements | undefined
    if (section !== undefined) {
      const source = version.source.startsWith('file:') ? version.source.slice('file:'.length) : `${version.source} ${version.id}@${version.version}`
      try {
        decoded = decodeProvisioningDocument(version.tenant, section, version.body, source, { allowPublishedKeys: options.allowPublishedKeys === true })
      } catch (err) {
        warn(`endorsement ${version.id} version ${version.version} of tenant ${version.tenant} is not used: ${err instanceof Error ? err.message : 'it does not decode'}`)
      }
    }
    const document = { decoded, used: { id: version.id, version: version.version, kind: version.kind } }
    documents.set(key, document)
    return document
  }

  async function fetch(tenant: TenantId, indexId: string): Promise<CachedLookup> {
    const state = await tenantState(tenant)
    const generation = state.generation
    const found = await store.lookup(tenant, indexId)
    const now = clock.nowSeconds()
    let refreshAt = Number.POSITIVE_INFINITY
    const current = found.filter((version) => {
      const validity = documentValidity(version.body)
      if (validity?.notBefore !== undefined && validity.notBefore > now) refreshAt = Math.min(refreshAt, validity.notBefore)
      if (validity?.notAfter !== undefined && validity.notAfter >= now) refreshAt = Math.min(refreshAt, validity.notAfter + 1)
      return withinValidity(validity, now)
    })
    const docs = current.map(decode)
    let combined: MemoryEndorsements | undefined
    if (indexId === X509_ANCHORS_INDEX_ID) {
      combined = new MemoryEndorsements()
      for (const d of docs) for (const { anchor, speaksFor } of d.decoded?.eatAnchors(tenant) ?? []) combined.addEatAnchor(tenant, anchor, speaksFor)
    }
    const entry: CachedLookup = { generation, fetchedAt: now, refreshAt, documents: docs, ...(combined === undefined ? {} : { combined }) }
    // A change heard while this lookup ran may not be in it: keep it for this read only.
    if (state.generation === generation) lookups.set(cacheKey(tenant, indexId), entry)
    return entry
  }

  function cached(tenant: TenantId, indexId: string): CachedLookup | undefined {
    const key = cacheKey(tenant, indexId)
    const entry = lookups.get(key)
    if (entry === undefined) return undefined
    const now = clock.nowSeconds()
    if (entry.generation !== tenants.get(tenant)?.generation || now >= entry.refreshAt || now < entry.fetchedAt) {
      lookups.delete(key)
      return undefined
    }
    return entry
  }

  function view(): EndorsementView {
    const local = new Map<string, CachedLookup>()
    const missing = new Map<string, { readonly tenant: TenantId; readonly indexId: string }>()
    let used = new Map<string, UsedDocument>()
    const use = (d: CachedDocument) => used.set(`${d.used.id}@${d.used.version}`, d.used)
    /**
     * What the anchor with this SHA-256 may speak for, from the tenant's combined X.509 anchors. The
     * anchor a chain ended at is the one used: the document that holds it is noted.
     */
    const anchorSpeaksFor = (tenant: TenantId, anchorSha256: string): SpeaksFor | undefined => {
      const entry = read(tenant, X509_ANCHORS_INDEX_ID)
      const found = entry?.combined?.eatKeys(tenant).anchorSpeaksFor?.(anchorSha256)
      if (found !== undefined) {
        for (const d of entry!.documents) if (d.decoded?.eatKeys(tenant).anchorSpeaksFor?.(anchorSha256) !== undefined) use(d)
      }
      return found
    }
    const read = (tenant: TenantId, indexId: string): CachedLookup | undefined => {
      const key = cacheKey(tenant, indexId)
      let entry = local.get(key)
      if (entry === undefined) {
        entry = cached(tenant, indexId)
        if (entry === undefined) missing.set(key, { tenant, indexId })
        else local.set(key, entry)
      }
      return entry
    }
    /** The first answer any document of the lookup gives. */
    const first = <T>(tenant: TenantId, indexId: string, answer: (e: MemoryEndorsements) => T | undefined): T | undefined => {
      for (const d of read(tenant, indexId)?.documents ?? []) {
        const found = d.decoded === undefined ? undefined : answer(d.decoded)
        if (found !== undefined) {
          use(d)
          return found
        }
      }
      return undefined
    }
    const self: EndorsementView = {
      psaTrustAnchor: (tenant, hex): PsaTrustAnchor | undefined => first(tenant, psaInstanceIndexId(hex), (e) => e.psaTrustAnchor(tenant, hex.toLowerCase())),
      psaReferenceValues: (tenant, hex): PsaReferenceValues | undefined =>
        first(tenant, psaImplementationIndexId(hex), (e) => e.psaReferenceValues(tenant, hex.toLowerCase())),
      eatReferenceValues: (tenant, oemid, hwmodelHex): EatReferenceValues | undefined =>
        first(tenant, eatClassIndexId(oemid, hwmodelHex), (e) => e.eatReferenceValues(tenant, oemid, hwmodelHex.toLowerCase())),
      eatProfile: (tenant, id): EatProfile | undefined => first(tenant, eatProfileIndexId(id), (e) => e.eatProfile(tenant, id)),
      eatKeys(tenant): EatKeyStore {
        return {
          byKid: (kid): ProvisionedKey | undefined => first(tenant, eatKidIndexId(kid), (e) => e.eatKeys(tenant).byKid(kid)),
          byUeid: (ueid): ProvisionedKey | undefined => first(tenant, eatUeidIndexId(toHex(ueid)), (e) => e.eatKeys(tenant).byUeid(ueid)),
          byX5t(hashAlg, hash): ProvisionedCertificate | undefined {
            const indexId = x5tIndexId(hashAlg, hash)
            return indexId === undefined ? undefined : first(tenant, indexId, (e) => e.eatKeys(tenant).byX5t?.(hashAlg, hash))
          },
          get x509(): X509TrustStore | undefined {
            return read(tenant, X509_ANCHORS_INDEX_ID)?.combined?.eatKeys(tenant).x509
          },
          anchorSpeaksFor: (anchorSha256): SpeaksFor | undefined => anchorSpeaksFor(tenant, anchorSha256),
        }
      },
      takeUsed(): UsedDocument[] {
        const taken = [...used.values()]
        used = new Map()
        return taken
      },
      async load(): Promise<boolean> {
        if (missing.size === 0) return false
        const wanted = [...missing]
        missing.clear()
        const fetched = await Promise.all(wanted.map(([, { tenant, indexId }]) => fetch(tenant, indexId)))
        wanted.forEach(([key], i) => local.set(key, fetched[i]!))
        return true
      },
    }
    return self
  }

  return {
    view,
    psaTrustAnchor: (tenant, hex) => view().psaTrustAnchor(tenant, hex),
    psaReferenceValues: (tenant, hex) => view().psaReferenceValues(tenant, hex),
    eatKeys: (tenant) => view().eatKeys(tenant),
    eatReferenceValues: (tenant, oemid, hwmodelHex) => view().eatReferenceValues(tenant, oemid, hwmodelHex),
    eatProfile: (tenant, id) => view().eatProfile?.(tenant, id),
    invalidate(tenant) {
      const state = tenants.get(tenant)
      if (state !== undefined) state.generation++
    },
    async close() {
      clearInterval(timer)
      unwatch()
    },
  }
}

