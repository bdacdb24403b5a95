import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { VerifierError } from '../../../src/errors/errors.js'
import { JsonFloat, isJsonObject, parseStrictJson, parseStrictJsonUtf8 } from '../../../src/jose/json.js'
import * as results from '../../../src/results/json.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof VerifierError ? e.code : String(e)
  }
  return undefined
}

describe('jose/json', () => {
  it('reports every failure as ERR_JOSE_MALFORMED', () => {
    for (const text of ['{"a":1,"a":2}', '{"a":01}', '[1,]', '\uFEFF{}', '[[[]]]']) {
      assert.equal(code(() => parseStrictJson(text, 2)), 'ERR_JOSE_MALFORMED', text)
    }
  })

  it('is what src/results/json.ts re-exports, with the EAR code on failure', () => {
    assert.equal(results.JsonFloat, JsonFloat)
    assert.equal(results.isJsonObject, isJsonObject)
    assert.ok(results.parseStrictJson('{"iat":1e9}') instanceof Object)
    assert.ok((results.parseStrictJson('[1.5]') as unknown[])[0] instanceof JsonFloat)
    assert.equal(code(() => results.parseStrictJson('{"a":1,"a":2}')), 'ERR_EAR_MALFORMED')
  })

  it('reads UTF-8 bytes strictly: invalid sequences and a BOM are refused', () => {
    assert.deepEqual(parseStrictJsonUtf8(Buffer.from('{"é":1}'), 'test'), { é: 1 })
    assert.equal(code(() => parseStrictJsonUtf8(Uint8Array.of(0x22, 0xc3, 0x22), 'test')), 'ERR_JOSE_MALFORMED')
    assert.equal(code(() => parseStrictJsonUtf8(Buffer.from('\uFEFF{}'), 'test')), 'ERR_JOSE_MALFORMED')
  })
})
