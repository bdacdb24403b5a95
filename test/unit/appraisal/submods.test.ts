/**
 * Submodule names and detached bundles (issue 7, items 5 and 6): a label cannot stand for a nested
 * path and replace (mask) another submodule's result; a name given twice fails closed; a detached
 * claims-set that no digest in the main token covers is appraised as contraindicated, never dropped.
 */
import assert from 'node:assert/strict'
import { createHash, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { EAT_SUBMOD, addSubmod, appraiseEat, appraiseEatBundle, submodName, type EatAppraisalDeps } from '../../../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../../../src/appraisal/endorsements.js'
import { everyClaim, type SubmodAppraisal } from '../../../src/appraisal/types.js'
import { CborTag, encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { createDefaultProfiles } from '../../../src/evidence/eat/profiles.js'
import { deriveStatus, worstTier } from '../../../src/results/trust-vector.js'
import { createMemoryStore } from '../../../src/store/memory/create-memory-store.js'
import { toHex, utf8 } from '../../../src/util/bytes.js'
import { fixedClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'

const NOW = 1_800_000_000
const TENANT = 'default'
const HWMODEL = Uint8Array.of(0xab, 0xcd)
const device = generateTestKey('ES256')
const board = generateTestKey('ES256')

function deps(): EatAppraisalDeps {
  const e = new MemoryEndorsements()
  e.addEatKid(TENANT, toHex(utf8('device-1')), device.publicKey, { ueids: 'any', classes: 'any' })
  e.addEatKid(TENANT, toHex(utf8('board-1')), board.publicKey, { ueids: 'any', classes: 'any' })
  e.addEatReferenceValues(TENANT, oemidKey(64242), toHex(HWMODEL), {
    software: new Map([['fw', new Set(['1.2'])]]),
    measurementDigests: new Set(),
    source: 'test',
  })
  const store = createMemoryStore({ nowMs: () => NOW * 1000 })
  return { endorsements: e, nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(NOW) }
}

/** Claims that appraise as affirming under the default profile (fresh by iat: no nonce). */
function good(extra: [number, EncodableValue][] = []): Map<number, EncodableValue> {
  return new Map<number, EncodableValue>([[258, 64242], [259, HWMODEL], [270, 'fw'], [271, ['1.2']], [6, NOW], ...extra])
}

function token(c: Map<number, EncodableValue>, key: TestKeyPair = device, kid = 'device-1'): Uint8Array {
  return signSign1(key, { protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8(kid)]]), payload: encodeCbor(c), tag: 'cwt' })
}

const status = (s: SubmodAppraisal) => deriveStatus(s.vector, { required: s.required })
const overall = (out: Record<string, SubmodAppraisal>) => worstTier(Object.values(out).map(status))

describe('submodule labels cannot pose as paths (item 5)', () => {
  it('a label "a/b" does not replace the result of submodule b nested in a, nor mask its failure', async () => {
    const forged = token(good(), generateTestKey('ES256'), 'board-1')
    const submods = new Map<string, EncodableValue>([
      ['a', good([[266, new Map<string, EncodableValue>([['b', forged]])]])],
      ['a/b', good()],
    ])
    const out = await appraiseEat({ tenant: TENANT, token: token(good([[266, submods]])) }, deps())
    assert.equal(out['EAT/a/b']!.reasons[0]!.code, 'ERR_COSE_SIGNATURE_INVALID')
    assert.equal(status(out['EAT/a%2Fb']!), 'affirming')
    assert.equal(overall(out), 'contraindicated')
  })

  it('the same holds with the labels in the other order', async () => {
    const forged = token(good(), generateTestKey('ES256'), 'board-1')
    const submods = new Map<string, EncodableValue>([
      ['a/b', good()],
      ['a', good([[266, new Map<string, EncodableValue>([['b', forged]])]])],
    ])
    const out = await appraiseEat({ tenant: TENANT, token: token(good([[266, submods]])) }, deps())
    assert.equal(out['EAT/a/b']!.reasons[0]!.code, 'ERR_COSE_SIGNATURE_INVALID')
    assert.equal(overall(out), 'contraindicated')
  })

  it('escaping keeps "%" apart too: labels "a%2Fb" and "a/b" get different names', async () => {
    const submods = new Map<string, EncodableValue>([
      ['a%2Fb', good()],
      ['a/b', good([[271, ['9.9']]])],
    ])
    const out = await appraiseEat({ tenant: TENANT, token: token(good([[266, submods]])) }, deps())
    assert.equal(status(out['EAT/a%252Fb']!), 'affirming')
    assert.equal(out['EAT/a%2Fb']!.vector.executables, 33)
  })

  it('property: distinct label paths always get distinct names', () => {
    const path = fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { minLength: 1, maxLength: 3 })
    const name = (labels: string[]) => labels.reduce((parent, label) => submodName(parent, label), EAT_SUBMOD)
    fc.assert(
      fc.property(path, path, (p, q) => {
        if (p.length === q.length && p.every((l, i) => l === q[i])) return
        assert.notEqual(name(p), name(q))
      }),
      { numRuns: 2000 },
    )
  })

  it('a name given twice fails closed: contraindicated, never overwritten', () => {
    const out: Record<string, SubmodAppraisal> = {}
    addSubmod(out, 'EAT/x', everyClaim(99, 'ERR_COSE_SIGNATURE_INVALID', 'forged', ['instance-identity']))
    addSubmod(out, 'EAT/x', { vector: { 'instance-identity': 2 }, reasons: [], required: ['instance-identity'] })
    assert.equal(out['EAT/x']!.reasons[0]!.code, 'EAT_SUBMOD_NAME_COLLISION')
    assert.equal(status(out['EAT/x']!), 'contraindicated')
  })
})

describe('a detached claims-set without a digest in the main token is refused (item 6)', () => {
  const teeClaims = encodeCbor(good())
  const teeDigest = new Uint8Array(createHash('sha256').update(teeClaims).digest())

  it('CBOR bundle: the unbound claims-set gets a contraindicated submodule with a reason', async () => {
    const main = token(good([[266, new Map<string, EncodableValue>([['TEE', [-16, teeDigest]]])]]))
    const extra = encodeCbor(good([[270, 'rogue']]))
    const bundle = encodeCbor(new CborTag(602, [main, new Map([['TEE', teeClaims], ['rogue', extra]])] as never))
    const out = await appraiseEatBundle({ tenant: TENANT, bytes: bundle, kind: 'cbor' }, deps())
    assert.equal(status(out['EAT']!), 'affirming')
    assert.equal(status(out['EAT/TEE']!), 'affirming')
    assert.equal(out['EAT/rogue']!.reasons[0]!.code, 'ERR_BUNDLE_DIGEST_MISMATCH')
    assert.match(out['EAT/rogue']!.reasons[0]!.detail, /no digest in the main token/)
    assert.equal(overall(out), 'contraindicated')
  })

  it('CBOR bundle whose main token has no submods at all, and an unbound label with "/"', async () => {
    const bundle = encodeCbor(new CborTag(602, [token(good()), new Map([['a/b', teeClaims]])] as never))
    const out = await appraiseEatBundle({ tenant: TENANT, bytes: bundle, kind: 'cbor' }, deps())
    assert.equal(out['EAT/a%2Fb']!.reasons[0]!.code, 'ERR_BUNDLE_DIGEST_MISMATCH')
    assert.equal(overall(out), 'contraindicated')
  })

  it('JSON bundle: the same', async () => {
    const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'device-1' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ oemid: 64242, hwmodel: Buffer.from(HWMODEL).toString('base64url'), swname: 'fw', swversion: ['1.2'], iat: NOW }),
    ).toString('base64url')}`
    const jwt = `${input}.${sign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    const detached = Buffer.from(JSON.stringify({ swname: 'rogue' })).toString('base64url')
    const bytes = utf8(JSON.stringify([['JWT', jwt], { rogue: detached }]))
    const out = await appraiseEatBundle({ tenant: TENANT, bytes, kind: 'json' }, deps())
    assert.equal(status(out['EAT']!), 'affirming')
    assert.equal(out['EAT/rogue']!.reasons[0]!.code, 'ERR_BUNDLE_DIGEST_MISMATCH')
    assert.equal(overall(out), 'contraindicated')
  })
})
