/**
 * CoMID decoding (draft-ietf-rats-corim §5, specs.md §7.2): the concise-mid-tag map, its
 * environments, measurements and keys. Strict: every key of every map is either decoded or
 * refused by name (ERR_CORIM_UNSUPPORTED); a value of the wrong shape is ERR_CORIM_MALFORMED.
 * Private-use (negative) keys pass only where the CoRIM's profile defines them.
 */
import { createHash } from 'node:crypto'
import { CborTag, type CborMap, type CborValue } from '../cose/cbor.js'
import {
  asArray,
  asBool,
  asBytes,
  asInt,
  asMap,
  asSmallUint,
  asTag,
  asText,
  asUint,
  checkKeys,
  decodeCorimCbor,
  describeValue,
  keyPath,
  malformed,
  unsupported,
  type ExtensionDefinition,
} from './read.js'
import {
  FLAG_NAMES,
  type ClassMap,
  type Comid,
  type CryptoKey,
  type Digest,
  type DigestAlgorithm,
  type Entity,
  type Environment,
  type FlagName,
  type Instance,
  type KeyTriple,
  type LinkedTag,
  type Measurement,
  type MeasurementValues,
  type Mkey,
  type ReferenceTriple,
  type Svn,
  type TaggedId,
} from './types.js'

/** Private-use keys a profile defines, per map that may carry them. */
export interface CorimExtensions {
  readonly corimMap?: ReadonlyMap<number, ExtensionDefinition>
  readonly entity?: ReadonlyMap<number, ExtensionDefinition>
  readonly comid?: ReadonlyMap<number, ExtensionDefinition>
  readonly measurementValues?: ReadonlyMap<number, ExtensionDefinition>
}

export interface ComidDecodeOptions {
  readonly extensions?: CorimExtensions
  /** @defaultValue 262144 */
  readonly maxBytes?: number
}

/** Names of CBOR tags CoRIM defines, for messages that refuse one. */
export const TAG_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'epoch time'],
  [18, 'COSE_Sign1'],
  [32, 'uri'],
  [37, 'uuid'],
  [111, 'oid'],
  [501, 'unsigned-corim-map'],
  [505, 'CoSWID'],
  [506, 'CoMID'],
  [508, 'CoTL'],
  [550, 'ueid'],
  [552, 'svn'],
  [553, 'min-svn'],
  [554, 'pkix-base64-key'],
  [555, 'pkix-base64-cert'],
  [556, 'pkix-base64-cert-path'],
  [557, 'key thumbprint'],
  [558, 'COSE_Key'],
  [559, 'cert thumbprint'],
  [560, 'bytes'],
  [561, 'cert-path thumbprint'],
  [562, 'pkix-asn1der-cert'],
  [563, 'masked-raw-value'],
  [564, 'int-range'],
])

export const tagName = (tag: number): string => `${tag} (${TAG_NAMES.get(tag) ?? 'unknown'})`

const MVAL_NAMES: ReadonlyMap<number, string> = new Map([
  [12, 'reserved key 12'],
  [15, 'int-range'],
])
const TRIPLE_NAMES: ReadonlyMap<number, string> = new Map([
  [4, 'dependency-triples'],
  [5, 'membership-triples'],
  [6, 'coswid-triples'],
  [7, 'reserved key 7'],
  [8, 'conditional-endorsement-series-triples'],
  [9, 'reserved key 9'],
  [10, 'conditional-endorsement-triples'],
])

/** Named Information Hash Algorithm Registry: id, name, digest length in bytes. */
const DIGEST_ALGORITHMS: readonly (readonly [number, DigestAlgorithm, number])[] = [
  [1, 'sha-256', 32],
  [2, 'sha-256-128', 16],
  [3, 'sha-256-120', 15],
  [4, 'sha-256-96', 12],
  [5, 'sha-256-64', 8],
  [6, 'sha-256-32', 4],
  [7, 'sha-384', 48],
  [8, 'sha-512', 64],
  [9, 'sha3-224', 28],
  [10, 'sha3-256', 32],
  [11, 'sha3-384', 48],
  [12, 'sha3-512', 64],
]
const DIGEST_BY_ID = new Map(DIGEST_ALGORITHMS.map(([id, name, len]) => [id, { name, len }] as const))
const DIGEST_BY_NAME = new Map(DIGEST_ALGORITHMS.map(([, name, len]) => [name, { name, len }] as const))

/** The digest length of a registered algorithm. */
export function digestLength(alg: DigestAlgorithm): number {
  return DIGEST_BY_NAME.get(alg)!.len
}

const DIGEST_MAX = 64

export function decodeDigest(v: CborValue, path: string): Digest {
  const pair = asArray(v, path)
  if (pair.length !== 2) malformed(path, 'a digest is [alg, value]')
  const [alg, raw] = pair as [CborValue, CborValue]
  const value = asBytes(raw, `${path}[1]`)
  if (value.length === 0 || value.length > DIGEST_MAX) malformed(`${path}[1]`, `digest value of ${value.length} bytes`)
  let known
  if (typeof alg === 'number' && Number.isInteger(alg)) known = DIGEST_BY_ID.get(alg)
  else if (typeof alg === 'string') known = DIGEST_BY_NAME.get(alg as DigestAlgorithm)
  else malformed(`${path}[0]`, `hash algorithm must be an integer or a text name, got ${describeValue(alg)}`)
  if (known === undefined) return { alg: 'unknown', id: alg as number | string, value }
  if (value.length !== known.len) malformed(`${path}[1]`, `${known.name} digest is ${value.length} bytes; it must be ${known.len}`)
  return { alg: known.name, value }
}

export function decodeDigests(v: CborValue | undefined, path: string): Digest[] {
  const list = asArray(v, path).map((d, i) => decodeDigest(d, `${path}[${i}]`))
  const seen = new Set<string>()
  for (const d of list) {
    const id = d.alg === 'unknown' ? `?${String(d.id)}` : d.alg
    if (seen.has(id)) malformed(path, `digest algorithm ${id} is listed twice`)
    seen.add(id)
  }
  return list
}

const uuid = (v: CborValue, path: string): Uint8Array => {
  const b = asBytes(v, path)
  if (b.length !== 16) malformed(path, `UUID must be 16 bytes, got ${b.length}`)
  return b
}

const ueid = (v: CborValue, path: string): Uint8Array => {
  const b = asBytes(v, path)
  if (b.length < 7 || b.length > 33) malformed(path, `UEID must be 7 to 33 bytes, got ${b.length}`)
  return b
}

const nonEmptyBytes = (v: CborValue, path: string, max = 1024): Uint8Array => {
  const b = asBytes(v, path)
  if (b.length === 0 || b.length > max) malformed(path, `byte string of ${b.length} bytes; 1 to ${max} expected`)
  return b
}

/** 560 / 37 / 111 / 550 as allowed by `accept` (tag numbers); anything else is refused by name. */
function taggedId(v: CborValue | undefined, path: string, what: string, accept: readonly number[]): TaggedId {
  const t = asTag(v, path, `a tagged ${what}`)
  if (!accept.includes(t.tag)) unsupported(path, `${what} of type tag ${tagName(t.tag)} is not processed`)
  switch (t.tag) {
    case 560:
      return { type: 'bytes', bytes: nonEmptyBytes(t.value, path) }
    case 37:
      return { type: 'uuid', bytes: uuid(t.value, path) }
    case 111:
      return { type: 'oid', bytes: nonEmptyBytes(t.value, path, 64) }
    default:
      return { type: 'ueid', bytes: ueid(t.value, path) }
  }
}

const PEM_MAX = 16 * 1024
const PEM_LABEL: Readonly<Record<number, string>> = { 554: 'PUBLIC KEY', 555: 'CERTIFICATE', 556: 'CERTIFICATE' }

/** One `$crypto-key-type-choice`. Thumbprints and COSE_Key are refused by name. */
export function decodeCryptoKey(v: CborValue | undefined, path: string): CryptoKey {
  const t = asTag(v, path, 'a tagged crypto key')
  switch (t.tag) {
    case 554:
    case 555:
    case 556: {
      const pem = asText(t.value, path)
      if (pem.length > PEM_MAX) malformed(path, `PEM text of ${pem.length} characters; at most ${PEM_MAX}`)
      if (!pem.includes(`-----BEGIN ${PEM_LABEL[t.tag]!}-----`)) malformed(path, `tag ${tagName(t.tag)} must hold a PEM ${PEM_LABEL[t.tag]!}`)
      const type = t.tag === 554 ? 'pkix-base64-key' : t.tag === 555 ? 'pkix-base64-cert' : 'pkix-base64-cert-path'
      return { type, pem }
    }
    case 562:
      return { type: 'pkix-asn1der-cert', der: nonEmptyBytes(t.value, path, PEM_MAX) }
    case 560:
      return { type: 'bytes', bytes: nonEmptyBytes(t.value, path) }
    default:
      return unsupported(path, `crypto key of type tag ${tagName(t.tag)} is not processed`)
  }
}

const CLASS_KEYS = new Set([0, 1, 2, 3, 4])

function decodeClass(v: CborValue, path: string): ClassMap {
  const m = asMap(v, path, true)
  checkKeys(m, path, 'class-map', CLASS_KEYS)
  const out: { -readonly [K in keyof ClassMap]: ClassMap[K] } = {}
  if (m.has(0)) out.classId = taggedId(m.get(0), keyPath(path, 0), 'class-id', [560, 37, 111]) as ClassMap['classId']
  if (m.has(1)) out.vendor = asText(m.get(1), keyPath(path, 1))
  if (m.has(2)) out.model = asText(m.get(2), keyPath(path, 2))
  if (m.has(3)) out.layer = asSmallUint(m.get(3), keyPath(path, 3))
  if (m.has(4)) out.index = asSmallUint(m.get(4), keyPath(path, 4))
  return out
}

function decodeInstance(v: CborValue | undefined, path: string): Instance {
  const t = asTag(v, path, 'a tagged instance-id')
  if (t.tag === 554 || t.tag === 555) return { type: 'key', key: decodeCryptoKey(t, path) }
  return taggedId(t, path, 'instance-id', [550, 37, 560])
}

const ENV_KEYS = new Set([0, 1, 2])

export function decodeEnvironment(v: CborValue, path: string): Environment {
  const m = asMap(v, path, true)
  checkKeys(m, path, 'environment-map', ENV_KEYS)
  const out: { -readonly [K in keyof Environment]: Environment[K] } = {}
  if (m.has(0)) out.class = decodeClass(m.get(0)!, keyPath(path, 0))
  if (m.has(1)) out.instance = decodeInstance(m.get(1), keyPath(path, 1))
  if (m.has(2)) out.group = taggedId(m.get(2), keyPath(path, 2), 'group-id', [37, 560]) as Environment['group']
  return out
}

function decodeMkey(v: CborValue | undefined, path: string): Mkey {
  if (typeof v === 'string') return { type: 'text', value: v }
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return { type: 'uint', value: v }
  if (v instanceof CborTag && (v.tag === 37 || v.tag === 111)) {
    const id = taggedId(v, path, 'mkey', [37, 111])
    return { type: id.type as 'uuid' | 'oid', bytes: id.bytes }
  }
  if (v instanceof CborTag) return unsupported(path, `mkey of type tag ${tagName(v.tag)} is not processed`)
  return malformed(path, `mkey must be a uint, text, 37(uuid) or 111(oid), got ${v === undefined ? 'nothing' : describeValue(v)}`)
}

function decodeSvn(v: CborValue | undefined, path: string): Svn {
  if (v instanceof CborTag) {
    if (v.tag === 552) return { type: 'exact', value: asUint(v.value, path) }
    if (v.tag === 553) return { type: 'min', value: asUint(v.value, path) }
    return unsupported(path, `svn of type tag ${tagName(v.tag)} is not processed`)
  }
  return { type: 'exact', value: asUint(v, path) }
}

const VERSION_KEYS = new Set([0, 1])

function decodeRawValue(m: CborMap, path: string): MeasurementValues['rawValue'] {
  const p = keyPath(path, 4)
  const t = asTag(m.get(4), p, '560(bytes) or 563([value, mask])')
  let value: Uint8Array
  let mask: Uint8Array | undefined
  if (t.tag === 560) value = asBytes(t.value, p)
  else if (t.tag === 563) {
    const pair = asArray(t.value, p)
    if (pair.length !== 2) malformed(p, 'masked-raw-value is [value, mask]')
    value = asBytes(pair[0], `${p}[0]`)
    mask = asBytes(pair[1], `${p}[1]`)
  } else return unsupported(p, `raw-value of type tag ${tagName(t.tag)} is not processed`)
  if (m.has(5)) {
    // specs.md correction 6: the deprecated raw-value-mask (key 5) still applies when present.
    if (mask !== undefined) malformed(keyPath(path, 5), 'raw-value-mask (5) next to a masked-raw-value 563 gives two masks')
    mask = asBytes(m.get(5), keyPath(path, 5))
  }
  if (mask !== undefined && mask.length !== value.length) malformed(p, `raw value is ${value.length} bytes and its mask ${mask.length}`)
  return mask === undefined ? { value } : { value, mask }
}

function decodeFlags(v: CborValue | undefined, path: string): ReadonlyMap<FlagName, boolean> {
  const m = asMap(v, path, true)
  const out = new Map<FlagName, boolean>()
  for (const [k, value] of m) {
    const name = typeof k === 'number' ? FLAG_NAMES[k] : undefined
    if (name === undefined) unsupported(keyPath(path, k), `flag ${String(k)} is not processed`)
    out.set(name, asBool(value, keyPath(path, k)))
  }
  return out
}

function decodeRegisters(v: CborValue | undefined, path: string): ReadonlyMap<number | string, readonly Digest[]> {
  const m = asMap(v, path, true)
  const out = new Map<number | string, readonly Digest[]>()
  for (const [k, value] of m) {
    if (!(typeof k === 'string' || (typeof k === 'number' && k >= 0))) malformed(keyPath(path, k), 'register id must be a uint or text')
    out.set(k, decodeDigests(value, keyPath(path, k)))
  }
  return out
}

const MVAL_KEYS = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14])

export function decodeMeasurementValues(v: CborValue | undefined, path: string, ext?: CorimExtensions): MeasurementValues {
  const m = asMap(v, path, true)
  for (const k of m.keys()) {
    const name = typeof k === 'number' ? MVAL_NAMES.get(k) : undefined
    if (name !== undefined) unsupported(keyPath(path, k), `measurement value ${name} (${String(k)}) is not processed`)
  }
  const extensions = checkKeys(m, path, 'measurement-values-map', MVAL_KEYS, ext?.measurementValues)
  const out: { -readonly [K in keyof MeasurementValues]: MeasurementValues[K] } = { extensions }
  const at = (k: number) => keyPath(path, k)
  if (m.has(0)) {
    const ver = asMap(m.get(0), at(0))
    checkKeys(ver, at(0), 'version-map', VERSION_KEYS)
    const version = asText(ver.get(0), keyPath(at(0), 0))
    out.version = ver.has(1) ? { version, scheme: asInt(ver.get(1), keyPath(at(0), 1)) } : { version }
  }
  if (m.has(1)) out.svn = decodeSvn(m.get(1), at(1))
  if (m.has(2)) out.digests = decodeDigests(m.get(2), at(2))
  if (m.has(3)) out.flags = decodeFlags(m.get(3), at(3))
  if (m.has(4)) out.rawValue = decodeRawValue(m, path)
  else if (m.has(5)) malformed(at(5), 'raw-value-mask (5) without a raw-value (4)')
  if (m.has(6)) {
    const mac = asBytes(m.get(6), at(6))
    if (mac.length !== 6 && mac.length !== 8) malformed(at(6), `mac-addr must be 6 or 8 bytes, got ${mac.length}`)
    out.macAddr = mac
  }
  if (m.has(7)) {
    const ip = asBytes(m.get(7), at(7))
    if (ip.length !== 4 && ip.length !== 16) malformed(at(7), `ip-addr must be 4 or 16 bytes, got ${ip.length}`)
    out.ipAddr = ip
  }
  if (m.has(8)) out.serialNumber = asText(m.get(8), at(8))
  if (m.has(9)) out.ueid = ueid(m.get(9)!, at(9))
  if (m.has(10)) out.uuid = uuid(m.get(10)!, at(10))
  if (m.has(11)) out.name = asText(m.get(11), at(11))
  if (m.has(13)) out.cryptokeys = asArray(m.get(13), at(13)).map((k, i) => decodeCryptoKey(k, `${at(13)}[${i}]`))
  if (m.has(14)) out.integrityRegisters = decodeRegisters(m.get(14), at(14))
  return out
}

const MEASUREMENT_KEYS = new Set([0, 1, 2])

function decodeMeasurement(v: CborValue, path: string, ext?: CorimExtensions): Measurement {
  const m = asMap(v, path)
  checkKeys(m, path, 'measurement-map', MEASUREMENT_KEYS)
  const mval = decodeMeasurementValues(m.get(1), keyPath(path, 1), ext)
  const out: { -readonly [K in keyof Measurement]: Measurement[K] } = { mval }
  if (m.has(0)) out.mkey = decodeMkey(m.get(0), keyPath(path, 0))
  if (m.has(2)) out.authorizedBy = asArray(m.get(2), keyPath(path, 2)).map((k, i) => decodeCryptoKey(k, `${keyPath(path, 2)}[${i}]`))
  return out
}

function decodeValueTriples(v: CborValue | undefined, path: string, ext?: CorimExtensions): ReferenceTriple[] {
  return asArray(v, path).map((t, i) => {
    const p = `${path}[${i}]`
    const pair = asArray(t, p)
    if (pair.length !== 2) malformed(p, 'a triple is [environment-map, [+ measurement-map]]')
    return {
      environment: decodeEnvironment(pair[0]!, `${p}[0]`),
      measurements: asArray(pair[1], `${p}[1]`).map((mm, j) => decodeMeasurement(mm, `${p}[1][${j}]`, ext)),
    }
  })
}

const KEY_CONDITION_KEYS = new Set([0, 1])

function decodeKeyTriples(v: CborValue | undefined, path: string): KeyTriple[] {
  return asArray(v, path).map((t, i) => {
    const p = `${path}[${i}]`
    const parts = asArray(t, p)
    if (parts.length !== 2 && parts.length !== 3) malformed(p, 'a key triple is [environment-map, [+ crypto-key], ? conditions]')
    const out: { -readonly [K in keyof KeyTriple]: KeyTriple[K] } = {
      environment: decodeEnvironment(parts[0]!, `${p}[0]`),
      keys: asArray(parts[1], `${p}[1]`).map((k, j) => decodeCryptoKey(k, `${p}[1][${j}]`)),
    }
    if (parts.length === 3) {
      const c = asMap(parts[2], `${p}[2]`)
      checkKeys(c, `${p}[2]`, 'key triple conditions', KEY_CONDITION_KEYS)
      if (c.has(0)) out.mkey = decodeMkey(c.get(0), keyPath(`${p}[2]`, 0))
      if (c.has(1)) out.authorizedBy = asArray(c.get(1), keyPath(`${p}[2]`, 1)).map((k, j) => decodeCryptoKey(k, `${p}[2]{1}[${j}]`))
    }
    return out
  })
}

const ENTITY_KEYS = new Set([0, 1, 2])

/** An entity map (CoRIM or CoMID): name, optional reg-id 32(uri), roles. */
export function decodeEntities(v: CborValue | undefined, path: string, ext?: ReadonlyMap<number, ExtensionDefinition>): Entity[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`
    const m = asMap(e, p)
    const extensions = checkKeys(m, p, 'entity-map', ENTITY_KEYS, ext)
    const name = asText(m.get(0), keyPath(p, 0))
    if (name.length === 0) malformed(keyPath(p, 0), 'entity-name must not be empty')
    const roles = asArray(m.get(2), keyPath(p, 2)).map((r, j) => asSmallUint(r, `${keyPath(p, 2)}[${j}]`))
    const out: { -readonly [K in keyof Entity]: Entity[K] } = { name, roles, extensions }
    if (m.has(1)) out.regId = uri(m.get(1), keyPath(p, 1))
    return out
  })
}

/** `uri = #6.32(tstr)`. */
export function uri(v: CborValue | undefined, path: string): string {
  const t = asTag(v, path, 'a 32(uri)')
  if (t.tag !== 32) unsupported(path, `expected a 32(uri), got tag ${tagName(t.tag)}`)
  const s = asText(t.value, path)
  if (s.length === 0) malformed(path, 'URI must not be empty')
  return s
}

/** A tag-id or CoRIM id: text, or a 16-byte UUID byte string. */
export function textOrUuid(v: CborValue | undefined, path: string, what: string): string | Uint8Array {
  if (typeof v === 'string') {
    if (v.length === 0) malformed(path, `${what} must not be empty`)
    return v
  }
  if (v instanceof Uint8Array) return uuid(v, path)
  return malformed(path, `${what} must be text or a 16-byte UUID, got ${v === undefined ? 'nothing' : describeValue(v)}`)
}

const COMID_KEYS = new Set([0, 1, 2, 3, 4])
const TRIPLE_KEYS = new Set([0, 1, 2, 3])
const IDENTITY_KEYS = new Set([0, 1])
const LINK_KEYS = new Set([0, 1])

/** Decodes a concise-mid-tag already read from CBOR; `bytes` are what it was decoded from. */
export function decodeComidMap(v: CborValue, bytes: Uint8Array, path: string, ext?: CorimExtensions): Comid {
  const m = asMap(v, path)
  checkKeys(m, path, 'concise-mid-tag', COMID_KEYS, ext?.comid)
  const idPath = keyPath(path, 1)
  const identity = asMap(m.get(1), idPath)
  checkKeys(identity, idPath, 'tag-identity-map', IDENTITY_KEYS)
  const tagId = textOrUuid(identity.get(0), keyPath(idPath, 0), 'tag-id')
  const tagVersion = identity.has(1) ? asSmallUint(identity.get(1), keyPath(idPath, 1)) : 0

  const triplesPath = keyPath(path, 4)
  const triples = asMap(m.get(4), triplesPath, true)
  for (const k of triples.keys()) {
    const name = typeof k === 'number' ? TRIPLE_NAMES.get(k) : undefined
    if (name !== undefined) unsupported(keyPath(triplesPath, k), `${name} (${String(k)}) are not processed`)
  }
  checkKeys(triples, triplesPath, 'triples-map', TRIPLE_KEYS)
  const at = (k: number) => keyPath(triplesPath, k)

  const linkedTags: LinkedTag[] = m.has(3)
    ? asArray(m.get(3), keyPath(path, 3)).map((l, i) => {
        const p = `${keyPath(path, 3)}[${i}]`
        const lm = asMap(l, p)
        checkKeys(lm, p, 'linked-tag-map', LINK_KEYS)
        return { tagId: textOrUuid(lm.get(0), keyPath(p, 0), 'linked-tag-id'), rel: asSmallUint(lm.get(1), keyPath(p, 1)) }
      })
    : []

  const out: { -readonly [K in keyof Comid]: Comid[K] } = {
    tagId,
    tagVersion,
    entities: m.has(2) ? decodeEntities(m.get(2), keyPath(path, 2), ext?.entity) : [],
    linkedTags,
    referenceTriples: triples.has(0) ? decodeValueTriples(triples.get(0), at(0), ext) : [],
    endorsedTriples: triples.has(1) ? decodeValueTriples(triples.get(1), at(1), ext) : [],
    identityTriples: triples.has(2) ? decodeKeyTriples(triples.get(2), at(2)) : [],
    attestKeyTriples: triples.has(3) ? decodeKeyTriples(triples.get(3), at(3)) : [],
    digest: createHash('sha256').update(bytes).digest(),
  }
  if (m.has(0)) out.language = asText(m.get(0), keyPath(path, 0))
  return out
}

/**
 * Decodes a CoMID from its bytes: the concise-mid-tag map, or the same map in tag 506.
 * Throws ERR_CORIM_MALFORMED / ERR_CORIM_UNSUPPORTED naming the field.
 */
export function decodeComid(bytes: Uint8Array, options: ComidDecodeOptions = {}): Comid {
  let v = decodeCorimCbor(bytes, 'comid', options.maxBytes ?? 256 * 1024)
  if (v instanceof CborTag) {
    if (v.tag !== 506) malformed('comid', `expected a concise-mid-tag or 506(concise-mid-tag), got tag ${tagName(v.tag)}`)
    v = v.value
  }
  return decodeComidMap(v, bytes, 'comid', options.extensions)
}
