/**
 * CoRIM / CoMID intake (draft-ietf-rats-corim): decoding, signature and validity checks, profiles,
 * and the mapping onto Assay's endorsements. Pure functions: no I/O, no store.
 */
export { decodeComid, type CorimExtensions, type ComidDecodeOptions } from './comid.js'
export {
  checkValidity,
  decodeSignedCorim,
  decodeUnsignedCorim,
  processCorim,
  type CorimDecodeOptions,
  type CorimProcessOptions,
  type CorimTrust,
  type DecodedCorim,
} from './corim.js'
export * from './map.js'
export { CorimProfileRegistry, type CorimProfile } from './profile.js'
export { builtInProfiles, BUILT_IN_PROFILES } from './profiles/index.js'
export { EAT_CLASS_PROFILE, eatClassProfile } from './profiles/eat-class.js'
export { PSA_ENDORSEMENT_PROFILE, PSA_ENDORSEMENT_PROFILE_LEGACY, psaEndorsementProfile } from './profiles/psa.js'
export type { ExtensionDefinition } from './read.js'
export type * from './types.js'
