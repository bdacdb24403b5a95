/**
 * The CWT/EAT claims layer (RFC 8392 §3, RFC 9711 §4): decodes a CBOR claims-set into typed
 * `EatClaims`, checking every recognised claim's type and size; unknown claims are kept, unchecked,
 * in `extensions` (RFC 9711 §4: claims not understood MUST be ignored).
 *
 * Rules that relate one claim to another (hwmodel needs oemid, ...) are profile-level and live in
 * `checkClaimDependencies`; time and nonce checks need verifier inputs and live in
 * `checkTimeClaims` and `checkNonce`.
 *
 * Schemas are built once at module load: decoding is on the per-request path.
 */
import { z } from 'zod'
import { CborFloat, CborTag, peekTag, type CborKey, type CborMap, type CborValue } from '../../cose/cbor.js'
import { VerifierError } from '../../errors/errors.js'
import { constantTimeEqual } from '../../crypto/compare.js'
import type { JsonObject, JsonValue } from '../../jose/json.js'
import type { Clock } from '../../util/clock.js'
import { checkTimeClaims as checkCwtTimeClaims, type TimeCheckOptions } from '../time-claims.js'
import {
  CLAIM_BY_KEY,
  CLAIM_KEY,
  DEBUG_STATUS,
  LOCATION_KEYS,
  MEASUREMENT_RESULT,
  type ClaimField,
  type ClaimRow,
  type DebugStatus,
  type LocationField,
  type MeasurementResult,
} from './descriptor.js'

/** A CBOR integer as the decoder returns it: `number` within ±(2^53 − 1), `bigint` beyond. */
export type CborInt = number | bigint

/** hwversion / swversion: `[version: tstr, ? scheme: $version-scheme]` (CoSWID; int or text). */
export interface EatVersion {
  readonly version: string
  readonly scheme?: number | string
}

/** location (RFC 9711 §4.2.10). Numbers are plain, whether they were sent as integers or floats. */
export interface EatLocation {
  readonly latitude: number
  readonly longitude: number
  readonly altitude?: number
  readonly accuracy?: number
  readonly altitudeAccuracy?: number
  readonly heading?: number
  readonly speed?: number
  /** Seconds since the epoch, an integer (`~time-int`). */
  readonly timestamp?: CborInt
  /** Seconds since the location was acquired. */
  readonly age?: CborInt
}

/** eat_profile: an absolute URI, or an OID as its untagged BER content bytes (RFC 9090). */
export type EatProfileId = string | { readonly oid: Uint8Array }

/**
 * One submodule (RFC 9711 §4.2.18). In a CBOR token, by the CBOR type of its value: a map is a
 * claims-set (decode it with `decodeEatClaims`), an array a Detached-Submodule-Digest, a byte string
 * a nested CBOR token (tagged, not yet decoded), a text string a JSON-Selector (JSON text, not yet
 * parsed). In a JSON token (`decodeEatJsonClaims`): an object is a `json-claims` claims-set (decode
 * it with `decodeEatJsonClaims`); a JSON-Selector `[type, value]` is `jwt` ("JWT", not yet
 * verified), `token` ("CBOR", base64url-decoded), `json-bundle` ("BUNDLE", kept as given) or
 * `digest` ("DIGEST").
 */
export type EatSubmodule =
  | { readonly kind: 'claims'; readonly claims: CborMap }
  | { readonly kind: 'digest'; readonly alg: number | string; readonly digest: Uint8Array }
  | { readonly kind: 'token'; readonly bytes: Uint8Array }
  | { readonly kind: 'json-selector'; readonly text: string }
  | { readonly kind: 'json-claims'; readonly claims: JsonObject }
  | { readonly kind: 'jwt'; readonly token: string }
  | { readonly kind: 'json-bundle'; readonly value: JsonValue }

/** dloas entry (RFC 9711 §4.2.14). */
export interface EatDloa {
  readonly registrar: string
  readonly platformLabel: string
  readonly applicationLabel?: string
}

/** manifests / measurements entry: CoAP Content-Format and the body as received. */
export interface EatFormattedBody {
  readonly contentFormat: number
  readonly body: Uint8Array | string
}

/** measres group (RFC 9711 §4.2.17). */
export interface EatMeasurementResults {
  readonly system: string
  readonly results: readonly { readonly id: string | Uint8Array; readonly result: MeasurementResult }[]
}

/** A decoded claims-set. Every claim is optional; which are required is a profile decision. */
export interface EatClaims {
  readonly iss?: string
  readonly sub?: string
  readonly aud?: string
  /** NumericDate; a float exp (allowed by RFC 8392) is exposed as a number. */
  readonly exp?: number | bigint
  readonly nbf?: number | bigint
  /** Integer only: a float iat is an error in EAT (RFC 9711 §4.3.1). */
  readonly iat?: CborInt
  readonly cti?: Uint8Array
  /** Proof-of-possession key (RFC 8747), kept as received. */
  readonly cnf?: CborMap
  readonly scope?: Uint8Array | string
  /** eat_nonce; a single byte string becomes a one-element array. */
  readonly nonces?: readonly Uint8Array[]
  readonly ueid?: Uint8Array
  readonly sueids?: ReadonlyMap<string, Uint8Array>
  /** IANA PEN (integer), IEEE OUI/CID (3 bytes) or random (16 bytes). */
  readonly oemid?: number | Uint8Array
  readonly hwmodel?: Uint8Array
  readonly hwversion?: EatVersion
  readonly uptime?: CborInt
  readonly oemboot?: boolean
  readonly dbgstat?: DebugStatus
  readonly location?: EatLocation
  readonly eatProfile?: EatProfileId
  readonly submods?: ReadonlyMap<string, EatSubmodule>
  readonly bootcount?: CborInt
  readonly bootseed?: Uint8Array
  readonly dloas?: readonly EatDloa[]
  readonly swname?: string
  readonly swversion?: EatVersion
  readonly manifests?: readonly EatFormattedBody[]
  readonly measurements?: readonly EatFormattedBody[]
  readonly measres?: readonly EatMeasurementResults[]
  /** CBOR: an integer (IANA "EAT Intended Uses"). JSON: text, which no registry maps to those integers. */
  readonly intuse?: CborInt | string
  /** Claims this layer does not define, by key, unchecked. */
  readonly extensions: ReadonlyMap<CborKey, CborValue>
}

// ---------------------------------------------------------------------------------------------
// Schema building blocks. Type mismatches and value rules carry their own messages, worded in
// CBOR terms; the per-parse error map below covers zod's built-in array and tuple issues.

type Schema<T> = z.ZodType<T>

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (typeof v === 'number') return `integer ${v}`
  if (typeof v === 'bigint') return `integer ${v} (beyond 2^53)`
  if (typeof v === 'string') return 'a text string'
  if (typeof v === 'boolean') return String(v)
  if (v instanceof Uint8Array) return `a byte string of ${v.length} bytes`
  if (v instanceof CborFloat) return `float ${v.value}`
  if (v instanceof CborTag) return `tag ${v.tag}`
  if (v instanceof Map) return 'a map'
  if (Array.isArray(v)) return `an array of ${v.length}`
  return typeof v
}

function range(min: number, max: number): string {
  if (min === max) return String(min)
  return max === Infinity ? `at least ${min}` : `${min}..${max}`
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array
const isText = (v: unknown): v is string => typeof v === 'string'
const isInt = (v: unknown): v is CborInt => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint'
const isMap = (v: unknown): v is CborMap => v instanceof Map
const isArray = (v: unknown): v is readonly CborValue[] => Array.isArray(v)

/** A CBOR type check with a message naming what was expected and what was found. */
function typed<T>(what: string, guard: (v: unknown) => v is T): Schema<T> {
  return z.custom<T>(guard, {
    abort: true,
    error: (iss) => (iss.input === undefined ? 'missing' : `expected ${what}, got ${describe(iss.input)}`),
  })
}

/** Adds a value rule to `schema`: `problem` returns a message when the value breaks it. */
function rule<T>(schema: Schema<T>, problem: (v: T) => string | undefined): Schema<T> {
  return schema.check((ctx) => {
    const message = problem(ctx.value)
    if (message !== undefined) ctx.issues.push({ code: 'custom', input: ctx.value, message })
  })
}

type Branch<T> = readonly [(v: unknown) => boolean, Schema<T>]

/** Chooses the schema by the CBOR type of the value (as RFC 9711 dispatches submodules). */
function byType<T>(what: string, branches: readonly Branch<T>[]): Schema<T> {
  const guard = (v: unknown): v is CborValue => branches.some(([is]) => is(v))
  return typed(what, guard).transform((value, ctx): T => {
    const schema = branches.find(([is]) => is(value))![1]
    const result = schema.safeParse(value, PARSE)
    if (result.success) return result.data
    for (const issue of result.error.issues) {
      ctx.issues.push({ code: 'custom', message: issue.message, path: issue.path, input: value })
    }
    return z.NEVER
  })
}

const EXPECTED: Readonly<Record<string, string>> = { array: 'an array', tuple: 'an array', map: 'a map' }

const errorMap: z.core.$ZodErrorMap = (iss) => {
  const input = iss.input
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describe(input)}`
    case 'too_small':
      return `${describe(input)}, must have at least ${String(iss.minimum)}`
    case 'too_big':
      return `${describe(input)}, must have at most ${String(iss.maximum)}`
    default:
      return undefined
  }
}

const PARSE = { error: errorMap } as const

const tstr = typed('a text string', isText)
const anyBytes = typed('a byte string', isBytes)
const bool = typed('a bool', (v): v is boolean => typeof v === 'boolean')
const int = typed('an integer', isInt)
const uint = rule(int, (v) => (v < 0 ? `${v} is negative, must be unsigned` : undefined))
const isBytesOrText = (v: unknown): v is Uint8Array | string => isBytes(v) || isText(v)
const bytesOrText = typed('a byte string or a text string', isBytesOrText)
const intOrText = typed('an integer or a text string', (v): v is number | string => typeof v === 'number' || isText(v))

function bytes(min: number, max = Infinity): Schema<Uint8Array> {
  return rule(anyBytes, (b) =>
    b.length < min || b.length > max ? `${b.length} bytes, must be ${range(min, max)}` : undefined,
  )
}

/** A non-empty map with text keys (`{ + tstr => V }`). */
function textMap<T>(value: Schema<T>): Schema<ReadonlyMap<string, T>> {
  return rule(z.map(tstr, value), (m) => (m.size === 0 ? 'empty map, must have at least 1 entry' : undefined))
}

/** A non-empty array (`[+ T]`). */
const nonEmptyArray = <T>(item: Schema<T>): Schema<T[]> => z.array(item).min(1)

/** NumericDate that may be a float (exp, nbf; RFC 8392 §2): finite, exposed as a number. */
const numericDate: Schema<number | bigint> = rule(
  typed('an integer or a float', (v): v is CborInt | CborFloat => isInt(v) || v instanceof CborFloat),
  (v) => (v instanceof CborFloat && !Number.isFinite(v.value) ? `float ${v.value} is not a time` : undefined),
).transform((v) => (v instanceof CborFloat ? v.value : v))

/** A W3C Geolocation number: integer or float, exposed as a number. */
const geoNumber: Schema<number> = typed(
  'a number',
  (v): v is number | CborFloat => typeof v === 'number' || v instanceof CborFloat,
).transform((v) => (typeof v === 'number' ? v : v.value))

const version: Schema<EatVersion> = z
  .tuple([tstr, intOrText.optional()])
  .transform(([v, scheme]) => (scheme === undefined ? { version: v } : { version: v, scheme }))

const isAbsoluteUri = (text: string): boolean => /^[A-Za-z][A-Za-z0-9+.-]*:./.test(text)

/** BER content bytes of an absolute OID (RFC 9090): each subidentifier minimal, the last complete. */
function isOidContent(b: Uint8Array): boolean {
  if (b.length === 0 || (b[b.length - 1]! & 0x80) !== 0) return false
  let start = true
  for (const x of b) {
    if (start && x === 0x80) return false
    start = (x & 0x80) === 0
  }
  return true
}

const LOCATION_BY_KEY: ReadonlyMap<number, LocationField> = new Map(LOCATION_KEYS.map((r) => [r.key, r.field]))

/** The location map, keys 1..9 only (the CDDL map is closed), read through an object keyed '1'..'9'. */
const location: Schema<EatLocation> = typed('a map', isMap)
  .transform((m, ctx) => {
    const byKey: Record<string, unknown> = {}
    for (const [k, v] of m) {
      if (typeof k !== 'number' || !LOCATION_BY_KEY.has(k)) {
        ctx.issues.push({ code: 'custom', input: m, path: [String(k)], message: 'not a location key (1..9)' })
        return z.NEVER
      }
      byKey[String(k)] = v
    }
    return byKey
  })
  .pipe(
    z.object({
      1: geoNumber,
      2: geoNumber,
      3: geoNumber.optional(),
      4: geoNumber.optional(),
      5: geoNumber.optional(),
      6: geoNumber.optional(),
      7: geoNumber.optional(),
      8: int.optional(),
      9: uint.optional(),
    }),
  )
  .transform((o) => {
    const out: Record<string, number | bigint> = {}
    for (const [k, v] of Object.entries(o) as [string, number | bigint | undefined][]) {
      if (v !== undefined) out[LOCATION_BY_KEY.get(Number(k))!] = v
    }
    return out as unknown as EatLocation
  })

const nestedToken = rule(anyBytes, (b) =>
  peekTag(b) === undefined ? 'nested token is not a tagged CBOR item' : undefined,
)

const detachedDigest = z
  .tuple([intOrText, bytes(1)])
  .transform(([alg, digest]) => ({ kind: 'digest', alg, digest }) as const)

const submodule: Schema<EatSubmodule> = byType<EatSubmodule>('a map, an array, a byte string or a text string', [
  [isMap, typed('a map', isMap).transform((claims) => ({ kind: 'claims', claims }) as const)],
  [isArray, detachedDigest],
  [isBytes, nestedToken.transform((b) => ({ kind: 'token', bytes: b }) as const)],
  [isText, tstr.transform((text) => ({ kind: 'json-selector', text }) as const)],
])

const contentFormat = rule(uint, (v) => (v > 65535 ? `${v} is not a CoAP Content-Format (0..65535)` : undefined))

const formattedBody: Schema<EatFormattedBody> = z
  .tuple([contentFormat, bytesOrText])
  .transform(([cf, body]) => ({ contentFormat: Number(cf), body }))

const measurementResult: Schema<MeasurementResult> = rule(int, (v) =>
  typeof v === 'number' && MEASUREMENT_RESULT.has(v) ? undefined : `${v} is not a measurement result (1..4)`,
).transform((v) => MEASUREMENT_RESULT.get(Number(v))!)

const individualResult = z.tuple([bytesOrText, measurementResult]).transform(([id, result]) => ({ id, result }))

const measurementGroup: Schema<EatMeasurementResults> = z
  .tuple([tstr, nonEmptyArray(individualResult)])
  .transform(([system, results]) => ({ system, results }))

const NONCE = bytes(8, 64)

const nonceArray = rule(z.array(NONCE), (a) =>
  a.length < 2 ? `an array of ${a.length}, must have at least 2 (send one nonce as a byte string)` : undefined,
)

const pen = rule(int, (v) =>
  typeof v === 'number' && v >= 0 ? undefined : `${v} is not a PEN (an unsigned integer)`,
)

const oemidBytes = rule(anyBytes, (b) =>
  b.length === 3 || b.length === 16 ? undefined : `${b.length} bytes, must be 3 (IEEE) or 16 (random)`,
)

const debugStatus = rule(int, (v) =>
  typeof v === 'number' && v >= 0 && v < DEBUG_STATUS.length ? undefined : `${v} is not a debug status (0..4)`,
).transform((v) => DEBUG_STATUS[Number(v)]!)

const profileUri = rule(tstr, (s) => (isAbsoluteUri(s) ? undefined : 'not an absolute URI'))
const profileOid = rule(anyBytes, (b) => (isOidContent(b) ? undefined : 'not a BER-encoded OID'))

const dloa: Schema<EatDloa> = z
  .tuple([tstr, tstr, tstr.optional()])
  .transform(([registrar, platformLabel, app]) =>
    app === undefined ? { registrar, platformLabel } : { registrar, platformLabel, applicationLabel: app },
  )

/** One schema per claim, producing the `EatClaims` field type. */
const SCHEMAS: { readonly [K in ClaimField]-?: Schema<Exclude<EatClaims[K], undefined>> } = {
  iss: tstr,
  sub: tstr,
  aud: tstr,
  exp: numericDate,
  nbf: numericDate,
  // A float iat is caught before this schema, with its own code (RFC 9711 §4.3.1).
  iat: int,
  cti: anyBytes,
  cnf: typed('a map', isMap),
  scope: bytesOrText,
  nonces: byType<readonly Uint8Array[]>('a byte string or an array', [
    [isBytes, NONCE.transform((b) => [b])],
    [isArray, nonceArray],
  ]),
  ueid: bytes(7, 33),
  sueids: textMap(bytes(7, 33)),
  oemid: byType<number | Uint8Array>('an integer (PEN) or a byte string', [
    [isInt, pen.transform(Number)],
    [isBytes, oemidBytes],
  ]),
  hwmodel: bytes(1, 32),
  hwversion: version,
  uptime: uint,
  oemboot: bool,
  dbgstat: debugStatus,
  location,
  eatProfile: byType<EatProfileId>('a text string (URI) or a byte string (OID)', [
    [isText, profileUri],
    [isBytes, profileOid.transform((oid) => ({ oid }))],
  ]),
  submods: textMap(submodule),
  bootcount: uint,
  bootseed: anyBytes,
  dloas: nonEmptyArray(dloa),
  swname: tstr,
  swversion: version,
  manifests: nonEmptyArray(formattedBody),
  measurements: nonEmptyArray(formattedBody),
  measres: nonEmptyArray(measurementGroup),
  intuse: int,
}

const DECODERS: ReadonlyMap<number, { readonly row: ClaimRow; readonly schema: Schema<unknown> }> = new Map(
  [...CLAIM_BY_KEY].map(([key, row]) => [key, { row, schema: SCHEMAS[row.field] as Schema<unknown> }]),
)

function renderPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `{${String(p)}}`)).join('')
}

function claimError(row: ClaimRow, issue: z.core.$ZodIssue | undefined): VerifierError {
  const at = renderPath(issue?.path ?? [])
  const where = at === '' ? '' : ` at ${at}`
  const message = `${row.name} (${row.key})${where}: ${issue?.message ?? 'invalid'}`
  return new VerifierError('ERR_CLAIMS_INVALID', message, { path: `$${renderPath([String(row.key)])}${at}` })
}

/**
 * Decodes a CBOR claims-set (a CWT payload, or a submodule claims-set) into `EatClaims`.
 * Checks each recognised claim's type and size (RFC 8392 §3.1, RFC 9711 §4); keeps unknown
 * integer-keyed claims in `extensions`. Does not check cross-claim rules, times or the nonce, and
 * does not descend into submodules: decode each `{ kind: 'claims' }` submodule with this function.
 *
 * @throws VerifierError `ERR_CLAIMS_INVALID` (a text claim key, or a claim of the wrong type or
 *   size), `ERR_CLAIMS_FLOAT_TIME` (a floating-point iat).
 */
export function decodeEatClaims(payload: CborMap): EatClaims {
  if (!(payload instanceof Map)) {
    throw new VerifierError('ERR_CLAIMS_INVALID', `claims-set is ${describe(payload)}, not a map`)
  }
  const out: Record<string, unknown> = {}
  const extensions = new Map<CborKey, CborValue>()
  for (const [key, value] of payload) {
    if (typeof key === 'string') {
      const shown = JSON.stringify(key.slice(0, 32))
      throw new VerifierError(
        'ERR_CLAIMS_INVALID',
        `claim key ${shown} is text; CBOR tokens MUST use integer claim keys (RFC 9711 §4)`,
      )
    }
    const decoder = typeof key === 'number' ? DECODERS.get(key) : undefined
    if (decoder === undefined) {
      extensions.set(key, value)
      continue
    }
    if (key === CLAIM_KEY.iat && value instanceof CborFloat) {
      throw new VerifierError(
        'ERR_CLAIMS_FLOAT_TIME',
        `iat (6) is float ${value.value}; an EAT MUST NOT carry a floating-point iat (RFC 9711 §4.3.1)`,
        { path: `$${renderPath(['6'])}` },
      )
    }
    const result = decoder.schema.safeParse(value, PARSE)
    if (!result.success) throw claimError(decoder.row, result.error.issues[0])
    out[decoder.row.field] = result.data
  }
  out['extensions'] = extensions
  return out as unknown as EatClaims
}

export type { TimeCheckOptions } from '../time-claims.js'

/**
 * Checks exp, nbf and a future iat against the injected clock, as for every format (see
 * `src/evidence/time-claims.ts`). Absent claims are not required here; profiles decide.
 *
 * @throws VerifierError `ERR_CLAIMS_EXPIRED`, `ERR_CLAIMS_NOT_YET_VALID`
 */
export function checkTimeClaims(claims: EatClaims, clock: Clock, opts: TimeCheckOptions = {}): void {
  checkCwtTimeClaims(claims, clock, opts)
}

/**
 * Checks that one of the token's eat_nonce values equals `expected`, in constant time per value.
 *
 * @throws VerifierError `ERR_CLAIMS_NONCE_MISMATCH` when no value matches or the claim is absent.
 */
export function checkNonce(claims: EatClaims, expected: Uint8Array): void {
  const nonces = claims.nonces
  if (nonces === undefined || nonces.length === 0) {
    const message = 'eat_nonce (10) is missing; the verifier expected a nonce'
    throw new VerifierError('ERR_CLAIMS_NONCE_MISMATCH', message)
  }
  let match = false
  for (const nonce of nonces) match = constantTimeEqual(nonce, expected) || match
  if (!match) {
    const message =
      nonces.length === 1
        ? 'eat_nonce (10) does not match the expected nonce'
        : `none of the ${nonces.length} eat_nonce (10) values matches the expected nonce`
    throw new VerifierError('ERR_CLAIMS_NONCE_MISMATCH', message)
  }
}

/**
 * RFC 9711's rules between claims of one claims-set: hwmodel needs oemid (§4.2.4), hwversion needs
 * hwmodel (§4.2.5), swversion needs swname (§4.2.7), oemboot needs oemid (§4.2.8), dbgstat
 * disabled-permanently needs oemid (§4.2.9). RFC 9711's own examples break some of these, so they
 * are for profiles to enforce. Submodules inherit nothing: check each decoded submodule on its own.
 *
 * @returns one `ERR_PROFILE_CLAIM_INVALID` error per broken rule; empty when all hold.
 */
export function checkClaimDependencies(claims: EatClaims): VerifierError[] {
  const errors: VerifierError[] = []
  const need = (present: boolean, requirement: boolean, message: string): void => {
    if (present && !requirement) errors.push(new VerifierError('ERR_PROFILE_CLAIM_INVALID', message))
  }
  const has = (field: ClaimField): boolean => claims[field] !== undefined
  need(has('hwmodel'), has('oemid'), 'hwmodel (259) is present without oemid (258) (RFC 9711 §4.2.4)')
  need(has('hwversion'), has('hwmodel'), 'hwversion (260) is present without hwmodel (259) (RFC 9711 §4.2.5)')
  need(has('swversion'), has('swname'), 'swversion (271) is present without swname (270) (RFC 9711 §4.2.7)')
  need(has('oemboot'), has('oemid'), 'oemboot (262) is present without oemid (258) (RFC 9711 §4.2.8)')
  need(
    claims.dbgstat === 'disabled-permanently',
    has('oemid'),
    'dbgstat (263) is disabled-permanently without oemid (258) (RFC 9711 §4.2.9)',
  )
  return errors
}
