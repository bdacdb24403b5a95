/**
 * The CBOR façade: the only module that imports the codec.
 *
 * Decoding untrusted bytes follows these written rules (RFC 8949 plus Assay policy):
 * 1. The input is exactly one well-formed item: truncation, reserved additional-information values,
 *    a stray break and trailing bytes are rejected.
 * 2. Byte strings decode to fresh `Uint8Array` copies; nothing aliases the caller's buffer.
 * 3. Integers within ±(2^53 − 1) decode to `number`; beyond that to `bigint`, exactly.
 * 4. Floating-point values decode to `CborFloat`, never to `number`, so an integer-only field (iat,
 *    exp, a label) can tell `1` from `1.0`.
 * 5. Maps decode to `Map`; a key must be an integer or a text string; a duplicate key is rejected
 *    (RFC 8949 §5.6, RFC 9052 §3), including the same integer written in a longer encoding.
 * 6. Text strings must be valid UTF-8.
 * 7. Tags are rejected unless the caller allows that tag number; an allowed tag decodes to `CborTag`.
 * 8. Simple values other than false, true and null (including `undefined`) are rejected.
 * 9. Indefinite lengths are rejected unless the caller's profile allows them.
 * 10. Total size and nesting depth are bounded; a declared length larger than the rest of the
 *     input is rejected before anything is allocated.
 *
 * cbor-x cannot enforce rules 4, 5, 7 and 10 (it keeps the last duplicate key and turns tag 64
 * into a Uint8Array), and running a validator in front of it would leave two parsers whose
 * disagreements are attack surface. So decoding is one strict pass written here, and cbor-x is
 * used for encoding, where none of these rules apply. See docs/decisions.md.
 */
import { Encoder, Tag } from 'cbor-x'
import { VerifierError } from '../errors/errors.js'
import type { ErrorCode } from '../errors/codes.js'

/** A tagged item whose tag number the caller allowed. */
export class CborTag {
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

/** A floating-point item (major type 7, additional information 25, 26 or 27). */
export class CborFloat {
  constructor(readonly value: number) {}
}

export type CborKey = number | bigint | string
export type CborMap = Map<CborKey, CborValue>
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | readonly CborValue[]
  | CborMap
  | CborTag
  | CborFloat

export interface DecodeOptions {
  /** @defaultValue 262144 (256 KiB) */
  readonly maxBytes?: number
  /** Maximum nesting of arrays, maps and tags below the top-level item. @defaultValue 16 */
  readonly maxDepth?: number
  /** @defaultValue false */
  readonly allowIndefinite?: boolean
  /** Tag numbers that may appear anywhere in the item. @defaultValue none */
  readonly allowedTags?: ReadonlySet<number>
}

export const DEFAULT_MAX_BYTES = 256 * 1024
export const DEFAULT_MAX_DEPTH = 16

const NO_TAGS: ReadonlySet<number> = new Set()
const BREAK = Symbol('break')
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const TWO_POW_32 = 2 ** 32

/** Decodes exactly one CBOR item under the rules above. Throws `VerifierError` (ERR_CBOR_*). */
export function decodeCbor(input: Uint8Array, options: DecodeOptions = {}): CborValue {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (input.length > maxBytes) {
    throw new VerifierError('ERR_CBOR_TOO_LARGE', `CBOR input is ${input.length} bytes; the limit is ${maxBytes}`)
  }
  // A Node Buffer's slice() is a view; a plain Uint8Array view makes every slice() a copy (rule 2).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  const decoder = new StrictDecoder(
    bytes,
    options.maxDepth ?? DEFAULT_MAX_DEPTH,
    options.allowIndefinite ?? false,
    options.allowedTags ?? NO_TAGS,
  )
  const value = decoder.item(0)
  if (value === BREAK) return decoder.fail('ERR_CBOR_MALFORMED', 'unexpected break')
  if (decoder.pos !== input.length) {
    throw new VerifierError('ERR_CBOR_TRAILING_BYTES', `${input.length - decoder.pos} bytes follow the CBOR item`)
  }
  return value
}

class StrictDecoder {
  pos = 0
  /** Array indices as numbers, map keys as `{key}` strings; read only when an error is thrown. */
  private readonly path: (string | number)[] = []

  constructor(
    private readonly buf: Uint8Array,
    private readonly maxDepth: number,
    private readonly allowIndefinite: boolean,
    private readonly allowedTags: ReadonlySet<number>,
  ) {}

  fail(code: ErrorCode, message: string): never {
    const path = '$' + this.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('')
    throw new VerifierError(code, `${message} at ${path}`, { path })
  }

  private need(n: number): void {
    if (n > this.buf.length - this.pos) this.fail('ERR_CBOR_TRUNCATED', 'input ends inside an item')
  }

  /** Reads the argument of a head; returns -1 for indefinite length (ai 31). */
  private argument(ai: number): number | bigint {
    if (ai < 24) return ai
    const b = this.buf
    switch (ai) {
      case 24:
        this.need(1)
        return b[this.pos++]!
      case 25:
        this.need(2)
        this.pos += 2
        return (b[this.pos - 2]! << 8) | b[this.pos - 1]!
      case 26: {
        this.need(4)
        const p = this.pos
        this.pos += 4
        return ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!
      }
      case 27: {
        this.need(8)
        const p = this.pos
        this.pos += 8
        const hi = ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!
        const lo = ((b[p + 4]! << 24) >>> 0) + (b[p + 5]! << 16) + (b[p + 6]! << 8) + b[p + 7]!
        if (hi < 0x200000) return hi * TWO_POW_32 + lo
        return (BigInt(hi) << 32n) | BigInt(lo)
      }
      case 31:
        return -1
      default:
        return this.fail('ERR_CBOR_MALFORMED', `reserved additional information ${ai}`)
    }
  }

  /** A length that must fit in the remaining input, `unit` bytes at least per element. */
  private length(arg: number | bigint, unit: number): number {
    if (typeof arg === 'bigint' || arg * unit > this.buf.length - this.pos) {
      this.fail('ERR_CBOR_TRUNCATED', 'declared length exceeds the input')
    }
    return arg
  }

  private enter(depth: number): number {
    if (depth >= this.maxDepth) this.fail('ERR_CBOR_TOO_DEEP', `nesting deeper than ${this.maxDepth}`)
    return depth + 1
  }

  private indefinite(): void {
    if (!this.allowIndefinite) this.fail('ERR_CBOR_INDEFINITE_LENGTH', 'indefinite-length item')
  }

  item(depth: number): CborValue | typeof BREAK {
    this.need(1)
    const ib = this.buf[this.pos++]!
    const major = ib >> 5
    const ai = ib & 0x1f
    if (major === 7) return this.simple(ai)
    const arg = this.argument(ai)
    switch (major) {
      case 0:
        if (arg === -1) return this.fail('ERR_CBOR_MALFORMED', 'indefinite integer')
        return arg
      case 1:
        if (arg === -1) return this.fail('ERR_CBOR_MALFORMED', 'indefinite integer')
        if (typeof arg === 'bigint') return -1n - arg
        return arg < Number.MAX_SAFE_INTEGER ? -1 - arg : -1n - BigInt(arg)
      case 2:
        return arg === -1 ? this.chunked(2) : this.bytes(this.length(arg, 1))
      case 3:
        return arg === -1 ? this.chunked(3) : this.text(this.length(arg, 1))
      case 4:
        return this.array(arg, depth)
      case 5:
        return this.map(arg, depth)
      default:
        return this.tag(arg, depth)
    }
  }

  private simple(ai: number): CborValue | typeof BREAK {
    switch (ai) {
      case 20:
        return false
      case 21:
        return true
      case 22:
        return null
      case 24: {
        this.need(1)
        const v = this.buf[this.pos++]!
        if (v < 32) return this.fail('ERR_CBOR_MALFORMED', `two-byte simple value ${v}`)
        return this.fail('ERR_CBOR_UNSUPPORTED_SIMPLE', `simple value ${v}`)
      }
      case 25:
      case 26:
      case 27:
        return this.float(ai)
      case 28:
      case 29:
      case 30:
        return this.fail('ERR_CBOR_MALFORMED', `reserved additional information ${ai}`)
      case 31:
        return BREAK
      default:
        return this.fail('ERR_CBOR_UNSUPPORTED_SIMPLE', ai === 23 ? 'undefined' : `simple value ${ai}`)
    }
  }

  private float(ai: number): CborFloat {
    const size = ai === 25 ? 2 : ai === 26 ? 4 : 8
    this.need(size)
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, size)
    this.pos += size
    if (size === 2) return new CborFloat(halfToNumber(view.getUint16(0)))
    return new CborFloat(size === 4 ? view.getFloat32(0) : view.getFloat64(0))
  }

  private bytes(n: number): Uint8Array {
    const out = this.buf.slice(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  private text(n: number): string {
    const b = this.buf
    const start = this.pos
    this.pos += n
    if (n <= 64) {
      let ascii = ''
      let i = start
      for (; i < start + n; i++) {
        const c = b[i]!
        if (c >= 0x80) break
        ascii += String.fromCharCode(c)
      }
      if (i === start + n) return ascii
    }
    try {
      return utf8Decoder.decode(b.subarray(start, start + n))
    } catch {
      this.pos = start
      return this.fail('ERR_CBOR_INVALID_UTF8', 'text string is not valid UTF-8')
    }
  }

  /** Indefinite-length byte or text string: definite chunks of the same major type until break. */
  private chunked(major: 2 | 3): Uint8Array | string {
    this.indefinite()
    const chunks: (Uint8Array | string)[] = []
    for (;;) {
      this.need(1)
      const ib = this.buf[this.pos++]!
      if (ib === 0xff) break
      if (ib >> 5 !== major || (ib & 0x1f) === 31) this.fail('ERR_CBOR_MALFORMED', 'bad chunk in indefinite string')
      const n = this.length(this.argument(ib & 0x1f), 1)
      chunks.push(major === 2 ? this.bytes(n) : this.text(n))
    }
    if (major === 3) return chunks.join('')
    let total = 0
    for (const c of chunks as Uint8Array[]) total += c.length
    const out = new Uint8Array(total)
    let off = 0
    for (const c of chunks as Uint8Array[]) {
      out.set(c, off)
      off += c.length
    }
    return out
  }

  private array(arg: number | bigint, depth: number): CborValue[] {
    const inner = this.enter(depth)
    const out: CborValue[] = []
    if (arg === -1) {
      this.indefinite()
      for (let i = 0; ; i++) {
        this.path.push(i)
        const v = this.item(inner)
        this.path.pop()
        if (v === BREAK) return out
        out.push(v)
      }
    }
    const n = this.length(arg, 1)
    for (let i = 0; i < n; i++) {
      this.path.push(i)
      const v = this.item(inner)
      if (v === BREAK) this.fail('ERR_CBOR_MALFORMED', 'unexpected break')
      this.path.pop()
      out.push(v)
    }
    return out
  }

  private map(arg: number | bigint, depth: number): CborMap {
    const inner = this.enter(depth)
    const out: CborMap = new Map()
    const n = arg === -1 ? (this.indefinite(), Infinity) : this.length(arg, 2)
    for (let i = 0; i < n; i++) {
      const key = this.item(inner)
      if (key === BREAK) {
        if (n === Infinity) return out
        this.fail('ERR_CBOR_MALFORMED', 'unexpected break')
      }
      if (typeof key !== 'number' && typeof key !== 'bigint' && typeof key !== 'string') {
        this.fail('ERR_CBOR_MAP_KEY_TYPE', 'map key is neither an integer nor a text string')
      }
      if (out.has(key)) this.fail('ERR_CBOR_DUPLICATE_KEY', `duplicate map key ${String(key)}`)
      this.path.push(`{${String(key)}}`)
      const value = this.item(inner)
      if (value === BREAK) this.fail('ERR_CBOR_MALFORMED', 'break in place of a map value')
      this.path.pop()
      out.set(key, value)
    }
    return out
  }

  private tag(arg: number | bigint, depth: number): CborTag {
    if (arg === -1) this.fail('ERR_CBOR_MALFORMED', 'indefinite tag')
    if (typeof arg === 'bigint' || !this.allowedTags.has(arg)) {
      this.fail('ERR_CBOR_TAG_NOT_ALLOWED', `tag ${String(arg)} is not allowed here`)
    }
    const value = this.item(this.enter(depth))
    if (value === BREAK) this.fail('ERR_CBOR_MALFORMED', 'break in place of a tag content')
    return new CborTag(arg, value)
  }
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 31) return frac === 0 ? sign * Infinity : Number.NaN
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

/**
 * Reads a tag head at `offset` without decoding its content: `{ tag, next }` where `next` is the
 * offset of the tagged item, or undefined when the byte there does not start a tag. Envelope
 * parsers use it to dispatch on a message tag before decoding anything.
 */
export function peekTag(input: Uint8Array, offset = 0): { tag: number | bigint; next: number } | undefined {
  const ib = input[offset]
  if (ib === undefined || ib >> 5 !== 6) return undefined
  const ai = ib & 0x1f
  if (ai < 24) return { tag: ai, next: offset + 1 }
  const size = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0
  if (size === 0 || offset + 1 + size > input.length) return undefined
  let tag = 0n
  for (let i = 1; i <= size; i++) tag = (tag << 8n) | BigInt(input[offset + i]!)
  return { tag: tag <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(tag) : tag, next: offset + 1 + size }
}

/** CBOR head for `major` with argument `n` in preferred (shortest) form. */
export function encodeHead(major: number, n: number): Uint8Array {
  const mt = major << 5
  if (n < 24) return Uint8Array.of(mt | n)
  if (n < 0x100) return Uint8Array.of(mt | 24, n)
  if (n < 0x10000) return Uint8Array.of(mt | 25, n >> 8, n & 0xff)
  if (n < TWO_POW_32) return Uint8Array.of(mt | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
  throw new RangeError('length too large for this encoder')
}

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
  useFloat32: 0,
})

/** Values `encodeCbor` accepts: decoded values, plus plain objects whose keys are text. */
export type EncodableValue =
  | CborValue
  | readonly EncodableValue[]
  | Map<CborKey, EncodableValue>
  | { readonly [key: string]: EncodableValue }

/**
 * Encodes a value with definite lengths and shortest integer heads. `CborTag` becomes a tag,
 * `CborFloat` a float (an integral one is refused: the codec would write it as an integer). Used
 * for results, test tokens and anything Assay itself produces.
 */
export function encodeCbor(value: EncodableValue): Uint8Array {
  return encoder.encode(toCodec(value))
}

function toCodec(value: EncodableValue): unknown {
  if (value instanceof CborTag) return new Tag(toCodec(value.value), value.tag)
  if (value instanceof CborFloat) {
    // cbor-x writes every integral number as an integer; refuse rather than change the type silently.
    if (Number.isInteger(value.value)) throw new TypeError('encodeCbor cannot write an integral CborFloat as a float')
    return value.value
  }
  // cbor-x writes an integral number outside the 32-bit range as a float64; as a bigint it gets an
  // integer head (major type 0 or 1, 8-byte argument), which the decoder reads back as that number.
  if (typeof value === 'number' && Number.isInteger(value) && (value > 0xffffffff || value < -0x100000000)) return BigInt(value)
  // -2^64 fits a CBOR integer head, but cbor-x writes it as a tag-3 bignum: refuse rather than change its type.
  if (typeof value === 'bigint' && value === -(2n ** 64n)) throw new TypeError('encodeCbor cannot write -2^64')
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(toCodec)
  if (value instanceof Map) {
    const out = new Map<CborKey, unknown>()
    for (const [k, v] of value) out.set(k, toCodec(v))
    return out
  }
  const out = new Map<string, unknown>()
  for (const [k, v] of Object.entries(value)) out.set(k, toCodec(v as EncodableValue))
  return out
}
