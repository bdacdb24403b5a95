import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { decodeBase64Lenient } from '../../../src/util/base64url.js'

describe('decodeBase64Lenient', () => {
  it('reads base64url and base64, padded or not, to the same bytes', () => {
    for (let n = 0; n < 70; n++) {
      const bytes = randomBytes(n)
      const url = bytes.toString('base64url')
      const std = bytes.toString('base64')
      for (const form of [url, url + '='.repeat((4 - (url.length % 4)) % 4), std, std.replace(/=+$/, '')]) {
        assert.deepEqual(Buffer.from(decodeBase64Lenient(form) as Uint8Array), bytes, form)
      }
    }
  })

  it('names why it refuses a text', () => {
    const cases: [string, string][] = [
      ['3q2 7w==', 'space'],
      ['3q2-7w=', 'padding'],
      ['3q2-7w===', 'alphabet'],
      ['3q==2-7w', 'alphabet'],
      ['=', 'padding'],
      ['3q2.7w', 'alphabet'],
      ['3q2-7w\n', 'alphabet'],
      ['a+b_', 'mixed-alphabets'],
      ['AAAAA', 'length'],
      ['3q2-7x', 'trailing-bits'],
      ['AB==', 'trailing-bits'],
    ]
    for (const [text, why] of cases) assert.equal(decodeBase64Lenient(text), why, JSON.stringify(text))
  })
})
