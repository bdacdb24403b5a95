/**
 * Writes the reference-values folder into the endorsement store at start, so a deployment can be
 * driven from git: one document per entry (`provisioning-documents.ts`), `createdBy: 'file'`,
 * `source: file:<path>`, written only when its content or file changed (`putIfChanged`), so a
 * restart with the same files makes no new versions.
 *
 * The files are the truth for what they hold: an entry the loader deactivated because its file had
 * gone is activated again when it comes back, and an entry of the folder whose file is gone is
 * deactivated (in the tenants the folder still names, and the default tenant). A document an
 * operator deactivated through the API stays inactive while its content is unchanged.
 */
import { createHash } from 'node:crypto'
import { canonicalJson, type EndorsementStore } from '../store/endorsements.js'
import { DEFAULT_TENANT, type TenantId } from '../store/types.js'
import { FROM_FILE_INDEX_ID, provisioningDocuments } from './provisioning-documents.js'
import type { ReferenceValueDocument } from './reference-values.js'

/** Who the loader's changes are made by. */
export const FILE_LOADER = 'file'

/** One validated file of the folder. */
export interface LoadedFile {
  readonly file: string
  readonly document: ReferenceValueDocument
}

/** What {@link provisionFromFiles} changed, by number of documents. */
export interface FileProvisioning {
  readonly created: number
  readonly replaced: number
  readonly unchanged: number
  /** Entries made inactive by the loader (their file had gone) that came back. */
  readonly reactivated: number
  /** Entries whose file is gone. */
  readonly deactivated: number
}

const PAGE = 1000

/** Options of {@link provisionFromFiles}. */
export interface FileProvisioningOptions {
  /**
   * Deactivate entries whose file is gone. A process started without a folder
   * (`ASSAY_REFERENCE_VALUES_DIR` unset) does not manage files and passes false, so it never
   * deactivates what the processes with the folder loaded.
   * @defaultValue true
   */
  readonly deactivateRemoved?: boolean
}

/**
 * Writes `files` (validated, as `loadReferenceValueDir` read them) into `store`.
 * @throws VerifierError of the store (`ERR_STORE_UNAVAILABLE`…) or `ERR_ENDORSEMENT_*` for an entry
 *   beyond the store's caps
 */
export async function provisionFromFiles(store: EndorsementStore, files: readonly LoadedFile[], options: FileProvisioningOptions = {}): Promise<FileProvisioning> {
  const counts = { created: 0, replaced: 0, unchanged: 0, reactivated: 0, deactivated: 0 }
  const written = new Map<TenantId, Set<string>>([[DEFAULT_TENANT, new Set()]])
  for (const { file, document } of files) {
    const tenant = document.tenant
    const source = `file:${file}`
    let ids = written.get(tenant)
    if (ids === undefined) written.set(tenant, (ids = new Set()))
    for (const d of provisioningDocuments(document, [FROM_FILE_INDEX_ID])) {
      // The digest covers the file too, so an entry moved to another file records where it is now.
      const digest = createHash('sha256').update(canonicalJson({ kind: d.kind, body: d.body, indexIds: [...d.indexIds], source })).digest('hex')
      const result = await store.putIfChanged(tenant, d.id, { kind: d.kind, body: d.body, indexIds: d.indexIds, createdBy: FILE_LOADER, source, digest })
      counts[result.outcome]++
      if (result.outcome === 'unchanged' && !result.version.active && result.version.createdBy === FILE_LOADER) {
        await store.setActive(tenant, d.id, true, { createdBy: FILE_LOADER, source })
        counts.reactivated++
      }
      ids.add(d.id)
    }
  }
  if (options.deactivateRemoved === false) return counts
  for (const [tenant, ids] of written) {
    let cursor: string | undefined
    do {
      const page = await store.list(tenant, { indexId: FROM_FILE_INDEX_ID, limit: PAGE, ...(cursor === undefined ? {} : { cursor }) })
      for (const item of page.items) {
        if (ids.has(item.id) || !item.active || !item.source.startsWith('file:')) continue
        await store.setActive(tenant, item.id, false, { createdBy: FILE_LOADER, source: item.source })
        counts.deactivated++
      }
      cursor = page.cursor
    } while (cursor !== undefined)
  }
  return counts
}
