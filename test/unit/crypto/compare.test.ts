import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { constantTimeEqual } from '../../../src/crypto/compare.js'
import { fromHex } from '../../../src/util/bytes.js'

describe('constantTimeEqual', () => {
  it('is true for equal bytes', () => {
    assert.equal(constantTimeEqual(fromHex('00112233'), fromHex('00112233')), true)
    const a = new Uint8Array(64).fill(0xa5)
    assert.equal(constantTimeEqual(a, new Uint8Array(a)), true)
    assert.equal(constantTimeEqual(a, a), true)
  })

  it('is false for bytes of equal length that differ', () => {
    assert.equal(constantTimeEqual(fromHex('00112233'), fromHex('00112234')), false)
    assert.equal(constantTimeEqual(fromHex('80112233'), fromHex('00112233')), false)
    assert.equal(constantTimeEqual(new Uint8Array(32), new Uint8Array(32).fill(1)), false)
  })

  it('is false, without throwing, for different lengths', () => {
    assert.equal(constantTimeEqual(fromHex('001122'), fromHex('00112233')), false)
    assert.equal(constantTimeEqual(fromHex('00112233'), fromHex('001122')), false)
    assert.equal(constantTimeEqual(new Uint8Array(0), fromHex('00')), false)
  })

  it('is true for two empty inputs', () => {
    assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true)
  })

  it('compares the viewed bytes of subarrays, not their buffers', () => {
    const buffer = fromHex('ff0011223344ff')
    assert.equal(constantTimeEqual(buffer.subarray(1, 6), fromHex('0011223344')), true)
    assert.equal(constantTimeEqual(buffer.subarray(0, 5), fromHex('0011223344')), false)
  })
})
