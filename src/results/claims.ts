/**
 * Validation of EAR claims-sets as a relying party receives them (specs.md §5.2, §5.3), in either
 * encoding and in every naming Assay accepts (-03, and Veraison's dotted names for the Veraison,
 * -01/-02 and Trustee profiles). Signature checks are not here: see `verify.ts`.
 *
 * Rules beyond the CDDL's types, each enforced here:
 * - `iat` is required, `exp` and `nbf` optional; all three are integers. A JSON number written with a
 *   fraction or exponent (`1.666529184e+09`) or a CBOR float is `ERR_EAR_FLOAT_TIME` (RFC 9711 §4.3.1).
 * - Every submodule has a status; a status better than its own vector allows (`deriveStatus`, Corrections
 *   item 3) and a top-level `ear_status` better than the worst submodule are `ERR_EAR_CLAIMS_INVALID`.
 * - A trustworthiness vector, when present, is non-empty, names only the eight AR4SI claims and holds
 *   integers in −128..127.
 * - JSON `eat_nonce` is text of 8..88 characters, kept as received (Corrections item 8); CBOR is 8..64 bytes.
 * - Unknown claims are kept in `extensions` and otherwise ignored (RFC 9711 §4).
 */
import { decodeCbor, CborFloat, type CborKey, type CborMap, type CborValue } from '../cose/cbor.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import { base64urlDecode } from '../util/base64url.js'
import {
  ATTESTER_KEY,
  EAR_CBOR_KEY,
  EAR_ENDORSEMENT,
  EAR_JSON_NAMES,
  MAX_EAR_ENDORSEMENTS,
  KEY_SOURCES,
  PROFILE_NAMING,
  type AttesterName,
  type EarNaming,
  type EarReason,
  type KeySourceName,
} from './ear.js'
import { JsonFloat, isJsonObject, parseStrictJson, type JsonObject, type JsonValue } from './json.js'
import {
  TRUST_CLAIMS,
  deriveStatus,
  isNoBetterThan,
  isTier,
  isTrustClaim,
  isTrustValue,
  tierFromCode,
  worstTier,
  type Tier,
  type TrustClaim,
  type TrustVector,
} from './trust-vector.js'

/** One submodule of a validated EAR. */
export interface EarAppraisal {
  readonly status: Tier
  readonly vector?: TrustVector
  /** Policy ids in application order; Veraison's single `ear.appraisal-policy-id` becomes one entry. */
  readonly policyIds?: readonly string[]
  readonly profile?: string
  /** JSON: the text as received. CBOR: the bytes. */
  readonly nonce?: string | Uint8Array
  /** Assay's reasons extension, when present. */
  readonly reasons?: readonly EarReason[]
  /** Assay's attester extension, when present: the attester appraised and the key that verified it. */
  readonly attester?: AttesterName
  /** Claims this validator does not interpret, by name (JSON) or key (CBOR). */
  readonly extensions: ReadonlyMap<CborKey, unknown>
}

/** A validated EAR claims-set, the same shape for both encodings and every naming. */
export interface EarClaims {
  readonly encoding: 'json' | 'cbor'
  readonly profile: string
  readonly naming: EarNaming
  readonly iat: number
  readonly exp?: number
  readonly nbf?: number
  readonly verifier: { readonly developer: string; readonly build: string }
  /** The top-level `ear_status` (-03 only, optional). */
  readonly status?: Tier
  /** JSON: the text as received. CBOR: the bytes. */
  readonly nonce?: string | Uint8Array
  readonly rawEvidence?: Uint8Array
  /** Assay's endorsements extension, when present: the documents used, as `<id>@<version>`. */
  readonly endorsements?: readonly string[]
  readonly submods: ReadonlyMap<string, EarAppraisal>
  readonly extensions: ReadonlyMap<CborKey, unknown>
}

/** Upper bound on an EAR, signed token or claims-set, in bytes (characters for JSON text). */
export const MAX_EAR_BYTES = 256 * 1024

function invalid(message: string, path?: string): never {
  throw new VerifierError('ERR_EAR_CLAIMS_INVALID', path === undefined ? message : `${path}: ${message}`, { path })
}

const isText = (v: unknown): v is string => typeof v === 'string'
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A JSON value with every `JsonFloat` turned back into a number, for claims nobody validates. */
function plainJson(value: JsonValue): unknown {
  if (value instanceof JsonFloat) return value.value
  if (Array.isArray(value)) return value.map(plainJson)
  if (isJsonObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: plainJson(v), enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  return value
}

function jsonTime(value: JsonValue | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (value instanceof JsonFloat) {
    const message = `${name} is written ${value.text}; it must be an integer (RFC 9711 §4.3.1)`
    throw new VerifierError('ERR_EAR_FLOAT_TIME', message)
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) invalid(`${name} is not an integer NumericDate`)
  return value
}

function jsonNonce(value: JsonValue | undefined, path: string): string | undefined {
  if (value === undefined) return undefined
  if (!isText(value) || value.length < 8 || value.length > 88) {
    invalid('eat_nonce must be text of 8..88 characters', path)
  }
  return value
}

function jsonStatus(value: JsonValue | undefined, path: string): Tier {
  if (!isTier(value)) invalid(`status ${JSON.stringify(plainJson(value ?? null))} is not a tier name`, path)
  return value
}

function jsonVector(value: JsonValue, path: string): TrustVector {
  if (!isJsonObject(value)) invalid('trustworthiness vector is not an object', path)
  const entries = Object.entries(value)
  if (entries.length === 0) invalid('trustworthiness vector is empty (leave the claim out instead)', path)
  const out: Partial<Record<TrustClaim, number>> = {}
  for (const [claim, v] of entries) {
    if (!isTrustClaim(claim)) invalid(`unknown trustworthiness claim ${JSON.stringify(claim)}`, path)
    if (!isTrustValue(v)) invalid(`${claim} is not an integer in -128..127`, path)
    out[claim] = v
  }
  return orderVector(out)
}

function orderVector(vector: Partial<Record<TrustClaim, number>>): TrustVector {
  const out: Partial<Record<TrustClaim, number>> = {}
  for (const claim of TRUST_CLAIMS) if (vector[claim] !== undefined) out[claim] = vector[claim]
  return out
}

function reasonsOf(value: unknown, path: string, read: (r: unknown, key: string) => unknown): EarReason[] {
  if (!Array.isArray(value)) invalid('reasons is not an array', path)
  return value.map((r) => {
    const claim = read(r, 'claim')
    const v = read(r, 'value')
    const code = read(r, 'code')
    const detail = read(r, 'detail')
    if ((claim !== 'status' && !isTrustClaim(claim)) || !isTrustValue(v) || !isText(code) || !isText(detail)) {
      invalid('malformed reason (needs claim, integer value, code and detail)', path)
    }
    return { claim, value: v, code, detail }
  })
}

/**
 * Assay's attester map, from either encoding: `read` gets a member by its text key, `bytes` turns a
 * member into bytes (base64url text in JSON, bstr in CBOR) or undefined when it is neither.
 */
function attesterOf(
  value: unknown,
  path: string,
  isMap: (v: unknown) => boolean,
  read: (key: string) => unknown,
  bytes: (v: unknown) => Uint8Array | undefined,
): AttesterName {
  if (!isMap(value)) invalid('attester is not a map', path)
  const source = read(ATTESTER_KEY.keySource)
  if (typeof source !== 'string' || !(KEY_SOURCES as readonly string[]).includes(source)) {
    invalid(`attester ${ATTESTER_KEY.keySource} is not one of ${KEY_SOURCES.join(', ')}`, path)
  }
  const take = (key: string, min: number, max: number): Uint8Array | undefined => {
    const raw = read(key)
    if (raw === undefined) return undefined
    const b = bytes(raw)
    if (b === undefined || b.length < min || b.length > max) invalid(`attester ${key} must be ${min === max ? min : `${min}..${max}`} bytes`, path)
    return b
  }
  const ueid = take(ATTESTER_KEY.ueid, 7, 33)
  const x5tS256 = take(ATTESTER_KEY.x5tS256, 32, 32)
  const spkiS256 = take(ATTESTER_KEY.spkiS256, 32, 32)
  const kid = read(ATTESTER_KEY.kid)
  if (kid !== undefined && (!isText(kid) || kid.length === 0)) invalid(`attester ${ATTESTER_KEY.kid} is not text`, path)
  return {
    keySource: source as KeySourceName,
    ...(ueid === undefined ? {} : { ueid }),
    ...(kid === undefined ? {} : { kid }),
    ...(x5tS256 === undefined ? {} : { x5tS256 }),
    ...(spkiS256 === undefined ? {} : { spkiS256 }),
  }
}

function base64urlBytes(v: unknown): Uint8Array | undefined {
  if (!isText(v)) return undefined
  try {
    return base64urlDecode(v)
  } catch {
    return undefined
  }
}

/** The status of a submodule must be no better than what its own vector allows. */
function checkConsistent(status: Tier, vector: TrustVector | undefined, path: string): void {
  if (vector === undefined) return
  const bound = deriveStatus(vector)
  if (!isNoBetterThan(status, bound)) invalid(`status ${status} is better than the vector allows (${bound})`, path)
}

function checkSubmods(submods: ReadonlyMap<string, EarAppraisal>, status: Tier | undefined): void {
  if (submods.size === 0) invalid('submods must hold at least one appraisal')
  if (status === undefined) return
  const worst = worstTier([...submods.values()].map((s) => s.status))
  if (!isNoBetterThan(status, worst)) invalid(`ear_status ${status} is better than the worst submodule (${worst})`)
}

function profileNaming(profile: unknown): EarNaming {
  if (!isText(profile)) invalid('eat_profile is missing or not text')
  const naming = PROFILE_NAMING.get(profile)
  if (naming === undefined) {
    invalid(`eat_profile ${JSON.stringify(profile)} is not an EAR profile this verifier accepts`)
  }
  return naming
}

function tooLarge(): never {
  throw new VerifierError('ERR_EAR_MALFORMED', `claims-set exceeds ${MAX_EAR_BYTES} bytes`)
}

/**
 * Validates a JSON EAR claims-set given as its text (or UTF-8 bytes), parsed strictly: duplicate member
 * names are rejected and integer claims must be written as integers. Throws `VerifierError`:
 * `ERR_EAR_MALFORMED` (not JSON, not an object, too large), `ERR_EAR_FLOAT_TIME`, `ERR_EAR_CLAIMS_INVALID`.
 */
export function parseEarClaimsJson(input: string | Uint8Array): EarClaims {
  let text: string
  if (typeof input === 'string') {
    text = input
  } else {
    if (input.length > MAX_EAR_BYTES) tooLarge()
    text = decodeUtf8(input, 'claims-set')
  }
  if (text.length > MAX_EAR_BYTES) tooLarge()
  const root = parseStrictJson(text)
  if (!isJsonObject(root)) throw new VerifierError('ERR_EAR_MALFORMED', 'claims-set is not a JSON object')
  return claimsFromJson(root)
}

/** Assay's endorsements extension: an array of at most 256 `<id>@<version>` texts. */
function endorsementsOf(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length > MAX_EAR_ENDORSEMENTS || !value.every((e) => isText(e) && EAR_ENDORSEMENT.test(e))) {
    invalid(`${name} must be an array of at most ${MAX_EAR_ENDORSEMENTS} <id>@<version> texts`)
  }
  return [...(value as string[])]
}

function claimsFromJson(root: JsonObject): EarClaims {
  const naming = profileNaming(root['eat_profile'])
  const names = EAR_JSON_NAMES[naming]
  const ear03 = naming === 'ear-03'
  const known = new Set<string>(['eat_profile', 'iat', 'exp', 'nbf', 'eat_nonce', 'submods'])
  known.add(names.verifierId).add(names.rawEvidence).add(names.endorsements)
  if (ear03) known.add(names.status)
  const endorsements = endorsementsOf(root[names.endorsements], names.endorsements)

  const iat = jsonTime(root['iat'], 'iat')
  if (iat === undefined) invalid('iat is missing')
  const exp = jsonTime(root['exp'], 'exp')
  const nbf = jsonTime(root['nbf'], 'nbf')

  const vid = root[names.verifierId]
  if (!isJsonObject(vid) || !isText(vid['developer']) || !isText(vid['build'])) {
    invalid(`${names.verifierId} must hold developer and build text`)
  }
  const topStatus = ear03 ? root[names.status] : undefined
  const status = topStatus === undefined ? undefined : jsonStatus(topStatus, names.status)
  const nonce = jsonNonce(root['eat_nonce'], 'eat_nonce')
  let rawEvidence: Uint8Array | undefined
  const raw = root[names.rawEvidence]
  if (raw !== undefined) {
    if (!isText(raw)) invalid(`${names.rawEvidence} is not text`)
    try {
      rawEvidence = base64urlDecode(raw)
    } catch {
      invalid(`${names.rawEvidence} is not unpadded base64url`)
    }
  }

  const submodsValue = root['submods']
  if (!isJsonObject(submodsValue)) invalid('submods is missing or not an object')
  const submods = new Map<string, EarAppraisal>()
  for (const [label, value] of Object.entries(submodsValue)) {
    submods.set(label, appraisalFromJson(value, naming, `submods[${JSON.stringify(label)}]`))
  }
  checkSubmods(submods, status)

  const extensions = new Map<CborKey, unknown>()
  for (const [name, value] of Object.entries(root)) if (!known.has(name)) extensions.set(name, plainJson(value))
  return {
    encoding: 'json',
    profile: root['eat_profile'] as string,
    naming,
    iat,
    ...(exp === undefined ? {} : { exp }),
    ...(nbf === undefined ? {} : { nbf }),
    verifier: { developer: vid['developer'], build: vid['build'] },
    ...(status === undefined ? {} : { status }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(rawEvidence === undefined ? {} : { rawEvidence }),
    ...(endorsements === undefined ? {} : { endorsements }),
    submods,
    extensions,
  }
}

function appraisalFromJson(value: JsonValue, naming: EarNaming, path: string): EarAppraisal {
  if (!isJsonObject(value)) invalid('appraisal is not an object', path)
  const names = EAR_JSON_NAMES[naming]
  const ear03 = naming === 'ear-03'
  const known = new Set<string>([names.status, names.vector, names.policyIds, names.reasons, names.attester])
  if (ear03) {
    known.add('eat_profile')
    known.add('eat_nonce')
  }
  const status = jsonStatus(value[names.status], path)
  const vectorValue = value[names.vector]
  const vector = vectorValue === undefined ? undefined : jsonVector(vectorValue, path)
  checkConsistent(status, vector, path)

  let policyIds: string[] | undefined
  const ids = value[names.policyIds]
  if (ids !== undefined) {
    if (ear03) {
      if (!Array.isArray(ids) || ids.length === 0 || !ids.every(isText)) {
        invalid(`${names.policyIds} must be a non-empty text array`, path)
      }
      policyIds = ids
    } else {
      if (!isText(ids)) invalid(`${names.policyIds} must be text`, path)
      policyIds = [ids]
    }
  }
  let profile: string | undefined
  if (ear03 && value['eat_profile'] !== undefined) {
    if (!isText(value['eat_profile'])) invalid('eat_profile is not text', path)
    profile = value['eat_profile']
  }
  const nonce = ear03 ? jsonNonce(value['eat_nonce'], path) : undefined
  const reasonsValue = value[names.reasons]
  const member = (r: unknown, k: string) => (isJsonObject(r as JsonValue) ? (r as JsonObject)[k] : undefined)
  const reasons = reasonsValue === undefined ? undefined : reasonsOf(reasonsValue, path, member)
  const attesterValue = value[names.attester]
  const attester =
    attesterValue === undefined
      ? undefined
      : attesterOf(attesterValue, path, (v) => isJsonObject(v as JsonValue), (k) => member(attesterValue, k), base64urlBytes)

  const extensions = new Map<CborKey, unknown>()
  for (const [name, v] of Object.entries(value)) if (!known.has(name)) extensions.set(name, plainJson(v))
  return {
    status,
    ...(vector === undefined ? {} : { vector }),
    ...(policyIds === undefined ? {} : { policyIds }),
    ...(profile === undefined ? {} : { profile }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(reasons === undefined ? {} : { reasons }),
    ...(attester === undefined ? {} : { attester }),
    extensions,
  }
}

// CBOR

function cborTime(value: CborValue | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (value instanceof CborFloat) {
    const message = `${name} is a CBOR float; it must be an integer (RFC 9711 §4.3.1)`
    throw new VerifierError('ERR_EAR_FLOAT_TIME', message)
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) invalid(`${name} is not an integer NumericDate`)
  return value
}

function cborNonce(value: CborValue | undefined, path: string): Uint8Array | undefined {
  if (value === undefined) return undefined
  if (!(value instanceof Uint8Array) || value.length < 8 || value.length > 64) {
    invalid('eat_nonce must be 8..64 bytes', path)
  }
  return value
}

function cborStatus(value: CborValue | undefined, path: string): Tier {
  const tier = tierFromCode(value)
  if (tier === undefined) invalid(`status ${String(value)} is not a tier code (0, 2, 32, 96)`, path)
  return tier
}

function cborVector(value: CborValue, path: string): TrustVector {
  if (!(value instanceof Map)) invalid('trustworthiness vector is not a map', path)
  if (value.size === 0) invalid('trustworthiness vector is empty (leave the claim out instead)', path)
  const out: Partial<Record<TrustClaim, number>> = {}
  for (const [key, v] of value) {
    const claim = typeof key === 'number' ? TRUST_CLAIMS[key] : undefined
    if (claim === undefined) invalid(`unknown trustworthiness claim key ${String(key)}`, path)
    if (!isTrustValue(v)) invalid(`${claim} is not an integer in -128..127`, path)
    out[claim] = v
  }
  return orderVector(out)
}

/**
 * Validates a CBOR EAR claims-set: encoded bytes, or a map already decoded with `decodeCbor`. Bytes are
 * decoded with indefinite lengths allowed, because rust-ear emits indefinite-length maps and EAR does
 * not forbid them; duplicate keys, tags and trailing bytes are still rejected. Throws `VerifierError`:
 * `ERR_EAR_MALFORMED`, `ERR_EAR_FLOAT_TIME`, `ERR_EAR_CLAIMS_INVALID`.
 */
export function parseEarClaimsCbor(input: Uint8Array | CborMap): EarClaims {
  let root: CborValue
  if (input instanceof Uint8Array) {
    try {
      root = decodeCbor(input, { allowIndefinite: true, maxBytes: MAX_EAR_BYTES })
    } catch (cause) {
      if (!isVerifierError(cause)) throw cause
      const message = `claims-set is not well-formed CBOR: ${cause.message}`
      throw new VerifierError('ERR_EAR_MALFORMED', message, { cause })
    }
  } else {
    root = input
  }
  if (!(root instanceof Map)) throw new VerifierError('ERR_EAR_MALFORMED', 'claims-set is not a CBOR map')
  return claimsFromCbor(root)
}

function claimsFromCbor(root: CborMap): EarClaims {
  const K = EAR_CBOR_KEY
  const naming = profileNaming(root.get(K.profile))
  const iat = cborTime(root.get(K.iat), 'iat')
  if (iat === undefined) invalid('iat (6) is missing')
  const exp = cborTime(root.get(K.exp), 'exp')
  const nbf = cborTime(root.get(K.nbf), 'nbf')

  const vid = root.get(K.verifierId)
  const developer = vid instanceof Map ? vid.get(0) : undefined
  const build = vid instanceof Map ? vid.get(1) : undefined
  if (!isText(developer) || !isText(build)) {
    invalid('verifier id (1004) must hold developer (0) and build (1) text')
  }
  const status = root.has(K.status) ? cborStatus(root.get(K.status), 'ear_status (1000)') : undefined
  const nonce = cborNonce(root.get(K.nonce), 'eat_nonce (10)')
  const rawEvidence = root.get(K.rawEvidence)
  if (rawEvidence !== undefined && !(rawEvidence instanceof Uint8Array)) {
    invalid('raw evidence (1002) is not a byte string')
  }

  const submodsValue = root.get(K.submods)
  if (!(submodsValue instanceof Map)) invalid('submods (266) is missing or not a map')
  const submods = new Map<string, EarAppraisal>()
  for (const [label, value] of submodsValue) {
    if (!isText(label)) invalid(`submod label ${String(label)} is not text`)
    submods.set(label, appraisalFromCbor(value, naming, `submods[${JSON.stringify(label)}]`))
  }
  checkSubmods(submods, status)

  const known = new Set<CborKey>([K.profile, K.iat, K.exp, K.nbf, K.verifierId, K.status, K.nonce])
  known.add(K.rawEvidence).add(K.submods).add(K.endorsements)
  const endorsements = endorsementsOf(root.get(K.endorsements), 'endorsements (-70102)')
  const extensions = new Map<CborKey, unknown>()
  for (const [key, value] of root) if (!known.has(key)) extensions.set(key, value)
  return {
    encoding: 'cbor',
    profile: root.get(K.profile) as string,
    naming,
    iat,
    ...(exp === undefined ? {} : { exp }),
    ...(nbf === undefined ? {} : { nbf }),
    verifier: { developer, build },
    ...(status === undefined ? {} : { status }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(rawEvidence === undefined ? {} : { rawEvidence }),
    ...(endorsements === undefined ? {} : { endorsements }),
    submods,
    extensions,
  }
}

function appraisalFromCbor(value: CborValue, naming: EarNaming, path: string): EarAppraisal {
  if (!(value instanceof Map)) invalid('appraisal is not a map', path)
  const K = EAR_CBOR_KEY
  const status = cborStatus(value.get(K.status), path)
  const vectorValue = value.get(K.vector)
  const vector = vectorValue === undefined ? undefined : cborVector(vectorValue, path)
  checkConsistent(status, vector, path)

  let policyIds: string[] | undefined
  const ids = value.get(K.policyIds)
  if (ids !== undefined) {
    // Veraison's CBOR (rust-ear) writes the single-text -00 form under the same key.
    if (isText(ids) && naming === 'veraison') policyIds = [ids]
    else if (Array.isArray(ids) && ids.length > 0 && ids.every(isText)) policyIds = [...ids] as string[]
    else invalid('policy ids (1003) must be a non-empty text array', path)
  }
  const profile = value.get(K.profile)
  if (profile !== undefined && !isText(profile)) invalid('eat_profile (265) is not text', path)
  const nonce = cborNonce(value.get(K.nonce), path)
  const reasonsValue = value.get(K.reasons)
  const reasons =
    reasonsValue === undefined
      ? undefined
      : reasonsOf(reasonsValue, path, (r, k) => (r instanceof Map ? (r as CborMap).get(k) : undefined))
  const attesterValue = value.get(K.attester)
  const attester =
    attesterValue === undefined
      ? undefined
      : attesterOf(
          attesterValue,
          path,
          (v) => v instanceof Map,
          (k) => (attesterValue as CborMap).get(k),
          (v) => (v instanceof Uint8Array ? v : undefined),
        )

  const known = new Set<CborKey>([K.status, K.vector, K.policyIds, K.profile, K.nonce, K.reasons, K.attester])
  const extensions = new Map<CborKey, unknown>()
  for (const [key, v] of value) if (!known.has(key)) extensions.set(key, v)
  return {
    status,
    ...(vector === undefined ? {} : { vector }),
    ...(policyIds === undefined ? {} : { policyIds }),
    ...(profile === undefined ? {} : { profile }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(reasons === undefined ? {} : { reasons }),
    ...(attester === undefined ? {} : { attester }),
    extensions,
  }
}

/** Decodes UTF-8 for callers that hold bytes; `ERR_EAR_MALFORMED` when they are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes)
  } catch (cause) {
    throw new VerifierError('ERR_EAR_MALFORMED', `${what} is not valid UTF-8`, { cause })
  }
}
