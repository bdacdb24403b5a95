/**
 * CoRIM profiles as registrations. A profile names itself by URI or OID (several ids when older
 * names are still sent), may define private-use extension keys, may add rules (`validate`) and
 * may say how its triples become Assay endorsements (`map`). draft-ietf-rats-corim: a CoRIM whose
 * profile the processor does not know is rejected whole; so the registry is the one place that
 * decides which profiles exist, and a caller adds its own with `register`.
 */
import { VerifierError } from '../errors/errors.js'
import type { CorimExtensions } from './comid.js'
import type { MappedEndorsements } from './map.js'
import type { Corim, CorimProfileId, MeasurementValues } from './types.js'

export interface CorimProfile {
  /** The ids CoRIMs use to declare this profile; the first is its current name. */
  readonly ids: readonly CorimProfileId[]
  /** A short name for messages. */
  readonly name: string
  /** Private-use keys this profile defines. Without one, a negative key is refused. */
  readonly extensions?: CorimExtensions
  /** The profile's own rules, after decoding. Throws ERR_CORIM_PROFILE_VIOLATION naming the rule. */
  readonly validate?: (corim: Corim) => void
  /**
   * Maps the CoRIM's triples onto Assay endorsements. Without it, the generic mapping applies
   * (`mapGeneric`): reference triples are kept as CoRIM reference values, key triples refused.
   */
  readonly map?: (corim: Corim) => MappedEndorsements
}

const idKey = (id: CorimProfileId) => `${id.type}:${id.value}`

export class CorimProfileRegistry {
  private readonly byId = new Map<string, CorimProfile>()

  constructor(profiles: readonly CorimProfile[] = []) {
    for (const p of profiles) this.register(p)
  }

  /** Adds a profile; an id that is taken already is a programming error. */
  register(profile: CorimProfile): this {
    for (const id of profile.ids) {
      if (this.byId.has(idKey(id))) throw new TypeError(`CoRIM profile ${id.value} is registered twice`)
    }
    for (const id of profile.ids) this.byId.set(idKey(id), profile)
    return this
  }

  get(id: CorimProfileId): CorimProfile | undefined {
    return this.byId.get(idKey(id))
  }

  /** The profile a CoRIM declares; throws ERR_CORIM_PROFILE_UNKNOWN when it is not registered. */
  resolve(id: CorimProfileId): CorimProfile {
    const profile = this.get(id)
    if (profile === undefined) {
      throw new VerifierError('ERR_CORIM_PROFILE_UNKNOWN', `corim-map{3}: profile ${id.value} is not known to this verifier`, {
        path: 'corim-map{3}',
      })
    }
    return profile
  }

  /** Every registered profile id (a URI, or an OID in dotted form), in registration order. */
  ids(): string[] {
    return [...this.byId.keys()].map((k) => k.slice(k.indexOf(':') + 1))
  }

  get size(): number {
    return new Set(this.byId.values()).size
  }
}

/** Throws ERR_CORIM_PROFILE_VIOLATION with the profile's name and the path of the offending field. */
export function violation(profile: string, path: string, message: string): never {
  throw new VerifierError('ERR_CORIM_PROFILE_VIOLATION', `${profile}: ${path}: ${message}`, { path })
}

/**
 * The names (as the CoRIM draft spells them) of the measurement-values entries present in `v`, in
 * the order of their keys, so that a profile can refuse the ones it does not use by name.
 */
export function mvalEntriesPresent(v: MeasurementValues): string[] {
  const entries: readonly (readonly [string, unknown])[] = [
    ['version', v.version],
    ['svn', v.svn],
    ['digests', v.digests],
    ['flags', v.flags],
    ['raw-value', v.rawValue],
    ['mac-addr', v.macAddr],
    ['ip-addr', v.ipAddr],
    ['serial-number', v.serialNumber],
    ['ueid', v.ueid],
    ['uuid', v.uuid],
    ['name', v.name],
    ['cryptokeys', v.cryptokeys],
    ['integrity-registers', v.integrityRegisters],
  ]
  return entries.filter(([, value]) => value !== undefined).map(([name]) => name)
}
