import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { VerifierError } from '../../../src/errors/errors.js'
import { JsonFloat, isJsonObject, parseStrictJson } from '../../../src/results/json.js'

function malformed(text: string): void {
  assert.throws(
    () => parseStrictJson(text),
    (e: unknown) => e instanceof VerifierError && e.code === 'ERR_EAR_MALFORMED',
    text,
  )
}

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses, integers as numbers', () => {
    const text = ' {"a": [1, -2, 0, true, false, null, "x\\u00e9\\n"], "b": {"c": {}} , "d": []}\n'
    assert.deepEqual(parseStrictJson(text), JSON.parse(text))
  })

  it('decodes fractions and exponents to JsonFloat, keeping the token', () => {
    const value = parseStrictJson('{"iat": 1.666529184e+09, "a": 2.0, "b": 1E3, "c": -0.5}')
    assert.ok(isJsonObject(value))
    assert.deepEqual(value['iat'], new JsonFloat(1666529184, '1.666529184e+09'))
    assert.ok(value['a'] instanceof JsonFloat && value['a'].value === 2)
    assert.ok(value['b'] instanceof JsonFloat && value['b'].value === 1000)
    assert.ok(value['c'] instanceof JsonFloat)
  })

  it('rejects duplicate member names, also when escapes spell the same name', () => {
    malformed('{"alg":"ES256","alg":"none"}')
    malformed('{"alg":"ES256","\\u0061lg":"none"}')
    malformed('{"a":{"b":1,"b":2}}')
    assert.deepEqual(parseStrictJson('[{"a":1},{"a":2}]'), [{ a: 1 }, { a: 2 }])
  })

  it('keeps __proto__ as an own member, never as the prototype', () => {
    const value = parseStrictJson('{"__proto__": {"polluted": true}}')
    assert.ok(isJsonObject(value))
    assert.ok(Object.hasOwn(value, '__proto__'))
    assert.equal(Object.getPrototypeOf(value), Object.prototype)
    assert.equal((value as { polluted?: boolean }).polluted, undefined)
  })

  it('rejects everything outside RFC 8259', () => {
    for (const text of [
      '',
      '{',
      '{"a":1,}',
      '[1,]',
      '{"a" 1}',
      "{'a':1}",
      '{"a":01}',
      '{"a":+1}',
      '{"a":.5}',
      '{"a":1.}',
      '{"a":NaN}',
      '{"a":1e999}',
      '\uFEFF{}',
      '{} {}',
      '{"a":1} // comment',
      '{"a":"\u0001"}',
      '{"a":"\\x41"}',
      '{"a":"unterminated}',
      '{"a":"\\ud800"}',
      '{"a":tru}',
    ]) {
      malformed(text)
    }
  })

  it('accepts escaped surrogate pairs', () => {
    assert.deepEqual(parseStrictJson('"\\ud83d\\ude00"'), '😀')
  })

  it('bounds the nesting depth', () => {
    assert.doesNotThrow(() => parseStrictJson('['.repeat(32) + ']'.repeat(32)))
    malformed('['.repeat(33) + ']'.repeat(33))
    assert.throws(() => parseStrictJson('[[[]]]', 2), VerifierError)
  })
})
