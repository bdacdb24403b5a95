/**
 * PSA attestation token claims (RFC 9783 §4): profile detection, decoding and the profile rules.
 *
 * Decoding runs in three passes over a claims-set the caller has already authenticated:
 * 1. the profile is read from `eat_profile` (265) or the legacy profile claim (-75000);
 * 2. that profile's integer keys are mapped to names and the result is checked against a zod schema
 *    built once at module load (types, sizes, ranges, patterns, software components);
 * 3. the rules no schema expresses are enforced: lifecycle ranges, legacy no-software-measurements.
 *
 * Unknown claim keys are ignored (an EAT rule, RFC 9711; restated by RFC 9783 §5.1). Error messages
 * name the claim and its key, e.g. `psa-client-id (2394): 0 is not allowed`, and never echo long input.
 */
import { z } from 'zod'
import { CborFloat, CborTag, type CborMap, type CborValue } from '../../cose/cbor.js'
import { VerifierError } from '../../errors/errors.js'
import {
  PSA_2_0_0_CLAIM_KEYS,
  PSA_CLAIM_NAMES,
  PSA_LEGACY_CLAIM_KEYS,
  PSA_LIFECYCLE_RANGES,
  PSA_PROFILE_2_0_0,
  PSA_PROFILE_LEGACY,
  PSA_PROFILE_TFM,
  PSA_SW_COMPONENT_KEYS,
  PSA_SW_COMPONENT_NAMES,
  PSA_TFM_CLAIM_KEYS,
} from './descriptor.js'

/**
 * The PSA claim layouts Assay implements: the RFC 9783 TF-M profile, the legacy `PSA_IOT_PROFILE_1`
 * (RFC 9783 §4.6) and TF-M's interim `http://arm.com/psa/2.0.0`.
 */
export type PsaProfile = 'tfm' | 'legacy' | 'psa-2.0.0'

/** Major security lifecycle state (RFC 9783 §4.3.1). */
export type PsaLifecycleState = (typeof PSA_LIFECYCLE_RANGES)[number]['state']

/** One entry of the Software Components claim (RFC 9783 §4.4.1). */
export interface PsaSoftwareComponent {
  /** Role of the component, e.g. `"PRoT"` or `"BL"` (§4.4.1.1; SHOULD be present). */
  readonly measurementType?: string
  /** Hash of the component at startup: 32, 48 or 64 bytes (§4.4.1.2). */
  readonly measurementValue: Uint8Array
  /** Issued version from the signed manifest (§4.4.1.3). */
  readonly version?: string
  /** Identifies the signer, typically a hash of its public key: 32, 48 or 64 bytes (§4.4.1.4). */
  readonly signerId: Uint8Array
  /** Hash algorithm name of the measurement value (§4.4.1.5). */
  readonly measurementDescription?: string
}

/** The claims of a PSA token after validation, independent of the profile's key layout. */
export interface PsaClaims {
  readonly profile: PsaProfile
  /** The profile identifier exactly as the token carries it (`PSA_IOT_PROFILE_1` for legacy). */
  readonly profileUri: string
  /** Freshness challenge: 32, 48 or 64 bytes (§4.1.1). */
  readonly nonce: Uint8Array
  /** UEID of type RAND: 0x01 followed by the 32-byte IAK identifier (§4.2.1). */
  readonly instanceId: Uint8Array
  /** Identifies the immutable PSA RoT implementation: 32 bytes (§4.2.2). */
  readonly implementationId: Uint8Array
  /** Security domain of the caller: negative NSPE, positive SPE, never 0 (§4.1.2). */
  readonly clientId: number
  /** Raw lifecycle value: major state in bits 15:8, implementation-defined minor in 7:0 (§4.3.1). */
  readonly securityLifecycle: number
  readonly lifecycleState: PsaLifecycleState
  /** Per-boot public value (§4.3.2): 8..32 bytes; 32 bytes and mandatory in legacy tokens. */
  readonly bootSeed?: Uint8Array
  /** PSA Certified reference, EAN-13 + "-" + 5 digits (§4.2.3); legacy may carry EAN-13 alone. */
  readonly certificationReference?: string
  /** Empty only for a legacy token that sets `noSoftwareMeasurements`. */
  readonly softwareComponents: readonly PsaSoftwareComponent[]
  /** Legacy only: the token declares it carries no software measurements (-75007 = 1). */
  readonly noSoftwareMeasurements?: boolean
  /** Where to verify the token (§4.5.1). An attacker-controlled hint: never dereference it blindly. */
  readonly verificationServiceIndicator?: string
}

type ClaimName = keyof typeof PSA_CLAIM_NAMES
type ComponentName = keyof typeof PSA_SW_COMPONENT_KEYS
type Writable<T> = { -readonly [K in keyof T]: T[K] }

/** What the zod schemas produce; the TF-M and legacy schemas both fit it. */
interface ParsedClaims {
  readonly nonce: Uint8Array
  readonly instanceId: Uint8Array
  readonly implementationId: Uint8Array
  readonly clientId: number
  readonly securityLifecycle: number | bigint
  readonly bootSeed?: Uint8Array | undefined
  readonly certificationReference?: string | undefined
  readonly softwareComponents?: PsaSoftwareComponent[] | undefined
  readonly noSoftwareMeasurements?: 1 | undefined
  readonly verificationServiceIndicator?: string | undefined
}

// ---------------------------------------------------------------------------------------------
// Schemas (built once, at module load)

const HASH_SIZES: ReadonlySet<number> = new Set([32, 48, 64])
const IMPLEMENTATION_ID_BYTES = 32
const INSTANCE_ID_BYTES = 33
const UEID_TYPE_RAND = 0x01
const TFM_BOOT_SEED_MIN_BYTES = 8
const TFM_BOOT_SEED_MAX_BYTES = 32
const LEGACY_BOOT_SEED_BYTES = 32
const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
/** EAN-13 + "-" + 5-digit version (RFC 9783 §4.2.3). */
const CERT_REF_EAN13_5 = /^[0-9]{13}-[0-9]{5}$/
/** PSA Attestation API 1.0 hardware version: EAN-13 only. */
const CERT_REF_EAN13 = /^[0-9]{13}$/

/** A short description of a decoded CBOR value's type, for messages (never the value itself). */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return 'a byte string'
  if (typeof value === 'string') return 'a text string'
  if (typeof value === 'number' || typeof value === 'bigint') {
    return value < 0 ? 'a negative integer' : 'an integer'
  }
  if (typeof value === 'boolean') return 'a boolean'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof CborFloat) return 'a float'
  if (value instanceof CborTag) return `tag ${value.tag}`
  return 'a map'
}

const bytes = () =>
  z.instanceof(Uint8Array, {
    error: (iss) =>
      iss.input === undefined ? 'missing' : `expected a byte string, got ${describe(iss.input)}`,
  })

const sizeOf = (input: unknown) => (input as Uint8Array).length

const hash = (base = bytes()) =>
  base.refine((b) => HASH_SIZES.has(b.length), {
    error: (iss) => `expected 32, 48 or 64 bytes, got ${sizeOf(iss.input)}`,
  })

const text = z.string({
  error: (iss) =>
    iss.input === undefined ? 'missing' : `expected a text string, got ${describe(iss.input)}`,
})

const nonceSchema = hash(
  z.instanceof(Uint8Array, {
    error: (iss) =>
      Array.isArray(iss.input)
        ? 'must be a single byte string; PSA does not allow the array form (RFC 9783 §4.1.1)'
        : `expected a byte string, got ${describe(iss.input)}`,
  }),
)

const instanceIdSchema = bytes()
  .refine((b) => b.length === INSTANCE_ID_BYTES, {
    error: (iss) => `expected ${INSTANCE_ID_BYTES} bytes, got ${sizeOf(iss.input)}`,
    abort: true,
  })
  .refine((b) => b[0] === UEID_TYPE_RAND, {
    error: (iss) => `first byte must be 0x01 (RAND), got ${hexByte((iss.input as Uint8Array)[0]!)}`,
  })

const implementationIdSchema = bytes().refine((b) => b.length === IMPLEMENTATION_ID_BYTES, {
  error: (iss) => `expected ${IMPLEMENTATION_ID_BYTES} bytes, got ${sizeOf(iss.input)}`,
})

const clientIdSchema = z
  .number({
    error: (iss) =>
      typeof iss.input === 'bigint'
        ? `${String(iss.input)} is outside the int32 range`
        : `expected an integer, got ${describe(iss.input)}`,
  })
  .refine((v) => Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX, {
    error: (iss) => `${String(iss.input)} is outside the int32 range`,
    abort: true,
  })
  .refine((v) => v !== 0, { error: '0 is not allowed' })

/** Type only; the ranges are checked after the schema so they can carry their own error code. */
const lifecycleSchema = z.custom<number | bigint>(
  (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n),
  { error: (iss) => `expected an unsigned integer, got ${describe(iss.input)}` },
)

const tfmBootSeedSchema = bytes().refine(
  (b) => b.length >= TFM_BOOT_SEED_MIN_BYTES && b.length <= TFM_BOOT_SEED_MAX_BYTES,
  { error: (iss) => `expected 8 to 32 bytes, got ${sizeOf(iss.input)}` },
)

const legacyBootSeedSchema = bytes().refine((b) => b.length === LEGACY_BOOT_SEED_BYTES, {
  error: (iss) => `expected ${LEGACY_BOOT_SEED_BYTES} bytes, got ${sizeOf(iss.input)}`,
})

const certRefSchema = text.regex(CERT_REF_EAN13_5, { error: 'must match [0-9]{13}-[0-9]{5}' })

const legacyCertRefSchema = text.refine((s) => CERT_REF_EAN13.test(s) || CERT_REF_EAN13_5.test(s), {
  error: 'must match [0-9]{13} or [0-9]{13}-[0-9]{5}',
})

/** `namedComponent` turns each component map into a plain object; anything else stays as it was. */
const isNamedComponent = (v: unknown) =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype

const componentSchema = z
  .custom<Record<string, unknown>>(isNamedComponent, {
    error: (iss) => `expected a map, got ${describe(iss.input)}`,
  })
  .pipe(
    z.object({
      measurementType: text.optional(),
      measurementValue: hash(),
      version: text.optional(),
      signerId: hash(),
      measurementDescription: text.optional(),
    }),
  )

const componentsSchema = z
  .array(componentSchema, { error: (iss) => `expected an array, got ${describe(iss.input)}` })
  .min(1, { error: 'must hold at least one software component' })

const commonShape = {
  nonce: nonceSchema,
  instanceId: instanceIdSchema,
  implementationId: implementationIdSchema,
  clientId: clientIdSchema,
  securityLifecycle: lifecycleSchema,
}

/** RFC 9783 TF-M profile and the interim 2.0.0 profile (same rules, boot seed key aside). */
const TFM_SCHEMA: z.ZodType<ParsedClaims> = z.object({
  ...commonShape,
  bootSeed: tfmBootSeedSchema.optional(),
  certificationReference: certRefSchema.optional(),
  softwareComponents: componentsSchema,
  verificationServiceIndicator: text.optional(),
})

/** PSA Attestation API 1.0 (`PSA_IOT_PROFILE_1`); components are checked against -75007 afterwards. */
const LEGACY_SCHEMA: z.ZodType<ParsedClaims> = z.object({
  ...commonShape,
  bootSeed: legacyBootSeedSchema,
  certificationReference: legacyCertRefSchema.optional(),
  softwareComponents: componentsSchema.optional(),
  noSoftwareMeasurements: z.literal(1, { error: 'must be 1' }).optional(),
  verificationServiceIndicator: text.optional(),
})

interface ProfileRules {
  readonly profileUri: string
  readonly keys: Readonly<Partial<Record<ClaimName, number>>>
  /** `keys` as pairs, without the profile claim (already checked by `detectPsaProfile`). */
  readonly entries: readonly (readonly [ClaimName, number])[]
  readonly schema: z.ZodType<ParsedClaims>
}

function profileRules(
  profileUri: string,
  keys: ProfileRules['keys'],
  schema: z.ZodType<ParsedClaims>,
): ProfileRules {
  const entries = (Object.entries(keys) as [ClaimName, number][]).filter(([name]) => name !== 'profile')
  return Object.freeze({ profileUri, keys, entries: Object.freeze(entries), schema })
}

const PROFILES: Readonly<Record<PsaProfile, ProfileRules>> = Object.freeze({
  tfm: profileRules(PSA_PROFILE_TFM, PSA_TFM_CLAIM_KEYS, TFM_SCHEMA),
  legacy: profileRules(PSA_PROFILE_LEGACY, PSA_LEGACY_CLAIM_KEYS, LEGACY_SCHEMA),
  'psa-2.0.0': profileRules(PSA_PROFILE_2_0_0, PSA_2_0_0_CLAIM_KEYS, TFM_SCHEMA),
})

const COMPONENT_ENTRIES = Object.entries(PSA_SW_COMPONENT_KEYS) as [ComponentName, number][]

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Reads which PSA profile a claims-set claims to follow: `eat_profile` (265) when present
 * (RFC 9783 §4.5.2), otherwise the legacy profile claim (-75000, RFC 9783 §4.6). Derived profiles
 * (`tag:psacertified.org,2023:psa#…` other than `#tfm`), the OID form and anything else are not
 * implemented: `ERR_PROFILE_UNKNOWN`.
 */
export function detectPsaProfile(payload: CborMap): PsaProfile {
  const uri = payload.get(PSA_TFM_CLAIM_KEYS.profile)
  if (uri !== undefined) {
    if (uri === PSA_PROFILE_TFM) return 'tfm'
    if (uri === PSA_PROFILE_2_0_0) return 'psa-2.0.0'
    throw unknownProfile(PSA_TFM_CLAIM_KEYS.profile, uri)
  }
  const legacy = payload.get(PSA_LEGACY_CLAIM_KEYS.profile)
  if (legacy === PSA_PROFILE_LEGACY) return 'legacy'
  if (legacy !== undefined) throw unknownProfile(PSA_LEGACY_CLAIM_KEYS.profile, legacy)
  throw new VerifierError(
    'ERR_PROFILE_UNKNOWN',
    `psa-profile: neither eat_profile (${PSA_TFM_CLAIM_KEYS.profile}) nor the legacy profile claim ` +
      `(${PSA_LEGACY_CLAIM_KEYS.profile}) is present`,
  )
}

/**
 * Validates a PSA claims-set and returns its claims in profile-independent form.
 *
 * Call it only on a payload whose signature or MAC has been verified. `expectedProfile` is the profile
 * the media type announced, if any; a token claiming another one is `ERR_PROFILE_MISMATCH`.
 * Errors: `ERR_PROFILE_UNKNOWN`, `ERR_PROFILE_MISMATCH`, `ERR_PROFILE_CLAIM_MISSING` (a mandatory
 * claim is absent), `ERR_PROFILE_CLAIM_INVALID` (type, size, range or pattern), and
 * `ERR_PSA_LIFECYCLE_INVALID` (lifecycle unknown or outside every range, RFC 9783 §4.3.1).
 */
export function decodePsaClaims(payload: CborMap, expectedProfile?: PsaProfile): PsaClaims {
  const profile = detectPsaProfile(payload)
  const rules = PROFILES[profile]
  if (expectedProfile !== undefined && expectedProfile !== profile) {
    throw new VerifierError(
      'ERR_PROFILE_MISMATCH',
      `psa-profile (${rules.keys.profile!}): the token claims ${rules.profileUri}, ` +
        `but ${PROFILES[expectedProfile].profileUri} was expected`,
    )
  }

  const named = namedClaims(payload, rules)
  const result = rules.schema.safeParse(named)
  if (!result.success) throw claimError(rules, named, result.error.issues[0])
  const c = result.data

  const lifecycle = c.securityLifecycle
  const state = typeof lifecycle === 'number' ? lifecycleState(lifecycle) : undefined
  if (typeof lifecycle !== 'number' || state === undefined || state === 'unknown') {
    throw lifecycleError(rules, lifecycle, state)
  }

  let components = c.softwareComponents
  if (profile === 'legacy') {
    const none = c.noSoftwareMeasurements !== undefined
    if (none && components !== undefined) {
      throw new VerifierError(
        'ERR_PROFILE_CLAIM_INVALID',
        `${label(rules, 'noSoftwareMeasurements')}: must not be present together with ` +
          label(rules, 'softwareComponents'),
        { path: keyPath(rules, 'noSoftwareMeasurements') },
      )
    }
    if (!none && components === undefined) {
      throw new VerifierError(
        'ERR_PROFILE_CLAIM_MISSING',
        `${label(rules, 'softwareComponents')}: mandatory claim is missing and ` +
          `${label(rules, 'noSoftwareMeasurements')} is not set`,
        { path: keyPath(rules, 'softwareComponents') },
      )
    }
    components ??= []
  }

  const claims: Writable<PsaClaims> = {
    profile,
    profileUri: rules.profileUri,
    nonce: c.nonce,
    instanceId: c.instanceId,
    implementationId: c.implementationId,
    clientId: c.clientId,
    securityLifecycle: lifecycle,
    lifecycleState: state,
    softwareComponents: components ?? [],
  }
  if (c.bootSeed !== undefined) claims.bootSeed = c.bootSeed
  if (c.certificationReference !== undefined) claims.certificationReference = c.certificationReference
  if (c.noSoftwareMeasurements !== undefined) claims.noSoftwareMeasurements = true
  if (c.verificationServiceIndicator !== undefined) {
    claims.verificationServiceIndicator = c.verificationServiceIndicator
  }
  return claims
}

/**
 * Returns the Instance ID bytes (ueid 256, or -75009 in a legacy token) for key lookup, or
 * `undefined` when absent or not a byte string.
 *
 * UNTRUSTED: this runs before the signature is checked, on attacker-controlled input, and does no
 * validation at all. Use the result only to select a candidate key from the trust store (RFC 9711
 * Appendix F, RFC 9783 §5.2), never as an identity. The key it picks is trusted by
 * configuration, not because the token named it. It reads the same key `decodePsaClaims` will, so
 * after verification `claims.instanceId` holds these same bytes.
 */
export function readInstanceIdHint(payload: CborMap): Uint8Array | undefined {
  const legacy = !payload.has(PSA_TFM_CLAIM_KEYS.profile) && payload.has(PSA_LEGACY_CLAIM_KEYS.profile)
  const value = payload.get(legacy ? PSA_LEGACY_CLAIM_KEYS.instanceId : PSA_TFM_CLAIM_KEYS.instanceId)
  return value instanceof Uint8Array ? value : undefined
}

/**
 * Maps a security lifecycle value to its major state (RFC 9783 §4.3.1), or `undefined` when it lies
 * outside every defined range. `unknown` (0x0000–0x00FF) is a state that must not occur.
 */
export function lifecycleState(value: number): PsaLifecycleState | undefined {
  if (!Number.isInteger(value)) return undefined
  for (const range of PSA_LIFECYCLE_RANGES) {
    if (value >= range.min && value <= range.max) return range.state
  }
  return undefined
}

/**
 * Whether reports from a PSA RoT in this lifecycle can be trusted: only SECURED (0x3000–0x30FF)
 * and NON_PSA_ROT_DEBUG (0x4000–0x40FF) qualify (RFC 9783 §4.3.1).
 */
export function isTrustworthyLifecycle(value: number | PsaLifecycleState): boolean {
  const state = typeof value === 'number' ? lifecycleState(value) : value
  return state === 'secured' || state === 'non-psa-rot-debug'
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The profile's claims under their names; software component maps are mapped the same way. */
function namedClaims(payload: CborMap, rules: ProfileRules): Record<string, unknown> {
  const named: Record<string, unknown> = {}
  for (const [name, key] of rules.entries) {
    const value = payload.get(key)
    if (value === undefined) continue
    named[name] = name === 'softwareComponents' && Array.isArray(value) ? value.map(namedComponent) : value
  }
  return named
}

function namedComponent(value: CborValue): unknown {
  if (!(value instanceof Map)) return value
  const named: Record<string, unknown> = {}
  for (const [name, key] of COMPONENT_ENTRIES) {
    const v = value.get(key)
    if (v !== undefined) named[name] = v
  }
  return named
}

function label(rules: ProfileRules, name: ClaimName): string {
  return `${PSA_CLAIM_NAMES[name]} (${rules.keys[name]!})`
}

/** Path in the claims-set, in the CBOR decoder's notation: `{key}` for a map key, `[i]` for an index. */
function keyPath(rules: ProfileRules, name: ClaimName): string {
  return '$' + `{${rules.keys[name]!}}`
}

type Issue = z.ZodError['issues'][number]

function claimError(
  rules: ProfileRules,
  named: Record<string, unknown>,
  issue: Issue | undefined,
): VerifierError {
  const [head, ...rest] = issue?.path ?? []
  if (typeof head !== 'string' || !(head in PSA_CLAIM_NAMES) || rules.keys[head as ClaimName] === undefined) {
    return new VerifierError('ERR_PROFILE_CLAIM_INVALID', issue?.message ?? 'claims-set is invalid')
  }
  const name = head as ClaimName
  if (rest.length === 0 && named[name] === undefined) {
    const message = `${label(rules, name)}: mandatory claim is missing`
    return new VerifierError('ERR_PROFILE_CLAIM_MISSING', message, { path: keyPath(rules, name) })
  }
  let where = label(rules, name)
  let path = keyPath(rules, name)
  for (const part of rest) {
    if (typeof part === 'number') {
      where += `[${part}]`
      path += `[${part}]`
    } else if (typeof part === 'string' && part in PSA_SW_COMPONENT_KEYS) {
      const key = PSA_SW_COMPONENT_KEYS[part as ComponentName]
      where += `.${PSA_SW_COMPONENT_NAMES[part as ComponentName]} (${key})`
      path += `{${key}}`
    }
  }
  return new VerifierError('ERR_PROFILE_CLAIM_INVALID', `${where}: ${issue!.message}`, { path })
}

function lifecycleError(
  rules: ProfileRules,
  value: number | bigint,
  state: PsaLifecycleState | undefined,
): VerifierError {
  const hex = `0x${value.toString(16).padStart(4, '0')}`
  const why =
    state === 'unknown'
      ? `${hex} is in the unknown range (0x0000-0x00FF), a state that must not occur`
      : `${hex} is outside every defined lifecycle range`
  return new VerifierError('ERR_PSA_LIFECYCLE_INVALID', `${label(rules, 'securityLifecycle')}: ${why}`, {
    path: keyPath(rules, 'securityLifecycle'),
  })
}

function hexByte(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`
}

function unknownProfile(key: number, value: CborValue): VerifierError {
  const shown =
    typeof value === 'string'
      ? JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
      : describe(value)
  return new VerifierError(
    'ERR_PROFILE_UNKNOWN',
    `psa-profile (${key}): ${shown} is not a PSA profile this verifier implements`,
    { path: '$' + `{${key}}` },
  )
}
