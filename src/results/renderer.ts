/**
 * Renders stored appraisal outcomes as EARs on demand: the worker signs the form and naming asked
 * for at submission; another form (CWT) or naming (Veraison's, or -03) is signed when asked for,
 * from the same stored outcome, so every rendering carries the same claims.
 */
import type { AppraisalRecord } from '../store/types.js'
import { earClaimsJson, NAMING_PROFILE, type EarNaming } from './ear.js'
import type { EarKeyManager, EarPublicJwk } from './keys.js'
import { earCwtMediaType, earJwtMediaType, signEarCwt, signEarJwt } from './sign.js'
import { loadOutcome, type StoredOutcome } from './stored.js'

export type EarForm = 'jwt' | 'cwt'

/** The stored outcome of a complete record, with the naming its stored EAR was signed in. */
export type StoredRecordOutcome = StoredOutcome & { readonly naming: EarNaming }

/** What the API needs from the results layer: keys to publish and stored outcomes rendered. */
export interface ResultRenderer {
  /** Every public key that may still verify a live result. */
  jwks(): { readonly keys: readonly EarPublicJwk[] }
  /** The key that signs new results (Veraison discovery publishes it). */
  currentPublicJwk(): EarPublicJwk
  /** The EAR of a complete record, in the given form and naming (a JWS string, or CWT bytes). */
  render(record: AppraisalRecord, form: EarForm, naming: EarNaming): string | Uint8Array
  /** EAR claims of a complete record in draft-ietf-rats-ear-03 naming, for the JSON view. */
  claims(record: AppraisalRecord): Record<string, unknown>
  /** Media type of an EAR in this form and naming. */
  mediaType(form: EarForm, naming: EarNaming): string
}

function storedOutcome(record: AppraisalRecord): StoredRecordOutcome {
  if (record.status !== 'complete' || record.outcome === undefined) throw new TypeError(`appraisal ${record.id} is not complete`)
  return record.outcome as StoredRecordOutcome
}

export function createRenderer(keys: EarKeyManager): ResultRenderer {
  return {
    jwks: () => keys.jwks(),
    currentPublicJwk: () => keys.jwks().keys.find((k) => k.kid === keys.current.kid)!,
    render(record, form, naming) {
      const stored = storedOutcome(record)
      if (form === 'jwt' && naming === stored.naming && record.ear !== undefined) return record.ear
      const outcome = loadOutcome(stored)
      return form === 'jwt' ? signEarJwt(outcome, keys.current, naming).token : signEarCwt(outcome, keys.current).token
    },
    claims: (record) => earClaimsJson(loadOutcome(storedOutcome(record)), 'ear-03'),
    mediaType: (form, naming) =>
      form === 'jwt' ? earJwtMediaType(NAMING_PROFILE[naming]) : earCwtMediaType(NAMING_PROFILE['ear-03']),
  }
}
