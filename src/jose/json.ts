/**
 * Strict JSON for JOSE headers, JWT claims-sets and EAR claims-sets. `JSON.parse` keeps the last of
 * duplicate member names and cannot tell `1666529184` from `1.666529184e+09`; both matter here:
 *
 * 1. Duplicate member names are rejected at every level (RFC 7515 §5.2 and RFC 7519 §4 allow
 *    "reject or take the last"; Assay rejects, specs.md §2.2). Names compare after unescaping.
 * 2. A number written with a fraction or an exponent decodes to `JsonFloat`, never to `number`, so
 *    an integer-only claim (iat, exp, a trust value) rejects it even when its value is integral.
 * 3. The grammar is RFC 8259's, with nothing extra: no comments, trailing commas, NaN, leading `+`
 *    or BOM. Escapes must not produce a lone surrogate (I-JSON, RFC 7493 §2.1).
 * 4. Nesting depth is bounded; objects are plain objects, with `__proto__` stored as an own member.
 *
 * Every failure is `ERR_JOSE_MALFORMED` (src/results/json.ts re-issues it as `ERR_EAR_MALFORMED`).
 */
import { VerifierError } from '../errors/errors.js'

/** A JSON number written with a fraction or an exponent. */
export class JsonFloat {
  constructor(
    readonly value: number,
    /** The number token exactly as written. */
    readonly text: string,
  ) {}
}

/** A value `parseStrictJson` returns. */
export type JsonValue = null | boolean | number | string | JsonFloat | JsonValue[] | JsonObject
/** A JSON object: a plain object whose members are all own properties. */
export interface JsonObject {
  [name: string]: JsonValue
}

/** @defaultValue 32 */
export const DEFAULT_JSON_MAX_DEPTH = 32

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Parses one JSON text under the rules above.
 *
 * @throws VerifierError `ERR_JOSE_MALFORMED`
 */
export function parseStrictJson(text: string, maxDepth = DEFAULT_JSON_MAX_DEPTH): JsonValue {
  const parser = new Parser(text, maxDepth)
  const value = parser.value(0)
  parser.skipWhitespace()
  if (parser.pos !== text.length) parser.fail('unexpected content after the JSON value')
  return value
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Parses JSON sent as bytes: strict UTF-8 (RFC 8259 §8.1; a BOM is not skipped, so it fails as JSON),
 * then `parseStrictJson`. `what` names the input in the error.
 *
 * @throws VerifierError `ERR_JOSE_MALFORMED`
 */
export function parseStrictJsonUtf8(
  bytes: Uint8Array,
  what: string,
  maxDepth: number = DEFAULT_JSON_MAX_DEPTH,
): JsonValue {
  let text: string
  try {
    text = utf8Decoder.decode(bytes)
  } catch (cause) {
    throw new VerifierError('ERR_JOSE_MALFORMED', `${what} is not valid UTF-8`, { cause })
  }
  return parseStrictJson(text, maxDepth)
}

/** Whether a parsed value is a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonFloat)
}

class Parser {
  pos = 0

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  fail(message: string): never {
    throw new VerifierError('ERR_JOSE_MALFORMED', `invalid JSON: ${message} at offset ${this.pos}`)
  }

  skipWhitespace(): void {
    const t = this.text
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos)
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return
      this.pos++
    }
  }

  value(depth: number): JsonValue {
    this.skipWhitespace()
    const c = this.text[this.pos]
    switch (c) {
      case '{':
        return this.object(depth)
      case '[':
        return this.array(depth)
      case '"':
        return this.string()
      case 't':
        return this.literal('true', true)
      case 'f':
        return this.literal('false', false)
      case 'n':
        return this.literal('null', null)
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
        return this.fail(c === undefined ? 'unexpected end of input' : `unexpected ${JSON.stringify(c)}`)
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal')
    this.pos += word.length
    return value
  }

  private number(): number | JsonFloat {
    NUMBER.lastIndex = this.pos
    const match = NUMBER.exec(this.text)
    if (match === null) return this.fail('invalid number')
    this.pos = NUMBER.lastIndex
    const token = match[0]
    const value = Number(token)
    if (!Number.isFinite(value)) this.fail('number out of range')
    return match[1] === undefined && match[2] === undefined ? value : new JsonFloat(value, token)
  }

  private string(): string {
    const t = this.text
    const start = this.pos
    let escaped = false
    let i = start + 1
    for (;;) {
      if (i >= t.length) {
        this.pos = i
        return this.fail('unterminated string')
      }
      const c = t.charCodeAt(i)
      if (c === 0x22) break
      if (c < 0x20) {
        this.pos = i
        return this.fail('control character in string')
      }
      if (c === 0x5c) {
        escaped = true
        i += 2
      } else {
        i++
      }
    }
    this.pos = i + 1
    if (!escaped) return t.slice(start + 1, i)
    let decoded: string
    try {
      // The span is delimited above; JSON.parse only has to apply RFC 8259's escape rules to it.
      decoded = JSON.parse(t.slice(start, i + 1)) as string
    } catch {
      this.pos = start
      return this.fail('invalid escape in string')
    }
    if (LONE_SURROGATE.test(decoded)) {
      this.pos = start
      this.fail('escape yields a lone surrogate')
    }
    return decoded
  }

  private enter(depth: number): number {
    if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`)
    this.pos++
    return depth + 1
  }

  private array(depth: number): JsonValue[] {
    const inner = this.enter(depth)
    const out: JsonValue[] = []
    this.skipWhitespace()
    if (this.text[this.pos] === ']') {
      this.pos++
      return out
    }
    for (;;) {
      out.push(this.value(inner))
      this.skipWhitespace()
      const c = this.text[this.pos++]
      if (c === ']') return out
      if (c !== ',') this.fail("expected ',' or ']'")
    }
  }

  private object(depth: number): JsonObject {
    const inner = this.enter(depth)
    const out: JsonObject = {}
    this.skipWhitespace()
    if (this.text[this.pos] === '}') {
      this.pos++
      return out
    }
    for (;;) {
      this.skipWhitespace()
      if (this.text[this.pos] !== '"') this.fail('expected a member name')
      const at = this.pos
      const name = this.string()
      if (Object.hasOwn(out, name)) {
        this.pos = at
        this.fail(`duplicate member name ${JSON.stringify(name)}`)
      }
      this.skipWhitespace()
      if (this.text[this.pos++] !== ':') this.fail("expected ':'")
      const value = this.value(inner)
      if (name === '__proto__') {
        Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
      } else {
        out[name] = value
      }
      this.skipWhitespace()
      const c = this.text[this.pos++]
      if (c === '}') return out
      if (c !== ',') this.fail("expected ',' or '}'")
    }
  }
}
