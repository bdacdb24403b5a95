import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeComid } from '../../../src/corim/comid.js'
import { encodeCbor } from '../../../src/cose/cbor.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { fromHex, toHex } from '../../../src/util/bytes.js'
import { DIGEST, IMPL_ID, INSTANCE_ID, SIGNER_ID, TAG_ID, comidMap, map, psaClass, tag, type CborIn } from '../../helpers/corim.js'

function rejects(fn: () => unknown, code: ErrorCode, includes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (includes !== undefined) assert.ok(e.message.includes(includes), `"${e.message}" should include "${includes}"`)
    return true
  })
}

const env = (cls: CborIn = psaClass()) => map([0, cls])
/** A CoMID with one reference triple of one measurement whose mval is `mval`. */
const withMval = (mval: CborIn, mkey?: CborIn) =>
  encodeCbor(comidMap(map([0, [[env(), [mkey === undefined ? map([1, mval]) : map([0, mkey], [1, mval])]]]])))
const mvalOf = (bytes: Uint8Array) => decodeComid(bytes).referenceTriples[0]!.measurements[0]!.mval

describe('decodeComid: structure', () => {
  it('decodes tag identity, language, entities, linked tags and its digest', () => {
    const bytes = encodeCbor(
      comidMap(map([0, [[env(), [map([1, map([11, 'x'])])]]]]), [
        [2, [map([0, 'ACME'], [1, tag(32, 'https://acme.example')], [2, [0, 1]])]],
        [3, [map([0, 'other-tag'], [1, 1])]],
      ], 3),
    )
    const c = decodeComid(bytes)
    assert.equal(c.language, 'en-GB')
    assert.deepEqual(c.tagId, TAG_ID)
    assert.equal(c.tagVersion, 3)
    assert.deepEqual(c.entities.map((e) => [e.name, e.regId, e.roles]), [['ACME', 'https://acme.example', [0, 1]]])
    assert.deepEqual(c.linkedTags, [{ tagId: 'other-tag', rel: 1 }])
    assert.equal(c.digest.length, 32)
    assert.deepEqual(c.referenceTriples[0]!.environment.class?.classId, { type: 'bytes', bytes: IMPL_ID })
  })

  it('accepts the map inside tag 506 and refuses any other tag', () => {
    const inner = comidMap(map([0, [[env(), [map([1, map([11, 'x'])])]]]]))
    assert.equal(decodeComid(encodeCbor(tag(506, inner))).tagVersion, 0)
    rejects(() => decodeComid(encodeCbor(tag(505, inner))), 'ERR_CORIM_MALFORMED', '505 (CoSWID)')
  })

  it('refuses a CoMID without tag-identity or triples, or with an empty triples-map', () => {
    rejects(() => decodeComid(encodeCbor(map([4, map([0, [[env(), [map([1, map([11, 'x'])])]]]])]))), 'ERR_CORIM_MALFORMED', 'comid{1}')
    rejects(() => decodeComid(encodeCbor(map([1, map([0, TAG_ID])]))), 'ERR_CORIM_MALFORMED', 'comid{4}')
    rejects(() => decodeComid(encodeCbor(comidMap(map()))), 'ERR_CORIM_MALFORMED', 'must not be empty')
  })

  it('refuses truncated, trailing, oversized, deep and non-map input', () => {
    const good = withMval(map([11, 'x']))
    rejects(() => decodeComid(good.subarray(0, good.length - 3)), 'ERR_CORIM_MALFORMED', 'exceeds the input')
    rejects(() => decodeComid(Uint8Array.from([...good, 0])), 'ERR_CORIM_MALFORMED', 'follow')
    rejects(() => decodeComid(good, { maxBytes: 16 }), 'ERR_CORIM_MALFORMED', 'limit')
    let deep: CborIn = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    rejects(() => decodeComid(encodeCbor(deep)), 'ERR_CORIM_MALFORMED', 'deeper')
    rejects(() => decodeComid(encodeCbor([1, 2])), 'ERR_CORIM_MALFORMED', 'expected a map')
    rejects(() => decodeComid(new Uint8Array(0)), 'ERR_CORIM_MALFORMED')
  })

  it('refuses a duplicate map key, even deep inside a measurement', () => {
    // A class-map {1: "a", 2: "b"} whose second key is rewritten to 1.
    const hex = toHex(encodeCbor(comidMap(map([0, [[map([0, map([1, 'a'], [2, 'b'])]), [map([1, map([11, 'x'])])]]]]))))
    const patched = hex.replace('a2016161026162', 'a2016161016162')
    assert.notEqual(patched, hex)
    rejects(() => decodeComid(fromHex(patched)), 'ERR_CORIM_MALFORMED', 'duplicate map key 1')
  })

  it('refuses a tag CoRIM does not define, naming it', () => {
    rejects(() => decodeComid(withMval(map([11, 'x']), tag(601, map([1, 'BL'])))), 'ERR_CORIM_UNSUPPORTED', 'tag 601')
  })

  it('refuses unknown keys and undefined private-use extensions by name', () => {
    rejects(() => decodeComid(encodeCbor(comidMap(map([0, [[env(), [map([1, map([11, 'x'])])]]]]), [[9, 'x']]))), 'ERR_CORIM_UNSUPPORTED', 'concise-mid-tag key 9')
    rejects(() => decodeComid(withMval(map([-1, 5]))), 'ERR_CORIM_UNSUPPORTED', 'measurement-values-map extension -1')
    rejects(() => decodeComid(withMval(map([15, tag(564, [1, 2])]))), 'ERR_CORIM_UNSUPPORTED', 'int-range (15)')
    rejects(() => decodeComid(withMval(map([99, 1]))), 'ERR_CORIM_UNSUPPORTED', 'measurement-values-map key 99')
    rejects(() => decodeComid(encodeCbor(comidMap(map([0, [[map([0, psaClass()], [7, 1]), [map([1, map([11, 'x'])])]]]])))), 'ERR_CORIM_UNSUPPORTED', 'environment-map key 7')
  })

  it('accepts extensions a profile defines and checks their type', () => {
    const ext = { measurementValues: new Map([[-1, { name: 'timestamp', accepts: (v: unknown) => typeof v === 'number' }]]) }
    const c = decodeComid(withMval(map([-1, 1720782190], [2, [[1, DIGEST]]])), { extensions: ext })
    assert.equal(c.referenceTriples[0]!.measurements[0]!.mval.extensions.get(-1), 1720782190)
    rejects(() => decodeComid(withMval(map([-1, 'soon'])), { extensions: ext }), 'ERR_CORIM_MALFORMED', 'timestamp')
  })

  it('refuses the triples Assay does not process, by name', () => {
    for (const [k, name] of [
      [4, 'dependency-triples'],
      [5, 'membership-triples'],
      [6, 'coswid-triples'],
      [8, 'conditional-endorsement-series-triples'],
      [10, 'conditional-endorsement-triples'],
    ] as const) {
      rejects(() => decodeComid(encodeCbor(comidMap(map([k, [[env(), [env()]]]])))), 'ERR_CORIM_UNSUPPORTED', name)
    }
  })
})

describe('decodeComid: environments', () => {
  it('decodes class ids 560, 37 and 111 with vendor, model, layer and index', () => {
    const uuid = fromHex('67b28b6c34cc40a19117ab5b05911e37')
    for (const [cid, type] of [
      [tag(560, IMPL_ID), 'bytes'],
      [tag(37, uuid), 'uuid'],
      [tag(111, fromHex('6086480186f84d010f046301')), 'oid'],
    ] as const) {
      const bytes = encodeCbor(comidMap(map([0, [[map([0, map([0, cid], [1, 'ACME'], [2, 'RR'], [3, 1], [4, 2])]), [map([1, map([11, 'x'])])]]]])))
      const cls = decodeComid(bytes).referenceTriples[0]!.environment.class!
      assert.equal(cls.classId?.type, type)
      assert.deepEqual([cls.vendor, cls.model, cls.layer, cls.index], ['ACME', 'RR', 1, 2])
    }
  })

  it('refuses a UUID class id that is not 16 bytes and an unsupported class-id type', () => {
    const bad = (cid: CborIn) => encodeCbor(comidMap(map([0, [[map([0, map([0, cid])]), [map([1, map([11, 'x'])])]]]])))
    rejects(() => decodeComid(bad(tag(37, new Uint8Array(15)))), 'ERR_CORIM_MALFORMED', 'UUID must be 16 bytes')
    rejects(() => decodeComid(bad(tag(550, INSTANCE_ID))), 'ERR_CORIM_UNSUPPORTED', 'class-id of type tag 550 (ueid)')
    rejects(() => decodeComid(bad('acme')), 'ERR_CORIM_MALFORMED', 'tagged class-id')
  })

  it('decodes instances 550, 37, 560 and key instances, and groups', () => {
    const keyPem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----'
    for (const [inst, type] of [
      [tag(550, INSTANCE_ID), 'ueid'],
      [tag(37, TAG_ID), 'uuid'],
      [tag(560, IMPL_ID), 'bytes'],
      [tag(554, keyPem), 'key'],
    ] as const) {
      const bytes = encodeCbor(comidMap(map([0, [[map([1, inst], [2, tag(37, TAG_ID)]), [map([1, map([11, 'x'])])]]]])))
      const e = decodeComid(bytes).referenceTriples[0]!.environment
      assert.equal(e.instance?.type, type)
      assert.equal(e.group?.type, 'uuid')
    }
    const ueidTooShort = encodeCbor(comidMap(map([0, [[map([1, tag(550, new Uint8Array(3))]), [map([1, map([11, 'x'])])]]]])))
    rejects(() => decodeComid(ueidTooShort), 'ERR_CORIM_MALFORMED', 'UEID must be 7 to 33 bytes')
  })
})

describe('decodeComid: measurements', () => {
  it('decodes mkeys of every type', () => {
    for (const [mkey, type] of [
      [7, 'uint'],
      ['psa.software-component', 'text'],
      [tag(37, TAG_ID), 'uuid'],
      [tag(111, fromHex('2a03')), 'oid'],
    ] as const) {
      assert.equal(decodeComid(withMval(map([11, 'x']), mkey)).referenceTriples[0]!.measurements[0]!.mkey?.type, type)
    }
    rejects(() => decodeComid(withMval(map([11, 'x']), -3)), 'ERR_CORIM_MALFORMED', 'mkey must be')
  })

  it('decodes version, svn, digests, flags, names and addresses', () => {
    const v = mvalOf(
      withMval(
        map(
          [0, map([0, '1.0.0'], [1, 16384])],
          [1, tag(553, 7)],
          [2, [[1, DIGEST], [7, new Uint8Array(48)], ['sha-512', new Uint8Array(64)]]],
          [3, map([0, true], [3, false], [10, true])],
          [6, fromHex('001122334455')],
          [7, fromHex('c0a80001')],
          [8, 'SN-1'],
          [9, INSTANCE_ID],
          [10, TAG_ID],
          [11, 'BL'],
          [13, [tag(560, SIGNER_ID)]],
        ),
      ),
    )
    assert.deepEqual(v.version, { version: '1.0.0', scheme: 16384 })
    assert.deepEqual(v.svn, { type: 'min', value: 7 })
    assert.deepEqual(v.digests?.map((d) => d.alg), ['sha-256', 'sha-384', 'sha-512'])
    assert.deepEqual([...v.flags!], [['is-configured', true], ['is-debug', false], ['is-runtime-updatable', true]])
    assert.equal(toHex(v.macAddr!), '001122334455')
    assert.equal(v.serialNumber, 'SN-1')
    assert.equal(v.name, 'BL')
    assert.deepEqual(v.cryptokeys, [{ type: 'bytes', bytes: SIGNER_ID }])
    assert.deepEqual(mvalOf(withMval(map([1, 5]))).svn, { type: 'exact', value: 5 })
    assert.deepEqual(mvalOf(withMval(map([1, tag(552, 2n ** 63n)]))).svn, { type: 'exact', value: 2n ** 63n })
  })

  it('checks a digest length against its algorithm and refuses a repeated algorithm', () => {
    rejects(() => decodeComid(withMval(map([2, [[1, new Uint8Array(31)]]]))), 'ERR_CORIM_MALFORMED', 'sha-256 digest is 31 bytes')
    rejects(() => decodeComid(withMval(map([2, [[7, new Uint8Array(32)]]]))), 'ERR_CORIM_MALFORMED', 'sha-384 digest is 32 bytes')
    rejects(() => decodeComid(withMval(map([2, [[1, DIGEST], ['sha-256', DIGEST]]]))), 'ERR_CORIM_MALFORMED', 'listed twice')
    rejects(() => decodeComid(withMval(map([2, []]))), 'ERR_CORIM_MALFORMED', 'must not be empty')
    rejects(() => decodeComid(withMval(map([2, [[1, DIGEST, 3]]]))), 'ERR_CORIM_MALFORMED', '[alg, value]')
    // An algorithm outside the registry is kept for what it is, never compared.
    assert.deepEqual(mvalOf(withMval(map([2, [['my-alg', fromHex('dead')]]]))).digests, [{ alg: 'unknown', id: 'my-alg', value: fromHex('dead') }])
  })

  it('decodes raw values with either mask form and checks the lengths', () => {
    assert.deepEqual(mvalOf(withMval(map([4, tag(560, fromHex('1234'))]))).rawValue, { value: fromHex('1234') })
    assert.deepEqual(mvalOf(withMval(map([4, tag(563, [fromHex('1234'), fromHex('ff00')])]))).rawValue, {
      value: fromHex('1234'),
      mask: fromHex('ff00'),
    })
    assert.deepEqual(mvalOf(withMval(map([4, tag(560, fromHex('1234'))], [5, fromHex('ff00')]))).rawValue, {
      value: fromHex('1234'),
      mask: fromHex('ff00'),
    })
    rejects(() => decodeComid(withMval(map([4, tag(560, fromHex('1234'))], [5, fromHex('ff')]))), 'ERR_CORIM_MALFORMED', 'mask 1')
    rejects(() => decodeComid(withMval(map([5, fromHex('ff')]))), 'ERR_CORIM_MALFORMED', 'without a raw-value')
    rejects(() => decodeComid(withMval(map([4, tag(563, [fromHex('12'), fromHex('ff')])], [5, fromHex('ff')]))), 'ERR_CORIM_MALFORMED', 'two masks')
  })

  it('refuses bad flags, addresses and crypto keys by name', () => {
    rejects(() => decodeComid(withMval(map([3, map([11, true])]))), 'ERR_CORIM_UNSUPPORTED', 'flag 11')
    rejects(() => decodeComid(withMval(map([3, map([0, 1])]))), 'ERR_CORIM_MALFORMED', 'boolean')
    rejects(() => decodeComid(withMval(map([6, new Uint8Array(5)]))), 'ERR_CORIM_MALFORMED', 'mac-addr')
    rejects(() => decodeComid(withMval(map([7, new Uint8Array(5)]))), 'ERR_CORIM_MALFORMED', 'ip-addr')
    rejects(() => decodeComid(withMval(map([13, [tag(557, [1, DIGEST])]]))), 'ERR_CORIM_UNSUPPORTED', '557 (key thumbprint)')
    rejects(() => decodeComid(withMval(map([13, [tag(558, map([1, 2]))]]))), 'ERR_CORIM_UNSUPPORTED', '558 (COSE_Key)')
    rejects(() => decodeComid(withMval(map([13, [tag(554, 'not pem')]]))), 'ERR_CORIM_MALFORMED', 'PEM PUBLIC KEY')
    rejects(() => decodeComid(withMval(map([1, tag(564, [1, 2])]))), 'ERR_CORIM_UNSUPPORTED', 'svn of type tag 564')
  })

  it('decodes attest-key, identity and endorsed triples', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----'
    const bytes = encodeCbor(
      comidMap(
        map(
          [1, [[env(), [map([1, map([1, tag(552, 1)])])]]]],
          [2, [[env(), [tag(555, '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----')], map([0, 'id'])]]],
          [3, [[map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, pem)]]]],
        ),
      ),
    )
    const c = decodeComid(bytes)
    assert.equal(c.endorsedTriples.length, 1)
    assert.deepEqual(c.identityTriples[0]!.mkey, { type: 'text', value: 'id' })
    assert.equal(c.identityTriples[0]!.keys[0]!.type, 'pkix-base64-cert')
    assert.deepEqual(c.attestKeyTriples[0]!.keys, [{ type: 'pkix-base64-key', pem }])
    rejects(() => decodeComid(encodeCbor(comidMap(map([3, [[env(), []]]])))), 'ERR_CORIM_MALFORMED', 'must not be empty')
    rejects(() => decodeComid(encodeCbor(comidMap(map([3, [[env()]]])))), 'ERR_CORIM_MALFORMED', 'key triple')
  })
})
