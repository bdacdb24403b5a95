/**
 * Typed readers over decoded CBOR for the CoRIM and CoMID decoders. Every reader takes the path of
 * the value it reads (`corim-map{1}[0]`…) so a refusal says where; every refusal is a
 * `VerifierError` with an ERR_CORIM_* code. Nothing here knows CoRIM semantics.
 */
import { CborTag, decodeCbor, type CborKey, type CborMap, type CborValue } from '../cose/cbor.js'
import type { ErrorCode } from '../errors/codes.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'

/** Throws ERR_CORIM_MALFORMED: a value of the wrong shape, size or type at `path`. */
export function malformed(path: string, message: string): never {
  throw new VerifierError('ERR_CORIM_MALFORMED', `${path}: ${message}`, { path })
}

/** Throws ERR_CORIM_UNSUPPORTED: a well-formed field, tag or type that Assay does not process, named. */
export function unsupported(path: string, message: string): never {
  throw new VerifierError('ERR_CORIM_UNSUPPORTED', `${path}: ${message}`, { path })
}

/**
 * Every CBOR tag a CoRIM may carry somewhere (specs.md §7.1). The decoder admits these and the
 * field readers then accept or refuse each by name where it occurs; any other tag is refused by
 * the CBOR layer and reported as unsupported.
 */
export const CORIM_TAGS: ReadonlySet<number> = new Set([
  1, 18, 32, 37, 111, 501, 505, 506, 508, 550, 552, 553, 554, 555, 556, 557, 558, 559, 560, 561, 562, 563, 564,
])

/** Depth for CoMID maps: triples nest environment, class and tagged ids about twelve levels down. */
export const CORIM_MAX_DEPTH = 24

/**
 * Decodes one CBOR item of a CoRIM. CBOR-level faults become ERR_CORIM_MALFORMED, a tag outside
 * `CORIM_TAGS` ERR_CORIM_UNSUPPORTED; the CBOR error is kept as `cause`.
 */
export function decodeCorimCbor(bytes: Uint8Array, path: string, maxBytes: number): CborValue {
  try {
    return decodeCbor(bytes, { maxBytes, maxDepth: CORIM_MAX_DEPTH, allowedTags: CORIM_TAGS })
  } catch (cause) {
    if (!isVerifierError(cause)) throw cause
    const code: ErrorCode = cause.code === 'ERR_CBOR_TAG_NOT_ALLOWED' ? 'ERR_CORIM_UNSUPPORTED' : 'ERR_CORIM_MALFORMED'
    throw new VerifierError(code, `${path}: ${cause.message}`, { cause, path })
  }
}

export function describeValue(v: CborValue): string {
  if (v instanceof CborTag) return `tag ${v.tag}`
  if (v instanceof Uint8Array) return 'byte string'
  if (v instanceof Map) return 'map'
  if (Array.isArray(v)) return 'array'
  if (v === null) return 'null'
  if (typeof v === 'object') return 'float'
  return typeof v === 'bigint' ? 'integer' : typeof v === 'number' ? 'integer' : typeof v
}

export function asMap(v: CborValue | undefined, path: string, nonEmpty = false): CborMap {
  if (!(v instanceof Map)) return malformed(path, `expected a map, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  if (nonEmpty && v.size === 0) malformed(path, 'map must not be empty')
  return v
}

export function asArray(v: CborValue | undefined, path: string, nonEmpty = true): readonly CborValue[] {
  if (!Array.isArray(v)) return malformed(path, `expected an array, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  if (nonEmpty && v.length === 0) malformed(path, 'array must not be empty')
  return v as readonly CborValue[]
}

export function asText(v: CborValue | undefined, path: string): string {
  if (typeof v !== 'string') return malformed(path, `expected a text string, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  return v
}

export function asBytes(v: CborValue | undefined, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) return malformed(path, `expected a byte string, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  return v
}

export function asBool(v: CborValue | undefined, path: string): boolean {
  if (typeof v !== 'boolean') return malformed(path, `expected a boolean, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  return v
}

/** An unsigned integer; values beyond 2^53 − 1 stay `bigint`. */
export function asUint(v: CborValue | undefined, path: string): number | bigint {
  if ((typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n)) return v
  return malformed(path, `expected an unsigned integer, got ${v === undefined ? 'nothing' : describeValue(v)}`)
}

/** An unsigned integer that must fit a JS number (counts, versions, layer, index). */
export function asSmallUint(v: CborValue | undefined, path: string): number {
  const n = asUint(v, path)
  if (typeof n === 'bigint') return malformed(path, 'integer is too large')
  return n
}

export function asInt(v: CborValue | undefined, path: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v
  return malformed(path, `expected an integer, got ${v === undefined ? 'nothing' : describeValue(v)}`)
}

/** A tagged value; `tags` names what is acceptable here, for the message. */
export function asTag(v: CborValue | undefined, path: string, expected: string): CborTag {
  if (!(v instanceof CborTag)) return malformed(path, `expected ${expected}, got ${v === undefined ? 'nothing' : describeValue(v)}`)
  return v
}

/** `time = #6.1(int)` (CoRIM validity, corim-meta signature-validity). */
export function asEpochTime(v: CborValue | undefined, path: string): number {
  const t = asTag(v, path, 'an epoch time 1(int)')
  if (t.tag !== 1) malformed(path, `expected an epoch time 1(int), got tag ${t.tag}`)
  return asInt(t.value, path)
}

export function keyPath(path: string, key: CborKey): string {
  return `${path}{${String(key)}}`
}

/**
 * Refuses any key of `map` that is not in `known`. A negative integer key is a private-use
 * extension: accepted only when `extensions` (the profile's definitions for this map) has it.
 * Returns the extension values found, checked by their definitions.
 */
export function checkKeys(
  map: CborMap,
  path: string,
  what: string,
  known: ReadonlySet<number>,
  extensions?: ReadonlyMap<number, ExtensionDefinition>,
): ReadonlyMap<number, CborValue> {
  const found = new Map<number, CborValue>()
  for (const [key, value] of map) {
    if (typeof key === 'number' && known.has(key)) continue
    const ext = typeof key === 'number' ? extensions?.get(key) : undefined
    if (ext !== undefined) {
      if (!ext.accepts(value)) malformed(keyPath(path, key), `${what} extension ${key} (${ext.name}) has a value of the wrong type`)
      found.set(key as number, value)
      continue
    }
    if (typeof key === 'number' && key < 0) {
      unsupported(keyPath(path, key), `${what} extension ${key} is not defined by the CoRIM's profile`)
    }
    unsupported(keyPath(path, key), `${what} key ${typeof key === 'string' ? JSON.stringify(key) : String(key)} is not processed`)
  }
  return found
}

/** A private-use (negative) key a profile defines for one map, with its value rule. */
export interface ExtensionDefinition {
  readonly name: string
  readonly accepts: (value: CborValue) => boolean
}
