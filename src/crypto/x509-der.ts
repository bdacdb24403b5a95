/**
 * The strict DER reader behind `x509.ts`: one pass over a certificate or CRL that returns the exact
 * byte ranges every later decision uses.
 *
 * Written rules:
 * 1. Input is exactly one item: indefinite lengths, non-minimal lengths, high tag numbers,
 *    truncation and trailing bytes are rejected.
 * 2. Only the skeleton of RFC 5280 §4.1 and §5.1 is walked; field order and tags are fixed.
 * 3. The bytes a signature covers (`tbs`) are the bytes every other field was read from, so the
 *    signature check and the name, key, validity and extension checks cannot see two different
 *    certificates (no second parser decides anything).
 * 4. Times are UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5).
 * 5. Nothing returned aliases the caller's buffer: the caller passes a private copy.
 * 6. Work is bounded by the input: at most `MAX_EXTENSIONS` extensions per certificate or CRL,
 *    OBJECT IDENTIFIERs of at most `MAX_OID_BYTES` content octets, and no key is imported here
 *    (`readSpki` reads only the algorithm, the curve, and an RSA key's modulus size and exponent).
 *
 * Every failure is `ERR_X509_MALFORMED`; callers that load provisioned data rewrap it.
 */
import { VerifierError } from '../errors/errors.js'
import { bytesEqual, toHex } from '../util/bytes.js'

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const

/** One TLV: `start` is the tag byte, `[contentStart, end)` the content. */
export interface Tlv {
  readonly tag: number
  readonly start: number
  readonly contentStart: number
  readonly end: number
}

/** A DER Extension (RFC 5280 §4.1): the whole TLV plus its decoded identifier and flag. */
export interface RawExtension {
  readonly oid: string
  readonly critical: boolean
  /** The whole `Extension` SEQUENCE, as @peculiar/x509 extension classes take it. */
  readonly der: Uint8Array
  /** The content of `extnValue`. */
  readonly value: Uint8Array
}

/** The fields of a certificate that path validation reads, all taken from one parse. */
export interface CertificateFields {
  readonly der: Uint8Array
  /** `tbsCertificate`, exactly as signed. */
  readonly tbs: Uint8Array
  /** 1, 2 or 3. */
  readonly version: number
  /** Serial number content octets as lower-case hex without leading zeros. */
  readonly serialHex: string
  /** The whole `signatureAlgorithm` AlgorithmIdentifier TLV (equal to the one inside tbs). */
  readonly signatureAlgorithm: Uint8Array
  /** The signature BIT STRING content without its unused-bits octet. */
  readonly signature: Uint8Array
  /** The issuer and subject `Name` TLVs, for byte comparison. */
  readonly issuer: Uint8Array
  readonly subject: Uint8Array
  readonly notBefore: number
  readonly notAfter: number
  /** The `subjectPublicKeyInfo` TLV. */
  readonly spki: Uint8Array
  readonly extensions: readonly RawExtension[]
}

/** One revoked certificate of a CRL. */
export interface CrlEntry {
  readonly serialHex: string
  readonly hasCriticalExtension: boolean
}

/** The fields of a CRL (RFC 5280 §5.1), all taken from one parse. */
export interface CrlFields {
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: Uint8Array
  readonly signature: Uint8Array
  readonly issuer: Uint8Array
  readonly thisUpdate: number
  readonly nextUpdate: number | undefined
  readonly entries: readonly CrlEntry[]
  readonly extensions: readonly RawExtension[]
}

/**
 * Twice what attestation certificates in the field carry (Android KeyMint and DICE certificates
 * have 3 to 8); bounds the work per certificate, which grows with the number of extensions.
 */
export const MAX_EXTENSIONS = 16
/** Longer than any OID in X.509 use (the Android key attestation OID has 10 octets). */
export const MAX_OID_BYTES = 64

function malformed(message: string): VerifierError {
  return new VerifierError('ERR_X509_MALFORMED', message)
}

/** Reads the TLV at `offset`, which must end at or before `limit`. */
export function readTlv(bytes: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw malformed('DER item truncated')
  const tag = bytes[offset]!
  if ((tag & 0x1f) === 0x1f) throw malformed('DER high tag numbers are not used in X.509')
  let length = bytes[offset + 1]!
  let contentStart = offset + 2
  if (length === 0x80) throw malformed('indefinite length is not DER')
  if (length > 0x80) {
    const octets = length & 0x7f
    if (octets > 3) throw malformed('DER length too large')
    if (contentStart + octets > limit) throw malformed('DER length truncated')
    if (bytes[contentStart] === 0) throw malformed('DER length is not minimal')
    length = 0
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[contentStart + i]!
    if (length < 0x80) throw malformed('DER length is not minimal')
    contentStart += octets
  }
  const end = contentStart + length
  if (end > limit) throw malformed('DER item truncated')
  return { tag, start: offset, contentStart, end }
}

/** Reads the TLV at `offset` and requires its tag. */
function expect(bytes: Uint8Array, offset: number, limit: number, tag: number, what: string): Tlv {
  const tlv = readTlv(bytes, offset, limit)
  if (tlv.tag !== tag) throw malformed(`${what}: tag 0x${tag.toString(16)} expected, not 0x${tlv.tag.toString(16)}`)
  return tlv
}

/** The children of a constructed TLV, which must exactly fill it. */
export function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  let offset = parent.contentStart
  while (offset < parent.end) {
    const child = readTlv(bytes, offset, parent.end)
    out.push(child)
    offset = child.end
  }
  return out
}

const whole = (bytes: Uint8Array, tlv: Tlv): Uint8Array => bytes.subarray(tlv.start, tlv.end)
const content = (bytes: Uint8Array, tlv: Tlv): Uint8Array => bytes.subarray(tlv.contentStart, tlv.end)

/**
 * Dotted form of an OBJECT IDENTIFIER's content octets (X.690 §8.19), minimal arcs only. Arcs are
 * summed as numbers and only an arc beyond 2^45 goes to `bigint`: this runs for every extension
 * of every certificate in a chain, and `bigint` arithmetic per octet cost more than the rest of
 * the parse together.
 */
export function oidToString(octets: Uint8Array): string {
  if (octets.length === 0) throw malformed('empty OBJECT IDENTIFIER')
  if (octets.length > MAX_OID_BYTES) throw malformed(`OBJECT IDENTIFIER longer than ${MAX_OID_BYTES} octets`)
  let out = ''
  let value = 0
  let big: bigint | undefined
  let fresh = true
  for (const byte of octets) {
    if (fresh && byte === 0x80) throw malformed('OBJECT IDENTIFIER arc is not minimal')
    if (big === undefined && value >= 2 ** 45) big = BigInt(value)
    if (big === undefined) value = value * 128 + (byte & 0x7f)
    else big = (big << 7n) | BigInt(byte & 0x7f)
    fresh = (byte & 0x80) === 0
    if (!fresh) continue
    if (out !== '') out += `.${big ?? value}`
    else if (big !== undefined) out = `2.${big - 80n}`
    else out = value < 40 ? `0.${value}` : value < 80 ? `1.${value - 40}` : `2.${value - 80}`
    value = 0
    big = undefined
  }
  if (!fresh) throw malformed('OBJECT IDENTIFIER truncated')
  return out
}

/** An INTEGER's content as lower-case hex without leading zero digits (`0` for zero). */
export function integerHex(bytes: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== TAG.integer || tlv.end === tlv.contentStart) throw malformed('INTEGER expected')
  return normaliseSerialHex(toHex(content(bytes, tlv)))
}

/** Lower case, leading zero digits removed; the canonical form serial numbers are compared in. */
export function normaliseSerialHex(hex: string): string {
  const trimmed = hex.toLowerCase().replace(/^0+/, '')
  return trimmed === '' ? '0' : trimmed
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 forms, as seconds since the epoch. */
export function readTime(bytes: Uint8Array, tlv: Tlv): number {
  const text = String.fromCharCode(...content(bytes, tlv))
  let year: number
  let rest: string
  if (tlv.tag === TAG.utcTime && /^\d{12}Z$/.test(text)) {
    const yy = Number(text.slice(0, 2))
    year = yy >= 50 ? 1900 + yy : 2000 + yy
    rest = text.slice(2)
  } else if (tlv.tag === TAG.generalizedTime && /^\d{14}Z$/.test(text)) {
    year = Number(text.slice(0, 4))
    rest = text.slice(4)
  } else {
    throw malformed('time is not UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5)')
  }
  const two = (i: number): number => Number(rest.slice(i, i + 2))
  const [month, day, hour, minute, second] = [two(0), two(2), two(4), two(6), two(8)]
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const maxDay = month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month - 1] ?? 0)
  if (month < 1 || day < 1 || day > maxDay || hour > 23 || minute > 59 || second > 59) {
    throw malformed(`time ${text} is not a valid date`)
  }
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000
}

function readExtensions(bytes: Uint8Array, sequence: Tlv): RawExtension[] {
  if (sequence.tag !== TAG.sequence) throw malformed('Extensions: SEQUENCE expected')
  const out: RawExtension[] = []
  const seen = new Set<string>()
  const all = children(bytes, sequence)
  if (all.length > MAX_EXTENSIONS) throw malformed(`more than ${MAX_EXTENSIONS} extensions`)
  for (const ext of all) {
    if (ext.tag !== TAG.sequence) throw malformed('Extension: SEQUENCE expected')
    const parts = children(bytes, ext)
    const oidTlv = parts[0]
    if (oidTlv?.tag !== TAG.oid) throw malformed('Extension: extnID expected')
    let critical = false
    let next = 1
    if (parts[1]?.tag === TAG.boolean) {
      if (parts[1].end - parts[1].contentStart !== 1) throw malformed('Extension: critical is not a BOOLEAN')
      // A BER "true" other than 0xFF still reads as critical: ambiguity must not weaken a check.
      critical = bytes[parts[1].contentStart] !== 0
      next = 2
    }
    const valueTlv = parts[next]
    if (valueTlv?.tag !== TAG.octetString || parts.length !== next + 1) {
      throw malformed('Extension: extnValue expected')
    }
    const oid = oidToString(content(bytes, oidTlv))
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) throw malformed(`extension ${oid} appears twice`)
    seen.add(oid)
    out.push({ oid, critical, der: whole(bytes, ext), value: content(bytes, valueTlv) })
  }
  return out
}

/** BIT STRING content without the unused-bits octet, which must be zero for a signature. */
function signatureBits(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  if (tlv.tag !== TAG.bitString || tlv.end - tlv.contentStart < 2 || bytes[tlv.contentStart] !== 0) {
    throw malformed('signatureValue: BIT STRING with no unused bits expected')
  }
  return bytes.subarray(tlv.contentStart + 1, tlv.end)
}

/** Reads `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }` filling all of `bytes`. */
function readSigned(bytes: Uint8Array, what: string): { tbs: Tlv; algorithm: Uint8Array; signature: Uint8Array } {
  const outer = expect(bytes, 0, bytes.length, TAG.sequence, what)
  if (outer.end !== bytes.length) throw malformed(`${what}: trailing bytes after the DER item`)
  const [tbs, algorithm, signature, ...extra] = children(bytes, outer)
  if (tbs?.tag !== TAG.sequence || algorithm?.tag !== TAG.sequence || signature === undefined || extra.length > 0) {
    throw malformed(`${what}: expected SEQUENCE { tbs, signatureAlgorithm, signatureValue }`)
  }
  return { tbs, algorithm: whole(bytes, algorithm), signature: signatureBits(bytes, signature) }
}

/** Parses one DER certificate (RFC 5280 §4.1). `der` must be a private copy. */
export function parseCertificateDer(der: Uint8Array): CertificateFields {
  const signed = readSigned(der, 'Certificate')
  const fields = children(der, signed.tbs)
  let i = 0
  let version = 1
  if (fields[0]?.tag === 0xa0) {
    const [v, ...rest] = children(der, fields[0])
    if (v?.tag !== TAG.integer || rest.length > 0 || v.end - v.contentStart !== 1) throw malformed('bad version')
    version = der[v.contentStart]! + 1
    if (version > 3) throw malformed(`version ${version} is not defined`)
    i = 1
  }
  const [serial, algorithm, issuer, validity, subject, spki] = fields.slice(i, i + 6)
  if (serial === undefined || spki === undefined) throw malformed('TBSCertificate is missing fields')
  const serialHex = integerHex(der, serial)
  // RFC 5280 §4.1.2.2: at most 20 octets (one more for a sign octet that non-conforming CAs add).
  if (serial.end - serial.contentStart > 21) throw malformed('serialNumber longer than 20 octets')
  for (const [tlv, name] of [
    [algorithm, 'signature'],
    [issuer, 'issuer'],
    [validity, 'validity'],
    [subject, 'subject'],
    [spki, 'subjectPublicKeyInfo'],
  ] as const) {
    if (tlv?.tag !== TAG.sequence) throw malformed(`TBSCertificate.${name}: SEQUENCE expected`)
  }
  // RFC 5280 §4.1.1.2: the outer signatureAlgorithm MUST equal the signature field inside tbs.
  if (!bytesEqual(whole(der, algorithm!), signed.algorithm)) throw malformed('signatureAlgorithm differs from tbs')
  if (issuer!.end === issuer!.contentStart) throw malformed('issuer is an empty Name (RFC 5280 §4.1.2.4)')
  const times = children(der, validity!)
  if (times.length !== 2) throw malformed('validity: two times expected')

  let extensions: RawExtension[] = []
  let j = i + 6
  for (const tag of [0x81, 0x82]) if (fields[j]?.tag === tag) j++ // issuer/subjectUniqueID: not used
  if (fields[j]?.tag === 0xa3) {
    if (version !== 3) throw malformed('extensions in a certificate that is not v3')
    const inner = children(der, fields[j]!)
    if (inner.length !== 1) throw malformed('extensions: one SEQUENCE expected')
    extensions = readExtensions(der, inner[0]!)
    j++
  }
  if (j !== fields.length) throw malformed('TBSCertificate has unexpected fields')

  return {
    der,
    tbs: whole(der, signed.tbs),
    version,
    serialHex,
    signatureAlgorithm: signed.algorithm,
    signature: signed.signature,
    issuer: whole(der, issuer!),
    subject: whole(der, subject!),
    notBefore: readTime(der, times[0]!),
    notAfter: readTime(der, times[1]!),
    spki: whole(der, spki),
    extensions,
  }
}

/** Parses one DER CRL (RFC 5280 §5.1). `der` must be a private copy. */
export function parseCrlDer(der: Uint8Array): CrlFields {
  const signed = readSigned(der, 'CertificateList')
  const fields = children(der, signed.tbs)
  let i = 0
  if (fields[0]?.tag === TAG.integer) {
    if (integerHex(der, fields[0]) !== '1') throw malformed('CRL version must be v2')
    i = 1
  }
  const [algorithm, issuer, thisUpdate] = fields.slice(i, i + 3)
  if (algorithm?.tag !== TAG.sequence || issuer?.tag !== TAG.sequence || thisUpdate === undefined) {
    throw malformed('TBSCertList is missing fields')
  }
  if (!bytesEqual(whole(der, algorithm), signed.algorithm)) throw malformed('CRL signature algorithms differ')
  let j = i + 3
  let nextUpdate: number | undefined
  const maybeTime = fields[j]
  if (maybeTime !== undefined && (maybeTime.tag === TAG.utcTime || maybeTime.tag === TAG.generalizedTime)) {
    nextUpdate = readTime(der, maybeTime)
    j++
  }
  const entries: CrlEntry[] = []
  if (fields[j]?.tag === TAG.sequence) {
    for (const entry of children(der, fields[j]!)) {
      if (entry.tag !== TAG.sequence) throw malformed('revokedCertificates: SEQUENCE expected')
      const [serial, date, exts, ...extra] = children(der, entry)
      if (serial === undefined || date === undefined || extra.length > 0) throw malformed('CRL entry malformed')
      readTime(der, date)
      const entryExtensions = exts === undefined ? [] : readExtensions(der, exts)
      const hasCriticalExtension = entryExtensions.some((e) => e.critical)
      entries.push({ serialHex: integerHex(der, serial), hasCriticalExtension })
    }
    j++
  }
  let extensions: RawExtension[] = []
  if (fields[j]?.tag === 0xa0) {
    const inner = children(der, fields[j]!)
    if (inner.length !== 1) throw malformed('crlExtensions: one SEQUENCE expected')
    extensions = readExtensions(der, inner[0]!)
    j++
  }
  if (j !== fields.length) throw malformed('TBSCertList has unexpected fields')
  return {
    tbs: whole(der, signed.tbs),
    signatureAlgorithm: signed.algorithm,
    signature: signed.signature,
    issuer: whole(der, issuer),
    thisUpdate: readTime(der, thisUpdate),
    nextUpdate,
    entries,
    extensions,
  }
}

const ID_ON_HARDWARE_MODULE_NAME = '1.3.6.1.5.5.7.8.4'

/**
 * The `hwSerialNum` of every `hardwareModuleName` otherName (RFC 4108 §5,
 * `SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }`) in a subjectAltName value
 * (RFC 5280 §4.2.1.6). Other GeneralName forms are skipped unread.
 */
export function hardwareModuleSerials(value: Uint8Array): Uint8Array[] {
  const names = expect(value, 0, value.length, TAG.sequence, 'subjectAltName')
  if (names.end !== value.length) throw malformed('subjectAltName: trailing bytes')
  const out: Uint8Array[] = []
  for (const name of children(value, names)) {
    if (name.tag !== 0xa0) continue // otherName is [0] IMPLICIT SEQUENCE
    const [typeId, explicit, ...extra] = children(value, name)
    if (typeId?.tag !== TAG.oid || explicit?.tag !== 0xa0 || extra.length > 0) throw malformed('bad otherName')
    if (oidToString(content(value, typeId)) !== ID_ON_HARDWARE_MODULE_NAME) continue
    const [module, ...more] = children(value, explicit)
    if (module?.tag !== TAG.sequence || more.length > 0) throw malformed('hardwareModuleName malformed')
    const [hwType, hwSerialNum, ...rest] = children(value, module)
    if (hwType?.tag !== TAG.oid || hwSerialNum?.tag !== TAG.octetString || rest.length > 0) {
      throw malformed('hardwareModuleName: SEQUENCE { hwType, hwSerialNum } expected')
    }
    out.push(content(value, hwSerialNum))
  }
  return out
}

/** What path validation needs to know about a SubjectPublicKeyInfo before importing it. */
export interface SpkiShape {
  /** The algorithm OID, dotted. */
  readonly algorithm: string
  /** The namedCurve OID of an EC key (RFC 5480 §2.1.1), dotted. */
  readonly curve?: string
  /** The RSA modulus size in bits (RFC 8017 §A.1.1), leading zero octets ignored. */
  readonly modulusBits?: number
  /** The RSA public exponent; `Infinity` when it has more than 48 bits. */
  readonly publicExponent?: number
}

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1'
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10'
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1'

/** The positive INTEGER content of `tlv` without leading zero octets; a negative one is refused. */
function unsignedContent(bytes: Uint8Array, tlv: Tlv, what: string): Uint8Array {
  if (tlv.tag !== TAG.integer || tlv.end === tlv.contentStart) throw malformed(`${what}: INTEGER expected`)
  if ((bytes[tlv.contentStart]! & 0x80) !== 0) throw malformed(`${what} is negative`)
  let start = tlv.contentStart
  while (start < tlv.end && bytes[start] === 0) start++
  return bytes.subarray(start, tlv.end)
}

/**
 * Reads a SubjectPublicKeyInfo TLV (RFC 5280 §4.1.2.7) without importing the key: the algorithm,
 * the named curve of an EC key, and the modulus size and exponent of an RSA key, so that a caller
 * can refuse a key before any cryptographic operation.
 */
export function readSpki(spki: Uint8Array): SpkiShape {
  const outer = expect(spki, 0, spki.length, TAG.sequence, 'subjectPublicKeyInfo')
  if (outer.end !== spki.length) throw malformed('subjectPublicKeyInfo: trailing bytes')
  const [algorithmId, key, ...extra] = children(spki, outer)
  if (algorithmId?.tag !== TAG.sequence || key?.tag !== TAG.bitString || extra.length > 0) {
    throw malformed('subjectPublicKeyInfo: SEQUENCE { algorithm, subjectPublicKey } expected')
  }
  const [oid, parameters] = children(spki, algorithmId)
  if (oid?.tag !== TAG.oid) throw malformed('subjectPublicKeyInfo: algorithm OID expected')
  const algorithm = oidToString(content(spki, oid))
  if (algorithm === OID_EC_PUBLIC_KEY) {
    if (parameters?.tag !== TAG.oid) throw malformed('EC key without a namedCurve')
    return { algorithm, curve: oidToString(content(spki, parameters)) }
  }
  if (algorithm !== OID_RSA_ENCRYPTION && algorithm !== OID_RSASSA_PSS) return { algorithm }
  if (key.end - key.contentStart < 2 || spki[key.contentStart] !== 0) throw malformed('RSA key: bad BIT STRING')
  const rsaKey = expect(spki, key.contentStart + 1, key.end, TAG.sequence, 'RSAPublicKey')
  const [modulus, exponent, ...more] = children(spki, rsaKey)
  if (rsaKey.end !== key.end || modulus === undefined || exponent === undefined || more.length > 0) {
    throw malformed('RSAPublicKey: SEQUENCE { modulus, publicExponent } expected')
  }
  const n = unsignedContent(spki, modulus, 'RSA modulus')
  const e = unsignedContent(spki, exponent, 'RSA exponent')
  const modulusBits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]!))
  const publicExponent = e.length > 6 ? Number.POSITIVE_INFINITY : e.reduce((v, b) => v * 256 + b, 0)
  return { algorithm, modulusBits, publicExponent }
}

/** A basicConstraints value (RFC 5280 §4.2.1.9): `SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL }`. */
export function readBasicConstraints(value: Uint8Array): { readonly ca: boolean; readonly pathLength?: number } {
  const outer = expect(value, 0, value.length, TAG.sequence, 'basicConstraints')
  if (outer.end !== value.length) throw malformed('basicConstraints: trailing bytes')
  const parts = children(value, outer)
  let ca = false
  let next = 0
  if (parts[0]?.tag === TAG.boolean) {
    if (parts[0].end - parts[0].contentStart !== 1) throw malformed('basicConstraints: cA is not a BOOLEAN')
    ca = value[parts[0].contentStart] !== 0
    next = 1
  }
  const pathLen = parts[next]
  if (pathLen === undefined) return { ca }
  if (parts.length !== next + 1) throw malformed('basicConstraints: unexpected fields')
  const digits = unsignedContent(value, pathLen, 'pathLenConstraint')
  // Any value above the chain bound is as good as unlimited; refusing it would refuse real CAs.
  const pathLength = digits.length > 4 ? 0xffffffff : digits.reduce((v, b) => v * 256 + b, 0)
  return { ca, pathLength }
}

/**
 * A keyUsage value (RFC 5280 §4.2.1.3) as flags: bit i of the named bit list (digitalSignature
 * is 0, keyCertSign 5, cRLSign 6) becomes `1 << i`, as @peculiar/x509's `KeyUsageFlags` numbers them.
 */
export function readKeyUsage(value: Uint8Array): number {
  const bits = expect(value, 0, value.length, TAG.bitString, 'keyUsage')
  if (bits.end !== value.length || bits.end === bits.contentStart) throw malformed('keyUsage: BIT STRING expected')
  const unused = value[bits.contentStart]!
  const data = value.subarray(bits.contentStart + 1, bits.end)
  if (unused > 7 || (data.length === 0 && unused !== 0)) throw malformed('keyUsage: bad unused-bits octet')
  let flags = 0
  for (let i = 0; i < Math.min(data.length, 2) * 8; i++) {
    const inData = i < data.length * 8 - unused
    if (inData && (data[i >> 3]! & (0x80 >> (i & 7))) !== 0) flags |= 1 << i
  }
  return flags
}

/** The keyIdentifier of an authorityKeyIdentifier value (RFC 5280 §4.2.1.1), if it has one. */
export function readAuthorityKeyId(value: Uint8Array): Uint8Array | undefined {
  const outer = expect(value, 0, value.length, TAG.sequence, 'authorityKeyIdentifier')
  if (outer.end !== value.length) throw malformed('authorityKeyIdentifier: trailing bytes')
  const first = children(value, outer)[0]
  return first?.tag === 0x80 ? content(value, first) : undefined
}

/** A subjectKeyIdentifier value (RFC 5280 §4.2.1.2): an OCTET STRING. */
export function readSubjectKeyId(value: Uint8Array): Uint8Array {
  const id = expect(value, 0, value.length, TAG.octetString, 'subjectKeyIdentifier')
  if (id.end !== value.length) throw malformed('subjectKeyIdentifier: trailing bytes')
  return content(value, id)
}
