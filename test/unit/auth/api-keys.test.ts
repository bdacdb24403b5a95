/**
 * API key format, hashing and comparison: generated keys parse back; a property over arbitrary
 * strings and over mutations of real keys shows that only the exact format parses; the stored hash
 * is bound to the whole key.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  API_KEY_LENGTH,
  generateApiKey,
  isKeyHash,
  isKeyId,
  keyHash,
  keyMatches,
  looksLikeApiKey,
  parseApiKey,
} from '../../../src/auth/api-keys.js'

const FORMAT = /^assay_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/

describe('API keys', () => {
  it('are generated in the format, with a 256-bit secret, and parse back to their parts', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const { key, keyId, hash } = generateApiKey()
      assert.match(key, FORMAT)
      assert.equal(key.length, API_KEY_LENGTH)
      const parts = parseApiKey(key)
      assert.deepEqual(parts, { keyId, secret: key.slice(31) })
      assert.equal(Buffer.from(parts!.secret, 'base64url').length, 32)
      assert.ok(isKeyId(keyId) && isKeyHash(hash))
      assert.equal(hash, keyHash(key))
      seen.add(keyId)
    }
    assert.equal(seen.size, 200, 'key ids do not repeat')
  })

  it('refuses near misses', () => {
    const { key } = generateApiKey()
    const id = key.slice(6, 30)
    const secret = key.slice(31)
    const bad = [
      '',
      key.slice(0, -1),
      `${key}A`,
      `Assay_${id}_${secret}`,
      `assay-${id}_${secret}`,
      `assay_${id.toUpperCase().replace(/[0-9]/g, 'A')}_${secret}`,
      `assay_${id}-${secret}`,
      `assay_${id}_${secret.slice(0, 42)}=`,
      `assay_${id}_${secret.slice(0, 42)}+`,
      ` ${key}`,
      `assay_${id}_${'A'.repeat(42)}B`, // unused low bits set: a second spelling of some key
    ]
    for (const text of bad) assert.equal(parseApiKey(text), undefined, JSON.stringify(text))
    assert.equal(parseApiKey(undefined), undefined)
    assert.equal(parseApiKey(42), undefined)
    assert.equal(parseApiKey('x'.repeat(1_000_000)), undefined)
  })

  it('property: whatever parses is exactly the format and has one spelling', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 100 }), fc.stringMatching(/^assay_[0-9a-fA-F_]{20,28}_[A-Za-z0-9_=+/-]{40,46}$/)), (text) => {
        const parts = parseApiKey(text)
        if (parts === undefined) return
        assert.match(text, FORMAT)
        assert.equal(Buffer.from(parts.secret, 'base64url').toString('base64url'), parts.secret)
        assert.equal(`assay_${parts.keyId}_${parts.secret}`, text)
      }),
      { numRuns: 2000 },
    )
  })

  it('property: changing one character of a key makes it fail to parse or to match its hash', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: API_KEY_LENGTH - 1 }), fc.integer({ min: 0x21, max: 0x7e }), (at, code) => {
        const { key, hash } = generateApiKey()
        const changed = key.slice(0, at) + String.fromCharCode(code) + key.slice(at + 1)
        if (changed === key) return
        assert.ok(parseApiKey(changed) === undefined || !keyMatches(changed, hash))
      }),
      { numRuns: 2000 },
    )
  })

  it('match only the key whose hash is stored, and never a malformed stored hash', () => {
    const a = generateApiKey()
    const b = generateApiKey()
    assert.equal(keyMatches(a.key, a.hash), true)
    assert.equal(keyMatches(b.key, a.hash), false)
    assert.equal(keyMatches(a.key, a.hash.toUpperCase()), false)
    assert.equal(keyMatches(a.key, ''), false)
    assert.equal(keyMatches(a.key, a.hash.slice(2)), false)
    // Digests that differ in their first or their last byte are both refused.
    const flip = (hex: string, at: number) => hex.slice(0, at) + ((parseInt(hex[at]!, 16) ^ 1).toString(16)) + hex.slice(at + 1)
    assert.equal(keyMatches(a.key, flip(a.hash, 0)), false)
    assert.equal(keyMatches(a.key, flip(a.hash, 63)), false)
  })

  it('hash the whole key, so a hash is bound to its key id', () => {
    const { key } = generateApiKey()
    const other = `assay_${'0'.repeat(24)}_${key.slice(31)}`
    assert.notEqual(keyHash(key), keyHash(other))
    assert.equal(keyHash(key), createHash('sha256').update(key).digest('hex'))
    assert.equal(looksLikeApiKey(key), true)
    assert.equal(looksLikeApiKey('eyJhbGciOi.x.y'), false)
  })
})
