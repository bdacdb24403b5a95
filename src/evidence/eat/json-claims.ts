/**
 * JSON claims-sets (the payload of an EAT JWT, RFC 9711 "JSON Interoperability") decoded into the
 * same `EatClaims` the CBOR decoder produces.
 *
 * How: each recognised claim is converted to the value its CBOR twin decodes to (base64url to bytes,
 * `dbgstat` and `measres` names to their integers, `location` names to keys 1..9, a dotted-decimal
 * OID to its BER bytes, a number with a fraction or exponent to a CBOR float, objects to maps), put
 * under its integer key, and the whole map goes through `decodeEatClaims`. Both encodings thus share
 * one set of type, size and value rules, and a float `iat` is the same `ERR_CLAIMS_FLOAT_TIME`. Errors
 * of those rules are re-issued with JSON names and paths (`location at .longitude: missing`). Only
 * what has no CBOR counterpart is checked here:
 *
 * - `eat_nonce` is text of 8..88 bytes (UTF-8, CDDL `.size`), or an array of two or more such. Each
 *   nonce is kept as the UTF-8 bytes of its text, never base64url-decoded: the JSON nonce alphabet
 *   is not fixed (specs.md Corrections item 8), so `checkNonce` compares exactly the text that was
 *   sent, and `expectedNonce` must be the UTF-8 bytes of the nonce text the verifier issued.
 * - `jti` is text (RFC 7519 §4.1.7; RFC 9711's CDDL: "jti in JWT: different name and text"), kept as
 *   its UTF-8 bytes in `cti`.
 * - `intuse` is text (CDDL `JC<text, int>`): no registry maps it to the CBOR integers.
 * - `submods` values are a claims-set object (`json-claims`, not decoded here) or a JSON-Selector
 *   `[type, value]`: "JWT" (`jwt`, not verified here), "CBOR" (`token`: base64url of a tagged CBOR
 *   token), "BUNDLE" (`json-bundle`, kept as given) or "DIGEST" (`digest`: `[alg, base64url]`).
 *   The selector wraps the value one level deeper than CBOR does, so these few rules are checked
 *   here, where the error can say where in the JSON it is.
 * - `manifests` and `measurements` bodies are kept as given: base64url text stays text (the CBOR
 *   rules accept text). A body that is a JSON object or array has no `EatFormattedBody` form and is
 *   refused.
 * - An integer beyond ±(2^53 − 1) in a recognised claim is refused: JSON cannot carry it exactly
 *   (I-JSON, RFC 7493 §2.2).
 *
 * Unknown claims are kept in `extensions` by name, converted the same way but unchecked, big integers
 * included (RFC 9711 §4: claims not understood are ignored).
 */
import { CborFloat, peekTag, type CborKey, type CborMap, type CborValue } from '../../cose/cbor.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { JsonFloat, isJsonObject, type JsonObject, type JsonValue } from '../../jose/json.js'
import { base64urlDecode, base64urlEncode } from '../../util/base64url.js'
import { utf8 } from '../../util/bytes.js'
import { decodeEatClaims, type EatClaims, type EatSubmodule } from './claims.js'
import {
  CLAIMS,
  CLAIM_BY_KEY,
  DEBUG_STATUS,
  LOCATION_KEYS,
  MEASUREMENT_RESULT,
  type ClaimField,
  type ClaimRow,
} from './descriptor.js'

const CLAIM_BY_NAME: ReadonlyMap<string, ClaimRow> = new Map(CLAIMS.map((r) => [r.name, r]))
const LOCATION_KEY_BY_NAME: ReadonlyMap<string, number> = new Map(LOCATION_KEYS.map((r) => [r.name, r.key]))
const LOCATION_NAME_BY_KEY: ReadonlyMap<number, string> = new Map(LOCATION_KEYS.map((r) => [r.key, r.name]))
const RESULT_BY_NAME: ReadonlyMap<string, number> = new Map([...MEASUREMENT_RESULT].map(([k, v]) => [v, k]))

/** RFC 9711 CDDL `JWT-Message`. */
const JWT_MESSAGE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** RFC 9711 CDDL `json-oid`, with at least the two arcs an OID has. */
const JSON_OID = /^[0-2](?:\.(?:0|[1-9][0-9]*))+$/

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (typeof v === 'number') return `integer ${v}`
  if (typeof v === 'string') return 'text'
  if (typeof v === 'boolean') return String(v)
  if (v instanceof JsonFloat) return `number ${v.text}`
  if (Array.isArray(v)) return `an array of ${v.length}`
  return 'an object'
}

/** A claim error naming the claim by its JSON name, as the CBOR decoder names it. */
function invalid(name: string, message: string, at = ''): never {
  const where = at === '' ? '' : ` at ${at}`
  throw new VerifierError('ERR_CLAIMS_INVALID', `${name}${where}: ${message}`, { path: `$.${name}${at}` })
}

/**
 * The CBOR-decoded shape of a JSON value: objects become text-keyed maps, `JsonFloat` a `CborFloat`.
 * In a recognised claim (`claim` given) an integer JSON cannot carry exactly is refused.
 */
function toCbor(value: JsonValue, claim?: string): CborValue {
  if (value instanceof JsonFloat) return new CborFloat(value.value)
  if (typeof value === 'number') {
    if (claim !== undefined && !Number.isSafeInteger(value)) {
      invalid(claim, `integer ${value} is beyond ±(2^53 − 1), which JSON cannot carry exactly (RFC 7493 §2.2)`)
    }
    return value
  }
  if (Array.isArray(value)) return value.map((v) => toCbor(v, claim))
  if (isJsonObject(value)) return new Map(Object.entries(value).map(([k, v]) => [k, toCbor(v, claim)]))
  return value
}

/** RFC 9711 `binary-data` in JSON: non-empty, canonical, unpadded base64url. */
function binary(value: JsonValue | undefined, claim: string, at = ''): Uint8Array {
  if (typeof value !== 'string') return invalid(claim, `expected base64url text, got ${describe(value)}`, at)
  let bytes: Uint8Array
  try {
    bytes = base64urlDecode(value)
  } catch {
    return invalid(claim, 'not unpadded base64url', at)
  }
  if (bytes.length === 0 || base64urlEncode(bytes) !== value) invalid(claim, 'not canonical base64url', at)
  return bytes
}

function object(value: JsonValue, claim: string): JsonObject {
  if (!isJsonObject(value)) invalid(claim, `expected an object, got ${describe(value)}`)
  return value
}

/** eat_nonce: one text nonce, or an array of at least two. */
function nonces(value: JsonValue, claim: string): Uint8Array[] {
  const one = (v: JsonValue | undefined, at = ''): Uint8Array => {
    if (typeof v !== 'string') return invalid(claim, `expected text, got ${describe(v)}`, at)
    const bytes = utf8(v)
    if (bytes.length < 8 || bytes.length > 88) {
      invalid(claim, `text of ${bytes.length} bytes, must be 8..88`, at)
    }
    return bytes
  }
  if (!Array.isArray(value)) return [one(value)]
  if (value.length < 2) invalid(claim, `an array of ${value.length}, must have at least 2 (one nonce is text)`)
  return value.map((v, i) => one(v, `[${i}]`))
}

/** BER content bytes of a dotted-decimal OID (RFC 9090): the first two arcs joined, base 128. */
function oidBytes(text: string, claim: string): Uint8Array {
  const arcs = text.split('.').map(BigInt)
  const [first, second] = arcs as [bigint, bigint]
  if (first < 2n && second >= 40n) invalid(claim, `OID arc ${second} under ${first} must be below 40`)
  const out: number[] = []
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const digits = [Number(arc & 0x7fn)]
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) digits.unshift(Number(rest & 0x7fn) | 0x80)
    out.push(...digits)
  }
  return Uint8Array.from(out)
}

function profile(value: JsonValue, claim: string): CborValue {
  if (typeof value !== 'string') {
    return invalid(claim, `expected a URI or a dotted-decimal OID, got ${describe(value)}`)
  }
  return JSON_OID.test(value) ? oidBytes(value, claim) : value
}

function debugStatus(value: JsonValue, claim: string): number {
  const index = typeof value === 'string' ? DEBUG_STATUS.indexOf(value as (typeof DEBUG_STATUS)[number]) : -1
  if (index < 0) invalid(claim, `expected one of ${DEBUG_STATUS.join(', ')}, got ${describe(value)}`)
  return index
}

function location(value: JsonValue, claim: string): CborMap {
  const out: CborMap = new Map()
  for (const [name, v] of Object.entries(object(value, claim))) {
    const key = LOCATION_KEY_BY_NAME.get(name)
    if (key === undefined) invalid(claim, `${JSON.stringify(name.slice(0, 32))} is not a location member`)
    out.set(key, toCbor(v, claim))
  }
  return out
}

/** measres: result names to their integers; other shapes are left to the CBOR rules to report. */
function measurementResults(value: JsonValue, claim: string): CborValue {
  if (!Array.isArray(value)) return toCbor(value, claim)
  return value.map((group, g) => {
    if (!Array.isArray(group) || !Array.isArray(group[1])) return toCbor(group, claim)
    return group.map((part, p) => {
      if (p !== 1) return toCbor(part, claim)
      return (part as JsonValue[]).map((entry, e) => {
        if (!Array.isArray(entry) || entry.length !== 2) return toCbor(entry, claim)
        const result = entry[1]!
        const code = typeof result === 'string' ? RESULT_BY_NAME.get(result) : undefined
        if (code === undefined) {
          const expected = [...RESULT_BY_NAME.keys()].join(', ')
          invalid(claim, `expected one of ${expected}, got ${describe(result)}`, `[${g}][1][${e}][1]`)
        }
        return [toCbor(entry[0]!, claim), code]
      })
    })
  })
}

/** Converters for the claims whose JSON form differs from "the same value"; the rest use `toCbor`. */
const TO_CBOR: { readonly [K in ClaimField]?: (value: JsonValue, claim: string) => CborValue } = {
  cti: (v, claim) => (typeof v === 'string' ? utf8(v) : invalid(claim, `expected text, got ${describe(v)}`)),
  ueid: binary,
  sueids: (v, claim) =>
    new Map(Object.entries(object(v, claim)).map(([label, u]) => [label, binary(u, claim, `.${label}`)])),
  oemid: (v, claim) => (typeof v === 'string' ? binary(v, claim) : toCbor(v, claim)),
  hwmodel: binary,
  dbgstat: debugStatus,
  location,
  eatProfile: profile,
  bootseed: binary,
  measres: measurementResults,
}

interface JsonOnly {
  nonces?: Uint8Array[]
  intuse?: string
  submods?: Map<string, EatSubmodule>
}

/** A JSON-Selector `[type, value]` (RFC 9711 CDDL `JSON-Selector`) as the submodule it denotes. */
function selector(type: string, nested: JsonValue, claim: string, at: string): EatSubmodule {
  switch (type) {
    case 'JWT':
      if (typeof nested !== 'string' || !JWT_MESSAGE.test(nested)) {
        invalid(claim, 'JWT selector holds no compact JWT', at)
      }
      return { kind: 'jwt', token: nested }
    case 'CBOR': {
      const bytes = binary(nested, claim, `${at}[1]`)
      // As in a CBOR token, a nested CBOR token is tagged (CWT 61, bundle 602, ...).
      if (peekTag(bytes) === undefined) invalid(claim, 'nested token is not a tagged CBOR item', `${at}[1]`)
      return { kind: 'token', bytes }
    }
    case 'BUNDLE': {
      const [main, detached] = Array.isArray(nested) && nested.length === 2 ? nested : []
      const claimsSets = isJsonObject(detached) ? Object.values(detached) : []
      if (!Array.isArray(main) || claimsSets.length === 0 || !claimsSets.every((c) => typeof c === 'string')) {
        invalid(claim, 'BUNDLE selector holds no [main token, { label: base64url claims-set }] bundle', at)
      }
      return { kind: 'json-bundle', value: nested }
    }
    case 'DIGEST': {
      if (!Array.isArray(nested) || nested.length !== 2) {
        invalid(claim, 'DIGEST selector holds no [alg, digest]', at)
      }
      const alg = nested[0]
      // A COSE hash algorithm, by id or name (CDDL `Detached-Submodule-Digest`).
      if (typeof alg !== 'string' && !(typeof alg === 'number' && Number.isSafeInteger(alg))) {
        invalid(claim, `expected an integer or text hash algorithm, got ${describe(alg)}`, `${at}[1][0]`)
      }
      return { kind: 'digest', alg, digest: binary(nested[1], claim, `${at}[1][1]`) }
    }
    default:
      return invalid(claim, `unknown JSON-Selector type ${JSON.stringify(type.slice(0, 32))}`, at)
  }
}

/** A JSON `submods` object: claims-set objects (not decoded here) and JSON-Selectors, in order. */
function submods(value: JsonValue, claim: string): Map<string, EatSubmodule> {
  const entries = Object.entries(object(value, claim))
  if (entries.length === 0) invalid(claim, 'empty object, must have at least 1 submodule')
  const out = new Map<string, EatSubmodule>()
  for (const [label, submod] of entries) {
    const at = `.${label}`
    if (isJsonObject(submod)) {
      out.set(label, { kind: 'json-claims', claims: submod })
    } else if (Array.isArray(submod) && submod.length === 2 && typeof submod[0] === 'string') {
      out.set(label, selector(submod[0], submod[1]!, claim, at))
    } else {
      invalid(claim, `expected a claims-set object or a JSON-Selector [type, value], got ${describe(submod)}`, at)
    }
  }
  return out
}

/**
 * An error of the shared CBOR rules, re-issued with the JSON claim name and path in place of the
 * CBOR key and path: `location (264) at {2}: missing` becomes `location at .longitude: missing`.
 */
function inJsonTerms(err: unknown): unknown {
  if (!isVerifierError(err) || err.path === undefined) return err
  const match = /^\$\{(\d+)\}(.*)$/.exec(err.path)
  const row = match === null ? undefined : CLAIM_BY_KEY.get(Number(match[1]))
  if (match === null || row === undefined) return err
  const cborAt = match[2]!
  const at = cborAt.replace(/\{([^}]*)\}/g, (_, k: string) =>
    row.field === 'location' ? `.${LOCATION_NAME_BY_KEY.get(Number(k)) ?? k}` : `.${k}`,
  )
  const prefix = `${row.name} (${row.key})${cborAt === '' ? '' : ` at ${cborAt}`}: `
  const message = err.message.startsWith(prefix)
    ? `${row.name}${at === '' ? '' : ` at ${at}`}: ${err.message.slice(prefix.length)}`
    : err.message
  return new VerifierError(err.code, message, { path: `$.${row.name}${at}`, cause: err })
}

/**
 * Decodes a JSON claims-set (a JWT payload, or a `json-claims` submodule) into `EatClaims`, under
 * the CBOR decoder's rules (see above). Does not check cross-claim rules, times or the nonce, and
 * does not descend into submodules: decode each `json-claims` submodule with this function.
 *
 * @throws VerifierError `ERR_CLAIMS_INVALID` (a claim of the wrong type, size or encoding, named by
 *   its JSON name), `ERR_CLAIMS_FLOAT_TIME` (an `iat` with a fraction or exponent)
 */
export function decodeEatJsonClaims(obj: JsonObject): EatClaims {
  if (!isJsonObject(obj)) {
    throw new VerifierError('ERR_CLAIMS_INVALID', `claims-set is ${describe(obj)}, not a JSON object`)
  }
  const cbor: CborMap = new Map()
  const jsonOnly: JsonOnly = {}
  const extensions = new Map<CborKey, CborValue>()
  for (const [name, value] of Object.entries(obj)) {
    const row = CLAIM_BY_NAME.get(name)
    if (row === undefined) {
      extensions.set(name, toCbor(value))
    } else if (row.field === 'nonces') {
      jsonOnly.nonces = nonces(value, name)
    } else if (row.field === 'intuse') {
      if (typeof value !== 'string') invalid(name, `expected text, got ${describe(value)}`)
      jsonOnly.intuse = value
    } else if (row.field === 'submods') {
      jsonOnly.submods = submods(value, name)
    } else {
      cbor.set(row.key, (TO_CBOR[row.field] ?? toCbor)(value, name))
    }
  }

  let decoded: EatClaims
  try {
    decoded = decodeEatClaims(cbor)
  } catch (err) {
    throw inJsonTerms(err)
  }
  const claims: Record<string, unknown> = { ...decoded, extensions }
  if (jsonOnly.nonces !== undefined) claims['nonces'] = jsonOnly.nonces
  if (jsonOnly.intuse !== undefined) claims['intuse'] = jsonOnly.intuse
  if (jsonOnly.submods !== undefined) claims['submods'] = jsonOnly.submods
  return claims as unknown as EatClaims
}
