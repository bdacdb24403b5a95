/**
 * EAT Attestation Results (draft-ietf-rats-ear; specs.md §5): the neutral outcome of an appraisal,
 * and the EAR claims-sets built from it, JSON (for a JWT) in -03 or Veraison naming, and CBOR (for
 * a CWT) with the integer keys of specs.md §5.2.
 *
 * Assay's extension: the machine-readable reasons behind each submodule's vector go in a private
 * per-submodule claim, `ear_assay_reasons` (-03 naming), `ear.assay.reasons` (Veraison naming) or
 * CBOR key −70100 (private use: below −65536, next to Veraison's −70000..−70002; specs.md §2.1). Its
 * value is an array of `{ claim, value, code, detail }` maps with those text keys in both encodings.
 *
 * A second extension names the attester each submodule appraised, `ear_assay_attester` (-03),
 * `ear.assay.attester` (Veraison) or CBOR key −70101: a map with the text keys `ueid` (the UEID it
 * claimed, its certificate named or its key is bound to; for PSA the Instance ID), `key-source`
 * (`kid`, `ueid`, `x5chain`, `x5t` or `psa-instance-id`), `kid`, `x5t#S256` (SHA-256 of the
 * certificate that carried the key) and `spki#S256` (SHA-256 of the key's SubjectPublicKeyInfo).
 * Byte strings are unpadded base64url in JSON and bstr in CBOR. Relying parties that do not know
 * these claims ignore them (RFC 9711 §4).
 *
 * A third, top-level extension names the stored documents (trust anchors, reference values,
 * profiles) the appraisal used, each at the version used: `ear_assay_endorsements` (-03),
 * `ear.assay.endorsements` (Veraison) or CBOR key −70102, an array of `<document id>@<version>`
 * texts, sorted. The audit log's appraisal entry names the same versions.
 */
import type { CborKey, CborMap, CborValue } from '../cose/cbor.js'
import { base64urlEncode } from '../util/base64url.js'
import {
  TIER_CODE,
  TRUST_CLAIMS,
  TRUST_CLAIM_KEY,
  deriveStatus,
  isNoBetterThan,
  isTier,
  isTrustClaim,
  isTrustValue,
  worstTier,
  type Tier,
  type TrustClaim,
  type TrustVector,
} from './trust-vector.js'

/** `eat_profile` values of the EAR versions Assay emits or accepts (specs.md §5.1). */
export const EAR_PROFILE = Object.freeze({
  /** draft-ietf-rats-ear-03: underscore claim names. What Assay emits by default. */
  ear03: 'tag:ietf.org,2026:rats/ear#03',
  /** draft-ietf-rats-ear-01/-02: dotted claim names. Accepted only. */
  ear01: 'tag:ietf.org,2025-07:ear',
  /** Veraison's EAR (draft -00 as implemented by veraison/ear, rust-ear, python-ear): dotted names. */
  veraison: 'tag:github.com,2023:veraison/ear',
  /** Confidential Containers Trustee: Veraison naming. Accepted only. */
  trustee: 'tag:github.com,2024:confidential-containers/Trustee',
})

/**
 * Appended to the verifier build (`ear_verifier_id.build`) of every EAR a verifier signs in test mode
 * (`allowPublishedKeys`): its endorsements may hold keys anyone can sign with.
 */
export const TEST_MODE_BUILD_SUFFIX = ' (test mode: published keys accepted)'

/** Claim spelling: -03 (`ear_status`, policy ids as an array) or Veraison's (`ear.status`, one id). */
export type EarNaming = 'ear-03' | 'veraison'

/** The naming each accepted profile uses; a profile not listed here is not an EAR Assay reads. */
export const PROFILE_NAMING: ReadonlyMap<string, EarNaming> = new Map<string, EarNaming>([
  [EAR_PROFILE.ear03, 'ear-03'],
  [EAR_PROFILE.ear01, 'veraison'],
  [EAR_PROFILE.veraison, 'veraison'],
  [EAR_PROFILE.trustee, 'veraison'],
])

/** The profile Assay writes for each naming. */
export const NAMING_PROFILE: Readonly<Record<EarNaming, string>> = Object.freeze({
  'ear-03': EAR_PROFILE.ear03,
  'veraison': EAR_PROFILE.veraison,
})

/** JSON claim names per naming. `policyIds` is an array in -03 and one text (the last id) in Veraison's. */
export const EAR_JSON_NAMES = Object.freeze({
  'ear-03': Object.freeze({
    verifierId: 'ear_verifier_id',
    status: 'ear_status',
    vector: 'ear_trustworthiness_vector',
    policyIds: 'ear_appraisal_policy_ids',
    rawEvidence: 'ear_raw_evidence',
    reasons: 'ear_assay_reasons',
    attester: 'ear_assay_attester',
    endorsements: 'ear_assay_endorsements',
  }),
  'veraison': Object.freeze({
    verifierId: 'ear.verifier-id',
    status: 'ear.status',
    vector: 'ear.trustworthiness-vector',
    policyIds: 'ear.appraisal-policy-id',
    rawEvidence: 'ear.raw-evidence',
    reasons: 'ear.assay.reasons',
    attester: 'ear.assay.attester',
    endorsements: 'ear.assay.endorsements',
  }),
})

/** CBOR keys of the EAR claims-set (specs.md §5.2; the same in every EAR version). */
export const EAR_CBOR_KEY = Object.freeze({
  profile: 265,
  iat: 6,
  exp: 4,
  nbf: 5,
  nonce: 10,
  verifierId: 1004,
  status: 1000,
  vector: 1001,
  rawEvidence: 1002,
  policyIds: 1003,
  submods: 266,
  /** Assay's reasons extension (private use, see the module comment). */
  reasons: -70100,
  /** Assay's attester extension (private use, see the module comment). */
  attester: -70101,
  /** Assay's endorsements extension (private use, see the module comment). */
  endorsements: -70102,
})

/** Most documents the endorsements extension names, and most characters of one `id@version`. */
export const MAX_EAR_ENDORSEMENTS = 256
export const MAX_EAR_ENDORSEMENT_CHARS = 300
/** A document id at a version, as the endorsements extension writes it. */
export const EAR_ENDORSEMENT = /^[^\s@]{1,256}@[1-9][0-9]{0,15}$/

/** Where the key that verified the Evidence came from. */
export const KEY_SOURCES = Object.freeze(['kid', 'ueid', 'x5chain', 'x5t', 'psa-instance-id'] as const)
export type KeySourceName = (typeof KEY_SOURCES)[number]

/** The attester a submodule appraised: its device identity and the key that verified it. */
export interface AttesterName {
  /** UEID (RFC 9711 §4.2.1), 7..33 bytes; for PSA the Instance ID. */
  readonly ueid?: Uint8Array
  readonly keySource: KeySourceName
  /** The provisioned `kid` that found the key. */
  readonly kid?: string
  /** SHA-256 of the DER certificate that carried the key. */
  readonly x5tS256?: Uint8Array
  /** SHA-256 of the key's SubjectPublicKeyInfo DER. */
  readonly spkiS256?: Uint8Array
}

/** Text keys of the attester map, the same in both encodings. */
export const ATTESTER_KEY = Object.freeze({
  ueid: 'ueid',
  keySource: 'key-source',
  kid: 'kid',
  x5tS256: 'x5t#S256',
  spkiS256: 'spki#S256',
})

/** Why a claim has its value: `code` is an Assay error code or a reason code, `detail` is for people. */
export interface EarReason {
  readonly claim: TrustClaim | 'status'
  readonly value: number
  readonly code: string
  readonly detail: string
}

/** The appraisal of one attester (one EAR submodule). */
export interface SubmodOutcome {
  readonly vector: TrustVector
  /** Derived from the vector with `deriveStatus` when absent; when given, no better than that. */
  readonly status?: Tier
  /** Profile of the appraised Evidence. */
  readonly profile?: string
  /** Nonce found in the appraised Evidence. */
  readonly nonce?: Uint8Array
  readonly reasons: readonly EarReason[]
  /** The attester appraised, when its key was found. */
  readonly attester?: AttesterName
}

/** What an appraisal produced, independent of how the result is serialized and signed. */
export interface AppraisalOutcome {
  /** Issue time, NumericDate (whole seconds). */
  readonly iat: number
  readonly exp?: number
  /** The requester's nonce, echoed for result freshness. */
  readonly nonce?: Uint8Array
  readonly verifier: { readonly developer: string; readonly build: string }
  /** Appraisal policies in the order they were applied; every submodule carries them. */
  readonly policyIds: readonly string[]
  /** Submodule label → appraisal; at least one. */
  readonly submods: Readonly<Record<string, SubmodOutcome>>
  /** The Evidence as received, when the result should carry it (a privacy decision). */
  readonly rawEvidence?: Uint8Array
  /** The stored documents the appraisal used, as `<id>@<version>`, sorted (left out when empty). */
  readonly endorsements?: readonly string[]
}

/** EAR nonces are 8..64 bytes (specs.md §5.2). */
const NONCE_MIN = 8
const NONCE_MAX = 64

function fail(message: string): never {
  throw new TypeError(`AppraisalOutcome: ${message}`)
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function checkNonce(nonce: unknown, where: string): void {
  if (nonce === undefined) return
  if (!(nonce instanceof Uint8Array) || nonce.length < NONCE_MIN || nonce.length > NONCE_MAX) {
    fail(`${where} nonce must be ${NONCE_MIN}..${NONCE_MAX} bytes`)
  }
}

const isDigest = (v: unknown): boolean => v instanceof Uint8Array && v.length === 32

function checkAttester(a: AttesterName, where: string): void {
  const ok =
    typeof a === 'object' &&
    a !== null &&
    (KEY_SOURCES as readonly string[]).includes(a.keySource) &&
    (a.ueid === undefined || (a.ueid instanceof Uint8Array && a.ueid.length >= 7 && a.ueid.length <= 33)) &&
    (a.kid === undefined || isText(a.kid)) &&
    (a.x5tS256 === undefined || isDigest(a.x5tS256)) &&
    (a.spkiS256 === undefined || isDigest(a.spkiS256))
  if (!ok) fail(`${where} has a malformed attester`)
}

/** The attester as a JSON object (byte strings as base64url). */
function jsonAttester(a: AttesterName): Record<string, string> {
  const out: Record<string, string> = {}
  if (a.ueid !== undefined) out[ATTESTER_KEY.ueid] = base64urlEncode(a.ueid)
  out[ATTESTER_KEY.keySource] = a.keySource
  if (a.kid !== undefined) out[ATTESTER_KEY.kid] = a.kid
  if (a.x5tS256 !== undefined) out[ATTESTER_KEY.x5tS256] = base64urlEncode(a.x5tS256)
  if (a.spkiS256 !== undefined) out[ATTESTER_KEY.spkiS256] = base64urlEncode(a.spkiS256)
  return out
}

/** The attester as a text-keyed CBOR map, as `decodeCbor` returns it. */
function cborAttester(a: AttesterName): CborMap {
  const out: CborMap = new Map()
  if (a.ueid !== undefined) out.set(ATTESTER_KEY.ueid, a.ueid)
  out.set(ATTESTER_KEY.keySource, a.keySource)
  if (a.kid !== undefined) out.set(ATTESTER_KEY.kid, a.kid)
  if (a.x5tS256 !== undefined) out.set(ATTESTER_KEY.x5tS256, a.x5tS256)
  if (a.spkiS256 !== undefined) out.set(ATTESTER_KEY.spkiS256, a.spkiS256)
  return out
}

/** Checks one submodule and returns its status: the given one, or the derived one. */
function submodStatus(label: string, submod: SubmodOutcome): Tier {
  if (typeof submod !== 'object' || submod === null) fail(`submod ${JSON.stringify(label)} is not an object`)
  const where = `submod ${JSON.stringify(label)}`
  if (typeof submod.vector !== 'object' || submod.vector === null) fail(`${where} has no vector`)
  for (const [claim, value] of Object.entries(submod.vector)) {
    if (!isTrustClaim(claim)) fail(`unknown trustworthiness claim ${JSON.stringify(claim)}`)
    if (value !== undefined && !isTrustValue(value)) fail(`${claim} = ${String(value)} is not an integer in -128..127`)
  }
  if (submod.profile !== undefined && !isText(submod.profile)) fail(`${where} profile is not text`)
  checkNonce(submod.nonce, where)
  if (submod.attester !== undefined) checkAttester(submod.attester, where)
  if (!Array.isArray(submod.reasons)) fail(`${where} reasons is not an array`)
  for (const r of submod.reasons) {
    const ok =
      typeof r === 'object' &&
      r !== null &&
      (r.claim === 'status' || isTrustClaim(r.claim)) &&
      isTrustValue(r.value) &&
      isText(r.code) &&
      typeof r.detail === 'string'
    if (!ok) fail(`${where} has a malformed reason ${JSON.stringify(r)}`)
  }
  const derived = deriveStatus(submod.vector)
  if (submod.status === undefined) return derived
  if (!isTier(submod.status)) fail(`${where} status ${JSON.stringify(submod.status)} is not a tier`)
  if (!isNoBetterThan(submod.status, derived)) {
    fail(`${where} status ${submod.status} is better than its vector allows (${derived})`)
  }
  return submod.status
}

interface CheckedOutcome {
  readonly labels: readonly string[]
  readonly statuses: readonly Tier[]
  readonly status: Tier
}

/** Validates an outcome (throws `TypeError` on misuse) and resolves every submodule's status. */
function checkOutcome(outcome: AppraisalOutcome): CheckedOutcome {
  if (typeof outcome !== 'object' || outcome === null) fail('not an object')
  if (!isTime(outcome.iat)) fail('iat must be a non-negative integer NumericDate')
  if (outcome.exp !== undefined && (!isTime(outcome.exp) || outcome.exp < outcome.iat)) {
    fail('exp must be an integer NumericDate not before iat')
  }
  checkNonce(outcome.nonce, 'the')
  const v = outcome.verifier
  if (typeof v !== 'object' || v === null || !isText(v.developer) || !isText(v.build)) {
    fail('verifier needs non-empty developer and build')
  }
  if (!Array.isArray(outcome.policyIds) || !outcome.policyIds.every(isText)) fail('policyIds must be non-empty texts')
  if (outcome.rawEvidence !== undefined && !(outcome.rawEvidence instanceof Uint8Array)) {
    fail('rawEvidence must be bytes')
  }
  const used = outcome.endorsements
  if (used !== undefined && (!Array.isArray(used) || used.length > MAX_EAR_ENDORSEMENTS || !used.every((e) => typeof e === 'string' && EAR_ENDORSEMENT.test(e)))) {
    fail(`endorsements must be at most ${MAX_EAR_ENDORSEMENTS} texts <id>@<version>`)
  }
  if (typeof outcome.submods !== 'object' || outcome.submods === null) fail('submods is not an object')
  const labels = Object.keys(outcome.submods)
  if (labels.length === 0) fail('at least one submod is required')
  const statuses = labels.map((label) => {
    if (label.length === 0) fail('a submod label is empty')
    return submodStatus(label, outcome.submods[label]!)
  })
  return { labels, statuses, status: worstTier(statuses) }
}

/** Own enumerable member, also for `__proto__`, so labels can never reach a prototype. */
function setMember(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[name] = value
  }
}

function jsonVector(vector: TrustVector): Record<string, number> | undefined {
  let out: Record<string, number> | undefined
  for (const claim of TRUST_CLAIMS) {
    const value = vector[claim]
    if (value === undefined) continue
    out ??= {}
    out[claim] = value
  }
  return out
}

function jsonReasons(reasons: readonly EarReason[]): Record<string, unknown>[] {
  return reasons.map((r) => ({ claim: r.claim, value: r.value, code: r.code, detail: r.detail }))
}

/** A reason as a text-keyed map, as `decodeCbor` returns it. */
function cborReason(r: EarReason): CborMap {
  return new Map<CborKey, CborValue>([
    ['claim', r.claim],
    ['value', r.value],
    ['code', r.code],
    ['detail', r.detail],
  ])
}

/** A JSON EAR claims-set, ready for `JSON.stringify`. */
export type EarJsonClaims = Record<string, unknown>

/**
 * Builds the JSON EAR claims-set of an outcome. `ear-03` (default) writes the -03 profile and names,
 * including the top-level `ear_status` (the worst submodule status); `veraison` writes Veraison's
 * profile and dotted names, one `ear.appraisal-policy-id` (the last policy applied) and no top-level
 * status, and leaves out the per-submodule `eat_profile` and `eat_nonce`, which -00 does not define.
 * Byte strings are unpadded base64url text (RFC 9711 JSON rules); the requester nonce is echoed the
 * same way in `eat_nonce`. Empty vectors, policy lists and reason lists are left out.
 *
 * Throws `TypeError` when the outcome is malformed (see `AppraisalOutcome`).
 */
export function earClaimsJson(outcome: AppraisalOutcome, naming: EarNaming = 'ear-03'): EarJsonClaims {
  if (!Object.hasOwn(EAR_JSON_NAMES, naming)) throw new TypeError(`unknown EAR naming ${JSON.stringify(naming)}`)
  const names = EAR_JSON_NAMES[naming]
  const { labels, statuses, status } = checkOutcome(outcome)
  const ear03 = naming === 'ear-03'
  const lastPolicy = outcome.policyIds[outcome.policyIds.length - 1]

  const submods: Record<string, unknown> = {}
  labels.forEach((label, i) => {
    const s = outcome.submods[label]!
    const appraisal: Record<string, unknown> = { [names.status]: statuses[i] }
    const vector = jsonVector(s.vector)
    if (vector !== undefined) appraisal[names.vector] = vector
    if (outcome.policyIds.length > 0) appraisal[names.policyIds] = ear03 ? [...outcome.policyIds] : lastPolicy
    if (ear03 && s.profile !== undefined) appraisal['eat_profile'] = s.profile
    if (ear03 && s.nonce !== undefined) appraisal['eat_nonce'] = base64urlEncode(s.nonce)
    if (s.reasons.length > 0) appraisal[names.reasons] = jsonReasons(s.reasons)
    if (s.attester !== undefined) appraisal[names.attester] = jsonAttester(s.attester)
    setMember(submods, label, appraisal)
  })

  const claims: EarJsonClaims = { eat_profile: NAMING_PROFILE[naming], iat: outcome.iat }
  if (outcome.exp !== undefined) claims['exp'] = outcome.exp
  claims[names.verifierId] = { developer: outcome.verifier.developer, build: outcome.verifier.build }
  if (ear03) claims[names.status] = status
  if (outcome.nonce !== undefined) claims['eat_nonce'] = base64urlEncode(outcome.nonce)
  if (outcome.rawEvidence !== undefined) claims[names.rawEvidence] = base64urlEncode(outcome.rawEvidence)
  if (outcome.endorsements !== undefined && outcome.endorsements.length > 0) claims[names.endorsements] = [...outcome.endorsements]
  claims['submods'] = submods
  return claims
}

/** A CBOR EAR claims-set, ready for `encodeCbor` and in the form `decodeCbor` returns. */
export type EarCborClaims = CborMap

/**
 * Builds the CBOR EAR claims-set of an outcome: the -03 profile, integer keys (specs.md §5.2), tiers
 * as integers, trust vectors keyed 0..7, policy ids as an array, byte strings as bstr, and the reasons
 * under key −70100 (see the module comment). Every map is a `Map`, so the result equals what
 * `decodeCbor` returns for its encoding. Throws `TypeError` when the outcome is malformed.
 */
export function earClaimsCbor(outcome: AppraisalOutcome): EarCborClaims {
  const { labels, statuses, status } = checkOutcome(outcome)
  const K = EAR_CBOR_KEY
  const submods: CborMap = new Map()
  labels.forEach((label, i) => {
    const s = outcome.submods[label]!
    const appraisal: CborMap = new Map([[K.status, TIER_CODE[statuses[i]!]]])
    const vector: CborMap = new Map()
    for (const claim of TRUST_CLAIMS) {
      const value = s.vector[claim]
      if (value !== undefined) vector.set(TRUST_CLAIM_KEY[claim], value)
    }
    if (vector.size > 0) appraisal.set(K.vector, vector)
    if (outcome.policyIds.length > 0) appraisal.set(K.policyIds, [...outcome.policyIds])
    if (s.profile !== undefined) appraisal.set(K.profile, s.profile)
    if (s.nonce !== undefined) appraisal.set(K.nonce, s.nonce)
    if (s.reasons.length > 0) appraisal.set(K.reasons, s.reasons.map(cborReason))
    if (s.attester !== undefined) appraisal.set(K.attester, cborAttester(s.attester))
    submods.set(label, appraisal)
  })

  const claims: CborMap = new Map<CborKey, CborValue>([
    [K.profile, EAR_PROFILE.ear03],
    [K.iat, outcome.iat],
  ])
  if (outcome.exp !== undefined) claims.set(K.exp, outcome.exp)
  const { developer, build } = outcome.verifier
  claims.set(K.verifierId, new Map<CborKey, CborValue>([[0, developer], [1, build]]))
  claims.set(K.status, TIER_CODE[status])
  if (outcome.nonce !== undefined) claims.set(K.nonce, outcome.nonce)
  if (outcome.rawEvidence !== undefined) claims.set(K.rawEvidence, outcome.rawEvidence)
  if (outcome.endorsements !== undefined && outcome.endorsements.length > 0) claims.set(K.endorsements, [...outcome.endorsements])
  claims.set(K.submods, submods)
  return claims
}
