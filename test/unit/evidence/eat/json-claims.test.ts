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
import { VerifierError } from '../../../../src/errors/errors.js'
import { checkNonce, decodeEatClaims, type EatClaims } from '../../../../src/evidence/eat/claims.js'
import { CLAIM_KEY, EAT_PROFILE_RFC9711 } from '../../../../src/evidence/eat/descriptor.js'
import { decodeEatJsonClaims } from '../../../../src/evidence/eat/json-claims.js'
import { parseStrictJson, type JsonObject } from '../../../../src/jose/json.js'
import { base64urlEncode } from '../../../../src/util/base64url.js'
import { fromHex, utf8 } from '../../../../src/util/bytes.js'
import { VECTOR_DIR } from '../../../helpers/vectors.js'

/** The claims-set of a published CWT, decoded by the CBOR decoder. */
function vectorClaims(file: string): EatClaims {
  const vector = JSON.parse(readFileSync(VECTOR_DIR + file, 'utf8')) as { token_hex: string }
  const cwt = decodeCbor(fromHex(vector.token_hex), { allowedTags: new Set([61, 18]) })
  assert.ok(cwt instanceof CborTag && cwt.value instanceof CborTag && Array.isArray(cwt.value.value))
  return decodeEatClaims(decodeCbor(cwt.value.value[2] as Uint8Array) as CborMap)
}

/** Parses JSON text strictly (so numbers with a fraction stay `JsonFloat`), then decodes. */
const decodeText = (text: string): EatClaims => decodeEatJsonClaims(parseStrictJson(text) as JsonObject)
const decode = (obj: object): EatClaims => decodeText(JSON.stringify(obj))
const b64 = (bytes: Uint8Array): string => base64urlEncode(bytes)
const bytes = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill)
/** `61(18([h'', {}, h'abababab', sig]))`: tagged, which is all a nested token must be here. */
const taggedCwt = (): Uint8Array =>
  new Uint8Array(encodeCbor(new CborTag(61, new CborTag(18, [new Uint8Array(0), new Map(), bytes(4), bytes(64)]))))

function rejects(claims: object | string, code: ErrorCode, message?: RegExp): void {
  assert.throws(
    () => (typeof claims === 'string' ? decodeText(claims) : decode(claims)),
    (e: unknown) => {
      assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
      assert.equal(e.code, code, e.message)
      if (message !== undefined) assert.match(e.message, message)
      return true
    },
  )
}

/** Both decodings, nonces aside (a JSON nonce is text, a CBOR nonce bytes). */
function withoutNonces(claims: EatClaims): Omit<EatClaims, 'nonces'> {
  const { nonces: _nonces, ...rest } = claims
  return rest
}

const NONCE_TEXT = 'e0M0VwGuPhhH9CuDFWJT2A'
const NOW = 1_700_000_000
const UEID = fromHex('0198f50a4ff6c05861c8860d13a638ea')

describe('decodeEatJsonClaims: the same EatClaims as the CBOR twin', () => {
  it('RFC 9711 A.2.1 (attestation HW block), nonce aside', () => {
    const cbor = vectorClaims('rfc9711-a2-1-basic-cwt.json')
    const json = decode({
      eat_nonce: NONCE_TEXT,
      ueid: b64(UEID),
      oemid: 64242,
      oemboot: true,
      dbgstat: 'disabled-permanently',
      hwversion: ['3.1', 1],
    })
    assert.deepEqual(withoutNonces(json), withoutNonces(cbor))
    assert.deepEqual(json.nonces, [utf8(NONCE_TEXT)])
  })

  it('every claim with a CBOR twin', () => {
    const coswid = fromHex('a20065656e2d5553')
    const digest = bytes(32, 0x11)
    const oid = Uint8Array.of(0x88, 0x37, 0x01)
    const nested = taggedCwt()
    const cbor = decodeEatClaims(
      new Map<number, CborValue>([
        [CLAIM_KEY.iss, 'urn:example:attester'],
        [CLAIM_KEY.sub, 'device'],
        [CLAIM_KEY.aud, 'https://verifier.example'],
        [CLAIM_KEY.exp, 1_700_000_300],
        [CLAIM_KEY.nbf, new CborFloat(1_699_999_999.5)],
        [CLAIM_KEY.iat, 1_700_000_000],
        [CLAIM_KEY.cnf, new Map([['kid', 'k1']])],
        [CLAIM_KEY.scope, 'read'],
        [CLAIM_KEY.ueid, UEID],
        [CLAIM_KEY.sueids, new Map([['tls', UEID]])],
        [CLAIM_KEY.oemid, Uint8Array.of(0xac, 0xde, 0x48)],
        [CLAIM_KEY.hwmodel, bytes(8)],
        [CLAIM_KEY.hwversion, ['1.0.2', 16384]],
        [CLAIM_KEY.uptime, 42],
        [CLAIM_KEY.oemboot, false],
        [CLAIM_KEY.dbgstat, 4],
        [CLAIM_KEY.location, new Map<number, CborValue>([[1, new CborFloat(48.5)], [2, 2], [8, NOW], [9, 5]])],
        [CLAIM_KEY.eatProfile, oid],
        [CLAIM_KEY.submods, new Map<string, CborValue>([['detached', [-16, digest]], ['nested', nested]])],
        [CLAIM_KEY.bootcount, 7],
        [CLAIM_KEY.bootseed, bytes(32, 0x22)],
        [CLAIM_KEY.dloas, [['https://dloa.example', 'platform', 'app']]],
        [CLAIM_KEY.swname, 'firmware'],
        [CLAIM_KEY.swversion, ['2.1']],
        [CLAIM_KEY.manifests, [[258, b64(coswid)]]],
        [CLAIM_KEY.measres, [['rim', [['boot', 1], ['kernel', 2], ['apps', 3], ['debug', 4]]]]],
      ]),
    )
    const json = decodeText(
      JSON.stringify({
        iss: 'urn:example:attester',
        sub: 'device',
        aud: 'https://verifier.example',
        exp: 1_700_000_300,
        nbf: 'NBF',
        iat: 1_700_000_000,
        cnf: { kid: 'k1' },
        scope: 'read',
        ueid: b64(UEID),
        sueids: { tls: b64(UEID) },
        oemid: 'rN5I',
        hwmodel: b64(bytes(8)),
        hwversion: ['1.0.2', 16384],
        uptime: 42,
        oemboot: false,
        dbgstat: 'disabled-fully-and-permanently',
        location: { latitude: 'LAT', longitude: 2, timestamp: 1_700_000_000, age: 5 },
        eat_profile: '2.999.1',
        submods: { detached: ['DIGEST', [-16, b64(digest)]], nested: ['CBOR', b64(nested)] },
        bootcount: 7,
        bootseed: b64(bytes(32, 0x22)),
        dloas: [['https://dloa.example', 'platform', 'app']],
        swname: 'firmware',
        swversion: ['2.1'],
        manifests: [[258, b64(coswid)]],
        measres: [['rim', [['boot', 'success'], ['kernel', 'fail'], ['apps', 'not-run'], ['debug', 'absent']]]],
      })
        .replace('"NBF"', '1699999999.5')
        .replace('"LAT"', '48.5'),
    )
    assert.deepEqual(json, cbor)
    assert.deepEqual(json.eatProfile, { oid })
    assert.deepEqual(json.location, { latitude: 48.5, longitude: 2, timestamp: 1_700_000_000, age: 5 })
    assert.equal(json.nbf, 1_699_999_999.5)
  })
})

describe('decodeEatJsonClaims: JSON-only forms', () => {
  it('keeps eat_nonce as the UTF-8 bytes of its text, one or several', () => {
    const one = decode({ eat_nonce: NONCE_TEXT })
    assert.deepEqual(one.nonces, [utf8(NONCE_TEXT)])
    assert.doesNotThrow(() => checkNonce(one, utf8(NONCE_TEXT)))
    const several = decode({ eat_nonce: ['12345678', 'x'.repeat(88)] })
    assert.deepEqual(several.nonces, [utf8('12345678'), utf8('x'.repeat(88))])
  })

  it('rejects nonces outside 8..88 bytes, arrays of one, and non-text', () => {
    rejects({ eat_nonce: '1234567' }, 'ERR_CLAIMS_INVALID', /^eat_nonce: text of 7 bytes/)
    rejects({ eat_nonce: 'x'.repeat(89) }, 'ERR_CLAIMS_INVALID', /89 bytes/)
    rejects({ eat_nonce: ['é'.repeat(45), '12345678'] }, 'ERR_CLAIMS_INVALID', /eat_nonce at \[0\]: text of 90 bytes/)
    rejects({ eat_nonce: [NONCE_TEXT] }, 'ERR_CLAIMS_INVALID', /at least 2/)
    rejects({ eat_nonce: 12345678 }, 'ERR_CLAIMS_INVALID', /expected text/)
  })

  it('reads jti as text, kept as its UTF-8 bytes in cti', () => {
    assert.deepEqual(decode({ jti: 'id:42/x' }).cti, utf8('id:42/x'))
    rejects({ jti: 42 }, 'ERR_CLAIMS_INVALID', /^jti/)
    assert.equal(decode({ cti: 'x' }).cti, undefined)
  })

  it('reads intuse as text', () => {
    assert.equal(decode({ intuse: 'registration' }).intuse, 'registration')
    rejects({ intuse: 2 }, 'ERR_CLAIMS_INVALID', /^intuse/)
  })

  it('keeps manifest and measurement bodies as given', () => {
    const claims = decode({ manifests: [[258, 'omVlbi1VUw']], measurements: [[295, 'AAEC']] })
    assert.deepEqual(claims.manifests, [{ contentFormat: 258, body: 'omVlbi1VUw' }])
    assert.deepEqual(claims.measurements, [{ contentFormat: 295, body: 'AAEC' }])
  })

  it('keeps unknown claims in extensions, by name', () => {
    const claims = decodeText('{"vendor_x": {"a": [1, 2.5]}, "10": true}')
    assert.deepEqual(claims.extensions, new Map<string, CborValue>([
      ['vendor_x', new Map<string, CborValue>([['a', [1, new CborFloat(2.5)]]])],
      ['10', true],
    ]))
    assert.equal(decodeText('{"x": 100000000000000000000}').extensions.get('x'), 1e20)
  })

  it('reads eat_profile as a URI or a dotted-decimal OID', () => {
    assert.equal(decode({ eat_profile: EAT_PROFILE_RFC9711 }).eatProfile, EAT_PROFILE_RFC9711)
    assert.deepEqual(decode({ eat_profile: '1.2.840.113549' }).eatProfile, {
      oid: Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d),
    })
    rejects({ eat_profile: 'rfc9711' }, 'ERR_CLAIMS_INVALID', /eat_profile.*absolute URI/)
    rejects({ eat_profile: '1.40' }, 'ERR_CLAIMS_INVALID', /below 40/)
    rejects({ eat_profile: 1 }, 'ERR_CLAIMS_INVALID', /eat_profile/)
  })
})

describe('decodeEatJsonClaims: submods', () => {
  const cwt = taggedCwt()
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJ1ZWlkIjoiQVFJIn0.c2lnbmF0dXJl'
  const bundle = [['JWT', jwt], { detached: 'eyJkYmdzdGF0IjoiZW5hYmxlZCJ9' }]

  it('maps a claims-set object and every JSON-Selector type, in order', () => {
    const claims = decode({
      submods: {
        tee: { dbgstat: 'disabled' },
        jwt: ['JWT', jwt],
        cbor: ['CBOR', b64(cwt)],
        bundle: ['BUNDLE', bundle],
        digest: ['DIGEST', ['SHA-256', b64(bytes(32, 0x33))]],
      },
    })
    const submods = claims.submods!
    assert.deepEqual([...submods.keys()], ['tee', 'jwt', 'cbor', 'bundle', 'digest'])
    assert.deepEqual(submods.get('tee'), { kind: 'json-claims', claims: { dbgstat: 'disabled' } })
    assert.deepEqual(submods.get('jwt'), { kind: 'jwt', token: jwt })
    assert.deepEqual(submods.get('cbor'), { kind: 'token', bytes: cwt })
    assert.deepEqual(submods.get('bundle'), { kind: 'json-bundle', value: bundle })
    assert.deepEqual(submods.get('digest'), { kind: 'digest', alg: 'SHA-256', digest: bytes(32, 0x33) })
    const tee = submods.get('tee')
    assert.ok(tee?.kind === 'json-claims')
    assert.equal(decodeEatJsonClaims(tee.claims).dbgstat, 'disabled')
  })

  it('rejects selectors that hold the wrong thing', () => {
    const cases: readonly (readonly [unknown, RegExp])[] = [
      [['JWT', 'not-a-jwt'], /JWT selector/],
      [['JWT', `${jwt}.extra`], /JWT selector/],
      [['CBOR', b64(encodeCbor(new Map()))], /^submods at \.s\[1\]: nested token is not a tagged CBOR item/],
      [['CBOR', 'AAE='], /base64url/],
      [['BUNDLE', [['JWT', jwt]]], /BUNDLE selector/],
      [['BUNDLE', [['JWT', jwt], {}]], /BUNDLE selector/],
      [['DIGEST', ['SHA-256']], /DIGEST selector/],
      [['DIGEST', [1.5, b64(bytes(32))]], /^submods at \.s\[1\]\[0\]: expected an integer or text/],
      [['DIGEST', [-16, '']], /not canonical base64url/],
      [['UCCS', {}], /unknown JSON-Selector type "UCCS"/],
      [['JWT'], /JSON-Selector/],
      ['text', /JSON-Selector/],
    ]
    for (const [submod, message] of cases) {
      rejects({ submods: { s: submod } }, 'ERR_CLAIMS_INVALID', message)
    }
    rejects({ submods: {} }, 'ERR_CLAIMS_INVALID', /at least 1/)
    rejects({ submods: [] }, 'ERR_CLAIMS_INVALID', /expected an object/)
  })
})

describe('decodeEatJsonClaims: errors name the claim', () => {
  it('rejects a float iat with its own code', () => {
    const floatIat = (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CLAIMS_FLOAT_TIME' && e.path === '$.iat'
    assert.throws(() => decodeText('{"iat": 1.7e9}'), floatIat)
    rejects('{"iat": 1700000000.0}', 'ERR_CLAIMS_FLOAT_TIME')
    assert.equal(decodeText('{"exp": 1.7e9}').exp, 1.7e9)
  })

  it('rejects integers JSON cannot carry exactly', () => {
    rejects('{"iat": 100000000000000000000}', 'ERR_CLAIMS_INVALID', /^iat: integer .* beyond/)
    rejects('{"uptime": -9007199254740992}', 'ERR_CLAIMS_INVALID', /^uptime/)
  })

  it('rejects byte claims that are not canonical base64url of the right size', () => {
    rejects({ ueid: b64(UEID) + '==' }, 'ERR_CLAIMS_INVALID', /^ueid: not unpadded base64url/)
    rejects({ ueid: Buffer.from(UEID).toString('base64').replace(/=+$/, '') + '+' }, 'ERR_CLAIMS_INVALID', /^ueid/)
    rejects({ ueid: b64(bytes(6)) }, 'ERR_CLAIMS_INVALID', /^ueid: 6 bytes, must be 7..33/)
    rejects({ ueid: 'AQJ' }, 'ERR_CLAIMS_INVALID', /^ueid: not canonical/)
    rejects({ ueid: 5 }, 'ERR_CLAIMS_INVALID', /^ueid: expected base64url text, got integer 5/)
    rejects({ hwmodel: '' }, 'ERR_CLAIMS_INVALID', /^hwmodel/)
    rejects({ sueids: { tls: 'x' } }, 'ERR_CLAIMS_INVALID', /^sueids at \.tls/)
    rejects({ oemid: b64(bytes(5)) }, 'ERR_CLAIMS_INVALID', /^oemid: 5 bytes, must be 3 \(IEEE\) or 16/)
    assert.equal(decode({ oemid: 64242 }).oemid, 64242)
    assert.deepEqual(decode({ oemid: b64(bytes(16)) }).oemid, bytes(16))
  })

  it('rejects debug status and measurement result numbers or unknown names', () => {
    rejects({ dbgstat: 3 }, 'ERR_CLAIMS_INVALID', /^dbgstat: expected one of enabled/)
    rejects({ dbgstat: 'off' }, 'ERR_CLAIMS_INVALID', /^dbgstat/)
    rejects({ measres: [['rim', [['boot', 1]]]] }, 'ERR_CLAIMS_INVALID', /^measres at \[0\]\[1\]\[0\]\[1\]/)
    rejects({ measres: [['rim', [['boot', 'passed']]]] }, 'ERR_CLAIMS_INVALID', /success, fail, not-run, absent/)
    rejects({ measres: [['rim', []]] }, 'ERR_CLAIMS_INVALID', /^measres at \[0\]\[1\]: an array of 0/)
  })

  it('rejects location members it does not know, and a location without latitude', () => {
    const camel = { latitude: 1, longitude: 2, altitudeAccuracy: 3 }
    rejects({ location: camel }, 'ERR_CLAIMS_INVALID', /"altitudeAccuracy" is not a location member/)
    rejects({ location: { longitude: 2 } }, 'ERR_CLAIMS_INVALID', /^location at \.latitude: missing/)
    const location = decode({ location: { latitude: 1, longitude: 2, 'altitude-accuracy': 3 } }).location
    assert.equal(location?.altitudeAccuracy, 3)
  })

  it('rejects claims of the wrong JSON type through the CBOR rules', () => {
    rejects({ iss: 1 }, 'ERR_CLAIMS_INVALID', /^iss: expected a text string, got integer 1/)
    rejects({ aud: ['a', 'b'] }, 'ERR_CLAIMS_INVALID', /^aud: expected a text string, got an array of 2/)
    rejects({ oemboot: 'yes' }, 'ERR_CLAIMS_INVALID', /^oemboot: expected a bool/)
    rejects({ hwversion: [1] }, 'ERR_CLAIMS_INVALID', /^hwversion at \[0\]: expected a text string/)
    rejects({ manifests: [[258, { a: 1 }]] }, 'ERR_CLAIMS_INVALID', /^manifests at \[0\]\[1\]: expected a byte/)
    assert.throws(() => decodeEatJsonClaims([] as never), (e: unknown) => e instanceof VerifierError)
  })
})
