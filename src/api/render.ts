import type { JsonWebKey } from 'node:crypto'
import type { AppraisalRecord } from '../store/types.js'

export type EarNaming = 'ear-03' | 'veraison'
export type EarForm = 'jwt' | 'cwt'

/** What the API needs from the results layer: keys to publish and stored outcomes rendered. */
export interface ResultRenderer {
  /** Every public key that may still verify a live result. */
  jwks(): { readonly keys: readonly JsonWebKey[] }
  /** The key that signs new results (Veraison discovery publishes it). */
  currentPublicJwk(): JsonWebKey
  /** The EAR of a complete record, in the given form and naming (a JWS string, or CWT bytes). */
  render(record: AppraisalRecord, form: EarForm, naming: EarNaming): string | Uint8Array
  /** EAR claims of a complete record as JSON (draft-ietf-rats-ear-03 naming), for the JSON view. */
  claims(record: AppraisalRecord): Record<string, unknown>
  /** Media type of an EAR in this form and naming. */
  mediaType(form: EarForm, naming: EarNaming): string
}

/** `eat_profile` values of the two EAR namings. */
export const EAR_PROFILES: Readonly<Record<EarNaming, string>> = {
  'ear-03': 'tag:ietf.org,2026:rats/ear#03',
  veraison: 'tag:github.com,2023:veraison/ear',
}
