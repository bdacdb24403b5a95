import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WaiterRegistry } from '../../../src/queue/waiters.js'

const outcome = (id: string) => ({ id, tenant: 'default', status: 'complete' as const })

describe('WaiterRegistry', () => {
  it('settles every waiter of one id, and only those', async () => {
    const waiters = new WaiterRegistry()
    const a1 = waiters.wait('a', 10_000)
    const a2 = waiters.wait('a', 10_000)
    const b = waiters.wait('b', 20)
    assert.equal(waiters.size, 3)
    assert.ok(waiters.has('a'))

    waiters.settle('a', outcome('a'))
    assert.deepEqual(await Promise.all([a1, a2]), [outcome('a'), outcome('a')])
    assert.equal(waiters.has('a'), false)
    assert.equal(await b, undefined)
    assert.equal(waiters.size, 0)
  })

  it('removes a timed-out waiter and leaves the others of its id', async () => {
    const waiters = new WaiterRegistry()
    const short = waiters.wait('a', 10)
    const long = waiters.wait('a', 10_000)
    assert.equal(await short, undefined)
    assert.equal(waiters.size, 1)
    waiters.settle('a', outcome('a'))
    assert.deepEqual(await long, outcome('a'))
    assert.equal(waiters.size, 0)
  })

  it('clear() resolves everything with undefined', async () => {
    const waiters = new WaiterRegistry()
    const pending = [waiters.wait('a', 10_000), waiters.wait('b', 10_000)]
    waiters.clear()
    assert.deepEqual(await Promise.all(pending), [undefined, undefined])
    assert.equal(waiters.size, 0)
    waiters.settle('a', outcome('a'))
  })
})
