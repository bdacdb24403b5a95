/**
 * The format registry: which Evidence formats Assay accepts, under which media types, and how a
 * generic media type is narrowed down by sniffing. Media types are an allow-list: anything not
 * registered is refused with ERR_MEDIA_TYPE_UNSUPPORTED (HTTP 415, listing what is accepted).
 */
import { VerifierError } from '../errors/errors.js'
import { formatMediaType, parseMediaType, type MediaType } from './media-type.js'
import { sniffEnvelope, sniffProfile, type Envelope } from './sniff.js'

export type FormatId = 'psa' | 'eat-cwt' | 'eat-jwt' | 'eat-bundle-cbor' | 'eat-bundle-json'

export interface MediaTypeBinding {
  /** `type/subtype`, lower-case. */
  readonly essence: string
  /** The `eat_profile` parameter this binding requires, or undefined for none. */
  readonly profile?: string
  readonly format: FormatId
}

export interface ProfileBinding {
  /** An `eat_profile` claim value (or legacy PSA profile claim) this format implements. */
  readonly profile: string
  readonly format: FormatId
}

export interface FormatSelection {
  readonly format: FormatId
  /** The profile the media type named, which the token's own profile claim must then match. */
  readonly expectedProfile: string | undefined
  readonly mediaType: MediaType
  /** How the format was chosen: from the media type alone, or by sniffing a generic one. */
  readonly by: 'media-type' | 'sniffing'
}

const SNIFFABLE: ReadonlySet<Envelope> = new Set(['cose-sign1', 'cose-mac0', 'cose-untagged'])

export class FormatRegistry {
  private readonly bindings = new Map<string, MediaTypeBinding>()
  private readonly profiles = new Map<string, FormatId>()
  private readonly generic: ReadonlySet<string>

  constructor(options: {
    readonly mediaTypes: readonly MediaTypeBinding[]
    readonly profiles: readonly ProfileBinding[]
    /** Media types whose Evidence is sniffed to find the format (no `eat_profile` given). */
    readonly generic: readonly string[]
    /**
     * Format for a generic media type whose Evidence names no profile registered above: its own
     * format then decides (it may still refuse the profile). Without one, such Evidence is unrecognized.
     */
    readonly fallbacks?: Readonly<Record<string, FormatId>>
    /**
     * Format for a media type whose `eat_profile` parameter no binding above names: that format
     * resolves the profile when it appraises (an operator-defined profile, or ERR_PROFILE_UNKNOWN in
     * the result). Without one, such a media type is refused (415).
     */
    readonly profiled?: Readonly<Record<string, FormatId>>
  }) {
    for (const b of options.mediaTypes) this.bindings.set(bindingKey(b.essence, b.profile), b)
    for (const p of options.profiles) this.profiles.set(p.profile.toLowerCase(), p.format)
    this.generic = new Set(options.generic.map((g) => g.toLowerCase()))
    this.fallbacks = new Map(Object.entries(options.fallbacks ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
    this.profiled = new Map(Object.entries(options.profiled ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  }

  private readonly fallbacks: ReadonlyMap<string, FormatId>
  private readonly profiled: ReadonlyMap<string, FormatId>

  /** Media types to list in `Accept` on a 415, and in discovery documents. */
  accepted(): string[] {
    const out = [...this.bindings.values()].map((b) => formatMediaType(b.essence, b.profile))
    for (const g of this.generic) if (!this.bindings.has(bindingKey(g, undefined))) out.push(g)
    return out
  }

  /**
   * Chooses the format for Evidence sent as `contentType`. Throws ERR_MEDIA_TYPE_MALFORMED or
   * ERR_MEDIA_TYPE_UNSUPPORTED (request errors) or ERR_EVIDENCE_UNRECOGNIZED when a generic media
   * type carries bytes that are no format Assay implements (an Evidence error).
   */
  select(contentType: string, evidence: Uint8Array): FormatSelection {
    const mediaType = parseMediaType(contentType)
    const profile = mediaType.parameters.get('eat_profile')
    const bound = this.bindings.get(bindingKey(mediaType.essence, profile))
    if (bound !== undefined) return { format: bound.format, expectedProfile: profile, mediaType, by: 'media-type' }
    const profiled = profile === undefined ? undefined : this.profiled.get(mediaType.essence)
    if (profiled !== undefined) return { format: profiled, expectedProfile: profile, mediaType, by: 'media-type' }
    if (profile !== undefined || !this.generic.has(mediaType.essence)) {
      throw new VerifierError('ERR_MEDIA_TYPE_UNSUPPORTED', `${formatMediaType(mediaType.essence, profile)} is not accepted`)
    }
    const { envelope } = sniffEnvelope(evidence)
    const claimed = SNIFFABLE.has(envelope) ? sniffProfile(evidence) : undefined
    const format =
      (claimed === undefined ? undefined : this.profiles.get(claimed.toLowerCase())) ??
      (SNIFFABLE.has(envelope) ? this.fallbacks.get(mediaType.essence) : undefined)
    if (format === undefined) {
      throw new VerifierError(
        'ERR_EVIDENCE_UNRECOGNIZED',
        claimed === undefined ? `${envelope} envelope with no recognised profile` : `profile ${claimed} is not implemented`,
      )
    }
    return { format, expectedProfile: undefined, mediaType, by: 'sniffing' }
  }
}

function bindingKey(essence: string, profile: string | undefined): string {
  return `${essence.toLowerCase()}|${profile?.toLowerCase() ?? ''}`
}
