/**
 * Endorsements the appraisal reads: trust anchors (which key an attester signs with, and what that
 * key may speak for) and reference values (what its software should measure), scoped by tenant.
 * Lookups are O(1) map reads keyed by hex identifiers, so the cost does not grow with the number of
 * provisioned devices.
 */
import { createHash } from 'node:crypto'
import type { PinnedCertificate, PublicKey, SecretKey } from '../crypto/keys.js'
import { X509TrustStore, type X509Anchor } from '../crypto/x509.js'
import type { EatProfile } from '../evidence/eat/profiles.js'
import type { EatKeyStore, ProvisionedCertificate, ProvisionedKey } from '../evidence/eat/verify-eat.js'
import type { SpeaksFor } from '../evidence/speaks-for.js'
import type { TenantId } from '../store/types.js'
import { toHex } from '../util/bytes.js'
import { VerifierError } from '../errors/errors.js'

export { oemidKey } from '../evidence/speaks-for.js'

/** One expected software component of a PSA implementation. */
export interface PsaReferenceComponent {
  readonly measurementType?: string
  readonly measurementValue: Uint8Array
  readonly signerId: Uint8Array
  /** When set, the Evidence must report exactly this version. */
  readonly version?: string
}

export interface PsaReferenceValues {
  readonly implementationId: Uint8Array
  readonly softwareComponents: readonly PsaReferenceComponent[]
  /** Where these values came from (file or provisioning id), for result explanations. */
  readonly source: string
}

export interface PsaTrustAnchor {
  readonly instanceId: Uint8Array
  readonly key: PublicKey | SecretKey
  /**
   * The Implementation ID (the PSA attester class) this key may speak for; `'any'` when the operator
   * provisioned it without one. Evidence reporting another is contraindicated on hardware.
   */
  readonly implementationId: Uint8Array | 'any'
  readonly source: string
}

/** Reference values of a generic EAT attester class, keyed by (oemid, hwmodel). */
export interface EatReferenceValues {
  /** Software names and the versions of each that are approved; empty: software is not appraised. */
  readonly software: ReadonlyMap<string, ReadonlySet<string> | 'any'>
  /** SHA-256 (hex) of approved `measurements` bodies; empty: measurements are not appraised. */
  readonly measurementDigests: ReadonlySet<string>
  /** SHA-256 (hex) of approved `manifests` bodies (e.g. CoSWID tags); empty: manifests are not appraised. */
  readonly manifestDigests?: ReadonlySet<string>
  readonly source: string
}

export interface Endorsements {
  psaTrustAnchor(tenant: TenantId, instanceIdHex: string): PsaTrustAnchor | undefined
  psaReferenceValues(tenant: TenantId, implementationIdHex: string): PsaReferenceValues | undefined
  /** Keys and certificate anchors for generic EAT attesters of a tenant. */
  eatKeys(tenant: TenantId): EatKeyStore
  eatReferenceValues(tenant: TenantId, oemid: string, hwmodelHex: string): EatReferenceValues | undefined
  /**
   * The tenant's active operator-defined EAT profile with this id (case-insensitive), if any.
   * Absent: the tenant has none (only built-in profiles apply).
   */
  eatProfile?(tenant: TenantId, id: string): EatProfile | undefined
  /**
   * Present on endorsements that answer from a cache of a store (`store-endorsements.ts`): a view
   * for one read, answering from the cache and noting what it lacks, for `load` to fetch. Read
   * through {@link readEndorsements}. Absent: every answer is final.
   */
  view?(): EndorsementView
  /**
   * Hears, after each {@link readEndorsements}, the stored documents whose answers its final read
   * used (see {@link trackUsedDocuments}). Absent: nobody is told.
   */
  onUsed?(documents: readonly UsedDocument[]): void
}

/** A stored document (one version of it) whose answer an appraisal used. */
export interface UsedDocument {
  readonly id: string
  readonly version: number
  /** `trust-anchor`, `reference-value` or `profile`. */
  readonly kind: string
}

/** One read's view of cached endorsements. */
export interface EndorsementView extends Endorsements {
  /** Fetches what reads through this view found missing; false when nothing was (their answers are final). */
  load(): Promise<boolean>
  /**
   * The documents whose answers reads through this view used since the last call (store-backed
   * views know them; others may leave this out).
   */
  takeUsed?(): UsedDocument[]
}

/**
 * `endorsements`, reporting into `used` (keyed `id@version`) every stored document whose answer an
 * appraisal's reads used. Endorsements without views (`MemoryEndorsements`, files read at start
 * without a store) report none.
 */
export function trackUsedDocuments(endorsements: Endorsements, used: Map<string, UsedDocument>): Endorsements {
  const view = endorsements.view?.bind(endorsements)
  const eatProfile = endorsements.eatProfile?.bind(endorsements)
  return {
    psaTrustAnchor: (tenant, hex) => endorsements.psaTrustAnchor(tenant, hex),
    psaReferenceValues: (tenant, hex) => endorsements.psaReferenceValues(tenant, hex),
    eatKeys: (tenant) => endorsements.eatKeys(tenant),
    eatReferenceValues: (tenant, oemid, hwmodelHex) => endorsements.eatReferenceValues(tenant, oemid, hwmodelHex),
    ...(eatProfile === undefined ? {} : { eatProfile }),
    ...(view === undefined ? {} : { view }),
    onUsed(documents) {
      for (const d of documents) used.set(`${d.id}@${d.version}`, d)
    },
  }
}

/** Most rounds of {@link readEndorsements}: each round fetches what the previous one lacked. */
const MAX_READ_ROUNDS = 8

/**
 * Runs `read` (synchronous and without side effects, e.g. a token verification that looks keys up)
 * on `endorsements`; on cached ones, fetches what it missed and runs it again, until it misses
 * nothing. What `read` throws is thrown once its answers are final.
 * @throws VerifierError `ERR_STORE_UNAVAILABLE` when the store cannot be read, or `read` still
 *   misses endorsements after {@link MAX_READ_ROUNDS} rounds
 */
export async function readEndorsements<T>(endorsements: Endorsements, read: (e: Endorsements) => T): Promise<T> {
  const view = endorsements.view?.()
  if (view === undefined) return read(endorsements)
  for (let round = 1; ; round++) {
    let outcome: { readonly value: T } | { readonly error: unknown }
    try {
      outcome = { value: read(view) }
    } catch (error) {
      outcome = { error }
    }
    // What this round used: the last round's reads are the ones whose answers count.
    const used = view.takeUsed?.() ?? []
    if (!(await view.load())) {
      if (used.length > 0) endorsements.onUsed?.(used)
      if ('error' in outcome) throw outcome.error
      return outcome.value
    }
    if (round >= MAX_READ_ROUNDS) {
      throw new VerifierError('ERR_STORE_UNAVAILABLE', `endorsements still incomplete after ${MAX_READ_ROUNDS} reads`)
    }
  }
}

/** COSE hash ids an x5t may use, and node's names for them. */
const X5T_HASHES: ReadonlyMap<number, string> = new Map([
  [-16, 'sha256'],
  [-43, 'sha384'],
  [-44, 'sha512'],
])

class TenantEatKeys implements EatKeyStore {
  readonly kids = new Map<string, ProvisionedKey>()
  readonly ueids = new Map<string, ProvisionedKey>()
  /** Pinned certificates by `${hashAlg}:${hex digest}`, for every hash an x5t may use. */
  readonly pinned = new Map<string, ProvisionedCertificate>()
  /** What each anchor may speak for, by the SHA-256 (hex) of its DER. */
  readonly anchorBindings = new Map<string, SpeaksFor>()

  byX5t(hashAlg: number, hash: Uint8Array): ProvisionedCertificate | undefined {
    return this.pinned.get(`${hashAlg}:${toHex(hash)}`)
  }

  pin(cert: ProvisionedCertificate): boolean {
    const keys = [...X5T_HASHES].map(([alg, name]) => `${alg}:${createHash(name).update(cert.der).digest('hex')}`)
    if (keys.some((k) => this.pinned.has(k))) return false
    for (const k of keys) this.pinned.set(k, cert)
    return true
  }
  anchors: X509Anchor[] = []
  private store: X509TrustStore | undefined

  byKid(kid: Uint8Array): ProvisionedKey | undefined {
    return this.kids.get(toHex(kid))
  }

  byUeid(ueid: Uint8Array): ProvisionedKey | undefined {
    return this.ueids.get(toHex(ueid))
  }

  anchorSpeaksFor(anchorSha256: string): SpeaksFor | undefined {
    return this.anchorBindings.get(anchorSha256)
  }

  get x509(): X509TrustStore | undefined {
    if (this.store === undefined && this.anchors.length > 0) this.store = new X509TrustStore(this.anchors)
    return this.store
  }
}

const NO_EAT_KEYS: EatKeyStore = { byKid: () => undefined, byUeid: () => undefined, x509: undefined }

/** Endorsements held in memory, built once from validated documents. */
export class MemoryEndorsements implements Endorsements {
  private readonly anchors = new Map<string, PsaTrustAnchor>()
  private readonly references = new Map<string, PsaReferenceValues>()
  private readonly eatKeyStores = new Map<TenantId, TenantEatKeys>()
  private readonly eatReferences = new Map<string, EatReferenceValues>()
  private readonly eatProfiles = new Map<string, EatProfile>()

  private static key(tenant: TenantId, idHex: string): string {
    return `${tenant}\u0000${idHex}`
  }

  addPsaTrustAnchor(tenant: TenantId, instanceIdHex: string, anchor: PsaTrustAnchor): boolean {
    const k = MemoryEndorsements.key(tenant, instanceIdHex)
    if (this.anchors.has(k)) return false
    this.anchors.set(k, anchor)
    return true
  }

  addPsaReferenceValues(tenant: TenantId, implementationIdHex: string, values: PsaReferenceValues): boolean {
    const k = MemoryEndorsements.key(tenant, implementationIdHex)
    if (this.references.has(k)) return false
    this.references.set(k, values)
    return true
  }

  psaTrustAnchor(tenant: TenantId, instanceIdHex: string): PsaTrustAnchor | undefined {
    return this.anchors.get(MemoryEndorsements.key(tenant, instanceIdHex))
  }

  psaReferenceValues(tenant: TenantId, implementationIdHex: string): PsaReferenceValues | undefined {
    return this.references.get(MemoryEndorsements.key(tenant, implementationIdHex))
  }

  private eatKeysOf(tenant: TenantId): TenantEatKeys {
    let keys = this.eatKeyStores.get(tenant)
    if (keys === undefined) this.eatKeyStores.set(tenant, (keys = new TenantEatKeys()))
    return keys
  }

  /**
   * Registers a key under a kid (the header bytes, as hex) with what it may speak for. Returns
   * false when the kid is taken.
   */
  addEatKid(tenant: TenantId, kidHex: string, key: PublicKey, speaksFor: SpeaksFor): boolean {
    const keys = this.eatKeysOf(tenant)
    if (keys.kids.has(kidHex)) return false
    keys.kids.set(kidHex, { key, speaksFor })
    return true
  }

  /** Registers a device key under its UEID; it speaks for that UEID and for `classes`. */
  addEatUeid(tenant: TenantId, ueidHex: string, key: PublicKey, classes: SpeaksFor['classes']): boolean {
    const keys = this.eatKeysOf(tenant)
    if (keys.ueids.has(ueidHex)) return false
    keys.ueids.set(ueidHex, { key, speaksFor: { ueids: new Set([ueidHex.toLowerCase()]), classes } })
    return true
  }

  /** Pins a device certificate, to be found by x5t. Returns false when it is pinned already. */
  addEatPinnedCertificate(tenant: TenantId, cert: PinnedCertificate, speaksFor: SpeaksFor): boolean {
    return this.eatKeysOf(tenant).pin({ ...cert, speaksFor })
  }

  /**
   * Adds a certificate anchor; chains under it may claim what `speaksFor` allows. Returns false when
   * the tenant has it already.
   */
  addEatAnchor(tenant: TenantId, anchor: X509Anchor, speaksFor: SpeaksFor): boolean {
    const keys = this.eatKeysOf(tenant)
    // Validate the anchor now, so a bad certificate stops the start rather than the first appraisal.
    void new X509TrustStore([anchor])
    const digest = createHash('sha256').update(anchor.der).digest('hex')
    if (keys.anchorBindings.has(digest)) return false
    keys.anchors.push(anchor)
    keys.anchorBindings.set(digest, speaksFor)
    return true
  }

  addEatReferenceValues(tenant: TenantId, oemid: string, hwmodelHex: string, values: EatReferenceValues): boolean {
    const k = MemoryEndorsements.key(tenant, `${oemid}/${hwmodelHex}`)
    if (this.eatReferences.has(k)) return false
    this.eatReferences.set(k, values)
    return true
  }

  /** Adds an operator-defined EAT profile. Returns false when the tenant has one with its id. */
  addEatProfile(tenant: TenantId, profile: EatProfile): boolean {
    const k = MemoryEndorsements.key(tenant, profile.id.toLowerCase())
    if (this.eatProfiles.has(k)) return false
    this.eatProfiles.set(k, profile)
    return true
  }

  eatProfile(tenant: TenantId, id: string): EatProfile | undefined {
    return this.eatProfiles.get(MemoryEndorsements.key(tenant, id.toLowerCase()))
  }

  eatKeys(tenant: TenantId): EatKeyStore {
    return this.eatKeyStores.get(tenant) ?? NO_EAT_KEYS
  }

  /** The certificate anchors of a tenant's generic EAT attesters, with what chains under each may claim. */
  eatAnchors(tenant: TenantId): { readonly anchor: X509Anchor; readonly speaksFor: SpeaksFor }[] {
    const keys = this.eatKeyStores.get(tenant)
    if (keys === undefined) return []
    return keys.anchors.map((anchor) => ({ anchor, speaksFor: keys.anchorBindings.get(createHash('sha256').update(anchor.der).digest('hex'))! }))
  }

  eatReferenceValues(tenant: TenantId, oemid: string, hwmodelHex: string): EatReferenceValues | undefined {
    return this.eatReferences.get(MemoryEndorsements.key(tenant, `${oemid}/${hwmodelHex}`))
  }

  get size(): { readonly trustAnchors: number; readonly referenceValues: number } {
    return { trustAnchors: this.anchors.size, referenceValues: this.references.size }
  }
}
