import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { createProcessLogger } from '../../../src/main/logger.js'

function sink(): { stream: Writable & { write(chunk: string): boolean }; lines: () => Record<string, unknown>[] } {
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8')
      done()
    },
  })
  return { stream, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) }
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
})
