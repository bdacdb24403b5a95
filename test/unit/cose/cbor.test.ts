import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decode as codecDecode } from 'cbor-x'
import { CborFloat, CborTag, decodeCbor, encodeCbor, peekTag, type DecodeOptions } from '../../../src/cose/cbor.js'
import { VerifierError } from '../../../src/errors/errors.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { fromHex } from '../../../src/util/bytes.js'

function rejects(hex: string, code: ErrorCode, options?: DecodeOptions): void {
  assert.throws(
    () => decodeCbor(fromHex(hex), options),
    (e: unknown) => e instanceof VerifierError && e.code === code,
    `${hex} should fail with ${code}`,
  )
}

describe('cbor façade: values', () => {
  it('decodes maps to Map with integer and text keys, byte strings to fresh Uint8Array copies', () => {
    const input = fromHex('a2012663616263420102')
    const value = decodeCbor(input) as Map<unknown, unknown>
    assert.ok(value instanceof Map)
    assert.equal(value.get(1), -7)
    const bytes = value.get('abc') as Uint8Array
    assert.deepEqual([...bytes], [1, 2])
    input[8] = 0xff
    assert.equal(bytes[0], 1, 'decoded bytes must not alias the input')
    const buffer = Buffer.from('a1014201 02'.replace(' ', ''), 'hex')
    const fromBuffer = (decodeCbor(buffer) as Map<number, Uint8Array>).get(1)!
    assert.equal(Object.getPrototypeOf(fromBuffer), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer view')
    buffer[3] = 0xff
    assert.equal(fromBuffer[0], 1, 'no aliasing of a Buffer input either')
  })

  it('keeps integers beyond 2^53 exact as bigint and safe ones as number', () => {
    assert.equal(decodeCbor(fromHex('1b001fffffffffffff')), Number.MAX_SAFE_INTEGER)
    assert.equal(decodeCbor(fromHex('1b0020000000000000')), 2n ** 53n)
    assert.equal(decodeCbor(fromHex('1bffffffffffffffff')), 2n ** 64n - 1n)
    assert.equal(decodeCbor(fromHex('3b001ffffffffffffe')), -Number.MAX_SAFE_INTEGER)
    assert.equal(decodeCbor(fromHex('3b001fffffffffffff')), -(2n ** 53n))
    assert.equal(decodeCbor(fromHex('3bffffffffffffffff')), -(2n ** 64n))
  })

  it('decodes floats to CborFloat so 1.0 is not the integer 1', () => {
    assert.deepEqual(decodeCbor(fromHex('f93c00')), new CborFloat(1))
    assert.deepEqual(decodeCbor(fromHex('fa47c35000')), new CborFloat(100000))
    assert.deepEqual(decodeCbor(fromHex('fb3ff199999999999a')), new CborFloat(1.1))
    assert.deepEqual(decodeCbor(fromHex('f90001')), new CborFloat(5.960464477539063e-8))
    assert.equal(decodeCbor(fromHex('01')), 1)
  })

  it('accepts non-preferred integer encodings (PSA must tolerate variant serialization)', () => {
    assert.equal(decodeCbor(fromHex('1800')), 0)
    assert.equal(decodeCbor(fromHex('1a00000001')), 1)
  })

  it('decodes allowed tags to CborTag and reads text as UTF-8', () => {
    const v = decodeCbor(fromHex('d8 3d d2 80'.replaceAll(' ', '')), { allowedTags: new Set([61, 18]) })
    assert.ok(v instanceof CborTag && v.tag === 61)
    assert.equal(decodeCbor(fromHex('62c3a9')), 'é')
  })

  it('decodes indefinite lengths only when allowed', () => {
    const hex = 'bf0102ff'
    rejects(hex, 'ERR_CBOR_INDEFINITE_LENGTH')
    const v = decodeCbor(fromHex(hex), { allowIndefinite: true }) as Map<number, number>
    assert.equal(v.get(1), 2)
    assert.deepEqual([...(decodeCbor(fromHex('5f42010241 03ff'.replaceAll(' ', '')), { allowIndefinite: true }) as Uint8Array)], [1, 2, 3])
    assert.equal(decodeCbor(fromHex('7f61616162ff'), { allowIndefinite: true }), 'ab')
    assert.deepEqual(decodeCbor(fromHex('9f0102ff'), { allowIndefinite: true }), [1, 2])
  })

  it('peekTag reads a tag head without decoding', () => {
    assert.deepEqual(peekTag(fromHex('d28440')), { tag: 18, next: 1 })
    assert.deepEqual(peekTag(fromHex('d83d')), { tag: 61, next: 2 })
    assert.deepEqual(peekTag(fromHex('d9025a80')), { tag: 602, next: 3 })
    assert.equal(peekTag(fromHex('84')), undefined)
    assert.equal(peekTag(fromHex('d9')), undefined)
  })

  it('refuses to encode an integral CborFloat, which the codec would turn into an integer', () => {
    assert.throws(() => encodeCbor(new Map([[6, new CborFloat(1)]])), TypeError)
    assert.deepEqual([...encodeCbor(new CborFloat(1.5))], [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
  })

  it('encodes integers beyond 32 bits as integers (cbor-x alone writes a float64), and refuses -2^64', () => {
    assert.equal(Buffer.from(encodeCbor(2 ** 32)).toString('hex'), '1b0000000100000000')
    assert.equal(Buffer.from(encodeCbor(-(2 ** 32) - 1)).toString('hex'), '3b0000000100000000')
    assert.equal(decodeCbor(encodeCbor(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER)
    assert.equal(Buffer.from(encodeCbor(1n - 2n ** 64n)).toString('hex'), '3bfffffffffffffffe')
    assert.throws(() => encodeCbor(-(2n ** 64n)), TypeError)
  })

  it('encodes definite-length maps with integer keys as cbor-x would not by default', () => {
    assert.deepEqual([...encodeCbor(new Map([[1, -7]]))], [0xa1, 0x01, 0x26])
    assert.deepEqual([...encodeCbor(new CborTag(18, [new Uint8Array([1])]))], [0xd2, 0x81, 0x41, 0x01])
  })
})

describe('cbor façade: rejections', () => {
  it('rejects duplicate map keys, which cbor-x alone silently accepts', () => {
    const hex = 'a201020103'
    const lenient = codecDecode(fromHex(hex)) as Record<string, unknown>
    assert.equal(lenient[1] ?? (lenient as unknown as Map<number, number>).get?.(1), 3, 'cbor-x keeps the last value')
    rejects(hex, 'ERR_CBOR_DUPLICATE_KEY')
  })

  it('rejects a duplicate written in a longer integer encoding', () => rejects('a2010218010a', 'ERR_CBOR_DUPLICATE_KEY'))
  it('rejects duplicate text keys', () => rejects('a261610161610a', 'ERR_CBOR_DUPLICATE_KEY'))
  it('rejects duplicates in nested maps and says where', () => {
    assert.throws(
      () => decodeCbor(fromHex('a10aa201020103')),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CBOR_DUPLICATE_KEY' && e.path === '${10}',
    )
  })
  it('rejects map keys that are not integers or text', () => {
    rejects('a1410102', 'ERR_CBOR_MAP_KEY_TYPE')
    rejects('a1f93c0002', 'ERR_CBOR_MAP_KEY_TYPE')
    rejects('a18001', 'ERR_CBOR_MAP_KEY_TYPE')
  })
  it('rejects truncated input', () => {
    rejects('', 'ERR_CBOR_TRUNCATED')
    rejects('a201', 'ERR_CBOR_TRUNCATED')
    rejects('5820000102', 'ERR_CBOR_TRUNCATED')
    rejects('1b000000', 'ERR_CBOR_TRUNCATED')
    rejects('fb3ff1', 'ERR_CBOR_TRUNCATED')
  })
  it('rejects declared lengths beyond the input before allocating', () => {
    rejects('5bffffffffffffffff', 'ERR_CBOR_TRUNCATED')
    rejects('9b00000000ffffffff', 'ERR_CBOR_TRUNCATED')
    rejects('ba7fffffff', 'ERR_CBOR_TRUNCATED')
  })
  it('rejects trailing bytes', () => rejects('0102', 'ERR_CBOR_TRAILING_BYTES'))
  it('rejects reserved additional information and stray breaks', () => {
    rejects('1c', 'ERR_CBOR_MALFORMED')
    rejects('ff', 'ERR_CBOR_MALFORMED')
    rejects('8201ff', 'ERR_CBOR_MALFORMED')
    rejects('1f', 'ERR_CBOR_MALFORMED')
    rejects('f800', 'ERR_CBOR_MALFORMED')
    rejects('5f01ff', 'ERR_CBOR_MALFORMED', { allowIndefinite: true })
  })
  it('rejects invalid UTF-8', () => {
    rejects('62c328', 'ERR_CBOR_INVALID_UTF8')
    rejects('61ff', 'ERR_CBOR_INVALID_UTF8')
  })
  it('rejects tags that are not allowed, including tag 64 that cbor-x turns into bytes', () => {
    rejects('d2 80'.replace(' ', ''), 'ERR_CBOR_TAG_NOT_ALLOWED')
    rejects('d8404101', 'ERR_CBOR_TAG_NOT_ALLOWED')
    rejects('c11a5f5e1000', 'ERR_CBOR_TAG_NOT_ALLOWED')
    rejects('d2d3 80'.replace(' ', ''), 'ERR_CBOR_TAG_NOT_ALLOWED', { allowedTags: new Set([18]) })
  })
  it('rejects undefined and unassigned simple values', () => {
    rejects('f7', 'ERR_CBOR_UNSUPPORTED_SIMPLE')
    rejects('f0', 'ERR_CBOR_UNSUPPORTED_SIMPLE')
    rejects('f8ff', 'ERR_CBOR_UNSUPPORTED_SIMPLE')
  })
  it('bounds nesting depth', () => {
    const deep = '81'.repeat(20) + '00'
    rejects(deep, 'ERR_CBOR_TOO_DEEP')
    assert.doesNotThrow(() => decodeCbor(fromHex(deep), { maxDepth: 20 }))
    rejects('81'.repeat(100_000) + '00', 'ERR_CBOR_TOO_DEEP', { maxBytes: 1 << 20 })
  })
  it('bounds total size', () => {
    rejects('5a00000400' + '00'.repeat(1024), 'ERR_CBOR_TOO_LARGE', { maxBytes: 1000 })
    assert.doesNotThrow(() => decodeCbor(fromHex('5a00000400' + '00'.repeat(1024)), { maxBytes: 2000 }))
  })
})
