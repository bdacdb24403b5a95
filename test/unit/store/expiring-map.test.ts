import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ExpiringMap } from '../../../src/store/memory/expiring-map.js'

function clock(start = 1_000_000): { now: () => number; set: (ms: number) => void } {
  let t = start
  return { now: () => t, set: (ms) => void (t = ms) }
}

describe('ExpiringMap', () => {
  it('hides an entry from its expiry on, and does not store one already expired', () => {
    const c = clock(1000)
    const map = new ExpiringMap<string>(10, c.now)
    map.set('a', 'A', 1500)
    map.set('old', 'X', 1000)
    assert.equal(map.get('a'), 'A')
    assert.equal(map.get('old'), undefined)
    c.set(1500)
    assert.equal(map.get('a'), undefined)
    assert.equal(map.delete('a'), false)
  })

  it('sweeps expired entries', () => {
    const c = clock(0)
    const map = new ExpiringMap<number>(100, c.now)
    for (let i = 1; i <= 50; i++) map.set(`k${i}`, i, i * 10)
    c.set(250)
    map.sweep()
    assert.equal(map.size, 25)
    assert.deepEqual([...map.entries()].map((e) => e.value), Array.from({ length: 25 }, (_, i) => i + 26))
  })

  it('refuses a new entry when full, never evicting a live one, and takes it once room is freed', () => {
    const c = clock(0)
    const map = new ExpiringMap<string>(3, c.now)
    assert.equal(map.set('a', 'A', 100), 'stored')
    assert.equal(map.set('b', 'B', 50), 'stored')
    assert.equal(map.set('c', 'C', 200), 'stored')
    assert.equal(map.set('d', 'D', 400), 'full')
    assert.equal(map.set('b', 'B2', 300), 'stored', 'replacing a key needs no room')
    assert.deepEqual([...map.entries()].map((e) => e.key).sort(), ['a', 'b', 'c'])
    map.delete('c')
    assert.equal(map.set('d', 'D', 400), 'stored')
    c.set(100)
    assert.equal(map.set('e', 'E', 500), 'stored', 'an expired entry is swept to make room')
    assert.deepEqual([...map.entries()].map((e) => e.key).sort(), ['b', 'd', 'e'])
    assert.equal(map.set('f', 'F', 500, true), 'stored', 'force passes the bound')
    assert.equal(map.size, 4)
  })

  it('bounds the bytes held, as sizeOf estimates them, and gives bytes back on delete and expiry', () => {
    const c = clock(0)
    const map = new ExpiringMap<string>({ maxEntries: 100, maxBytes: 10, sizeOf: (_key, value) => value.length }, c.now)
    assert.equal(map.set('a', 'xxxx', 100), 'stored')
    assert.equal(map.set('b', 'yyyyy', 50), 'stored')
    assert.equal(map.bytes, 9)
    assert.equal(map.set('c', 'zz', 100), 'full')
    assert.equal(map.fits(1), true)
    assert.equal(map.fits(2), false)
    assert.equal(map.get('a'), 'xxxx')
    assert.equal(map.set('a', 'x', 100), 'stored', 'a smaller value for a key fits')
    assert.equal(map.bytes, 6)
    assert.equal(map.set('c', 'zzzz', 100), 'stored')
    assert.equal(map.replace('c', 'a much longer value'), true)
    assert.equal(map.bytes, 10, 'replace keeps the size taken at set')
    c.set(50)
    assert.equal(map.set('d', 'dddd', 100), 'stored', 'the expired entry gave its bytes back')
    map.delete('d')
    assert.equal(map.bytes, 5)
  })

  it('replaces a value but keeps its expiry', () => {
    const c = clock(0)
    const map = new ExpiringMap<string>(3, c.now)
    map.set('a', 'A', 100)
    assert.equal(map.replace('a', 'A2'), true)
    assert.equal(map.replace('missing', 'M'), false)
    c.set(100)
    assert.equal(map.get('a'), undefined)
  })

  it('agrees with a plain model through churn that forces heap rebuilds', () => {
    const c = clock(0)
    const map = new ExpiringMap<number>(10_000, c.now)
    const model = new Map<string, { value: number; expiresAt: number }>()
    let seed = 42
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    for (let i = 0; i < 50_000; i++) {
      const key = `k${random(50)}`
      const op = random(10)
      if (op < 5) {
        const expiresAt = c.now() + 1 + random(random(2) === 0 ? 1000 : 1_000_000)
        map.set(key, i, expiresAt)
        model.set(key, { value: i, expiresAt })
      } else if (op < 7) {
        const live = (model.get(key)?.expiresAt ?? 0) > c.now()
        assert.equal(map.delete(key), live)
        model.delete(key)
      } else if (op < 9) {
        const entry = model.get(key)
        assert.equal(map.get(key), entry !== undefined && entry.expiresAt > c.now() ? entry.value : undefined)
      } else {
        c.set(c.now() + random(20))
        if (random(2) === 0) map.sweep()
      }
    }
  })
})
