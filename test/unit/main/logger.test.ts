import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { configFromEnv } from '../../../src/config/load.js'
import { createProcessLogger, loggerOptionsFor } from '../../../src/main/logger.js'
import { requestIdOf } from '../../../src/main/request-log.js'

function sink(): { stream: Writable & { write(chunk: string): boolean }; lines: () => Record<string, unknown>[]; raw: () => string } {
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8')
      done()
    },
  })
  return { stream, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), raw: () => text }
}

describe('process logger', () => {
  it('writes info to stdout and errors (with stack and cause) to stderr, once each', () => {
    const out = sink()
    const err = sink()
    const logger = createProcessLogger({ stdout: out.stream, stderr: err.stream })
    logger.log('started')
    logger.log('appraisal 1234 failed', new Error('boom', { cause: new TypeError('inner') }))
    assert.deepEqual(out.lines().map((l) => l['msg']), ['[assay] started'])
    const [line] = err.lines()
    assert.equal(err.lines().length, 1)
    assert.equal(line!['level'], 50)
    assert.equal(line!['msg'], '[assay] appraisal 1234 failed')
    const e = line!['err'] as { message: string; stack: string; cause: { type: string; message: string } }
    assert.equal(e.message, 'boom')
    assert.match(e.stack, /^Error: boom\n\s+at /)
    assert.deepEqual([e.cause.type, e.cause.message], ['TypeError', 'inner'])
  })

  it('logs a message marked WARNING: at warn level, to stderr', () => {
    const out = sink()
    const err = sink()
    const logger = createProcessLogger({ stdout: out.stream, stderr: err.stream })
    logger.log('WARNING: TEST MODE')
    assert.deepEqual(out.lines().filter((l) => l['level'] === 30), [])
    assert.deepEqual(err.lines().map((l) => [l['level'], l['msg']]), [[40, '[assay] WARNING: TEST MODE']])
  })

  it('redacts URL credentials in messages, error messages, stacks and causes, and censors credential fields', () => {
    const out = sink()
    const err = sink()
    const logger = createProcessLogger({ stdout: out.stream, stderr: err.stream })
    logger.info('Redis at redis://u:pw-one@h:1', { redisUrl: 'redis://u:pw-two@h:1', options: { password: 'pw-three' } })
    const failure = Object.assign(new Error('cannot reach redis://:pw-four@h:1', { cause: new Error('rediss://x:pw-five@h') }), {
      options: { password: 'pw-six' },
    })
    logger.log('queue', failure)
    const text = JSON.stringify([...out.lines(), ...err.lines()])
    for (const secret of ['pw-one', 'pw-two', 'pw-three', 'pw-four', 'pw-five', 'pw-six']) assert.ok(!text.includes(secret), secret)
    assert.match(text, /redis:\/\/u:\*\*\*@h:1/)
    assert.match(text, /redis:\/\/:\*\*\*@h:1/)
  })

  it('writes readable lines in the pretty format, warnings to stderr, with URL credentials still redacted', () => {
    const out = sink()
    const err = sink()
    const logger = createProcessLogger({ stdout: out.stream, stderr: err.stream, format: 'pretty' })
    logger.info('listening on http://127.0.0.1:8080', { redis: 'x', address: 'http://127.0.0.1:8080' })
    logger.log('WARNING: nothing provisioned at redis://u:pw-seven@h:1')
    const stdout = out.raw()
    const stderr = err.raw()
    assert.match(stdout, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: \[assay\] listening on http:\/\/127\.0\.0\.1:8080 \{"redis":"x","address":"http:\/\/127\.0\.0\.1:8080"\}\n$/)
    assert.match(stderr, /^\[[\d:.]+\] WARN: \[assay\] WARNING: nothing provisioned at redis:\/\/u:\*\*\*@h:1\n$/)
    assert.throws(() => JSON.parse(stdout))
  })

  it('honours the level', () => {
    const out = sink()
    const err = sink()
    const logger = createProcessLogger({ stdout: out.stream, stderr: err.stream, level: 'warn' })
    logger.info('not shown')
    logger.warn('shown')
    assert.deepEqual(out.lines(), [])
    assert.deepEqual(err.lines().map((l) => l['msg']), ['[assay] shown'])
  })

  it('takes level and format from ASSAY_LOG_LEVEL and ASSAY_LOG_FORMAT; auto is pretty on a terminal, JSON otherwise', () => {
    const defaults = configFromEnv({})
    assert.deepEqual([defaults.logLevel, defaults.logFormat], ['info', 'auto'])
    assert.deepEqual(loggerOptionsFor(defaults, true), { level: 'info', format: 'pretty', colorize: true })
    assert.deepEqual(loggerOptionsFor(defaults, false), { level: 'info', format: 'json', colorize: false })
    const set = configFromEnv({ ASSAY_LOG_LEVEL: 'debug', ASSAY_LOG_FORMAT: 'json' })
    assert.deepEqual(loggerOptionsFor(set, true), { level: 'debug', format: 'json', colorize: false })
    assert.deepEqual(loggerOptionsFor(configFromEnv({ ASSAY_LOG_FORMAT: 'pretty' }), false), { level: 'info', format: 'pretty', colorize: false })
    assert.throws(() => configFromEnv({ ASSAY_LOG_LEVEL: 'verbose' }), /logLevel/)
    assert.throws(() => configFromEnv({ ASSAY_LOG_FORMAT: 'xml' }), /logFormat/)
  })

  it('takes a sane X-Request-Id and replaces anything else with a UUID', () => {
    for (const id of ['abc', 'A-1_b.c:d@e', 'x'.repeat(128)]) assert.equal(requestIdOf(id), id)
    for (const bad of [undefined, '', 'x'.repeat(129), 'a b', 'a\u00e9', '<script>', ['a', 'b']]) {
      assert.match(requestIdOf(bad), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, String(bad))
    }
  })
})
