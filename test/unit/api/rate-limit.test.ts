import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RATE_COST, clientKey, requestCost } from '../../../src/api/rate-limit.js'
import { createMemoryRateLimiter } from '../../../src/store/rate-limiter.js'

describe('rate limit keys and costs', () => {
  it('keys IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
    assert.equal(clientKey('192.0.2.7'), '192.0.2.7')
    assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(clientKey('::1'), '0:0:0:0::/64')
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
    assert.equal(clientKey(undefined), 'unknown')
  })

  it('charges Evidence most, creations less, everything else 1', () => {
    assert.equal(requestCost('POST', '/v1/appraisals'), RATE_COST.evidence)
    assert.equal(requestCost('POST', '/challenge-response/v1/session/abc'), RATE_COST.evidence)
    assert.equal(requestCost('POST', '/v1/nonces'), RATE_COST.create)
    assert.equal(requestCost('POST', '/challenge-response/v1/newSession'), RATE_COST.create)
    assert.equal(requestCost('GET', '/v1/appraisals/x'), RATE_COST.other)
    assert.equal(requestCost('DELETE', '/challenge-response/v1/session/abc'), RATE_COST.other)
  })

  it('the memory limiter refuses past the budget and says when to retry', async () => {
    const limiter = createMemoryRateLimiter({ points: 10, windowSeconds: 30 })
    assert.deepEqual(await limiter.consume('a', 6), { allowed: true })
    assert.deepEqual(await limiter.consume('a', 4), { allowed: true })
    const refused = await limiter.consume('a', 1)
    assert.equal(refused.allowed, false)
    assert.ok(!refused.allowed && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 30)
    assert.deepEqual(await limiter.consume('b', 10), { allowed: true }, 'budgets are per client')
  })
})
