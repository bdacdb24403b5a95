/**
 * A job may run more than once (BullMQ delivers at least once). The processor is idempotent per
 * appraisal id: a retry is not refused by the nonce its own earlier try consumed, and a second run of
 * a job whose result is stored answers with that result instead of storing another (issue 7, item 21).
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import type { AppraisalDeps } from '../../../src/appraisal/pipeline.js'
import { generateEs256Key } from '../../../src/crypto/sign.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { createProcessor } from '../../../src/queue/processor.js'
import type { AppraisalJob } from '../../../src/queue/types.js'
import type { AppraisalOutcome, EarNaming } from '../../../src/results/ear.js'
import { createEarSigner, signEarJwt } from '../../../src/results/sign.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { generateTestKey } from '../../helpers/cose.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const device = generateTestKey('ES256')
const signer = createEarSigner(generateEs256Key())

function setup(signEar: (outcome: AppraisalOutcome, naming: EarNaming) => string) {
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  const endorsements = new MemoryEndorsements()
  endorsements.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, { ueids: 'any', classes: 'any' })
  endorsements.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  const appraisal: AppraisalDeps = {
    registry: createDefaultRegistry(),
    endorsements,
    nonces: store.nonces,
    profiles: createDefaultProfiles(),
    clock: fixedClock(NOW),
  }
  const config = { earLifetimeSeconds: 3600, resultTtlSeconds: 3600, verifierDeveloper: 'test', verifierBuild: 'test', includeRawEvidence: false }
  return { store, processor: createProcessor({ store, appraisal, signEar, config, clock: fixedClock(NOW) }) }
}

/** A JWT EAT under the default profile carrying `nonce`, signed by the provisioned device key. */
function evidence(nonce: Uint8Array): string {
  const claims = { eat_nonce: Buffer.from(nonce).toString('base64url'), oemid: 64242, hwmodel: Buffer.from(HWMODEL).toString('base64url'), swname: 'fw', swversion: ['1.2'], iat: NOW }
  const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'device-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const signature = sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  return Buffer.from(`${input}.${signature}`).toString('base64')
}

function job(id: string, nonce: Uint8Array): AppraisalJob {
  return { id, tenant: TENANT, mediaType: 'application/eat+jwt', evidence: evidence(nonce), receivedAt: NOW * 1000, earProfile: 'ear-03' }
}

function status(ear: string | undefined): string {
  assert.ok(ear !== undefined)
  return (JSON.parse(Buffer.from(ear.split('.')[1]!, 'base64url').toString('utf8')) as { submods: { EAT: { ear_status: string } } }).submods.EAT.ear_status
}

const signal = new AbortController().signal

describe('processor: a job run twice', () => {
  it('a retry after a fault that struck once the nonce was used is still affirming', async () => {
    let failNext = true
    const { store, processor } = setup((outcome, naming) => {
      if (failNext) {
        failNext = false
        throw new Error('signer fault after the nonce was consumed')
      }
      return signEarJwt(outcome, signer, naming).token
    })
    const nonce = new Uint8Array(randomBytes(32))
    await store.nonces.issue(TENANT, nonce, 300)
    const id = randomUUID()
    await assert.rejects(processor(job(id, nonce), signal), /signer fault/)
    const retried = await processor(job(id, nonce), signal)
    assert.equal(status(retried.ear), 'affirming')
    const other = await processor(job(randomUUID(), nonce), signal)
    assert.equal(status(other.ear), 'contraindicated', 'another appraisal still cannot use the nonce')
  })

  it('a second run of a stored job answers with the stored result and stores nothing new', async () => {
    let signed = 0
    const { store, processor } = setup((outcome, naming) => {
      signed++
      return signEarJwt(outcome, signer, naming).token
    })
    const nonce = new Uint8Array(randomBytes(32))
    await store.nonces.issue(TENANT, nonce, 300)
    const id = randomUUID()
    const first = await processor(job(id, nonce), signal)
    const stored = await store.results.get(TENANT, id)
    const second = await processor(job(id, nonce), signal)
    assert.equal(signed, 2, 'the job really ran twice')
    assert.equal(second.ear, first.ear, 'the second run answers with the first result')
    assert.equal(second.completedAt, first.completedAt)
    assert.deepEqual(await store.results.get(TENANT, id), stored, 'the stored result is unchanged')
    assert.equal(status(first.ear), 'affirming')
  })
})
