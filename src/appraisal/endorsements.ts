/**
 * Endorsements the appraisal reads: trust anchors (which key an attester signs with) and reference
 * values (what its software should measure), scoped by tenant. Lookups are O(1) map reads keyed by
 * hex identifiers, so the cost does not grow with the number of provisioned devices.
 */
import type { PublicKey, SecretKey } from '../crypto/keys.js'
import type { TenantId } from '../store/types.js'

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
  /** When set, the attester must report this Implementation ID. */
  readonly implementationId?: Uint8Array
  readonly source: string
}

export interface Endorsements {
  psaTrustAnchor(tenant: TenantId, instanceIdHex: string): PsaTrustAnchor | undefined
  psaReferenceValues(tenant: TenantId, implementationIdHex: string): PsaReferenceValues | undefined
}

/** Endorsements held in memory, built once from validated documents. */
export class MemoryEndorsements implements Endorsements {
  private readonly anchors = new Map<string, PsaTrustAnchor>()
  private readonly references = new Map<string, PsaReferenceValues>()

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

  get size(): { readonly trustAnchors: number; readonly referenceValues: number } {
    return { trustAnchors: this.anchors.size, referenceValues: this.references.size }
  }
}
