/**
 * No Evidence throws past the appraisal layer (issue 7, item 7): every JSON `eat_nonce` form RFC 9711
 * allows, and the lengths around it, ends in a signed EAR from the real job processor (the code the
 * worker runs), never in an exception the queue would retry. A verifier bug that Evidence triggers
 * is a signed verifier-malfunction result; store faults are still thrown (and so retried).
 */
import assert from 'node:assert/strict'
import { randomUUID, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { EAT_SUBMOD } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import { appraise, type AppraisalDeps } from '../../../src/appraisal/pipeline.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import type { EatKeyStore } from '../../../src/evidence/eat/verify-eat.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import type { VerifierError } from '../../../src/errors/errors.js'
import { generateEs256Key } from '../../../src/crypto/sign.js'
import { createProcessor } from '../../../src/queue/processor.js'
import { createEarSigner, signEarJwt } from '../../../src/results/sign.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { createRedisStore } from '../../../src/store/redis/create-redis-store.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { generateTestKey } from '../../helpers/cose.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const device = generateTestKey('ES256')
const signer = createEarSigner(generateEs256Key())

function endorsements(): MemoryEndorsements {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, { ueids: 'any', classes: 'any' })
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  return e
}

function appraisalDeps(overrides: Partial<AppraisalDeps> = {}) {
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  const appraisal: AppraisalDeps = {
    registry: createDefaultRegistry(),
    endorsements: endorsements(),
    nonces: store.nonces,
    profiles: createDefaultProfiles(),
    clock: fixedClock(NOW),
    ...overrides,
  }
  return { store, appraisal }
}

function processorFor(d: ReturnType<typeof appraisalDeps>) {
  return createProcessor({
    store: d.store,
    appraisal: d.appraisal,
    signEar: (outcome, naming) => signEarJwt(outcome, signer, naming).token,
    config: { earLifetimeSeconds: 3600, resultTtlSeconds: 3600, verifierDeveloper: 'test', verifierBuild: 'test', includeRawEvidence: false },
    clock: fixedClock(NOW),
  })
}

/** A JWT EAT under the default profile, signed by the provisioned device key. */
function jwt(claims: Record<string, unknown>): Uint8Array {
  const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'device-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return utf8(`${input}.${sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)
}

function claimsWith(eatNonce: unknown): Record<string, unknown> {
  return { eat_nonce: eatNonce, oemid: 64242, hwmodel: Buffer.from(HWMODEL).toString('base64url'), swname: 'fw', swversion: ['1.2'], iat: NOW }
}

interface Ear {
  ear_status: string
  eat_nonce?: string
  submods: Record<string, { ear_status: string; eat_nonce?: string; ear_trustworthiness_vector?: Record<string, number>; ear_assay_reasons?: { code: string }[] }>
}

async function run(d: ReturnType<typeof appraisalDeps>, evidence: Uint8Array, expectedNonce?: Uint8Array): Promise<Ear> {
  const outcome = await processorFor(d)(
    {
      id: randomUUID(),
      tenant: TENANT,
      mediaType: 'application/eat+jwt',
      evidence: Buffer.from(evidence).toString('base64'),
      receivedAt: NOW * 1000,
      earProfile: 'ear-03',
      ...(expectedNonce === undefined ? {} : { expectedNonce: Buffer.from(expectedNonce).toString('base64') }),
    },
    new AbortController().signal,
  )
  return JSON.parse(Buffer.from(outcome.ear!.split('.')[1]!, 'base64url').toString('utf8')) as Ear
}

/** Text nonces: the RFC 9711 range (8..88 bytes) and beyond it, in the forms a client might use. */
const textNonce = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 70 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.uint8Array({ minLength: 1, maxLength: 70 }).map((b) => Buffer.from(b).toString('base64')),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 100 }),
)

describe('JWT eat_nonce of every form and length ends in a signed result (item 7)', () => {
  it('8 and 88 base64url characters (6 and 66 bytes once decoded): contraindicated, no nonce echoed', async () => {
    for (const text of ['AAAAAAAA', 'A'.repeat(88)]) {
      const ear = await run(appraisalDeps(), jwt(claimsWith(text)))
      assert.equal(ear.ear_status, 'contraindicated')
      assert.equal(ear.submods[EAT_SUBMOD]!.ear_assay_reasons![0]!.code, 'ERR_CLAIMS_NONCE_UNKNOWN')
      assert.equal(ear.eat_nonce, undefined)
      assert.equal(ear.submods[EAT_SUBMOD]!.eat_nonce, undefined)
    }
  })

  it('a text nonce outside 8..88 bytes is bad Evidence with a reason', async () => {
    for (const text of ['short', 'x'.repeat(89)]) {
      const ear = await run(appraisalDeps(), jwt(claimsWith(text)))
      assert.equal(ear.ear_status, 'contraindicated')
      assert.equal(ear.submods[EAT_SUBMOD]!.ear_assay_reasons![0]!.code, 'ERR_CLAIMS_INVALID')
    }
  })

  it('property: any text nonce, alone or in an array, never throws and is never affirming unless issued', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(textNonce, fc.array(textNonce, { minLength: 1, maxLength: 4 })), async (nonce) => {
        const ear = await run(appraisalDeps(), jwt(claimsWith(nonce)))
        assert.equal(ear.ear_status, 'contraindicated')
        assert.equal(ear.eat_nonce, undefined)
        assert.ok(ear.submods[EAT_SUBMOD]!.ear_assay_reasons!.length > 0)
      }),
      { numRuns: 150 },
    )
  })

  it('property: an issued nonce of 8..64 bytes sent as base64url or base64 is fresh once and echoed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.boolean(), async (bytes, url) => {
        const d = appraisalDeps()
        await d.store.nonces.issue(TENANT, bytes, 60)
        const text = Buffer.from(bytes).toString(url ? 'base64url' : 'base64')
        const ear = await run(d, jwt(claimsWith(text)))
        assert.equal(ear.ear_status, 'affirming')
        assert.equal(ear.eat_nonce, Buffer.from(bytes).toString('base64url'))
        const again = await run(d, jwt(claimsWith(text)))
        assert.equal(again.ear_status, 'contraindicated')
      }),
      { numRuns: 60 },
    )
  })

  it('in a session, a JWT with a short nonce is a mismatch; only the session nonce is echoed', async () => {
    const session = new Uint8Array(32).fill(0x11)
    const ear = await run(appraisalDeps(), jwt(claimsWith('AAAAAAAA')), session)
    assert.equal(ear.ear_status, 'contraindicated')
    assert.equal(ear.submods[EAT_SUBMOD]!.ear_assay_reasons![0]!.code, 'ERR_CLAIMS_NONCE_MISMATCH')
    assert.equal(ear.eat_nonce, Buffer.from(session).toString('base64url'))
    assert.equal(ear.submods[EAT_SUBMOD]!.eat_nonce, undefined)
  })
})

describe('a verifier bug that Evidence triggers is a signed malfunction result; store faults still throw', () => {
  /**
   * Fault injection: endorsements whose key store throws a TypeError, standing for any bug in the
   * code that reads Evidence. Everything else is real.
   */
  class BuggyEndorsements extends MemoryEndorsements {
    override eatKeys(): EatKeyStore {
      throw new TypeError('simulated verifier bug')
    }
  }

  it('answers with every claim -1 (verifier malfunction), status none, and reports the cause', async () => {
    const reported: VerifierError[] = []
    const d = appraisalDeps({ endorsements: new BuggyEndorsements(), onEvidenceFault: (err) => reported.push(err) })
    const ear = await run(d, jwt(claimsWith('AAAAAAAAAAAAAAAAAAAAAA')))
    assert.equal(ear.ear_status, 'none')
    const eat = ear.submods[EAT_SUBMOD]!
    assert.equal(eat.ear_assay_reasons![0]!.code, 'ERR_VERIFIER_EVIDENCE_UNHANDLED')
    assert.ok(Object.values(eat.ear_trustworthiness_vector!).every((v) => v === -1))
    assert.equal(reported.length, 1)
    assert.equal((reported[0]!.cause as Error).message, 'simulated verifier bug')
  })

  it('a store that is down is a fault the queue retries, not a result', async () => {
    const down = createRedisStore({ redis: 'redis://127.0.0.1:1', prefix: 'assay-unit-down' })
    try {
      const d = appraisalDeps({ nonces: down.nonces })
      await assert.rejects(
        appraise({ tenant: TENANT, mediaType: 'application/eat+jwt', evidence: jwt(claimsWith(Buffer.from(new Uint8Array(16)).toString('base64url'))) }, d.appraisal),
        { code: 'ERR_STORE_UNAVAILABLE' },
      )
    } finally {
      await down.close().catch(() => {})
    }
  })
})
