import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  CborFloat,
  CborTag,
  decodeCbor,
  encodeCbor,
  type CborMap,
  type CborValue,
} from '../../../../src/cose/cbor.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import {
  checkClaimDependencies,
  checkNonce,
  checkTimeClaims,
  decodeEatClaims,
  type EatClaims,
} from '../../../../src/evidence/eat/claims.js'
import {
  CLAIMS,
  CLAIM_KEY,
  COAP_CONTENT_FORMAT,
  DEBUG_STATUS,
  EAT_PROFILE_RFC9711,
  MEDIA_TYPE,
} from '../../../../src/evidence/eat/descriptor.js'
import { fromHex, toHex } from '../../../../src/util/bytes.js'
import { fixedClock } from '../../../../src/util/clock.js'
import { VECTOR_DIR } from '../../../helpers/vectors.js'

function vectorPayload(file: string, tags: readonly number[]): CborMap {
  const vector = JSON.parse(readFileSync(VECTOR_DIR + file, 'utf8')) as { token_hex: string }
  let item = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set(tags) })
  for (const tag of tags) {
    assert.ok(item instanceof CborTag && item.tag === tag, `expected tag ${tag}`)
    item = item.value
  }
  assert.ok(Array.isArray(item) && item.length === 4)
  const payload = decodeCbor(item[2] as Uint8Array)
  assert.ok(payload instanceof Map)
  return payload
}

type Entries = readonly (readonly [number | bigint | string, CborValue])[]

const claimsOf = (entries: Entries): CborMap => new Map(entries)
const bytes = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill)

function rejects(entries: Entries, code: ErrorCode): Error {
  let caught: unknown
  assert.throws(
    () => decodeEatClaims(claimsOf(entries)),
    (err: unknown) => {
      caught = err
      return true
    },
  )
  assert.equal((caught as { code?: string }).code, code, String(caught))
  return caught as Error
}

// RFC 8392 A.3 validity window.
const NBF = 1443944944
const EXP = 1444064944

describe('decodeEatClaims: published payloads', () => {
  it('RFC 9711 A.2.1: attestation HW block claims', () => {
    const claims = decodeEatClaims(vectorPayload('rfc9711-a2-1-basic-cwt.json', [61, 18]))
    assert.equal(claims.nonces?.length, 1)
    assert.equal(toHex(claims.nonces[0]!), 'd79b964ddd5471c1393c8888')
    assert.equal(toHex(claims.ueid!), '0198f50a4ff6c05861c8860d13a638ea')
    assert.equal(claims.oemid, 64242)
    assert.equal(claims.oemboot, true)
    assert.equal(claims.dbgstat, 'disabled-permanently')
    assert.deepEqual(claims.hwversion, { version: '3.1', scheme: 1 })
    assert.equal(claims.extensions.size, 0)
  })

  it('RFC 8392 A.3: registered CWT claims', () => {
    const claims = decodeEatClaims(vectorPayload('rfc8392-a3-signed-cwt-es256.json', [18]))
    assert.equal(claims.iss, 'coap://as.example.com')
    assert.equal(claims.sub, 'erikw')
    assert.equal(claims.aud, 'coap://light.example.com')
    assert.equal(claims.exp, EXP)
    assert.equal(claims.nbf, NBF)
    assert.equal(claims.iat, NBF)
    assert.equal(toHex(claims.cti!), '0b71')
  })

  it('the A.2.1 HW block breaks RFC 9711 dependency rules only for hwversion (Corrections item 10)', () => {
    const claims = decodeEatClaims(vectorPayload('rfc9711-a2-1-basic-cwt.json', [61, 18]))
    const errors = checkClaimDependencies(claims)
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ERR_PROFILE_CLAIM_INVALID'],
    )
    assert.match(errors[0]!.message, /hwversion \(260\).*hwmodel \(259\)/)
  })
})

describe('decodeEatClaims: claim forms', () => {
  it('dispatches the four submodule kinds on the CBOR type', () => {
    const sign1 = [new Uint8Array(0), new Map(), bytes(4), bytes(64)]
    const nested = encodeCbor(new CborTag(61, new CborTag(18, sign1)))
    const digest = bytes(32, 0x11)
    const selector = '["JWT","eyJhbGciOiJFUzI1NiJ9.e30.c2ln"]'
    const claims = decodeEatClaims(
      claimsOf([
        [
          CLAIM_KEY.submods,
          new Map<string, CborValue>([
            ['tee', new Map<number, CborValue>([[CLAIM_KEY.dbgstat, 2]])],
            ['detached', [-16, digest]],
            ['nested', nested],
            ['jwt', selector],
          ]),
        ],
      ]),
    )
    const submods = claims.submods!
    const tee = submods.get('tee')
    assert.equal(tee?.kind, 'claims')
    assert.equal(decodeEatClaims(tee.claims).dbgstat, 'disabled-since-boot')
    assert.deepEqual(submods.get('detached'), { kind: 'digest', alg: -16, digest })
    assert.deepEqual(submods.get('nested'), { kind: 'token', bytes: nested })
    assert.deepEqual(submods.get('jwt'), { kind: 'json-selector', text: selector })
  })

  it('location with float latitude and longitude exposes plain numbers', () => {
    const claims = decodeEatClaims(
      claimsOf([
        [
          CLAIM_KEY.location,
          new Map<number, CborValue>([
            [1, new CborFloat(48.8584)],
            [2, new CborFloat(2.2945)],
            [3, 35],
            [6, new CborFloat(Number.NaN)],
            [8, 1700000000],
            [9, 12],
          ]),
        ],
      ]),
    )
    assert.deepEqual(claims.location, {
      latitude: 48.8584,
      longitude: 2.2945,
      altitude: 35,
      heading: Number.NaN,
      timestamp: 1700000000,
      age: 12,
    })
  })

  it('location survives an encode/decode round trip with integer coordinates', () => {
    const payload = decodeCbor(encodeCbor(claimsOf([[CLAIM_KEY.location, new Map([[1, -33], [2, 151]])]])))
    assert.deepEqual(decodeEatClaims(payload as CborMap).location, { latitude: -33, longitude: 151 })
  })

  it('decodes the remaining EAT claims', () => {
    const coswid = bytes(20, 0xa6)
    const claims = decodeEatClaims(
      claimsOf([
        [CLAIM_KEY.nonces, [bytes(8, 1), bytes(64, 2)]],
        [CLAIM_KEY.sueids, new Map([['xyz', bytes(17, 3)]])],
        [CLAIM_KEY.oemid, fromHex('894823')],
        [CLAIM_KEY.hwmodel, bytes(32)],
        [CLAIM_KEY.uptime, 3600],
        [CLAIM_KEY.eatProfile, EAT_PROFILE_RFC9711],
        [CLAIM_KEY.bootcount, 7],
        [CLAIM_KEY.bootseed, bytes(16)],
        [CLAIM_KEY.dloas, [['https://dloa.example', 'platform', 'app']]],
        [CLAIM_KEY.swname, 'Acme OS'],
        [CLAIM_KEY.swversion, ['3.5.5']],
        [CLAIM_KEY.manifests, [[258, coswid]]],
        [CLAIM_KEY.measurements, [[258, coswid]]],
        [CLAIM_KEY.measres, [['rim', [['boot', 1], [fromHex('0102'), 4]]]]],
        [CLAIM_KEY.intuse, 2],
        [CLAIM_KEY.scope, 'read'],
        [CLAIM_KEY.cnf, new Map([[3, bytes(4)]])],
        [-80000, 'fingerprint'],
        [2n ** 64n, true],
      ]),
    )
    assert.equal(claims.nonces?.length, 2)
    assert.equal(claims.sueids?.get('xyz')?.length, 17)
    assert.deepEqual(claims.oemid, fromHex('894823'))
    assert.equal(claims.uptime, 3600)
    assert.equal(claims.eatProfile, 'urn:ietf:rfc:rfc9711')
    assert.deepEqual(claims.dloas, [
      { registrar: 'https://dloa.example', platformLabel: 'platform', applicationLabel: 'app' },
    ])
    assert.deepEqual(claims.swversion, { version: '3.5.5' })
    assert.deepEqual(claims.manifests, [{ contentFormat: 258, body: coswid }])
    assert.deepEqual(claims.measurements, [{ contentFormat: 258, body: coswid }])
    assert.deepEqual(claims.measres, [
      {
        system: 'rim',
        results: [
          { id: 'boot', result: 'success' },
          { id: fromHex('0102'), result: 'absent' },
        ],
      },
    ])
    assert.equal(claims.intuse, 2)
    assert.equal(claims.scope, 'read')
    assert.ok(claims.cnf instanceof Map)
    assert.equal(claims.extensions.get(-80000), 'fingerprint')
    assert.equal(claims.extensions.get(2n ** 64n), true)
  })

  it('eat_profile as an OID', () => {
    const oid = fromHex('2b0601040182e34a') // 1.3.6.1.4.1.45514 … (BER content bytes)
    assert.deepEqual(decodeEatClaims(claimsOf([[CLAIM_KEY.eatProfile, oid]])).eatProfile, { oid })
  })

  it('accepts a float exp and nbf (RFC 8392 NumericDate) as numbers', () => {
    const claims = decodeEatClaims(
      claimsOf([
        [CLAIM_KEY.exp, new CborFloat(EXP + 0.5)],
        [CLAIM_KEY.nbf, new CborFloat(NBF)],
      ]),
    )
    assert.equal(claims.exp, EXP + 0.5)
    assert.equal(claims.nbf, NBF)
  })

  it('the claim table and descriptor constants agree', () => {
    assert.equal(CLAIMS.length, 30)
    for (const row of CLAIMS) assert.equal(CLAIM_KEY[row.field], row.key)
    assert.equal(CLAIMS.find((r) => r.key === 7)?.name, 'jti')
    assert.equal(CLAIMS.find((r) => r.key === 10)?.name, 'eat_nonce')
    assert.equal(DEBUG_STATUS[4], 'disabled-fully-and-permanently')
    assert.equal(COAP_CONTENT_FORMAT.get(MEDIA_TYPE.eatCwt), 263)
    assert.equal(COAP_CONTENT_FORMAT.get(MEDIA_TYPE.eatUnprotectedJson), 268)
  })
})

describe('decodeEatClaims: rejections', () => {
  it('7-byte nonce', () => {
    const err = rejects([[CLAIM_KEY.nonces, bytes(7)]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'eat_nonce (10): 7 bytes, must be 8..64')
  })

  it('65-byte nonce', () => {
    rejects([[CLAIM_KEY.nonces, bytes(65)]], 'ERR_CLAIMS_INVALID')
  })

  it('a short nonce inside an array names its index', () => {
    const err = rejects([[CLAIM_KEY.nonces, [bytes(8), bytes(7)]]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'eat_nonce (10) at [1]: 7 bytes, must be 8..64')
  })

  it('nonce array of one element', () => {
    const err = rejects([[CLAIM_KEY.nonces, [bytes(8)]]], 'ERR_CLAIMS_INVALID')
    assert.match(err.message, /^eat_nonce \(10\): an array of 1, must have at least 2/)
  })

  it('nonce of the wrong type', () => {
    const err = rejects([[CLAIM_KEY.nonces, 'abcdefghij']], 'ERR_CLAIMS_INVALID')
    assert.match(err.message, /expected a byte string or an array, got a text string/)
  })

  it('ueid of 6 bytes', () => {
    const err = rejects([[CLAIM_KEY.ueid, bytes(6)]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'ueid (256): 6 bytes, must be 7..33')
  })

  it('ueid of 34 bytes', () => {
    rejects([[CLAIM_KEY.ueid, bytes(34)]], 'ERR_CLAIMS_INVALID')
  })

  it('hwmodel of 33 bytes', () => {
    const err = rejects([[CLAIM_KEY.hwmodel, bytes(33)]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'hwmodel (259): 33 bytes, must be 1..32')
  })

  it('oemid of 5 bytes', () => {
    rejects([[CLAIM_KEY.oemid, bytes(5)]], 'ERR_CLAIMS_INVALID')
  })

  it('dbgstat 5', () => {
    const err = rejects([[CLAIM_KEY.dbgstat, 5]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'dbgstat (263): 5 is not a debug status (0..4)')
  })

  it('float iat', () => {
    rejects([[CLAIM_KEY.iat, new CborFloat(1443944944.5)]], 'ERR_CLAIMS_FLOAT_TIME')
  })

  it('float iat even when it is integral', () => {
    rejects([[CLAIM_KEY.iat, new CborFloat(1443944944)]], 'ERR_CLAIMS_FLOAT_TIME')
  })

  it('text key in the claims-set', () => {
    rejects(
      [
        [CLAIM_KEY.iss, 'a'],
        ['iss', 'a'],
      ],
      'ERR_CLAIMS_INVALID',
    )
  })

  it('iss as bytes', () => {
    const err = rejects([[CLAIM_KEY.iss, bytes(4)]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'iss (1): expected a text string, got a byte string of 4 bytes')
  })

  it('measres result 5', () => {
    const err = rejects([[CLAIM_KEY.measres, [['rim', [['boot', 5]]]]]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'measres (274) at [0][1][0][1]: 5 is not a measurement result (1..4)')
  })

  it('location without longitude', () => {
    const err = rejects([[CLAIM_KEY.location, new Map([[1, 10]])]], 'ERR_CLAIMS_INVALID')
    assert.equal(err.message, 'location (264) at {2}: missing')
  })

  it('submodule of the wrong type', () => {
    const err = rejects([[CLAIM_KEY.submods, new Map([['x', 5]])]], 'ERR_CLAIMS_INVALID')
    assert.match(err.message, /^submods \(266\) at \{x\}: expected a map, an array/)
  })

  it('submodule digest with three elements', () => {
    rejects([[CLAIM_KEY.submods, new Map([['x', [-16, bytes(32), 1]]])]], 'ERR_CLAIMS_INVALID')
  })

  it('nested token that is not a tagged CBOR item', () => {
    rejects([[CLAIM_KEY.submods, new Map([['x', fromHex('a0')]])]], 'ERR_CLAIMS_INVALID')
  })

  it('eat_profile that is not an absolute URI', () => {
    rejects([[CLAIM_KEY.eatProfile, 'rfc9711']], 'ERR_CLAIMS_INVALID')
  })

  it('a tagged exp', () => {
    rejects([[CLAIM_KEY.exp, new CborTag(1, EXP)]], 'ERR_CLAIMS_INVALID')
  })
})

describe('checkTimeClaims', () => {
  const claims = decodeEatClaims(vectorPayload('rfc8392-a3-signed-cwt-es256.json', [18]))

  it('passes inside the RFC 8392 A.3 window', () => {
    checkTimeClaims(claims, fixedClock(NBF))
    checkTimeClaims(claims, fixedClock(EXP - 1))
  })

  it('rejects at and after exp', () => {
    assert.throws(() => checkTimeClaims(claims, fixedClock(EXP)), { code: 'ERR_CLAIMS_EXPIRED' })
    assert.throws(() => checkTimeClaims(claims, fixedClock(EXP + 3600)), { code: 'ERR_CLAIMS_EXPIRED' })
  })

  it('rejects before nbf', () => {
    assert.throws(() => checkTimeClaims(claims, fixedClock(NBF - 1)), { code: 'ERR_CLAIMS_NOT_YET_VALID' })
  })

  it('applies the skew on both ends', () => {
    checkTimeClaims(claims, fixedClock(EXP + 59), { skewSeconds: 60 })
    checkTimeClaims(claims, fixedClock(NBF - 60), { skewSeconds: 60 })
    assert.throws(() => checkTimeClaims(claims, fixedClock(EXP + 60), { skewSeconds: 60 }), {
      code: 'ERR_CLAIMS_EXPIRED',
    })
  })

  it('ignores absent exp and nbf', () => {
    checkTimeClaims({ extensions: new Map() }, fixedClock(0))
  })

  it('rejects an iat in the future beyond the skew (issue 7, item 3)', () => {
    const issued = { iat: 1_000, extensions: new Map() }
    checkTimeClaims(issued, fixedClock(1_000))
    checkTimeClaims(issued, fixedClock(940), { skewSeconds: 60 })
    assert.throws(() => checkTimeClaims(issued, fixedClock(999)), { code: 'ERR_CLAIMS_NOT_YET_VALID' })
    assert.throws(() => checkTimeClaims(issued, fixedClock(939), { skewSeconds: 60 }), { code: 'ERR_CLAIMS_NOT_YET_VALID' })
  })
})

describe('checkNonce', () => {
  const nonce = fromHex('d79b964ddd5471c1393c8888')
  const claims: EatClaims = { nonces: [bytes(8), nonce], extensions: new Map() }

  it('accepts any matching nonce', () => {
    checkNonce(claims, nonce)
  })

  it('rejects a mismatch', () => {
    assert.throws(() => checkNonce(claims, bytes(12)), { code: 'ERR_CLAIMS_NONCE_MISMATCH' })
  })

  it('rejects a missing nonce with its own message', () => {
    assert.throws(() => checkNonce({ extensions: new Map() }, nonce), {
      code: 'ERR_CLAIMS_NONCE_MISMATCH',
      message: /missing/,
    })
  })
})

describe('checkClaimDependencies', () => {
  it('flags hwmodel without oemid', () => {
    const errors = checkClaimDependencies(decodeEatClaims(claimsOf([[CLAIM_KEY.hwmodel, bytes(4)]])))
    assert.equal(errors.length, 1)
    assert.equal(errors[0]!.code, 'ERR_PROFILE_CLAIM_INVALID')
    assert.match(errors[0]!.message, /hwmodel \(259\).*oemid \(258\)/)
  })

  it('flags swversion, oemboot and dbgstat 3 without their anchors', () => {
    const claims = decodeEatClaims(
      claimsOf([
        [CLAIM_KEY.swversion, ['1.0', 1]],
        [CLAIM_KEY.oemboot, true],
        [CLAIM_KEY.dbgstat, 3],
      ]),
    )
    assert.equal(checkClaimDependencies(claims).length, 3)
  })

  it('passes a consistent claims-set', () => {
    const claims = decodeEatClaims(
      claimsOf([
        [CLAIM_KEY.oemid, 64242],
        [CLAIM_KEY.hwmodel, bytes(4)],
        [CLAIM_KEY.hwversion, ['1.0']],
        [CLAIM_KEY.swname, 'fw'],
        [CLAIM_KEY.swversion, ['1.0']],
        [CLAIM_KEY.oemboot, true],
        [CLAIM_KEY.dbgstat, 3],
      ]),
    )
    assert.deepEqual(checkClaimDependencies(claims), [])
  })
})
