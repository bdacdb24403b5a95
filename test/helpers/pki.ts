/**
 * A test PKI built at test time: a P-256 root CA, an intermediate and a device certificate, issued
 * with @peculiar/x509 over node's WebCrypto, plus the broken variants the negative tests need.
 * Times are relative to the fixed clock `NOW`; nothing reads the wall clock.
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { KeyObject, webcrypto } from 'node:crypto'
import type { X509Anchor } from '../../src/crypto/x509.js'

type CryptoKey = webcrypto.CryptoKey
export type CryptoKeyPair = webcrypto.CryptoKeyPair
type SigningAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

/** 2026-01-01T00:00:00Z, the clock every test validates at. */
export const NOW = 1_767_225_600
export const HOUR = 3600
export const DAY = 86_400
export const YEAR = 365 * DAY

const ES256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' }

export interface TestCert {
  readonly der: Uint8Array
  readonly cert: x509.X509Certificate
  readonly keys: CryptoKeyPair
  /** The private key as a node:crypto KeyObject, for signing test Evidence. */
  readonly privateKey: KeyObject
  readonly serialHex: string
}

export interface IssueOptions {
  readonly subject: string | x509.JsonNameParams
  /** The issuing certificate; omitted means self-signed. */
  readonly issuer?: TestCert
  /** The subject key pair; a fresh P-256 pair when omitted. */
  readonly keys?: CryptoKeyPair
  /** A SubjectPublicKeyInfo to certify instead of `keys.publicKey` (unsupported keys). */
  readonly spki?: Uint8Array
  readonly serialHex?: string
  /** Seconds. Default: `NOW - DAY`. */
  readonly notBefore?: number
  /** Seconds. Default: `NOW + YEAR`. */
  readonly notAfter?: number
  /** basicConstraints: omitted means no extension at all. */
  readonly ca?: boolean
  readonly pathLength?: number
  /** keyUsage flags; `null` means no extension. */
  readonly keyUsage?: number | null
  readonly extensions?: readonly x509.Extension[]
  readonly signingAlgorithm?: SigningAlgorithm
  /** Sign with this key instead of the issuer's (a bad signature under a correct name). */
  readonly signWith?: CryptoKey
  /** Write this issuer name instead of the issuer's subject (broken name chaining). */
  readonly issuerName?: string | x509.JsonNameParams
}

let serialCounter = 0x1000

/** A fresh serial: positive, 8 bytes, unique within the run. */
function nextSerial(): string {
  serialCounter += 1
  return `7f${serialCounter.toString(16).padStart(14, '0')}`
}

export async function generateP256(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
}

const toSeconds = (s: number): Date => new Date(s * 1000)

/** Issues one certificate. */
export async function issue(options: IssueOptions): Promise<TestCert> {
  const keys = options.keys ?? (await generateP256())
  const extensions: x509.Extension[] = []
  if (options.ca !== undefined) {
    extensions.push(new x509.BasicConstraintsExtension(options.ca, options.pathLength, true))
  }
  const { keyCertSign, cRLSign, digitalSignature } = x509.KeyUsageFlags
  const defaultUsage = options.ca === true ? keyCertSign | cRLSign : digitalSignature
  const usage = options.keyUsage === undefined ? defaultUsage : options.keyUsage
  if (usage !== null) extensions.push(new x509.KeyUsagesExtension(usage, true))
  extensions.push(...(options.extensions ?? []))
  const serialHex = options.serialHex ?? nextSerial()
  const issuerName = options.issuerName ?? options.issuer?.cert.subjectName ?? options.subject
  const asName = (name: string | x509.JsonNameParams | x509.Name) =>
    typeof name === 'string' || name instanceof x509.Name ? name : new x509.Name(name)
  const signingKey = options.signWith ?? options.issuer?.keys.privateKey ?? keys.privateKey
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: asName(options.subject),
    issuer: asName(issuerName),
    notBefore: toSeconds(options.notBefore ?? NOW - DAY),
    notAfter: toSeconds(options.notAfter ?? NOW + YEAR),
    publicKey: options.spki ?? keys.publicKey,
    signingKey,
    signingAlgorithm: options.signingAlgorithm ?? ES256,
    extensions,
  })
  return {
    der: new Uint8Array(cert.rawData),
    cert,
    keys,
    privateKey: KeyObject.from(keys.privateKey),
    serialHex,
  }
}

/** The ways `buildPki` can break the standard chain, one property each. */
export type PkiFault =
  | 'expired-leaf'
  | 'not-yet-valid-leaf'
  | 'leaf-key-usage'
  | 'intermediate-key-usage'
  | 'intermediate-not-ca'
  | 'intermediate-no-basic-constraints'
  | 'root-path-length-0'
  | 'unknown-root'
  | 'revoked-serial'
  | 'crl-revoked'
  | 'self-signed-leaf'

export interface TestPki {
  readonly root: TestCert
  readonly intermediate: TestCert
  readonly leaf: TestCert
  /** As an Attester sends it, anchor omitted: `[leaf, intermediate]`. */
  readonly chain: Uint8Array[]
  /** With the anchor sent last: `[leaf, intermediate, root]`. */
  readonly fullChain: Uint8Array[]
  /** What the operator provisions. */
  readonly anchors: X509Anchor[]
}

export interface PkiOptions {
  readonly fault?: PkiFault
  readonly root?: Partial<IssueOptions>
  readonly intermediate?: Partial<IssueOptions>
  readonly leaf?: Partial<IssueOptions>
}

/** Builds root → intermediate → leaf (P-256, ES256), valid at `NOW` unless `fault` says otherwise. */
export async function buildPki(options: PkiOptions = {}): Promise<TestPki> {
  const fault = options.fault
  const root = await issue({
    subject: 'CN=Assay Test Root, O=Assay Test',
    ca: true,
    notBefore: NOW - 5 * YEAR,
    notAfter: NOW + 10 * YEAR,
    ...(fault === 'root-path-length-0' ? { pathLength: 0 } : {}),
    ...options.root,
  })
  const intermediate = await issue({
    subject: 'CN=Assay Test Intermediate, O=Assay Test',
    issuer: root,
    ca: fault === 'intermediate-no-basic-constraints' ? undefined : fault !== 'intermediate-not-ca',
    notBefore: NOW - 2 * YEAR,
    notAfter: NOW + 5 * YEAR,
    ...(fault === 'intermediate-key-usage' ? { keyUsage: x509.KeyUsageFlags.digitalSignature } : {}),
    ...(fault === 'intermediate-no-basic-constraints' ? { keyUsage: null } : {}),
    ...options.intermediate,
  })
  const leafTimes =
    fault === 'expired-leaf'
      ? { notBefore: NOW - YEAR, notAfter: NOW - 1 }
      : fault === 'not-yet-valid-leaf'
        ? { notBefore: NOW + HOUR, notAfter: NOW + YEAR }
        : {}
  const leafUsage = fault === 'leaf-key-usage' ? { keyUsage: x509.KeyUsageFlags.keyAgreement } : {}
  const leaf =
    fault === 'self-signed-leaf'
      ? await issue({ subject: 'CN=Assay Test Device', ...options.leaf })
      : await issue({
          subject: 'CN=Assay Test Device',
          issuer: intermediate,
          ...leafTimes,
          ...leafUsage,
          ...options.leaf,
        })

  let anchorRoot = root
  if (fault === 'unknown-root') anchorRoot = await issue({ subject: 'CN=Some Other Root', ca: true })
  const anchor: X509Anchor = {
    der: anchorRoot.der,
    ...(fault === 'revoked-serial' ? { revokedSerials: new Set([`00${leaf.serialHex.toUpperCase()}`]) } : {}),
    ...(fault === 'crl-revoked' ? { crl: await makeCrl({ issuer: intermediate, serials: [leaf.serialHex] }) } : {}),
  }
  const chain = fault === 'self-signed-leaf' ? [leaf.der] : [leaf.der, intermediate.der]
  return { root, intermediate, leaf, chain, fullChain: [...chain, root.der], anchors: [anchor] }
}

export interface CrlOptions {
  readonly issuer: TestCert
  readonly serials?: readonly string[]
  /** Seconds. Default: `NOW - HOUR`. */
  readonly thisUpdate?: number
  /** Seconds; `null` leaves it out. Default: `NOW + DAY`. */
  readonly nextUpdate?: number | null
  /** Sign with this key instead of the issuer's (a CRL that does not verify). */
  readonly signWith?: CryptoKey
  readonly extensions?: readonly x509.Extension[]
}

/** Issues a DER CRL. */
export async function makeCrl(options: CrlOptions): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: options.issuer.cert.subjectName,
    thisUpdate: toSeconds(options.thisUpdate ?? NOW - HOUR),
    ...(options.nextUpdate === null ? {} : { nextUpdate: toSeconds(options.nextUpdate ?? NOW + DAY) }),
    entries: (options.serials ?? []).map((serialNumber) => ({
      serialNumber,
      revocationDate: toSeconds(NOW - DAY),
    })),
    signingKey: options.signWith ?? options.issuer.keys.privateKey,
    signingAlgorithm: ES256,
    ...(options.extensions === undefined ? {} : { extensions: [...options.extensions] }),
  })
  return new Uint8Array(crl.rawData)
}

// ── minimal DER writer, for the extensions @peculiar/x509 cannot build ───────────────────────

/** One DER TLV with a low tag number. */
export function derTlv(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0)
  const header =
    length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff]
  const out = new Uint8Array(header.length + length)
  out.set(header)
  let offset = header.length
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** An OBJECT IDENTIFIER TLV from its dotted form. */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(BigInt)
  const values = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]
  const bytes: number[] = []
  for (const value of values) {
    const chunk = [Number(value & 0x7fn)]
    for (let v = value >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80)
    bytes.push(...chunk)
  }
  return derTlv(0x06, Uint8Array.from(bytes))
}

/** A subjectAltName holding one RFC 4108 hardwareModuleName otherName per serial. */
export function hardwareModuleNameSan(serials: readonly Uint8Array[], critical = false): x509.Extension {
  const names = serials.map((serial) =>
    derTlv(
      0xa0,
      derOid('1.3.6.1.5.5.7.8.4'),
      derTlv(0xa0, derTlv(0x30, derOid('1.3.6.1.4.1.99999.1'), derTlv(0x04, serial))),
    ),
  )
  const dnsName = derTlv(0x82, new TextEncoder().encode('device.test'))
  return new x509.Extension('2.5.29.17', critical, derTlv(0x30, dnsName, ...names))
}

/** An extension with an arbitrary OID and an empty SEQUENCE as its value. */
export function opaqueExtension(oid: string, critical: boolean): x509.Extension {
  return new x509.Extension(oid, critical, derTlv(0x30))
}

/** A subjectKeyIdentifier extension (RFC 5280 §4.2.1.2) carrying `id`. */
export function subjectKeyId(id: Uint8Array): x509.Extension {
  return new x509.Extension('2.5.29.14', false, derTlv(0x04, id))
}

/** An authorityKeyIdentifier extension (RFC 5280 §4.2.1.1) with the keyIdentifier `id`. */
export function authorityKeyId(id: Uint8Array): x509.Extension {
  return new x509.Extension('2.5.29.35', false, derTlv(0x30, derTlv(0x80, id)))
}

/**
 * An RSA SubjectPublicKeyInfo (RFC 8017 §A.1.1) of exactly `bits` bits and exponent `exponent`,
 * with a random odd modulus: for the size and exponent checks, never for signing.
 */
export function rsaSpki(bits: number, exponent = 65_537): Uint8Array {
  const modulus = new Uint8Array(Math.ceil(bits / 8))
  webcrypto.getRandomValues(modulus)
  const topBits = bits % 8 || 8
  modulus[0] = (modulus[0]! & ((1 << topBits) - 1)) | (1 << (topBits - 1))
  modulus[modulus.length - 1]! |= 1
  const e: number[] = []
  for (let v = exponent; v > 0; v = Math.floor(v / 256)) e.unshift(v % 256)
  const integer = (b: Uint8Array) => derTlv(0x02, (b[0]! & 0x80) !== 0 ? Uint8Array.of(0, ...b) : b)
  const rsaPublicKey = derTlv(0x30, integer(modulus), integer(Uint8Array.from(e)))
  const algorithm = derTlv(0x30, derOid('1.2.840.113549.1.1.1'), derTlv(0x05))
  return derTlv(0x30, algorithm, derTlv(0x03, Uint8Array.of(0), rsaPublicKey))
}
