/**
 * EAT profiles (RFC 9711 §6): what a profile fixes, as data. A profile declares its encodings and
 * envelopes, the algorithms a receiver accepts, where the verification key comes from, which claims
 * are mandatory, the freshness mode and what a debug-enabled device means. Evidence is appraised
 * under exactly one profile: the one its `eat_profile` claim names (which must agree with the media
 * type's `eat_profile` parameter), or the operator's default for tokens that name none.
 */
import { ALG } from '../../cose/algorithms.js'
import { VerifierError } from '../../errors/errors.js'
import type { ClaimField } from './descriptor.js'
import { EAT_PROFILE_RFC9711 } from './descriptor.js'

export type KeySource = 'kid' | 'ueid' | 'x5chain' | 'x5t'
export type Envelope = 'cwt' | 'jwt' | 'cbor-bundle' | 'json-bundle'

export interface EatProfile {
  /** The `eat_profile` value, or `''` for the default applied to tokens that name no profile. */
  readonly id: string
  readonly envelopes: ReadonlySet<Envelope>
  /** COSE algorithm ids accepted in CWTs. */
  readonly coseAlgorithms: ReadonlySet<number>
  /** JOSE `alg` names accepted in JWTs. */
  readonly joseAlgorithms: ReadonlySet<string>
  /** Where the key may come from, in order of preference (RFC 9711 Appendix F). */
  readonly keySources: readonly KeySource[]
  readonly mandatoryClaims: readonly ClaimField[]
  /** 'nonce': a verifier-issued nonce is required; 'time': iat within the window; 'either'. */
  readonly freshness: 'nonce' | 'time' | 'either'
  /** Largest accepted age of `iat` under time-based freshness. */
  readonly maxAgeSeconds: number
  /** Indefinite-length CBOR items allowed. */
  readonly allowIndefinite: boolean
  /** What `dbgstat: enabled` does to the configuration claim. */
  readonly debugEnabled: 'warning' | 'contraindicated'
  /** Whether the RFC 9711 rules between claims (hwmodel needs oemid, …) are enforced. */
  readonly claimDependencies: boolean
  /**
   * Which reference values apply: `eat-class` compares hardware and software with those of the
   * claimed (oemid, hwmodel); `none` appraises the attester's identity only (hardware and
   * executables are then not asserted, nor required). @defaultValue 'eat-class'
   */
  readonly referenceValues?: 'eat-class' | 'none'
  /** An operator provisioned this profile (`profile-document.ts`); built-ins leave it unset. */
  readonly operatorDefined?: boolean
}

/** Finds an operator-defined profile by its id (case-insensitive); undefined when there is none. */
export type OperatorProfileLookup = (id: string) => EatProfile | undefined

const ECDSA = [ALG.ES256, ALG.ES384, ALG.ES512, ALG.ESP256, ALG.ESP384, ALG.ESP512]

/**
 * The Constrained Device Standard Profile (RFC 9711 §6.3): CBOR only, definite lengths, COSE_Sign1
 * only, receivers accept ES256/ES384/ES512, no detached bundles, key by `kid` or UEID (kid first),
 * a fresh nonce per request.
 */
export const RFC9711_CONSTRAINED: EatProfile = Object.freeze<EatProfile>({
  id: EAT_PROFILE_RFC9711,
  envelopes: new Set<Envelope>(['cwt']),
  coseAlgorithms: new Set<number>(ECDSA),
  joseAlgorithms: new Set<string>(),
  keySources: ['kid', 'ueid'],
  mandatoryClaims: ['nonces'],
  freshness: 'nonce',
  maxAgeSeconds: 300,
  allowIndefinite: false,
  debugEnabled: 'contraindicated',
  claimDependencies: true,
})

/**
 * Assay's default for EAT that names no profile: CBOR or JSON, signatures only (no MACs), key from
 * a provisioned `kid`, a certificate chain to a provisioned anchor, or the UEID; a verifier nonce
 * or, failing that, an `iat` at most five minutes old.
 */
export const DEFAULT_PROFILE: EatProfile = Object.freeze<EatProfile>({
  id: '',
  envelopes: new Set<Envelope>(['cwt', 'jwt', 'cbor-bundle', 'json-bundle']),
  coseAlgorithms: new Set<number>([...ECDSA, ALG.EdDSA, ALG.Ed25519, ALG.Ed448, ALG.PS256, ALG.PS384, ALG.PS512]),
  joseAlgorithms: new Set(['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512']),
  keySources: ['x5chain', 'x5t', 'kid', 'ueid'],
  mandatoryClaims: [],
  freshness: 'either',
  maxAgeSeconds: 300,
  allowIndefinite: false,
  debugEnabled: 'warning',
  claimDependencies: false,
})

export class ProfileRegistry {
  private readonly byId = new Map<string, EatProfile>()

  constructor(profiles: readonly EatProfile[], private readonly fallback: EatProfile | undefined = DEFAULT_PROFILE) {
    for (const p of profiles) this.byId.set(p.id.toLowerCase(), p)
  }

  /**
   * The profile for a token: `claimed` is its `eat_profile` claim, `fromMediaType` the media type's
   * `eat_profile` parameter. They must agree when both are present (RFC 9782 §3); an unknown
   * profile is refused, never appraised under another one's rules. Built-in profiles come first;
   * `operator` is asked only for an id no built-in has (operators cannot redefine built-ins).
   */
  resolve(claimed: string | undefined, fromMediaType: string | undefined, operator?: OperatorProfileLookup): EatProfile {
    if (claimed !== undefined && fromMediaType !== undefined && claimed.toLowerCase() !== fromMediaType.toLowerCase()) {
      throw new VerifierError('ERR_PROFILE_MISMATCH', `token profile ${claimed} disagrees with the media type's ${fromMediaType}`)
    }
    const id = claimed ?? fromMediaType
    if (id === undefined) {
      if (this.fallback === undefined) throw new VerifierError('ERR_PROFILE_UNKNOWN', 'the token names no eat_profile')
      return this.fallback
    }
    const profile = this.byId.get(id.toLowerCase()) ?? operator?.(id)
    if (profile === undefined) throw new VerifierError('ERR_PROFILE_UNKNOWN', `${id.slice(0, 100)} is not a profile this verifier implements`)
    return profile
  }

  ids(): string[] {
    return [...this.byId.values()].map((p) => p.id)
  }
}

export function createDefaultProfiles(): ProfileRegistry {
  return new ProfileRegistry([RFC9711_CONSTRAINED])
}
