/**
 * What a reference-values document provisions, counted for the start summary (and anything else
 * that reports on provisioning): trust anchors, attester keys, reference values, EAT profiles and
 * CoRIM signers.
 */
import type { ReferenceValueDocument } from './reference-values.js'

export interface ProvisionedCounts {
  /** PSA trust anchors (Initial Attestation Keys by Instance ID) and X.509 anchors of generic EAT. */
  readonly trustAnchors: number
  /** Generic EAT attester keys: by `kid`, by UEID, and pinned certificates. */
  readonly keys: number
  /** PSA reference values (per Implementation ID) and generic EAT reference values (per class). */
  readonly referenceValues: number
  /** Operator-defined EAT profiles (`eat.profiles`). */
  readonly profiles: number
  /** Who may sign CoRIMs: provisioning keys and CAs (`provisioning`). */
  readonly corimSigners: number
}

export interface ProvisionedFile extends ProvisionedCounts {
  readonly file: string
  readonly tenant: string
}

/** Everything a reference-values directory provisioned: per file, and totals. */
export interface ProvisionedSummary extends ProvisionedCounts {
  readonly dir: string | undefined
  readonly files: readonly ProvisionedFile[]
}

export function countProvisioned(doc: ReferenceValueDocument): ProvisionedCounts {
  return {
    trustAnchors: (doc.psa?.trustAnchors.length ?? 0) + (doc.eat?.x509Anchors.length ?? 0),
    keys: (doc.eat?.keys.length ?? 0) + (doc.eat?.ueidKeys.length ?? 0) + (doc.eat?.pinnedCertificates.length ?? 0),
    referenceValues: (doc.psa?.referenceValues.length ?? 0) + (doc.eat?.referenceValues.length ?? 0),
    profiles: doc.eat?.profiles.length ?? 0,
    corimSigners: (doc.provisioning?.keys.length ?? 0) + (doc.provisioning?.x509Anchors.length ?? 0),
  }
}

/** Collects the files of one directory load (`LoadOptions.onDocument`) into a summary. */
export function provisioningCollector(dir: string | undefined): {
  onDocument(file: string, doc: ReferenceValueDocument): void
  summary(): ProvisionedSummary
} {
  const files: ProvisionedFile[] = []
  return {
    onDocument(file, doc) {
      files.push({ file, tenant: doc.tenant, ...countProvisioned(doc) })
    },
    summary() {
      const total = (key: keyof ProvisionedCounts) => files.reduce((sum, f) => sum + f[key], 0)
      return {
        dir,
        files,
        trustAnchors: total('trustAnchors'),
        keys: total('keys'),
        referenceValues: total('referenceValues'),
        profiles: total('profiles'),
        corimSigners: total('corimSigners'),
      }
    },
  }
}
