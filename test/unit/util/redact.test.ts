import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { redactCredentials } from '../../../src/util/redact.js'

describe('redactCredentials', () => {
  const cases: [string, string][] = [
    ['redis://user:pass@host:6379/0', 'redis://user:***@host:6379/0'],
    ['rediss://:s3cret@redis.example:6380', 'rediss://:***@redis.example:6380'],
    ['redis://lonesecret@host', 'redis://***@host'],
    ['redis://u:p@ss@w0rd@host:1', 'redis://u:***@host:1'],
    ['Redis at REDIS://a:b@c (x)', 'Redis at REDIS://a:***@c (x)'],
    ['connect redis://h:1?password=topsecret&db=2', 'connect redis://h:1?password=***&db=2'],
    ['two: redis://a:x@h1 and https://b:y@h2/p', 'two: redis://a:***@h1 and https://b:***@h2/p'],
    ['"url":"redis://a:x@h"', '"url":"redis://a:***@h"'],
  ]
  for (const [input, expected] of cases) {
    it(`redacts ${JSON.stringify(input)}`, () => {
      assert.equal(redactCredentials(input), expected)
    })
  }

  it('leaves text without credentials as it is', () => {
    for (const text of ['redis://127.0.0.1:6379', 'http://[::1]:8080/v1', 'no url here', 'mailto:a@b', 'user@host']) {
      assert.equal(redactCredentials(text), text)
    }
  })
})
