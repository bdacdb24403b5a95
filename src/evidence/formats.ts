/**
 * The formats this build of Assay implements, wired into one registry. A format appears here
 * only when its verifier exists; an unlisted media type is refused (415), never guessed at.
 */
import {
  PSA_PROFILE_2_0_0,
  PSA_PROFILE_LEGACY,
  PSA_PROFILE_LEGACY_URI,
  PSA_PROFILE_TFM,
  PSA_MEDIA_TYPE_VERAISON,
} from './psa/descriptor.js'
import { EAT_PROFILE_RFC9711 } from './eat/descriptor.js'
import { FormatRegistry } from './registry.js'

const EAT_CWT = 'application/eat+cwt'

export function createDefaultRegistry(): FormatRegistry {
  return new FormatRegistry({
    mediaTypes: [
      { essence: EAT_CWT, profile: EAT_PROFILE_RFC9711, format: 'eat-cwt' },
      { essence: 'application/eat+jwt', format: 'eat-jwt' },
      { essence: 'application/eat-bun+cbor', format: 'eat-bundle-cbor' },
      { essence: 'application/eat-bun+json', format: 'eat-bundle-json' },
      { essence: EAT_CWT, profile: PSA_PROFILE_TFM, format: 'psa' },
      { essence: EAT_CWT, profile: PSA_PROFILE_LEGACY_URI, format: 'psa' },
      { essence: PSA_MEDIA_TYPE_VERAISON, format: 'psa' },
    ],
    profiles: [
      { profile: PSA_PROFILE_TFM, format: 'psa' },
      { profile: PSA_PROFILE_LEGACY, format: 'psa' },
      { profile: PSA_PROFILE_2_0_0, format: 'psa' },
      { profile: EAT_PROFILE_RFC9711, format: 'eat-cwt' },
    ],
    generic: [EAT_CWT, 'application/cwt', 'application/cose', 'application/cbor'],
    // A CWT that names no PSA profile is generic EAT, appraised under its own profile or the default.
    fallbacks: { [EAT_CWT]: 'eat-cwt', 'application/cwt': 'eat-cwt' },
    // Any other eat_profile of an EAT media type is for the EAT appraisal to resolve: an operator's
    // profile (issue 9), or contraindicated with ERR_PROFILE_UNKNOWN.
    profiled: {
      [EAT_CWT]: 'eat-cwt',
      'application/eat+jwt': 'eat-jwt',
      'application/eat-bun+cbor': 'eat-bundle-cbor',
      'application/eat-bun+json': 'eat-bundle-json',
    },
  })
}
