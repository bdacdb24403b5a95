/**
 * A relying party that honours the JWKS `Cache-Control: max-age` verifies every EAR across an
 * `assay rotate-key` (issue 8 item 15). Three processes share one key store as in production: the
 * one that rotates, an API that publishes the JWKS and a worker that signs, each re-reading the
 * store every EAR_KEY_RELOAD_SECONDS at its own phase. Second by second on an injected clock, the
 * worker signs a real EAR and a relying party verifies it with the key set it fetched last, fetching
 * again only when its copy is max-age old; every phase of the relying party's fetches and of both
 * reloads is tried, with the default settings. The same run with the old publish-ahead (30 s) fails,
 * so the test can tell. The JWKS route sends the configured max-age.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { EAR_KEY_RELOAD_SECONDS, minPublishAheadSeconds } from '../../../src/config/schema.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { startAssay } from '../../../src/main/server.js'
import type { AppraisalOutcome } from '../../../src/results/ear.js'
import { loadSigningKeys, type EarPublicJwk } from '../../../src/results/keys.js'
import { signEarJwt } from '../../../src/results/sign.js'
import { verifyJwsCompact } from '../../../src/results/verify.js'
import type { Clock } from '../../../src/util/clock.js'

const T0 = 1_767_225_600
const root = mkdtempSync(path.join(tmpdir(), 'assay-rotation-'))
let dirs = 0
after(() => rmSync(root, { recursive: true, force: true }))

const outcome = (iat: number, lifetime: number): AppraisalOutcome => ({
  iat,
  exp: iat + lifetime,
  verifier: { developer: 'https://assay.example', build: 'test' },
  policyIds: [],
  submods: { PSA: { vector: { hardware: 2 }, reasons: [] } },
})

interface Timeline {
  /** Per second from T0: the key set the API serves (an id into `sets`) and the token the worker signs. */
  readonly served: number[]
  readonly signed: number[]
  readonly sets: { keys: readonly EarPublicJwk[] }[]
  readonly tokens: string[]
  readonly rotatedAt: number
}

/** Runs the three processes through a rotation, the API re-reading at phase `apiPhase`, the worker at `workerPhase`. */
async function rotation(settings: { publishAhead: number; lifetime: number }, apiPhase: number, workerPhase: number, seconds: number): Promise<Timeline> {
  const dataDir = path.join(root, `d${++dirs}`)
  let now = T0
  const clock: Clock = { nowSeconds: () => now }
  const options = { dataDir, lifetimeSeconds: settings.lifetime, publishAheadSeconds: settings.publishAhead, clock }
  const cli = await loadSigningKeys(options)
  const api = await loadSigningKeys(options)
  const worker = await loadSigningKeys(options)
  const rotatedAt = T0 + 600
  const served: number[] = []
  const signed: number[] = []
  const sets: { keys: readonly EarPublicJwk[] }[] = []
  const setIds = new Map<string, number>()
  const tokens: string[] = []
  const tokenIds = new Map<string, number>()
  for (let i = 0; i < seconds; i++) {
    now = T0 + i
    if (now === rotatedAt) await cli.rotate()
    if (i % EAR_KEY_RELOAD_SECONDS === apiPhase) await api.reload()
    if (i % EAR_KEY_RELOAD_SECONDS === workerPhase) await worker.reload()
    const set = api.jwks()
    const setKey = set.keys.map((k) => k.kid).join(',')
    if (!setIds.has(setKey)) setIds.set(setKey, sets.push(set) - 1)
    served.push(setIds.get(setKey)!)
    const signer = worker.current
    // One real EAR per signing key: which key signed is all that decides whether a key set verifies it.
    if (!tokenIds.has(signer.kid)) tokenIds.set(signer.kid, tokens.push(signEarJwt(outcome(now, settings.lifetime), signer).token) - 1)
    signed.push(tokenIds.get(signer.kid)!)
  }
  return { served, signed, sets, tokens, rotatedAt }
}

/**
 * Every (second, relying-party fetch phase) at which an EAR signed that second fails to verify with
 * the relying party's cached key set, then or at the end of its life.
 */
function failures(timeline: Timeline, maxAge: number, lifetime: number, from: number, to: number): string[] {
  const verified = new Map<string, boolean>()
  const verifies = (token: number, set: number) => {
    const key = `${token}|${set}`
    let ok = verified.get(key)
    if (ok === undefined) {
      try {
        verifyJwsCompact(timeline.tokens[token]!, timeline.sets[set]!)
        ok = true
      } catch (err) {
        if (!isVerifierError(err, 'ERR_EAR_KEY_UNKNOWN') && !isVerifierError(err, 'ERR_EAR_SIGNATURE_INVALID')) throw err
        ok = false
      }
      verified.set(key, ok)
    }
    return ok
  }
  const out: string[] = []
  for (let phase = 0; phase < maxAge; phase++) {
    // The relying party fetched at phase, phase + maxAge, …: its copy at second i is the last fetch's.
    const cachedAt = (i: number) => timeline.served[i - ((i - phase) % maxAge)]!
    for (let i = from; i < to; i++) {
      if (!verifies(timeline.signed[i]!, cachedAt(i))) out.push(`signed at +${i - (timeline.rotatedAt - T0)} s, fetch phase ${phase}: not verifiable when received`)
      const end = i + lifetime - 1
      if (end < timeline.served.length && !verifies(timeline.signed[i]!, cachedAt(end))) {
        out.push(`signed at +${i - (timeline.rotatedAt - T0)} s, fetch phase ${phase}: not verifiable at the end of its life`)
      }
    }
    if (out.length > 0) break
  }
  return out
}

describe('JWKS caching across a key rotation', () => {
  const defaults = loadConfig({})

  it('by default, a relying party caching the JWKS for its max-age verifies every EAR across a rotation', async () => {
    const maxAge = defaults.jwksMaxAgeSeconds
    const publishAhead = defaults.earKeyPublishAheadSeconds
    assert.ok(publishAhead >= maxAge + EAR_KEY_RELOAD_SECONDS, `publish-ahead ${publishAhead} s covers max-age ${maxAge} s and the reload`)
    // Short results keep the run small; the old key stays published for as long as its results live.
    const lifetime = 900
    const settings = { publishAhead, lifetime }
    const rotateIndex = 600
    // From a max-age before the rotation to well past the new key's activation (and the last old-key EAR's end of life).
    const from = rotateIndex - maxAge
    const to = rotateIndex + publishAhead + maxAge + 2 * EAR_KEY_RELOAD_SECONDS
    for (let apiPhase = 0; apiPhase < EAR_KEY_RELOAD_SECONDS; apiPhase++) {
      for (let workerPhase = 0; workerPhase < EAR_KEY_RELOAD_SECONDS; workerPhase++) {
        const timeline = await rotation(settings, apiPhase, workerPhase, to + lifetime)
        assert.equal(timeline.tokens.length, 2, 'the old key signed, then the new one')
        assert.deepEqual(failures(timeline, maxAge, lifetime, from, to), [], `API reloads at phase ${apiPhase}, worker at ${workerPhase}`)
      }
    }
  })

  it('with the old 30 s publish-ahead, a caching relying party meets an EAR it cannot verify (the test can fail)', async () => {
    const maxAge = defaults.jwksMaxAgeSeconds
    const lifetime = 900
    const timeline = await rotation({ publishAhead: 30, lifetime }, 0, 0, 600 + 30 + maxAge + 10 + lifetime)
    const found = failures(timeline, maxAge, lifetime, 600 - maxAge, 600 + 30 + maxAge + 10)
    assert.ok(found.length > 0)
    assert.match(found[0]!, /not verifiable when received/)
  })

  it('a configuration whose publish-ahead does not cover the JWKS max-age is refused at load', () => {
    assert.equal(minPublishAheadSeconds(300), 300 + EAR_KEY_RELOAD_SECONDS + 10)
    assert.throws(
      () => loadConfig({ earKeyPublishAheadSeconds: 30 }),
      (err) => isVerifierError(err, 'ERR_CONFIG_INVALID') && /earKeyPublishAheadSeconds: 30 s is too short.*jwksMaxAgeSeconds/.test(err.message),
    )
    assert.throws(() => loadConfig({ jwksMaxAgeSeconds: 3600 }), (err) => isVerifierError(err, 'ERR_CONFIG_INVALID'))
    assert.equal(loadConfig({ jwksMaxAgeSeconds: 3600, earKeyPublishAheadSeconds: 3615 }).earKeyPublishAheadSeconds, 3615)
    assert.equal(loadConfig({ jwksMaxAgeSeconds: 60, earKeyPublishAheadSeconds: 75 }).jwksMaxAgeSeconds, 60)
    assert.throws(() => loadConfig({ jwksMaxAgeSeconds: 60, earKeyPublishAheadSeconds: 74 }), (err) => isVerifierError(err, 'ERR_CONFIG_INVALID'))
  })

  it('the JWKS route sends the configured max-age, and no-cache for 0', async () => {
    for (const [maxAge, expected] of [
      [undefined, `public, max-age=${defaults.jwksMaxAgeSeconds}`],
      [0, 'no-cache'],
    ] as const) {
      const dataDir = path.join(root, `d${++dirs}`)
      const running = await startAssay(loadConfig({ port: 0, dataDir, rateLimitPoints: 0, ...(maxAge === undefined ? {} : { jwksMaxAgeSeconds: maxAge }) }), { role: 'all' })
      try {
        const res = await fetch(`${running.url}/.well-known/jwks.json`)
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('cache-control'), expected)
        assert.ok(((await res.json()) as { keys: unknown[] }).keys.length >= 1)
      } finally {
        await running.stop()
      }
    }
  })
})
