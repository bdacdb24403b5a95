import 'reflect-metadata'
import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import {
  children,
  hardwareModuleSerials,
  oidToString,
  parseCertificateDer,
  parseCrlDer,
  readTime,
  readTlv,
  type Tlv,
} from '../../../src/crypto/x509-der.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { buildPki, derOid, derTlv, makeCrl, NOW, type TestPki } from '../../helpers/pki.js'

function malformed(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof VerifierError && e.code === 'ERR_X509_MALFORMED')
}

const bytes = (...xs: number[]) => Uint8Array.from(xs)
const whole = (der: Uint8Array, t: Tlv) => der.subarray(t.start, t.end)

/** The certificate's top-level parts and tbs fields, as TLV byte strings to reassemble. */
function explode(der: Uint8Array): { tbs: Uint8Array[]; algorithm: Uint8Array; signature: Uint8Array } {
  const outer = readTlv(der, 0, der.length)
  const [tbs, algorithm, signature] = children(der, outer)
  return {
    tbs: children(der, tbs!).map((t) => whole(der, t)),
    algorithm: whole(der, algorithm!),
    signature: whole(der, signature!),
  }
}

function assemble(parts: { tbs: Uint8Array[]; algorithm: Uint8Array; signature: Uint8Array }): Uint8Array {
  return derTlv(0x30, derTlv(0x30, ...parts.tbs), parts.algorithm, parts.signature)
}

let pki: TestPki

before(async () => {
  pki = await buildPki()
})

describe('readTlv', () => {
  it('reads short and long lengths', () => {
    assert.deepEqual(readTlv(bytes(0x04, 0x01, 0xaa), 0, 3), { tag: 4, start: 0, contentStart: 2, end: 3 })
    const long = Uint8Array.of(0x04, 0x81, 0x80, ...new Uint8Array(0x80))
    assert.equal(readTlv(long, 0, long.length).end, long.length)
  })

  it('rejects what DER forbids', () => {
    malformed(() => readTlv(bytes(0x04), 0, 1)) // truncated header
    malformed(() => readTlv(bytes(0x1f, 0x01, 0x00), 0, 3)) // high tag number
    malformed(() => readTlv(bytes(0x30, 0x80, 0x00, 0x00), 0, 4)) // indefinite length
    malformed(() => readTlv(bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5), 0, 8)) // long form for a short length
    malformed(() => readTlv(bytes(0x04, 0x82, 0x00, 0x80), 0, 4)) // leading zero length octet
    malformed(() => readTlv(bytes(0x04, 0x84, 1, 0, 0, 0), 0, 6)) // 4-octet length
    malformed(() => readTlv(bytes(0x04, 0x82, 0x01), 0, 3)) // length octets truncated
    malformed(() => readTlv(bytes(0x04, 0x02, 0x00), 0, 3)) // content truncated
  })
})

describe('oidToString', () => {
  it('decodes first arcs 0, 1, 2 and large arcs', () => {
    assert.equal(oidToString(derOid('2.5.29.19').subarray(2)), '2.5.29.19')
    assert.equal(oidToString(derOid('1.2.840.10045.4.3.2').subarray(2)), '1.2.840.10045.4.3.2')
    assert.equal(oidToString(derOid('0.9.2342.19200300.100.1.25').subarray(2)), '0.9.2342.19200300.100.1.25')
    const uuid = '2.25.329800735698586629295641978511506172918'
    assert.equal(oidToString(derOid(uuid).subarray(2)), uuid)
    const hugeFirst = '2.999999999999999999999.1'
    assert.equal(oidToString(derOid(hugeFirst).subarray(2)), hugeFirst)
    assert.equal(oidToString(derOid('2.35184372088831.7').subarray(2)), '2.35184372088831.7')
  })

  it('rejects empty, non-minimal and truncated identifiers', () => {
    malformed(() => oidToString(new Uint8Array(0)))
    malformed(() => oidToString(bytes(0x2a, 0x80, 0x01)))
    malformed(() => oidToString(bytes(0x2a, 0x86)))
  })
})

describe('readTime', () => {
  const time = (tag: number, text: string) => {
    const der = derTlv(tag, new TextEncoder().encode(text))
    return readTime(der, readTlv(der, 0, der.length))
  }

  it('reads UTCTime (50..99 → 19xx) and GeneralizedTime', () => {
    assert.equal(time(0x17, '260101000000Z'), NOW)
    assert.equal(time(0x17, '500101000000Z'), Date.UTC(1950, 0, 1) / 1000)
    assert.equal(time(0x18, '20260101000000Z'), NOW)
    assert.equal(time(0x18, '99991231235959Z'), Date.UTC(9999, 11, 31, 23, 59, 59) / 1000)
    assert.equal(time(0x18, '20240229120000Z'), Date.UTC(2024, 1, 29, 12) / 1000)
    assert.equal(time(0x18, '20000229000000Z'), Date.UTC(2000, 1, 29) / 1000)
  })

  it('rejects other forms and impossible dates', () => {
    for (const [tag, text] of [
      [0x17, '2601010000Z'],
      [0x17, '260101000000+0100'],
      [0x18, '20260101000000.5Z'],
      [0x18, '260101000000Z'],
      [0x17, '20260101000000Z'],
      [0x04, '260101000000Z'],
      [0x18, '20261301000000Z'],
      [0x18, '20260001000000Z'],
      [0x18, '20260230000000Z'],
      [0x18, '20250229000000Z'],
      [0x18, '21000229000000Z'],
      [0x18, '20260431000000Z'],
      [0x18, '20260101240000Z'],
      [0x18, '20260101006000Z'],
      [0x18, '20260101000060Z'],
    ] as const) {
      malformed(() => time(tag, text))
    }
  })
})

describe('parseCertificateDer', () => {
  it('reads the fields of a generated certificate', () => {
    const f = parseCertificateDer(Uint8Array.from(pki.leaf.der))
    assert.equal(f.version, 3)
    assert.equal(f.serialHex, pki.leaf.serialHex)
    assert.equal(f.notBefore, pki.leaf.cert.notBefore.getTime() / 1000)
    assert.deepEqual(f.issuer, new Uint8Array(pki.intermediate.cert.subjectName.toArrayBuffer()))
    assert.deepEqual(f.extensions.map((e) => [e.oid, e.critical]), [['2.5.29.15', true]])
  })

  it('accepts v1 and v2 shapes: no version, explicit v1, unique identifiers', () => {
    const parts = explode(pki.leaf.der)
    const [, ...rest] = parts.tbs
    const v1 = parseCertificateDer(assemble({ ...parts, tbs: rest.slice(0, 6) }))
    assert.equal(v1.version, 1)
    assert.deepEqual(v1.extensions, [])
    const explicitV1 = [derTlv(0xa0, derTlv(0x02, bytes(0))), ...rest.slice(0, 6)]
    assert.equal(parseCertificateDer(assemble({ ...parts, tbs: explicitV1 })).version, 1)
    const uniqueIds = [derTlv(0x81, bytes(0, 1)), derTlv(0x82, bytes(0, 2))]
    const v2 = [derTlv(0xa0, derTlv(0x02, bytes(1))), ...rest.slice(0, 6), ...uniqueIds]
    assert.equal(parseCertificateDer(assemble({ ...parts, tbs: v2 })).version, 2)
  })

  it('rejects structural faults', () => {
    const parts = explode(pki.leaf.der)
    const [version, serial, algorithm, issuer, validity, subject, spki, extensions] = parts.tbs as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ]
    const tbs = (...fields: Uint8Array[]) => assemble({ ...parts, tbs: fields })
    const v = (n: number) => derTlv(0xa0, derTlv(0x02, bytes(n)))
    const faults: Uint8Array[] = [
      tbs(v(3), serial, algorithm, issuer, validity, subject, spki, extensions), // v4
      tbs(derTlv(0xa0, derTlv(0x02, bytes(0, 2))), serial, algorithm, issuer, validity, subject, spki),
      tbs(derTlv(0xa0, derTlv(0x04, bytes(2))), serial, algorithm, issuer, validity, subject, spki),
      tbs(serial, algorithm, issuer, validity, subject, spki, extensions), // extensions in v1
      tbs(v(1), serial, algorithm, issuer, validity, subject, spki, extensions), // extensions in v2
      tbs(version, serial, algorithm, issuer, validity, subject), // no spki
      tbs(version, derTlv(0x02, new Uint8Array(22).fill(1)), algorithm, issuer, validity, subject, spki),
      tbs(version, derTlv(0x02), algorithm, issuer, validity, subject, spki),
      tbs(version, serial, derTlv(0x30, derOid('1.2.840.10045.4.3.3')), issuer, validity, subject, spki),
      tbs(version, serial, algorithm, derTlv(0x30), validity, subject, spki), // empty issuer
      tbs(version, serial, algorithm, issuer, derTlv(0x30, validity.subarray(2, 17)), subject, spki),
      tbs(version, serial, algorithm, issuer, validity, derTlv(0x31), spki),
      tbs(version, serial, algorithm, issuer, validity, subject, spki, extensions, derTlv(0x04)),
      tbs(version, serial, algorithm, issuer, validity, subject, spki, derTlv(0xa3, derTlv(0x30), derTlv(0x30))),
      assemble({ ...parts, signature: derTlv(0x03, bytes(1, 0xff)) }),
      assemble({ ...parts, signature: derTlv(0x03, bytes(0)) }),
      assemble({ ...parts, signature: derTlv(0x04, bytes(0, 1)) }),
      derTlv(0x30, derTlv(0x30, ...parts.tbs), parts.algorithm),
      derTlv(0x30, derTlv(0x30, ...parts.tbs), parts.algorithm, parts.signature, derTlv(0x05)),
      derTlv(0x31, derTlv(0x30, ...parts.tbs), parts.algorithm, parts.signature),
    ]
    for (const [i, der] of faults.entries()) {
      const isMalformed = (e: unknown) => e instanceof VerifierError && e.code === 'ERR_X509_MALFORMED'
      assert.throws(() => parseCertificateDer(der), isMalformed, `fault ${i}`)
    }
  })

  it('rejects malformed extensions', () => {
    const parts = explode(pki.leaf.der)
    const withExtensions = (...exts: Uint8Array[]) =>
      assemble({ ...parts, tbs: [...parts.tbs.slice(0, 7), derTlv(0xa3, derTlv(0x30, ...exts))] })
    const oid = derOid('1.2.3.4')
    const value = derTlv(0x04, derTlv(0x30))
    malformed(() => parseCertificateDer(withExtensions(derTlv(0x31, oid, value))))
    malformed(() => parseCertificateDer(withExtensions(derTlv(0x30, value))))
    malformed(() => parseCertificateDer(withExtensions(derTlv(0x30, oid, derTlv(0x01, bytes(0xff, 0xff)), value))))
    malformed(() => parseCertificateDer(withExtensions(derTlv(0x30, oid))))
    malformed(() => parseCertificateDer(withExtensions(derTlv(0x30, oid, value, value))))
    const notSequence = [...parts.tbs.slice(0, 7), derTlv(0xa3, derTlv(0x31))]
    malformed(() => parseCertificateDer(assemble({ ...parts, tbs: notSequence })))
    // A BER "true" that is not 0xFF still reads as critical.
    const ext = parseCertificateDer(withExtensions(derTlv(0x30, oid, derTlv(0x01, bytes(0x01)), value))).extensions
    assert.equal(ext[0]!.critical, true)
    const explicitFalse = derTlv(0x30, oid, derTlv(0x01, bytes(0x00)), value)
    const notCritical = parseCertificateDer(withExtensions(explicitFalse)).extensions
    assert.equal(notCritical[0]!.critical, false)
  })
})

describe('parseCrlDer', () => {
  it('reads a generated CRL', async () => {
    const crl = parseCrlDer(await makeCrl({ issuer: pki.root, serials: ['00ff01', '02'] }))
    assert.deepEqual(crl.entries.map((e) => e.serialHex), ['ff01', '2'])
    assert.equal(crl.nextUpdate, NOW + 86_400)
  })

  it('reads a v1 CRL without entries or nextUpdate, and entry extensions', () => {
    const alg = derTlv(0x30, derOid('1.2.840.10045.4.3.2'))
    const issuer = derTlv(0x30, derTlv(0x31, derTlv(0x30, derOid('2.5.4.3'), derTlv(0x13, bytes(0x41)))))
    const time = derTlv(0x17, new TextEncoder().encode('260101000000Z'))
    const signed = (...tbs: Uint8Array[]) => derTlv(0x30, derTlv(0x30, ...tbs), alg, derTlv(0x03, bytes(0, 1)))
    const bare = parseCrlDer(signed(alg, issuer, time))
    assert.equal(bare.nextUpdate, undefined)
    assert.deepEqual(bare.entries, [])
    const reason = derTlv(0x30, derOid('2.5.29.21'), derTlv(0x04, derTlv(0x0a, bytes(1))))
    const critical = derTlv(0x30, derOid('2.5.29.29'), derTlv(0x01, bytes(0xff)), derTlv(0x04, derTlv(0x30)))
    const entries = derTlv(
      0x30,
      derTlv(0x30, derTlv(0x02, bytes(5)), time, derTlv(0x30, reason)),
      derTlv(0x30, derTlv(0x02, bytes(6)), time, derTlv(0x30, critical)),
    )
    const crl = parseCrlDer(signed(derTlv(0x02, bytes(1)), alg, issuer, time, time, entries))
    assert.deepEqual(crl.entries, [
      { serialHex: '5', hasCriticalExtension: false },
      { serialHex: '6', hasCriticalExtension: true },
    ])
    malformed(() => parseCrlDer(signed(derTlv(0x02, bytes(0)), alg, issuer, time)))
    malformed(() => parseCrlDer(signed(alg, issuer)))
    malformed(() => parseCrlDer(signed(derTlv(0x30, derOid('1.2.840.10045.4.3.3')), issuer, time)))
    malformed(() => parseCrlDer(signed(alg, issuer, time, derTlv(0x30, derTlv(0x31)))))
    malformed(() => parseCrlDer(signed(alg, issuer, time, derTlv(0x30, derTlv(0x30, derTlv(0x02, bytes(5)))))))
    malformed(() => parseCrlDer(signed(alg, issuer, time, derTlv(0xa0, derTlv(0x30), derTlv(0x30)))))
    malformed(() => parseCrlDer(signed(alg, issuer, time, derTlv(0x04))))
  })
})

describe('hardwareModuleSerials', () => {
  const otherName = (typeId: string, value: Uint8Array) => derTlv(0xa0, derOid(typeId), derTlv(0xa0, value))
  const hmn = (serial: Uint8Array) => derTlv(0x30, derOid('1.2.3'), derTlv(0x04, serial))

  it('returns hwSerialNum of hardwareModuleName entries and skips other names', () => {
    const san = derTlv(
      0x30,
      derTlv(0x82, bytes(0x61)),
      otherName('1.3.6.1.4.1.311.20.2.3', derTlv(0x0c, bytes(0x61))),
      otherName('1.3.6.1.5.5.7.8.4', hmn(bytes(9, 9))),
    )
    assert.deepEqual(hardwareModuleSerials(san), [bytes(9, 9)])
  })

  it('rejects malformed names', () => {
    malformed(() => hardwareModuleSerials(Uint8Array.of(...derTlv(0x30), 0)))
    malformed(() => hardwareModuleSerials(derTlv(0x30, derTlv(0xa0, derOid('1.2.3')))))
    malformed(() => hardwareModuleSerials(derTlv(0x30, otherName('1.3.6.1.5.5.7.8.4', derTlv(0x04, bytes(1))))))
    const noSerial = otherName('1.3.6.1.5.5.7.8.4', derTlv(0x30, derOid('1.2.3')))
    malformed(() => hardwareModuleSerials(derTlv(0x30, noSerial)))
  })
})
