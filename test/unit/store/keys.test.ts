import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  credentialBase,
  heartbeatsKey,
  nonceKey,
  prefixPattern,
  recordKey,
  resultKey,
  sessionKey,
} from '../../../src/store/keys.js'
import { fromHex } from '../../../src/util/bytes.js'

describe('store keys', () => {
  it('hash-tags record keys by tenant', () => {
    assert.equal(nonceKey('assay', 'default', fromHex('00FFa5')), 'assay:{default}:nonce:00ffa5')
    assert.equal(sessionKey('assay', 'tenant-1', 'c0ffee'), 'assay:{tenant-1}:session:c0ffee')
    const id = 'b5a1c4d2-0d4e-4f1e-9a57-2f6f9f0e1a2b'
    assert.equal(resultKey('assay-test', 'default', id), `assay-test:{default}:result:${id}`)
    assert.equal(heartbeatsKey('assay'), 'assay:hb')
    assert.equal(prefixPattern('assay'), 'assay:*')
  })

  it('puts every credential under one hash tag that no tenant can have', () => {
    assert.equal(credentialBase('assay'), 'assay:{_credentials}:')
    assert.throws(() => recordKey('assay', '_credentials', 'session', 'x'), TypeError)
    assert.throws(() => credentialBase('a:b'), TypeError)
  })

  it('accepts tenant ids of 1 to 63 characters of [a-z0-9-], not starting with -', () => {
    assert.ok(sessionKey('p', 'a', 'x'))
    assert.ok(sessionKey('p', `a${'-'.repeat(62)}`, 'x'))
    for (const tenant of ['', '-a', 'A', 'a_b', 'a:b', 'a}', '{a', 'a*', 'é', `a${'b'.repeat(63)}`]) {
      assert.throws(() => sessionKey('p', tenant, 'x'), TypeError, JSON.stringify(tenant))
    }
  })

  it('rejects ids and prefixes that could reach other keys or widen a SCAN pattern', () => {
    for (const id of ['', 'a:b', 'a b', 'a*', 'a?', '[a]', '{a}', '.hidden', 'a'.repeat(129), 'a\n']) {
      assert.throws(() => resultKey('p', 'default', id), TypeError, JSON.stringify(id))
    }
    for (const prefix of ['', 'a:b', '{a}', 'a*', ' a', 'a'.repeat(101)]) {
      assert.throws(() => heartbeatsKey(prefix), TypeError, JSON.stringify(prefix))
    }
  })

  it('takes nonces of 1 to 64 bytes, and only hex nonce ids', () => {
    assert.throws(() => nonceKey('p', 'default', new Uint8Array(0)), TypeError)
    assert.throws(() => nonceKey('p', 'default', new Uint8Array(65)), TypeError)
    assert.equal(nonceKey('p', 'default', new Uint8Array(64)), `p:{default}:nonce:${'00'.repeat(64)}`)
    assert.throws(() => recordKey('p', 'default', 'nonce', 'ABCD'), TypeError)
    assert.throws(() => recordKey('p', 'default', 'nonce', 'abc'), TypeError)
  })
})
