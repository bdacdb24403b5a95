/**
 * Freshness and time claims through the appraisal pipeline (issue 7, items 2, 3 and 7): real keys,
 * real signatures, the real format registry and the in-memory store; only the clock is fixed.
 */
import assert from 'node:assert/strict'
import { sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { EAT_SUBMOD } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import { appraise, type AppraisalDeps } from '../../../src/appraisal/pipeline.js'
import { PSA_SUBMOD } from '../../../src/appraisal/psa.js'
import type { SubmodAppraisal } from '../../../src/appraisal/types.js'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { DEFAULT_PROFILE, ProfileRegistry, RFC9711_CONSTRAINED, createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { deriveStatus } from '../../../src/results/trust-vector.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import type { Clock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const EAT_CWT = 'application/eat+cwt'
const EAT_JWT = 'application/eat+jwt'
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const device = generateTestKey('ES256')
const iak = generateTestKey('ES256')
const INSTANCE_ID = Uint8Array.of(1, ...new Uint8Array(32).fill(0x21))
const IMPLEMENTATION_ID = new Uint8Array(32).fill(0x22)
const MEASUREMENT = new Uint8Array(32).fill(0x23)
const SIGNER = new Uint8Array(32).fill(0x24)

function endorsements(): MemoryEndorsements {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, { ueids: 'any', classes: 'any' })
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  e.addPsaTrustAnchor(TENANT, toHex(INSTANCE_ID), { instanceId: INSTANCE_ID, key: iak.publicKey, implementationId: IMPLEMENTATION_ID, source: 'test' })
  e.addPsaReferenceValues(TENANT, toHex(IMPLEMENTATION_ID), {
    implementationId: IMPLEMENTATION_ID,
    softwareComponents: [{ measurementType: 'PRoT', measurementValue: MEASUREMENT, signerId: SIGNER }],
    source: 'test',
  })
  return e
}

/** A clock the test can move; the store reads the same time. */
function movableClock(start = NOW): Clock & { set(seconds: number): void } {
  let now = start
  return { nowSeconds: () => now, set: (s: number) => void (now = s) }
}

function deps(options: { skewSeconds?: number; profiles?: ProfileRegistry; clock?: ReturnType<typeof movableClock> } = {}) {
  const clock = options.clock ?? movableClock()
  const store = createMemoryStore({ nowMs: () => clock.nowSeconds() * 1000 })
  const d: AppraisalDeps = {
    registry: createDefaultRegistry(),
    endorsements: endorsements(),
    nonces: store.nonces,
    profiles: options.profiles ?? createDefaultProfiles(),
    clock,
    ...(options.skewSeconds === undefined ? {} : { skewSeconds: options.skewSeconds }),
  }
  return { ...d, clock, store }
}

/** EAT claims under the default profile (no eat_profile): affirming when fresh. */
function eatClaims(extra: [number, EncodableValue][] = [], drop: number[] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [256, Uint8Array.of(1, ...new Uint8Array(16).fill(3))],
    [258, 64242],
    [259, HWMODEL],
    [270, 'fw'],
    [271, ['1.2', 1]],
    [6, NOW],
  ])
  for (const [k, v] of extra) m.set(k, v)
  for (const k of drop) m.delete(k)
  return m
}

function cwt(c: Map<number, EncodableValue>): Uint8Array {
  return signSign1(device, {
    protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8('device-1')]]),
    payload: encodeCbor(c),
    tag: 'cwt',
  })
}

function jwt(claims: Record<string, unknown>): Uint8Array {
  const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'device-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return utf8(`${input}.${sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)
}

function jsonClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ueid: Buffer.from(Uint8Array.of(1, ...new Uint8Array(16).fill(3))).toString('base64url'),
    oemid: 64242,
    hwmodel: Buffer.from(HWMODEL).toString('base64url'),
    swname: 'fw',
    swversion: ['1.2'],
    iat: NOW,
    ...extra,
  }
}

function psaClaims(nonce: Uint8Array, extra: [number, EncodableValue][] = []): Map<number, EncodableValue> {
  const m = new Map<number, EncodableValue>([
    [265, 'tag:psacertified.org,2023:psa#tfm'],
    [10, nonce],
    [256, INSTANCE_ID],
    [2394, 1],
    [2395, 0x3000],
    [2396, IMPLEMENTATION_ID],
    [2399, [new Map<number, EncodableValue>([[1, 'PRoT'], [2, MEASUREMENT], [5, SIGNER]])]],
  ])
  for (const [k, v] of extra) m.set(k, v)
  return m
}

function psa(c: Map<number, EncodableValue>): Uint8Array {
  return signSign1(iak, { payload: encodeCbor(c) })
}

const status = (s: SubmodAppraisal) => deriveStatus(s.vector, { required: s.required })

const nonce16 = (fill: number) => new Uint8Array(16).fill(fill)

describe('freshness: a token that carries a nonce is fresh only through it (item 2)', () => {
  it('a never-issued nonce with a recent iat is not fresh, and its nonce is not echoed', async () => {
    const d = deps()
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, nonce16(9)]])) }, d)
    const eat = out.submods[EAT_SUBMOD]!
    assert.equal(status(eat), 'contraindicated')
    assert.equal(eat.reasons[0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
    assert.equal(eat.nonce, undefined)
    assert.equal(out.nonce, undefined)
  })

  it('an expired nonce with a recent iat is not fresh', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(4), 60)
    d.clock.set(NOW + 61)
    const evidence = cwt(eatClaims([[10, nonce16(4)], [6, NOW + 61]]))
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence }, d)
    assert.equal(out.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_EXPIRED')
    assert.equal(out.nonce, undefined)
  })

  it('a used nonce is not fresh the second time, whatever its iat', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(5), 60)
    const evidence = cwt(eatClaims([[10, nonce16(5)]]))
    const first = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence }, d)
    assert.equal(status(first.submods[EAT_SUBMOD]!), 'affirming')
    assert.deepEqual(first.nonce, nonce16(5))
    assert.deepEqual(first.submods[EAT_SUBMOD]!.nonce, nonce16(5))
    const second = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence }, d)
    assert.equal(status(second.submods[EAT_SUBMOD]!), 'contraindicated')
    assert.equal(second.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_REPLAYED')
    assert.equal(second.nonce, undefined)
  })

  it('a nonce issued to another tenant is not fresh here', async () => {
    const d = deps()
    await d.nonces.issue('other', nonce16(6), 60)
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, nonce16(6)]])) }, d)
    assert.equal(out.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
  })

  it('a JWT EAT with a never-issued nonce and a recent iat is not fresh', async () => {
    const d = deps()
    const evidence = jwt(jsonClaims({ eat_nonce: Buffer.from(nonce16(8)).toString('base64url') }))
    const out = await appraise({ tenant: TENANT, mediaType: EAT_JWT, evidence }, d)
    assert.equal(out.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
    assert.equal(out.nonce, undefined)
  })

  it('of two nonces, the one this verifier issued gives freshness and is the one echoed', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(2), 60)
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, [nonce16(1), nonce16(2)]]])) }, d)
    assert.equal(status(out.submods[EAT_SUBMOD]!), 'affirming')
    assert.deepEqual(out.nonce, nonce16(2))
  })

  it('a token offering more than 8 nonces is refused before any is consumed', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(1), 60)
    const many = Array.from({ length: 9 }, (_, i) => nonce16(i + 1))
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, many]])) }, d)
    assert.equal(out.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_PROFILE_CLAIM_INVALID')
    assert.equal(await d.nonces.consume(TENANT, nonce16(1)), 'consumed')
  })

  it('without a nonce, a recent iat is still fresh under the default profile; an old one is not', async () => {
    const fresh = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims()) }, deps())
    assert.equal(status(fresh.submods[EAT_SUBMOD]!), 'affirming')
    assert.equal(fresh.nonce, undefined)
    const old = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[6, NOW - 301]])) }, deps())
    assert.equal(status(old.submods[EAT_SUBMOD]!), 'contraindicated')
    assert.equal(old.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_STALE')
  })

  it('under a time-only profile a token that carries a nonce is still fresh only through it', async () => {
    const timeOnly = new ProfileRegistry([RFC9711_CONSTRAINED], { ...DEFAULT_PROFILE, freshness: 'time' })
    const out = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, nonce16(3)]])) }, deps({ profiles: timeOnly }))
    assert.equal(out.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
  })

  it('a nested token is fresh through its parent, and its own nonce is never echoed', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(7), 60)
    const nested = cwt(eatClaims([[10, nonce16(0x55)]]))
    const out = await appraise(
      { tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, nonce16(7)], [266, new Map<string, EncodableValue>([['board', nested]])]])) },
      d,
    )
    assert.equal(status(out.submods['EAT/board']!), 'affirming')
    assert.equal(out.submods['EAT/board']!.nonce, undefined)
    assert.deepEqual(out.submods[EAT_SUBMOD]!.nonce, nonce16(7))
  })

  it('a session answers with its own nonce; Evidence with another nonce is contraindicated and echoes none of its own', async () => {
    const d = deps()
    const session = nonce16(0x31)
    const good = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, session]])), sessionNonce: session }, d)
    assert.equal(status(good.submods[EAT_SUBMOD]!), 'affirming')
    assert.deepEqual(good.submods[EAT_SUBMOD]!.nonce, session)
    const bad = await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[10, nonce16(0x32)]])), sessionNonce: session }, d)
    assert.equal(bad.submods[EAT_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_MISMATCH')
    assert.equal(bad.submods[EAT_SUBMOD]!.nonce, undefined)
    assert.deepEqual(bad.nonce, session)
  })

  it('of 100 concurrent appraisals of one token with one issued nonce, exactly one is affirming', async () => {
    const d = deps()
    await d.nonces.issue(TENANT, nonce16(0x41), 60)
    const evidence = cwt(eatClaims([[10, nonce16(0x41)]]))
    const all = await Promise.all(Array.from({ length: 100 }, () => appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence }, d)))
    assert.equal(all.filter((a) => status(a.submods[EAT_SUBMOD]!) === 'affirming').length, 1)
    assert.equal(all.filter((a) => a.nonce !== undefined).length, 1)
  })

  it('PSA: a never-issued nonce is contraindicated and not echoed; an issued one is consumed once', async () => {
    const d = deps()
    const n = new Uint8Array(32).fill(0x51)
    const evidence = psa(psaClaims(n))
    const unissued = await appraise({ tenant: TENANT, mediaType: PSA_TFM, evidence }, d)
    assert.equal(unissued.submods[PSA_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
    assert.equal(unissued.nonce, undefined)
    await d.nonces.issue(TENANT, n, 60)
    const all = await Promise.all(Array.from({ length: 20 }, () => appraise({ tenant: TENANT, mediaType: PSA_TFM, evidence }, d)))
    const affirming = all.filter((a) => status(a.submods[PSA_SUBMOD]!) === 'affirming')
    assert.equal(affirming.length, 1)
    assert.deepEqual(affirming[0]!.nonce, n)
    assert.equal(all.filter((a) => a.nonce !== undefined).length, 1)
  })

  it('PSA: the losers of a race for one nonce are replays; a nonce past its TTL is expired', async () => {
    const d = deps()
    const n = new Uint8Array(32).fill(0x52)
    await d.nonces.issue(TENANT, n, 60)
    const all = await Promise.all(Array.from({ length: 5 }, () => appraise({ tenant: TENANT, mediaType: PSA_TFM, evidence: psa(psaClaims(n)) }, d)))
    const codes = all.map((a) => a.submods[PSA_SUBMOD]!.reasons[0]?.code).filter((c) => c?.startsWith('ERR_CLAIMS_NONCE'))
    assert.deepEqual(codes, Array.from({ length: 4 }, () => 'ERR_CLAIMS_NONCE_REPLAYED'))
    const late = new Uint8Array(32).fill(0x53)
    await d.nonces.issue(TENANT, late, 60)
    d.clock.set(NOW + 61)
    const out = await appraise({ tenant: TENANT, mediaType: PSA_TFM, evidence: psa(psaClaims(late)) }, d)
    assert.equal(out.submods[PSA_SUBMOD]!.reasons[0]!.code, 'ERR_CLAIMS_NONCE_EXPIRED')
  })
})

describe('time claims apply to every format, with one skew (item 3)', () => {
  async function psaResult(extra: [number, EncodableValue][], options: { skewSeconds?: number } = {}) {
    const d = deps(options)
    const n = new Uint8Array(32).fill(0x61)
    await d.nonces.issue(TENANT, n, 60)
    return (await appraise({ tenant: TENANT, mediaType: PSA_TFM, evidence: psa(psaClaims(n, extra)) }, d)).submods[PSA_SUBMOD]!
  }

  it('PSA: within exp, nbf and iat the token is affirming', async () => {
    assert.equal(status(await psaResult([[4, NOW + 60], [5, NOW - 60], [6, NOW]])), 'affirming')
  })

  it('PSA: an exp in the past is contraindicated', async () => {
    const out = await psaResult([[4, NOW - 3600]])
    assert.equal(status(out), 'contraindicated')
    assert.equal(out.reasons[0]!.code, 'ERR_CLAIMS_EXPIRED')
    assert.equal(out.nonce, undefined)
  })

  it('PSA: an nbf in the future, or an iat in the future beyond the skew, is contraindicated', async () => {
    assert.equal((await psaResult([[5, NOW + 3600]])).reasons[0]!.code, 'ERR_CLAIMS_NOT_YET_VALID')
    assert.equal((await psaResult([[6, NOW + 3600]])).reasons[0]!.code, 'ERR_CLAIMS_NOT_YET_VALID')
  })

  it('PSA: a time claim that is not a NumericDate, or a float iat, is bad Evidence', async () => {
    assert.equal((await psaResult([[4, 'tomorrow']])).reasons[0]!.code, 'ERR_CLAIMS_INVALID')
  })

  it('the skew setting applies to PSA and EAT alike', async () => {
    // exp 30 s ago: expired with no skew, accepted with 60 s.
    assert.equal((await psaResult([[4, NOW - 30]], { skewSeconds: 0 })).reasons[0]!.code, 'ERR_CLAIMS_EXPIRED')
    assert.equal(status(await psaResult([[4, NOW - 30]], { skewSeconds: 60 })), 'affirming')
    const eat = async (skewSeconds: number) =>
      (await appraise({ tenant: TENANT, mediaType: EAT_CWT, evidence: cwt(eatClaims([[4, NOW - 30]])) }, deps({ skewSeconds }))).submods[EAT_SUBMOD]!
    assert.equal((await eat(0)).reasons[0]!.code, 'ERR_CLAIMS_EXPIRED')
    assert.equal(status(await eat(60)), 'affirming')
    // iat 90 s ahead: refused with the default 60 s skew, accepted with 120 s.
    const ahead = async (skewSeconds?: number) =>
      (
        await appraise(
          { tenant: TENANT, mediaType: EAT_JWT, evidence: jwt(jsonClaims({ iat: NOW + 90 })) },
          deps(skewSeconds === undefined ? {} : { skewSeconds }),
        )
      ).submods[EAT_SUBMOD]!
    assert.equal((await ahead()).reasons[0]!.code, 'ERR_CLAIMS_NOT_YET_VALID')
    assert.equal(status(await ahead(120)), 'affirming')
  })
})
