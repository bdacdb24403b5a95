/**
 * Freshness, time claims and nonce forms end to end (issue 7, items 2, 3 and 7): real HTTP to the
 * Express app on a port, the real queue and store, keys generated and provisioned at test time. The
 * same checks run in embedded mode and on Redis (API and worker in one process, a key prefix of
 * this run's own, deleted afterwards).
 */
import assert from 'node:assert/strict'
import { randomUUID, sign } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'

const HWMODEL = 'abcd'
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const INSTANCE_ID = Uint8Array.of(1, ...new Uint8Array(32).fill(0x21))
const IMPLEMENTATION_ID = new Uint8Array(32).fill(0x22)
const MEASUREMENT = new Uint8Array(32).fill(0x23)
const SIGNER = new Uint8Array(32).fill(0x24)
const device = generateTestKey('ES256')
const iak = generateTestKey('ES256')
const now = () => Math.floor(Date.now() / 1000)

function provision(dir: string): string {
  const rv = join(dir, 'rv')
  mkdirSync(rv)
  writeFileSync(
    join(rv, 'test.json'),
    JSON.stringify({
      eat: {
        keys: [{ kid: 'sensor-9', key: device.publicKey.keyObject.export({ format: 'jwk' }), speaksFor: 'any' }],
        referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
      },
      psa: {
        trustAnchors: [{ instanceId: toHex(INSTANCE_ID), key: iak.publicKey.keyObject.export({ format: 'jwk' }), implementationId: toHex(IMPLEMENTATION_ID) }],
        referenceValues: [
          {
            implementationId: toHex(IMPLEMENTATION_ID),
            softwareComponents: [{ measurementType: 'PRoT', measurementValue: toHex(MEASUREMENT), signerId: toHex(SIGNER) }],
          },
        ],
      },
    }),
  )
  return rv
}

/** A CWT EAT under the default profile (no eat_profile), keyed by kid. */
function eatCwt(extra: [number, EncodableValue][]): Uint8Array {
  const claims = new Map<number, EncodableValue>([
    [256, Uint8Array.of(1, ...new Uint8Array(16).fill(8))],
    [258, 64242],
    [259, Buffer.from(HWMODEL, 'hex')],
    [270, 'fw'],
    [271, ['1.2']],
    [6, now()],
    ...extra,
  ])
  return signSign1(device, { protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8('sensor-9')]]), payload: encodeCbor(claims), tag: 'cwt' })
}

function eatJwt(eatNonce: string): Uint8Array {
  const claims = { eat_nonce: eatNonce, oemid: 64242, hwmodel: Buffer.from(HWMODEL, 'hex').toString('base64url'), swname: 'fw', swversion: ['1.2'], iat: now() }
  const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'sensor-9' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return utf8(`${input}.${sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)
}

function psaToken(nonce: Uint8Array, extra: [number, EncodableValue][] = []): Uint8Array {
  const claims = new Map<number, EncodableValue>([
    [265, 'tag:psacertified.org,2023:psa#tfm'],
    [10, nonce],
    [256, INSTANCE_ID],
    [2394, 1],
    [2395, 0x3000],
    [2396, IMPLEMENTATION_ID],
    [2399, [new Map<number, EncodableValue>([[1, 'PRoT'], [2, MEASUREMENT], [5, SIGNER]])]],
    ...extra,
  ])
  return signSign1(iak, { payload: encodeCbor(claims) })
}

function suite(mode: string, start: (referenceValuesDir: string, dataDir: string) => Promise<{ running: RunningAssay; cleanup(): Promise<void> }>): void {
  describe(`freshness end to end: ${mode}`, { timeout: 180_000 }, () => {
    let dir: string
    let running: RunningAssay
    let cleanup: () => Promise<void>
    let jwks: EarJwks

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'assay-fresh-'))
      ;({ running, cleanup } = await start(provision(dir), join(dir, 'data')))
      jwks = (await (await fetch(`${running.url}/.well-known/jwks.json`)).json()) as EarJwks
    })

    after(async () => {
      await running?.stop()
      await cleanup?.()
      rmSync(dir, { recursive: true, force: true })
    })

    async function nonce(): Promise<Uint8Array> {
      const res = await fetch(`${running.url}/v1/nonces`, { method: 'POST' })
      assert.equal(res.status, 201)
      return base64urlDecode(((await res.json()) as { nonce: string }).nonce)
    }

    /** Submits and waits for the signed result (polling if the wait ran out under load). */
    async function appraise(evidence: Uint8Array, contentType: string): Promise<EarClaims> {
      const res = await fetch(`${running.url}/v1/appraisals`, { method: 'POST', body: evidence, headers: { 'content-type': contentType, prefer: 'wait=10' } })
      let body = (await res.json()) as { id: string; status: string; result?: { ear: string } }
      assert.ok(res.status === 200 || res.status === 202, `status ${res.status}`)
      for (let i = 0; body.status !== 'complete' && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 100))
        const got = await fetch(`${running.url}/v1/appraisals/${body.id}`)
        assert.equal(got.status, 200)
        body = (await got.json()) as typeof body
      }
      assert.equal(body.status, 'complete')
      return verifyEarJwt(body.result!.ear, jwks, { clock: systemClock }).claims
    }

    it('100 concurrent submissions of a token whose nonce was never issued, with a recent iat: none affirming', async () => {
      const token = eatCwt([[10, new Uint8Array(16).fill(0x77)]])
      const results = await Promise.all(Array.from({ length: 100 }, () => appraise(token, 'application/eat+cwt')))
      assert.equal(results.filter((r) => r.submods.get('EAT')!.status === 'affirming').length, 0)
      for (const r of results) {
        assert.equal(r.submods.get('EAT')!.reasons?.[0]?.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
        assert.equal(r.nonce, undefined, 'an unverified nonce is never echoed')
      }
    })

    it('100 concurrent submissions of one token with one issued nonce: exactly one affirming, and only it echoes the nonce', async () => {
      const n = await nonce()
      const token = eatCwt([[10, n]])
      const results = await Promise.all(Array.from({ length: 100 }, () => appraise(token, 'application/eat+cwt')))
      const affirming = results.filter((r) => r.submods.get('EAT')!.status === 'affirming')
      assert.equal(affirming.length, 1)
      assert.equal(results.filter((r) => r.nonce !== undefined).length, 1)
      assert.deepEqual(base64urlDecode(String(affirming[0]!.nonce)), n)
      const replays = results.filter((r) => r.submods.get('EAT')!.reasons?.[0]?.code === 'ERR_CLAIMS_NONCE_REPLAYED')
      assert.equal(replays.length, 99, 'the other 99 are named replays')
    })

    it('a JWT EAT whose eat_nonce decodes to 6 or 66 bytes gets a signed contraindicated result, not a retried fault', async () => {
      for (const text of ['AAAAAAAA', 'A'.repeat(88)]) {
        const ear = await appraise(eatJwt(text), 'application/eat+jwt')
        assert.equal(ear.submods.get('EAT')!.status, 'contraindicated')
        assert.equal(ear.submods.get('EAT')!.reasons?.[0]?.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
      }
    })

    it('a PSA token with an issued nonce is affirming, and contraindicated once its exp has passed', async () => {
      assert.equal((await appraise(psaToken(await nonce(), [[4, now() + 600]]), PSA_TFM)).submods.get('PSA')!.status, 'affirming')
      const expired = (await appraise(psaToken(await nonce(), [[4, now() - 3600]]), PSA_TFM)).submods.get('PSA')!
      assert.equal(expired.status, 'contraindicated')
      assert.equal(expired.reasons?.[0]?.code, 'ERR_CLAIMS_EXPIRED')
    })
  })
}

suite('embedded mode', async (referenceValuesDir, dataDir) => {
  const running = await startAssay(loadConfig({ port: 0, dataDir, referenceValuesDir, rateLimitPoints: 0 }), { role: 'all' })
  return { running, cleanup: async () => {} }
})

suite('Redis mode', async (referenceValuesDir, dataDir) => {
  const prefix = `assay-test-${randomUUID().slice(0, 8)}`
  const running = await startAssay(loadConfig({ port: 0, redisUrl: REDIS_URL, redisPrefix: prefix, dataDir, referenceValuesDir, rateLimitPoints: 0 }), { role: 'all' })
  return { running, cleanup: () => deletePrefix(prefix) }
})
