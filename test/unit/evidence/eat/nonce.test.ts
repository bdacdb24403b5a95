/**
 * JSON `eat_nonce` forms (RFC 9711 §4.1: text of 8..88 bytes, alphabet not fixed; specs.md
 * Corrections 8): every text maps to a value without throwing, and nothing maps to a nonce this
 * verifier could not have issued.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { NONCE_MAX_BYTES, NONCE_MIN_BYTES, isNonceSize, nonceFromJson } from '../../../../src/evidence/eat/nonce.js'
import { utf8 } from '../../../../src/util/bytes.js'

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url')
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

describe('nonceFromJson', () => {
  it('reads a base64url or base64 nonce of 8..64 bytes back as those bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: NONCE_MIN_BYTES, maxLength: NONCE_MAX_BYTES }), (bytes) => {
        assert.deepEqual(nonceFromJson(utf8(b64url(bytes))), bytes)
        assert.deepEqual(nonceFromJson(utf8(b64(bytes))), bytes)
      }),
      { numRuns: 300 },
    )
  })

  it('keeps text that decodes to fewer than 8 or more than 64 bytes as its own UTF-8 bytes', () => {
    // 8 base64url characters are 6 bytes; 88 are 66 bytes: both are nonces RFC 9711 allows in JSON.
    const short = 'AAAAAAAA'
    const long = 'A'.repeat(88)
    assert.deepEqual(nonceFromJson(utf8(short)), utf8(short))
    assert.deepEqual(nonceFromJson(utf8(long)), utf8(long))
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 1, maxLength: NONCE_MIN_BYTES - 1 }), fc.uint8Array({ minLength: NONCE_MAX_BYTES + 1, maxLength: 66 })),
        (bytes) => {
          const text = utf8(b64url(bytes))
          assert.deepEqual(nonceFromJson(text), text)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('never throws, and yields either a nonce of issuable size or exactly the text it was given', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 0, maxLength: 120 }), (text) => {
        const bytes = utf8(text)
        const out = nonceFromJson(bytes)
        assert.ok(isNonceSize(out) || Buffer.compare(Buffer.from(out), Buffer.from(bytes)) === 0)
      }),
      { numRuns: 1000 },
    )
  })
})
