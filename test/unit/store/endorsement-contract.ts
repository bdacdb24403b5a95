/**
 * The endorsement store contract: one suite that every adapter of the port must pass (memory in
 * `endorsements-memory.test.ts`, Redis in `test/integration/store/endorsements-redis.test.ts`). Each
 * test works in a tenant of its own, so tests never see each other's documents.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { isVerifierError } from '../../../src/errors/errors.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import {
  MAX_LOOKUP_RESULTS,
  contentDigest,
  type EndorsementChangeEvent,
  type EndorsementLimits,
  type EndorsementStore,
  type EndorsementWrite,
} from '../../../src/store/endorsements.js'

/** Stores under test and how to dispose of them. */
export interface EndorsementHarness {
  /** A store with `limits` over this harness's backing data. */
  open(limits?: Partial<EndorsementLimits>): Promise<EndorsementStore>
  /**
   * Whether two stores from `open` share their data (Redis: two processes on one prefix). When
   * false, `watch` is tested on one store.
   */
  readonly shared: boolean
  cleanup(): Promise<void>
}

const BY = { createdBy: 'operator@example', source: 'api' }

function newTenant(): string {
  return `t-${randomBytes(6).toString('hex')}`
}

function anchor(instance: string, extra: Partial<EndorsementWrite> = {}): EndorsementWrite {
  return {
    kind: 'trust-anchor',
    body: { instanceId: instance, key: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ' }, notes: ['é', 1.5, null, true] },
    indexIds: [`psa-instance:${instance}`, 'psa-impl:aabbcc'],
    ...BY,
    ...extra,
  }
}

async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isVerifierError(err, code), `expected ${code}, got ${String(err)}`)
    return true
  })
}

/**
 * Watches `store` for `tenant`: `event` resolves with its first change, or rejects `ms` after
 * `start()` is called (once the subscription is in place).
 */
async function watchFor(store: EndorsementStore, tenant: string): Promise<{ event: (ms: number) => Promise<EndorsementChangeEvent> }> {
  let resolveEvent: (event: EndorsementChangeEvent) => void = () => {}
  const seen = new Promise<EndorsementChangeEvent>((resolve) => {
    resolveEvent = resolve
  })
  const stop = await store.watch((event) => {
    if (event.tenant === tenant) resolveEvent(event)
  })
  return {
    event: async (ms) => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no change event within ${ms} ms`)), ms)
      })
      try {
        return await Promise.race([seen, timeout])
      } finally {
        clearTimeout(timer)
        stop()
      }
    },
  }
}

export function endorsementContract(name: string, make: () => Promise<EndorsementHarness>): void {
  describe(`endorsement store contract: ${name}`, () => {
    let harness: EndorsementHarness
    let store: EndorsementStore

    before(async () => {
      harness = await make()
      store = await harness.open()
    })

    after(async () => {
      await store.close()
      await harness.cleanup()
    })

    describe('documents and versions', () => {
      it('creates, reads, replaces and keeps every version readable', async () => {
        const tenant = newTenant()
        const v1 = await store.create(tenant, 'dev-1', anchor('01'))
        assert.equal(v1.version, 1)
        assert.equal(v1.active, true)
        assert.equal(v1.deleted, false)
        assert.equal(v1.createdBy, BY.createdBy)
        assert.equal(v1.source, 'api')
        assert.deepEqual(v1.indexIds, ['psa-impl:aabbcc', 'psa-instance:01'])
        assert.equal(typeof v1.createdAt, 'number')
        assert.match(v1.digest, /^[0-9a-f]{64}$/)
        assert.deepEqual(await store.get(tenant, 'dev-1'), v1)
        assert.deepEqual((await store.get(tenant, 'dev-1'))?.body, anchor('01').body)

        const v2 = await store.put(tenant, 'dev-1', anchor('01', { body: { replaced: true }, source: 'file:/etc/ta.json' }))
        assert.equal(v2.version, 2)
        assert.deepEqual((await store.get(tenant, 'dev-1'))?.body, { replaced: true })
        assert.deepEqual(await store.get(tenant, 'dev-1', 1), v1)
        assert.deepEqual(await store.get(tenant, 'dev-1', 2), v2)
        assert.deepEqual((await store.versions(tenant, 'dev-1')).map((v) => v.version), [1, 2])
        assert.notEqual(v2.digest, v1.digest)
      })

      it('refuses to create an id that exists, to replace one that does not, and to change its kind', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev-1', anchor('01'))
        await refusal(store.create(tenant, 'dev-1', anchor('02')), 'ERR_ENDORSEMENT_CONFLICT')
        await refusal(store.put(tenant, 'nobody', anchor('02')), 'ERR_ENDORSEMENT_NOT_FOUND')
        await refusal(store.put(tenant, 'dev-1', { ...anchor('01'), kind: 'profile' }), 'ERR_ENDORSEMENT_CONFLICT')
        assert.equal((await store.get(tenant, 'dev-1'))?.version, 1)
        assert.equal(await store.get(tenant, 'nobody'), undefined)
        assert.deepEqual(await store.versions(tenant, 'nobody'), [])
      })

      it('answers undefined for a version it does not hold, and TypeError for one that cannot be', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev-1', anchor('01'))
        assert.equal(await store.get(tenant, 'dev-1', 2), undefined)
        assert.equal(await store.get(tenant, 'dev-1', 999_999), undefined)
        for (const bad of [0, -1, 1.5, Number.NaN]) {
          await assert.rejects(store.get(tenant, 'dev-1', bad), TypeError, String(bad))
        }
      })

      it('deletes with a tombstone: gone from listings and lookups, history readable, id reusable', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev-1', anchor('01'))
        const tomb = await store.delete(tenant, 'dev-1', { createdBy: 'admin', source: 'api' })
        assert.equal(tomb?.version, 2)
        assert.equal(tomb?.deleted, true)
        assert.equal(tomb?.body, null)
        assert.deepEqual(tomb?.indexIds, [])
        assert.equal(tomb?.createdBy, 'admin')
        assert.equal((await store.get(tenant, 'dev-1'))?.deleted, true)
        assert.deepEqual((await store.get(tenant, 'dev-1', 1))?.body, anchor('01').body)
        assert.deepEqual((await store.list(tenant)).items, [])
        assert.deepEqual(await store.lookup(tenant, 'psa-instance:01'), [])
        assert.equal(await store.delete(tenant, 'dev-1', BY), undefined)
        await refusal(store.put(tenant, 'dev-1', anchor('01')), 'ERR_ENDORSEMENT_NOT_FOUND')
        await refusal(store.setActive(tenant, 'dev-1', false, BY), 'ERR_ENDORSEMENT_NOT_FOUND')

        const again = await store.create(tenant, 'dev-1', anchor('01'))
        assert.equal(again.version, 3)
        assert.deepEqual((await store.versions(tenant, 'dev-1')).map((v) => [v.version, v.deleted]), [[1, false], [2, true], [3, false]])
        assert.equal((await store.lookup(tenant, 'psa-instance:01')).length, 1)
      })

      it('activates and deactivates with a new version each, and only on a change of state', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev-1', anchor('01'))
        const off = await store.setActive(tenant, 'dev-1', false, { createdBy: 'admin', source: 'api' })
        assert.equal(off.version, 2)
        assert.equal(off.active, false)
        assert.deepEqual(off.body, anchor('01').body)
        assert.equal((await store.setActive(tenant, 'dev-1', false, BY)).version, 2)
        assert.deepEqual(await store.lookup(tenant, 'psa-instance:01'), [])
        // Listings still show it, as inactive.
        assert.deepEqual((await store.list(tenant)).items.map((v) => [v.id, v.active]), [['dev-1', false]])
        const on = await store.setActive(tenant, 'dev-1', true, BY)
        assert.equal(on.version, 3)
        assert.deepEqual((await store.lookup(tenant, 'psa-instance:01')).map((v) => v.version), [3])
      })

      it('lets exactly one of concurrent creates of one id win, and numbers concurrent replaces apart', async () => {
        const tenant = newTenant()
        const other = harness.shared ? await harness.open() : store
        try {
          const creates = await Promise.allSettled(
            Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : other).create(tenant, 'dev', anchor(`0${i}`))),
          )
          assert.equal(creates.filter((r) => r.status === 'fulfilled').length, 1)
          for (const r of creates) {
            if (r.status === 'rejected') assert.ok(isVerifierError(r.reason, 'ERR_ENDORSEMENT_CONFLICT'), String(r.reason))
          }
          const puts = await Promise.all(
            Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? store : other).put(tenant, 'dev', anchor('01', { body: { i } }))),
          )
          assert.deepEqual(puts.map((v) => v.version).sort(), [2, 3, 4, 5])
          assert.deepEqual((await store.versions(tenant, 'dev')).map((v) => v.version), [1, 2, 3, 4, 5])
          assert.equal(await store.revision(tenant), 5)
          assert.equal((await store.list(tenant)).items.length, 1)
        } finally {
          if (other !== store) await other.close()
        }
      })

      it('keeps the caller’s objects out of the store', async () => {
        const tenant = newTenant()
        const write = anchor('01')
        const created = await store.create(tenant, 'dev-1', write)
        ;(write.body as { instanceId: string }).instanceId = 'changed'
        // What the store returns may be frozen (memory shares it between readers): then the write throws.
        try {
          ;(created.body as { instanceId: string }).instanceId = 'changed too'
        } catch (err) {
          assert.ok(err instanceof TypeError)
        }
        assert.equal(((await store.get(tenant, 'dev-1'))?.body as { instanceId: string }).instanceId, '01')
      })
    })

    describe('lookups and the index', () => {
      it('returns only the active latest version of each document indexed under an identifier', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'a', anchor('01'))
        await store.create(tenant, 'b', anchor('02'))
        await store.create(tenant, 'c', { ...anchor('03'), active: false })
        await store.put(tenant, 'a', anchor('01', { body: { second: true } }))
        const found = await store.lookup(tenant, 'psa-impl:aabbcc')
        assert.deepEqual(found.map((v) => [v.id, v.version]), [['a', 2], ['b', 1]])
        assert.deepEqual(found[0]?.body, { second: true })
        assert.deepEqual((await store.lookup(tenant, 'psa-instance:01')).map((v) => v.id), ['a'])
        assert.deepEqual(await store.lookup(tenant, 'psa-instance:03'), [])
        assert.deepEqual(await store.lookup(tenant, 'psa-instance:ff'), [])
      })

      it('moves the index when a new version changes the identifiers', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev', { ...anchor('01'), indexIds: ['eat-ueid:0101', 'x5t:S256:abcd'] })
        await store.put(tenant, 'dev', { ...anchor('01'), indexIds: ['eat-ueid:0202', 'x5t:S256:abcd'] })
        assert.deepEqual(await store.lookup(tenant, 'eat-ueid:0101'), [])
        assert.deepEqual((await store.lookup(tenant, 'eat-ueid:0202')).map((v) => v.id), ['dev'])
        assert.deepEqual((await store.lookup(tenant, 'x5t:S256:abcd')).map((v) => v.version), [2])
        assert.deepEqual((await store.list(tenant, { indexId: 'eat-ueid:0101' })).items, [])
        // The old version still says what it was indexed under.
        assert.deepEqual((await store.get(tenant, 'dev', 1))?.indexIds, ['eat-ueid:0101', 'x5t:S256:abcd'])
      })

      it('accepts every identifier form the appraisal uses, and refuses malformed ones', async () => {
        const tenant = newTenant()
        const ids = [
          'psa-instance:01aabb',
          'psa-impl:aabb',
          'eat-kid:6b6964',
          'eat-ueid:0102',
          'eat-class:acme.example/0a0b',
          'x5t:S256:00ff',
        ]
        await store.create(tenant, 'dev', { ...anchor('01'), indexIds: ids })
        for (const id of ids) assert.equal((await store.lookup(tenant, id)).length, 1, id)
        for (const bad of ['', 'noscheme', 'Psa:01', 'psa:', 'psa:a b', 'psa:{x}', 'psa:*', 'psa:a?', `psa:${'a'.repeat(257)}`]) {
          await refusal(store.lookup(tenant, bad), 'ERR_ENDORSEMENT_INVALID')
          await refusal(store.create(tenant, 'other', { ...anchor('01'), indexIds: [bad] }), 'ERR_ENDORSEMENT_INVALID')
        }
        assert.equal(await store.get(tenant, 'other'), undefined)
      })

      it('returns at most MAX_LOOKUP_RESULTS documents for one identifier', async () => {
        const tenant = newTenant()
        for (let i = 0; i < MAX_LOOKUP_RESULTS + 3; i++) {
          await store.create(tenant, `d${String(i).padStart(4, '0')}`, { ...anchor('01'), indexIds: ['eat-class:acme/01'] })
        }
        const found = await store.lookup(tenant, 'eat-class:acme/01')
        assert.equal(found.length, MAX_LOOKUP_RESULTS)
        assert.equal(found[0]?.id, 'd0000')
      })
    })

    describe('listing', () => {
      it('pages with cursors over more than one page, in id order, without repeats', async () => {
        const tenant = newTenant()
        const ids: string[] = []
        for (let i = 0; i < 23; i++) {
          const id = `dev-${String(i).padStart(3, '0')}`
          ids.push(id)
          await store.create(tenant, id, i % 3 === 0 ? { ...anchor(`0${i}`), kind: 'reference-value', indexIds: ['psa-impl:aabbcc'] } : anchor(`0${i}`))
        }
        await store.delete(tenant, 'dev-005', BY)
        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await store.list(tenant, { limit: 5, ...(cursor === undefined ? {} : { cursor }) })
          assert.ok(page.items.length <= 5)
          seen.push(...page.items.map((v) => v.id))
          cursor = page.cursor
          pages++
        } while (cursor !== undefined)
        assert.deepEqual(seen, ids.filter((id) => id !== 'dev-005'))
        assert.equal(pages, 5)

        const exact = await store.list(tenant, { limit: 22 })
        assert.equal(exact.items.length, 22)
        assert.equal(exact.cursor, undefined)
      })

      it('filters by kind and by index identifier, each paged', async () => {
        const tenant = newTenant()
        for (let i = 0; i < 12; i++) {
          const write =
            i % 2 === 0
              ? { ...anchor(`0${i}`), kind: 'reference-value' as const, indexIds: ['psa-impl:aabbcc'] }
              : { ...anchor(`0${i}`), indexIds: [`psa-instance:0${i}`, 'psa-impl:aabbcc'] }
          await store.create(tenant, `d${String(i).padStart(2, '0')}`, write)
        }
        const refs = await store.list(tenant, { kind: 'reference-value', limit: 4 })
        assert.deepEqual(refs.items.map((v) => v.id), ['d00', 'd02', 'd04', 'd06'])
        assert.ok(refs.cursor !== undefined)
        const rest = await store.list(tenant, { kind: 'reference-value', limit: 4, cursor: refs.cursor })
        assert.deepEqual(rest.items.map((v) => v.id), ['d08', 'd10'])
        assert.equal(rest.cursor, undefined)
        assert.deepEqual((await store.list(tenant, { kind: 'profile' })).items, [])

        assert.deepEqual((await store.list(tenant, { indexId: 'psa-instance:03' })).items.map((v) => v.id), ['d03'])
        const byImpl = await store.list(tenant, { indexId: 'psa-impl:aabbcc', limit: 10 })
        assert.equal(byImpl.items.length, 10)
        assert.ok(byImpl.cursor !== undefined)
        const both: string[] = []
        let cursor: string | undefined
        do {
          const page = await store.list(tenant, { indexId: 'psa-impl:aabbcc', kind: 'trust-anchor', limit: 3, ...(cursor === undefined ? {} : { cursor }) })
          both.push(...page.items.map((v) => v.id))
          cursor = page.cursor
        } while (cursor !== undefined)
        assert.deepEqual(both, ['d01', 'd03', 'd05', 'd07', 'd09', 'd11'])
      })

      it('refuses a malformed cursor, and a limit out of range', async () => {
        const tenant = newTenant()
        await store.create(tenant, 'dev', anchor('01'))
        for (const cursor of ['', 'garbage', 'e1.', 'e1.!!', 'e2.ZGV2', 'e1.ZGV2=', `e1.${Buffer.from('a:b').toString('base64url')}`]) {
          await refusal(store.list(tenant, { cursor }), 'ERR_PAGE_CURSOR_INVALID')
        }
        for (const limit of [0, -1, 1001, 2.5]) await assert.rejects(store.list(tenant, { limit }), TypeError)
      })
    })

    describe('idempotent writes', () => {
      it('putIfChanged creates, then is unchanged for the same content, then replaces', async () => {
        const tenant = newTenant()
        const corim = { ...anchor('01'), source: 'corim:c-1#tag-1@1' }
        const first = await store.putIfChanged(tenant, 'dev', corim)
        assert.equal(first.outcome, 'created')
        const revision = await store.revision(tenant)
        const same = await store.putIfChanged(tenant, 'dev', { ...corim, body: { ...(corim.body as object) }, createdBy: 'someone else' })
        assert.equal(same.outcome, 'unchanged')
        assert.deepEqual(same.version, first.version)
        assert.equal(await store.revision(tenant), revision)
        const next = await store.putIfChanged(tenant, 'dev', { ...corim, body: { other: 1 }, source: 'corim:c-1#tag-1@2' })
        assert.equal(next.outcome, 'replaced')
        assert.equal(next.version.version, 2)
        assert.equal(await store.revision(tenant), revision + 1)
      })

      it('compares the digest the caller gives, and keeps an operator’s deactivation', async () => {
        const tenant = newTenant()
        const digest = 'ab'.repeat(32)
        await store.putIfChanged(tenant, 'dev', { ...anchor('01'), digest })
        assert.equal((await store.get(tenant, 'dev'))?.digest, digest)
        await store.setActive(tenant, 'dev', false, BY)
        const again = await store.putIfChanged(tenant, 'dev', { ...anchor('01'), body: { ignored: true }, digest })
        assert.equal(again.outcome, 'unchanged')
        assert.equal(again.version.active, false)
        assert.equal(again.version.version, 2)
        await refusal(store.putIfChanged(tenant, 'dev', { ...anchor('01'), digest: 'XYZ' }), 'ERR_ENDORSEMENT_INVALID')
      })

      it('works out the same digest for the same content, whatever the key order', async () => {
        const tenant = newTenant()
        const a = await store.create(tenant, 'a', { ...anchor('01'), body: { x: 1, y: [1, { p: 1, q: 2 }] }, indexIds: ['eat-kid:01', 'eat-ueid:02'] })
        const b = await store.create(tenant, 'b', { ...anchor('01'), body: { y: [1, { q: 2, p: 1 }], x: 1 }, indexIds: ['eat-ueid:02', 'eat-kid:01'] })
        assert.equal(a.digest, b.digest)
        assert.equal(a.digest, contentDigest('trust-anchor', { x: 1, y: [1, { p: 1, q: 2 }] }, ['eat-kid:01', 'eat-ueid:02']))
        const putAfterDelete = await store.delete(tenant, 'a', BY)
        assert.ok(putAfterDelete?.deleted)
        // A tombstone is never "unchanged": the same content again brings the document back.
        assert.equal((await store.putIfChanged(tenant, 'a', { ...anchor('01'), body: { x: 1, y: [1, { p: 1, q: 2 }] }, indexIds: ['eat-kid:01', 'eat-ueid:02'] })).outcome, 'created')
      })
    })

    describe('revisions and watching', () => {
      it('increments the tenant’s revision with every change and only then', async () => {
        const tenant = newTenant()
        assert.equal(await store.revision(tenant), 0)
        await store.create(tenant, 'dev', anchor('01'))
        assert.equal(await store.revision(tenant), 1)
        await store.put(tenant, 'dev', anchor('02'))
        await store.setActive(tenant, 'dev', false, BY)
        await store.setActive(tenant, 'dev', false, BY)
        await store.delete(tenant, 'dev', BY)
        await store.delete(tenant, 'dev', BY)
        await refusal(store.create(tenant, 'big', { ...anchor('01'), body: 'x'.repeat(300 * 1024) }), 'ERR_ENDORSEMENT_TOO_LARGE')
        assert.equal(await store.revision(tenant), 4)
      })

      it('tells a watcher (a second store, when they share data) of a change within 1 s', async () => {
        const tenant = newTenant()
        const watcher = harness.shared ? await harness.open() : store
        try {
          const watching = await watchFor(watcher, tenant)
          const made = await store.create(tenant, 'dev', anchor('01'))
          const seen = await watching.event(1000)
          assert.deepEqual(seen, { tenant, revision: 1, ids: ['dev'] })
          assert.equal(made.version, 1)
          assert.equal(await watcher.revision(tenant), 1)
          assert.deepEqual((await watcher.lookup(tenant, 'psa-instance:01')).map((v) => v.id), ['dev'])
        } finally {
          if (watcher !== store) await watcher.close()
        }
      })

      it('stops telling a listener once it unsubscribes, and survives a listener that throws', async () => {
        const tenant = newTenant()
        const seen: number[] = []
        const stop = await store.watch((event) => {
          if (event.tenant === tenant) seen.push(event.revision)
        })
        const noisy = await store.watch(() => {
          throw new Error('listener fault')
        })
        const first = await watchFor(store, tenant)
        await store.create(tenant, 'dev', anchor('01'))
        await first.event(1000)
        stop()
        noisy()
        const second = await watchFor(store, tenant)
        await store.put(tenant, 'dev', anchor('02'))
        await second.event(1000)
        assert.deepEqual(seen, [1])
      })
    })

    describe('caps', () => {
      it('refuses an oversized body, too many index ids and bad provenance, storing nothing', async () => {
        const tenant = newTenant()
        const capped = await harness.open({ maxBodyBytes: 1024, maxIndexIds: 2 })
        try {
          await capped.create(tenant, 'dev', anchor('01'))
          await refusal(capped.create(tenant, 'big', { ...anchor('02'), body: 'x'.repeat(1100) }), 'ERR_ENDORSEMENT_TOO_LARGE')
          // Multi-byte characters count as their UTF-8 bytes.
          await refusal(capped.create(tenant, 'big', { ...anchor('02'), body: 'é'.repeat(520) }), 'ERR_ENDORSEMENT_TOO_LARGE')
          await refusal(capped.put(tenant, 'dev', { ...anchor('01'), body: 'x'.repeat(1100) }), 'ERR_ENDORSEMENT_TOO_LARGE')
          await refusal(capped.create(tenant, 'many', { ...anchor('02'), indexIds: ['eat-kid:01', 'eat-kid:02', 'eat-kid:03'] }), 'ERR_ENDORSEMENT_INVALID')
          await refusal(capped.create(tenant, 'who', { ...anchor('02'), createdBy: '' }), 'ERR_ENDORSEMENT_INVALID')
          await refusal(capped.create(tenant, 'where', { ...anchor('02'), source: 'x'.repeat(257) }), 'ERR_ENDORSEMENT_INVALID')
          await refusal(capped.create(tenant, 'kind', { ...anchor('02'), kind: 'policy' as 'profile' }), 'ERR_ENDORSEMENT_INVALID')
          for (const body of [Number.NaN, Infinity, () => 1, new Date(0), new Map(), 10n] as unknown[]) {
            await refusal(capped.create(tenant, 'shape', { ...anchor('02'), body: body as null }), 'ERR_ENDORSEMENT_INVALID')
          }
          let deep: unknown = 1
          for (let i = 0; i < 40; i++) deep = [deep]
          await refusal(capped.create(tenant, 'deep', { ...anchor('02'), body: deep as null }), 'ERR_ENDORSEMENT_INVALID')
          // Duplicates count once.
          await capped.create(tenant, 'dups', { ...anchor('02'), indexIds: ['eat-kid:01', 'eat-kid:01', 'eat-kid:02'] })
          assert.deepEqual((await capped.get(tenant, 'dups'))?.indexIds, ['eat-kid:01', 'eat-kid:02'])
          const page = await capped.list(tenant)
          assert.deepEqual(page.items.map((v) => [v.id, v.version]), [['dev', 1], ['dups', 1]])
          assert.equal(await capped.revision(tenant), 2)
        } finally {
          await capped.close()
        }
      })

      it('refuses a new document past the tenant’s cap with ERR_STORE_FULL, and still replaces', async () => {
        const tenant = newTenant()
        const capped = await harness.open({ maxDocumentsPerTenant: 3 })
        try {
          for (const id of ['a', 'b', 'c']) await capped.create(tenant, id, anchor('01'))
          await refusal(capped.create(tenant, 'd', anchor('02')), 'ERR_STORE_FULL')
          await refusal(capped.putIfChanged(tenant, 'd', anchor('02')), 'ERR_STORE_FULL')
          assert.equal(await capped.get(tenant, 'd'), undefined)
          assert.deepEqual(await capped.lookup(tenant, 'psa-instance:02'), [])
          assert.equal(await capped.revision(tenant), 3)
          assert.equal((await capped.put(tenant, 'a', anchor('03'))).version, 2)
          // A deleted document keeps its history, so it still counts; bringing it back does not add one.
          await capped.delete(tenant, 'b', BY)
          await refusal(capped.create(tenant, 'd', anchor('02')), 'ERR_STORE_FULL')
          assert.equal((await capped.create(tenant, 'b', anchor('02'))).version, 3)
          // Another tenant has a cap of its own.
          assert.equal((await capped.create(newTenant(), 'd', anchor('02'))).version, 1)
        } finally {
          await capped.close()
        }
      })

      it('prunes the oldest versions beyond the cap, never the latest', async () => {
        const tenant = newTenant()
        const capped = await harness.open({ maxVersionsPerDocument: 3 })
        try {
          await capped.create(tenant, 'dev', anchor('01'))
          for (let i = 2; i <= 6; i++) await capped.put(tenant, 'dev', anchor('01', { body: { n: i } }))
          assert.deepEqual((await capped.versions(tenant, 'dev')).map((v) => v.version), [4, 5, 6])
          assert.equal(await capped.get(tenant, 'dev', 3), undefined)
          assert.deepEqual((await capped.get(tenant, 'dev', 4))?.body, { n: 4 })
          await capped.delete(tenant, 'dev', BY)
          assert.deepEqual((await capped.versions(tenant, 'dev')).map((v) => v.version), [5, 6, 7])
          assert.equal((await capped.get(tenant, 'dev'))?.deleted, true)
        } finally {
          await capped.close()
        }
      })
    })

    describe('tenants', () => {
      it('keeps tenants apart: ids, versions, listings, lookups and revisions', async () => {
        const a = newTenant()
        const b = newTenant()
        await store.create(a, 'dev', anchor('01'))
        await store.put(a, 'dev', anchor('01', { body: { a: 2 } }))
        assert.equal(await store.get(b, 'dev'), undefined)
        assert.equal(await store.get(b, 'dev', 1), undefined)
        assert.deepEqual(await store.versions(b, 'dev'), [])
        assert.deepEqual(await store.lookup(b, 'psa-instance:01'), [])
        assert.deepEqual((await store.list(b)).items, [])
        assert.equal(await store.revision(b), 0)
        const other = await store.create(b, 'dev', anchor('01', { body: { b: 1 } }))
        assert.equal(other.version, 1)
        assert.deepEqual((await store.lookup(a, 'psa-instance:01')).map((v) => [v.tenant, v.version]), [[a, 2]])
        assert.deepEqual((await store.lookup(b, 'psa-instance:01')).map((v) => [v.tenant, v.version]), [[b, 1]])
        await store.delete(b, 'dev', BY)
        assert.equal((await store.lookup(a, 'psa-instance:01')).length, 1)
        assert.equal(await store.revision(a), 2)
        assert.equal(await store.revision(b), 2)
      })

      it('refuses tenant and document ids that could reach other keys', async () => {
        for (const tenant of ['', 'A', 'a:b', '{a}', 'a*']) {
          await assert.rejects(store.create(tenant, 'dev', anchor('01')), TypeError, tenant)
          await assert.rejects(store.lookup(tenant, 'eat-kid:01'), TypeError, tenant)
          await assert.rejects(store.revision(tenant), TypeError, tenant)
        }
        const tenant = newTenant()
        for (const id of ['', 'a:b', 'a b', '{a}', '*', 'x'.repeat(129)]) {
          await assert.rejects(store.create(tenant, id, anchor('01')), TypeError, id)
          await assert.rejects(store.get(tenant, id), TypeError, id)
        }
      })
    })
  })
}
