/** The CoRIM profiles Assay ships, one file each; a caller may register more on the registry it gets. */
import { CorimProfileRegistry, type CorimProfile } from '../profile.js'
import { eatClassProfile } from './eat-class.js'
import { psaEndorsementProfile } from './psa.js'

export const BUILT_IN_PROFILES: readonly CorimProfile[] = [psaEndorsementProfile, eatClassProfile]

/** A fresh registry holding the built-in profiles. */
export function builtInProfiles(): CorimProfileRegistry {
  return new CorimProfileRegistry(BUILT_IN_PROFILES)
}
