/**
 * X.509 certification path validation for certificates that arrive in Evidence (COSE `x5chain`,
 * RFC 9360 §2; JWS `x5c`, RFC 7515 §4.1.6), against trust anchors the operator provisioned.
 *
 * RFC 5280 §6 cut down to what a verifier of device key attestation needs, and failing closed:
 * - No anchor means no trust. A chain is never its own anchor, and an anchor is never a device key.
 * - The path is the chain as supplied (leaf first; the anchor may be omitted or sent last). Names
 *   chain by byte equality of the DER `Name`, stricter than the §7.1 comparison rules: a CA that
 *   re-encodes its own name breaks the chain rather than matching loosely. Where a certificate
 *   has an authorityKeyIdentifier keyIdentifier and its issuer a subjectKeyIdentifier, they must
 *   be equal too; among anchors of one name, the key identifier picks the anchor.
 * - Signatures are checked with node:crypto over the exact `tbs` bytes the strict DER reader
 *   (`x509-der.ts`) took every other field from, so no second parser decides anything.
 *   @peculiar/x509 only renders names for display and reads the subject serialNumber attribute.
 * - Signature algorithms: ECDSA and RSASSA-PKCS1-v1_5 with SHA-256/384/512, Ed25519, Ed448.
 *   SHA-1, MD5 and RSASSA-PSS are refused. Keys: P-256, P-384, P-521, Ed25519, Ed448, and RSA of
 *   2048 to 4096 bits with e = 65537 (`keys.ts`), checked from the DER before any key is imported.
 * - Every issuer, the anchor included, must assert basicConstraints cA=TRUE. keyUsage, when
 *   present, must allow keyCertSign on issuers and digitalSignature on the leaf; a CA without
 *   keyUsage is accepted on the strength of cA=TRUE alone (RFC 5280 §4.2.1.3 makes keyUsage a
 *   MUST for CAs, but device PKIs omit it and cA=TRUE already says the key certifies).
 *   pathLenConstraint counts every intermediate, self-issued ones included (stricter than §6.1.4).
 * - A critical extension other than basicConstraints, keyUsage or subjectAltName is refused
 *   (§4.2): name constraints, policy constraints and extended key usage are not processed.
 * - Validity of every certificate and of the anchor is judged at the injected `nowSeconds`.
 * - Revocation: the anchor's `revokedSerials`, and its CRL when that CRL's issuer is in the path.
 *   A CRL that applies must verify with its issuer's key and be current, or the chain fails.
 *
 * Cost, since the chain is unauthenticated input (docs/decisions.md, "X.509 path cost"):
 * 1. Bounds first: at most `MAX_CHAIN_LENGTH` certificates, `MAX_CERTIFICATE_BYTES` each and
 *    `MAX_CHAIN_BYTES` in all; the DER reader bounds extensions and OIDs.
 * 2. The anchor is found before any signature: the top certificate alone is parsed, and its
 *    issuer name, authorityKeyIdentifier and signature algorithm select the provisioned anchors
 *    that could have signed it. None means `ERR_X509_UNKNOWN_ANCHOR` at the cost of one parse.
 * 3. Signatures are verified from the anchor down and the first failure stops the walk. Each
 *    certificate is parsed only once the link above it verified, and its own checks (name and
 *    key identifier chaining, key type, cA, keyUsage, pathLen, validity) come before its
 *    signature. So a forged certificate costs one parse and one verification wherever it sits,
 *    and nothing below it is read. (Parsing every certificate first let a public genuine
 *    intermediate over seven novel certificates cost eight parses before the first signature.)
 *    Keys are imported only when they are about to verify something. A verified link is
 *    remembered, and the certificate parsed, so a forgery below genuine certificates costs one
 *    parse and one verification, not the whole path.
 * 4. Caches, per store (a store's anchors never change, so anchors changing means a new store
 *    and new caches): validated paths, keyed by a SHA-256 over the chain, re-checked against
 *    their validity window and revocation on every hit; and failures, for `failureCacheSeconds`,
 *    so a repeated hostile chain costs one hash. A failure is cached only when it can never turn
 *    into success with the same store: never one that a time check took part in (expired, not
 *    yet valid, an anchor passed over for its validity, a CRL out of date).
 */
import 'reflect-metadata'
import { Name } from '@peculiar/x509'
import { constants, createHash, verify as nodeVerify } from 'node:crypto'
import type { ErrorCode } from '../errors/codes.js'
import { VerifierError } from '../errors/errors.js'
import { bytesEqual, fromHex, toHex } from '../util/bytes.js'
import { checkRsaBounds, importSpki, type PublicKey } from './keys.js'
import {
  hardwareModuleSerials,
  normaliseSerialHex,
  parseCertificateDer,
  parseCrlDer,
  readAuthorityKeyId,
  readBasicConstraints,
  readKeyUsage,
  readSpki,
  readSubjectKeyId,
  type CertificateFields,
  type CrlFields,
  type SpkiShape,
} from './x509-der.js'

/** A trust anchor as the operator provisions it. */
export interface X509Anchor {
  /** The anchor certificate, DER. */
  readonly der: Uint8Array
  /**
   * Serial numbers, in hex, of certificates under this anchor that must be refused, whichever
   * certificate in the path carries them. Case, `:` separators and leading zeros do not matter.
   */
  readonly revokedSerials?: ReadonlySet<string>
  /**
   * A DER CRL issued by this anchor or by an intermediate under it. It applies to the
   * certificates its issuer signed in a path, and must then verify and be current.
   */
  readonly crl?: Uint8Array
}

export interface X509TrustStoreOptions {
  /**
   * How many validated chains, verified certificate signatures and parsed verified certificates
   * to remember (each); the oldest is dropped first. 0 disables these caches.
   * @defaultValue 10000
   */
  readonly cacheLimit?: number
  /**
   * How many refused chains to remember; the oldest is dropped first. 0 disables the cache.
   * @defaultValue 4096
   */
  readonly failureCacheLimit?: number
  /**
   * How long, in seconds of the validation clock, a refused chain is refused from the cache.
   * @defaultValue 60
   */
  readonly failureCacheSeconds?: number
}

/** Counters of the work a store did, for tests, benchmarks and metrics. */
export interface X509StoreStats {
  /** Signature verifications run (certificates and CRLs); cached links are not counted. */
  readonly signatureVerifications: number
  /** Validations answered from the cache of validated paths. */
  readonly pathCacheHits: number
  /** Validations refused from the cache of failures. */
  readonly failureCacheHits: number
}

/** The outcome of a successful validation. Its byte arrays are shared with the cache: read only. */
export interface ValidatedChain {
  /** The leaf's public key, imported; use it to verify the Evidence signature. */
  readonly leafKey: PublicKey
  readonly leaf: {
    /** The subject DN, RFC 4514-style, for logs and results; never compare on it. */
    readonly subject: string
    /** Lower-case hex without leading zeros. */
    readonly serialHex: string
    /** Seconds since the epoch. */
    readonly notBefore: number
    readonly notAfter: number
    /**
     * A device identity the certificate binds, for the caller to compare with the `ueid` claim:
     * the `hwSerialNum` of a subjectAltName `hardwareModuleName` otherName (RFC 4108 §5) of 7..33
     * bytes or, failing that, a subject `serialNumber` attribute (2.5.4.5) that is hex of 7..33
     * bytes. Undefined when the leaf carries neither.
     */
    readonly ueid?: Uint8Array
    readonly ueidSource?: 'hardwareModuleName' | 'subjectSerialNumber'
  }
  /** The subject DN of the anchor the path ends at. */
  readonly anchorSubject: string
  /** SHA-256 (hex) of the anchor certificate's DER: which provisioned anchor the path ends at. */
  readonly anchorSha256: string
  /** The supplied certificates without the anchor: leaf first, then each issuer. */
  readonly path: readonly Uint8Array[]
}

/** RFC 9360 chains are short; this bounds the work an unauthenticated chain can cause. */
export const MAX_CHAIN_LENGTH = 8
/** Larger than any attestation certificate in the field (1 to 3 KiB); bounds parsing and hashing. */
export const MAX_CERTIFICATE_BYTES = 8192
/** All certificates of one chain together: an Android key attestation chain of four is ~5 KiB. */
export const MAX_CHAIN_BYTES = 16_384
const DEFAULT_CACHE_LIMIT = 10_000
const DEFAULT_FAILURE_CACHE_LIMIT = 4096
const DEFAULT_FAILURE_CACHE_SECONDS = 60
/** How many CRL verdicts (per issuer key) an anchor's CRL remembers. */
const CRL_VERDICT_LIMIT = 64
const UEID_MIN_BYTES = 7
const UEID_MAX_BYTES = 33

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectSerialNumber: '2.5.4.5',
} as const

/** keyUsage flags as `readKeyUsage` returns them (bit i of RFC 5280 §4.2.1.3 is `1 << i`). */
const KEY_USAGE = { digitalSignature: 1 << 0, keyCertSign: 1 << 5, cRLSign: 1 << 6 } as const

const PROCESSED_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.subjectAltName,
])

/** The key kinds a certificate may carry, by SPKI algorithm OID; EC keys also by curve OID. */
type KeyKind = 'ec' | 'rsa' | 'rsa-pss' | 'Ed25519' | 'Ed448'
const KEY_ALGORITHMS: ReadonlyMap<string, KeyKind> = new Map([
  ['1.2.840.10045.2.1', 'ec'],
  ['1.2.840.113549.1.1.1', 'rsa'],
  ['1.2.840.113549.1.1.10', 'rsa-pss'],
  ['1.3.101.112', 'Ed25519'],
  ['1.3.101.113', 'Ed448'],
])
/** P-256, P-384, P-521 (RFC 5480 §2.1.1.1). */
const EC_CURVES: ReadonlySet<string> = new Set(['1.2.840.10045.3.1.7', '1.3.132.0.34', '1.3.132.0.35'])

interface SignatureAlgorithm {
  readonly name: string
  readonly scheme: 'ecdsa' | 'rsa-pkcs1' | 'eddsa'
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
}

/** Allowed AlgorithmIdentifier encodings, as DER hex (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3). */
const SIGNATURE_ALGORITHMS: ReadonlyMap<string, SignatureAlgorithm> = new Map(
  (
    [
      ['300a06082a8648ce3d040302', 'ecdsa-with-SHA256', 'ecdsa', 'sha256'],
      ['300a06082a8648ce3d040303', 'ecdsa-with-SHA384', 'ecdsa', 'sha384'],
      ['300a06082a8648ce3d040304', 'ecdsa-with-SHA512', 'ecdsa', 'sha512'],
      // RFC 4055 §5: parameters NULL, and implementations MUST accept them absent as well.
      ['300d06092a864886f70d01010b0500', 'sha256WithRSAEncryption', 'rsa-pkcs1', 'sha256'],
      ['300b06092a864886f70d01010b', 'sha256WithRSAEncryption', 'rsa-pkcs1', 'sha256'],
      ['300d06092a864886f70d01010c0500', 'sha384WithRSAEncryption', 'rsa-pkcs1', 'sha384'],
      ['300b06092a864886f70d01010c', 'sha384WithRSAEncryption', 'rsa-pkcs1', 'sha384'],
      ['300d06092a864886f70d01010d0500', 'sha512WithRSAEncryption', 'rsa-pkcs1', 'sha512'],
      ['300b06092a864886f70d01010d', 'sha512WithRSAEncryption', 'rsa-pkcs1', 'sha512'],
      ['300506032b6570', 'Ed25519', 'eddsa', null],
      ['300506032b6571', 'Ed448', 'eddsa', null],
    ] as const
  ).map(([der, name, scheme, hash]) => [der, { name, scheme, hash }]),
)

/** Which key kind can make a signature of `algorithm`. */
function signerKind(algorithm: SignatureAlgorithm): KeyKind {
  if (algorithm.scheme === 'ecdsa') return 'ec'
  if (algorithm.scheme === 'rsa-pkcs1') return 'rsa'
  return algorithm.name === 'Ed25519' ? 'Ed25519' : 'Ed448'
}

/** A parsed certificate with the facts path validation reads from it; its key is not imported. */
interface Certificate {
  readonly fields: CertificateFields
  readonly keyKind: KeyKind
  readonly ca: boolean
  readonly pathLength: number | undefined
  /** keyUsage flags, undefined when the extension is absent. */
  readonly keyUsage: number | undefined
  readonly subjectKeyId: Uint8Array | undefined
  readonly authorityKeyId: Uint8Array | undefined
}

/** A supplied certificate: parsed, with its own signature algorithm and digest. */
interface PathCertificate {
  readonly certificate: Certificate
  readonly algorithm: SignatureAlgorithm
  /** SHA-256 of the DER, hex. */
  readonly digest: string
}

interface Crl {
  readonly fields: CrlFields
  readonly algorithm: SignatureAlgorithm
  readonly revoked: ReadonlySet<string>
  /** Whether the signature verifies, per issuer key (`spkiSha256`): verified once per key. */
  readonly verified: Map<string, boolean>
}

interface Anchor {
  readonly certificate: Certificate
  /** SHA-256 of the anchor certificate, hex. */
  readonly digest: string
  readonly key: PublicKey
  readonly subject: string
  readonly revokedSerials: ReadonlySet<string>
  readonly crl: Crl | undefined
}

/** What a cache hit re-checks: the validity window and revocation. */
interface RevocationPlan {
  readonly anchor: Anchor
  /** Serials of every certificate in the path. */
  readonly serials: readonly string[]
  /** Serials of the certificates the anchor's CRL speaks for, when its issuer is in the path. */
  readonly crlSerials: readonly string[]
}

/** The clock-dependent facts of a built path. */
interface PathWindow {
  /** The latest notBefore and earliest notAfter in the path, anchor included. */
  readonly notBefore: number
  readonly notAfter: number
  readonly revocation: RevocationPlan
}

interface CacheEntry extends PathWindow {
  readonly result: ValidatedChain
}

interface FailureEntry {
  readonly code: ErrorCode
  readonly message: string
  /** The validation clock when it failed; the entry holds in [since, since + failureCacheSeconds). */
  readonly since: number
}

interface Counters {
  signatureVerifications: number
  pathCacheHits: number
  failureCacheHits: number
}

interface StoreState {
  readonly anchors: readonly Anchor[]
  readonly byDigest: ReadonlyMap<string, Anchor>
  readonly bySubject: ReadonlyMap<string, readonly Anchor[]>
  readonly cache: Map<string, CacheEntry>
  readonly cacheLimit: number
  /** Verified signatures: `${certificate digest}:${issuer certificate digest}`. */
  readonly links: Set<string>
  /** Certificates whose signature verified, parsed, by digest: genuine CAs are parsed once. */
  readonly parsed: Map<string, PathCertificate>
  readonly failures: Map<string, FailureEntry>
  readonly failureCacheLimit: number
  readonly failureCacheSeconds: number
  readonly counters: Counters
}

/**
 * Failures that depend only on the chain bytes and the store's anchors, never on the clock: the
 * same chain fails the same way against the same store at any time. `ERR_X509_EXPIRED`,
 * `ERR_X509_NOT_YET_VALID` and `ERR_X509_CRL_INVALID` are left out: time changes them.
 */
const CACHEABLE_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_X509_MALFORMED',
  'ERR_X509_ALG_NOT_ALLOWED',
  'ERR_X509_EXTENSION_UNSUPPORTED',
  'ERR_X509_NAME_CHAINING',
  'ERR_X509_UNKNOWN_ANCHOR',
  'ERR_X509_SIGNATURE_INVALID',
  'ERR_X509_SELF_SIGNED_LEAF',
  'ERR_X509_NOT_CA',
  'ERR_X509_PATH_LENGTH',
  'ERR_X509_KEY_USAGE',
  'ERR_X509_REVOKED',
  'ERR_KEY_UNSUPPORTED',
  'ERR_KEY_INVALID',
])

// Keeps the state out of reach of callers, and makes a look-alike object fail: only a store this
// module built can be validated against.
const STATES = new WeakMap<X509TrustStore, StoreState>()

function fail(code: ErrorCode, message: string): VerifierError {
  return new VerifierError(code, message)
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

function limit(value: number | undefined, fallback: number, name: string): number {
  const chosen = value ?? fallback
  if (!Number.isSafeInteger(chosen) || chosen < 0) throw new TypeError(`${name} must be an integer >= 0`)
  return chosen
}

/** Inserts into a bounded map or set, dropping the oldest entry first. */
function boundedAdd<K>(collection: Map<K, unknown> | Set<K>, cap: number, add: () => void): void {
  if (cap <= 0) return
  if (collection.size >= cap) collection.delete(collection.keys().next().value as K)
  add()
}

/**
 * The trust anchors for certificates in Evidence, parsed and checked once. Immutable; each store
 * keeps its own caches, so stores never share results.
 */
export class X509TrustStore {
  /** The number of anchors. */
  readonly size: number

  /**
   * @throws VerifierError `ERR_CONFIG_INVALID` for an anchor or CRL that cannot be used: not DER,
   * an unsupported key (RSA outside 2048..4096 bits or e ≠ 65537 included), an unprocessed
   * critical extension, a malformed serial, a CRL without nextUpdate or with an algorithm that
   * is not allowed, or the same anchor twice.
   */
  constructor(anchors: readonly X509Anchor[], options: X509TrustStoreOptions = {}) {
    if (!Array.isArray(anchors)) throw new TypeError('anchors must be an array')
    const cacheLimit = limit(options.cacheLimit, DEFAULT_CACHE_LIMIT, 'cacheLimit')
    const failureCacheLimit = limit(options.failureCacheLimit, DEFAULT_FAILURE_CACHE_LIMIT, 'failureCacheLimit')
    const failureCacheSeconds = limit(options.failureCacheSeconds, DEFAULT_FAILURE_CACHE_SECONDS, 'failureCacheSeconds')
    const parsed: Anchor[] = []
    const byDigest = new Map<string, Anchor>()
    const bySubject = new Map<string, Anchor[]>()
    for (const [i, input] of anchors.entries()) {
      let anchor: Anchor
      let digest: string
      try {
        anchor = loadAnchor(input)
        digest = anchor.digest
      } catch (cause) {
        const detail = cause instanceof Error ? cause.message : String(cause)
        throw new VerifierError('ERR_CONFIG_INVALID', `X.509 anchor ${i}: ${detail}`, { cause })
      }
      if (byDigest.has(digest)) {
        throw new VerifierError('ERR_CONFIG_INVALID', `X.509 anchor ${i} is provisioned twice`)
      }
      byDigest.set(digest, anchor)
      const subjectKey = toHex(anchor.certificate.fields.subject)
      bySubject.set(subjectKey, [...(bySubject.get(subjectKey) ?? []), anchor])
      parsed.push(anchor)
    }
    this.size = parsed.length
    STATES.set(this, {
      anchors: parsed,
      byDigest,
      bySubject,
      cache: new Map(),
      cacheLimit,
      links: new Set(),
      parsed: new Map(),
      failures: new Map(),
      failureCacheLimit,
      failureCacheSeconds,
      counters: { signatureVerifications: 0, pathCacheHits: 0, failureCacheHits: 0 },
    })
    Object.freeze(this)
  }

  /** Forgets every validated path, verified signature and cached failure (benchmarks, tests, a clock jump). */
  clearCache(): void {
    const s = state(this)
    s.cache.clear()
    s.links.clear()
    s.parsed.clear()
    s.failures.clear()
  }

  /** A snapshot of the work counters. */
  stats(): X509StoreStats {
    return Object.freeze({ ...state(this).counters })
  }
}

function state(store: X509TrustStore): StoreState {
  const found = STATES.get(store)
  if (found === undefined) throw new TypeError('not an X509TrustStore')
  return found
}

function loadAnchor(input: X509Anchor): Anchor {
  if (!(input?.der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array')
  const fields = parseCertificateDer(Uint8Array.from(input.der))
  const certificate = describe(fields)
  const key = importSpki(fields.spki)
  const revokedSerials = new Set<string>()
  for (const serial of input.revokedSerials ?? []) {
    const hex = typeof serial === 'string' ? serial.replaceAll(':', '') : ''
    if (!/^[0-9a-fA-F]+$/.test(hex)) throw new TypeError(`revoked serial ${String(serial)} is not hex`)
    revokedSerials.add(normaliseSerialHex(hex))
  }
  let crl: Crl | undefined
  if (input.crl !== undefined) {
    if (!(input.crl instanceof Uint8Array)) throw new TypeError('crl must be a Uint8Array')
    crl = loadCrl(parseCrlDer(Uint8Array.from(input.crl)))
  }
  return { certificate, digest: sha256(fields.der), key, subject: renderName(fields.subject), revokedSerials, crl }
}

function loadCrl(fields: CrlFields): Crl {
  const algorithm = signatureAlgorithm(fields.signatureAlgorithm, 'CRL')
  // RFC 5280 §5.1.2.5 requires nextUpdate; without it a CRL can never be shown to be current.
  if (fields.nextUpdate === undefined) throw new TypeError('CRL has no nextUpdate')
  // §5.2, §5.3: a CRL with a critical extension the application cannot process MUST NOT be used
  // (a delta CRL, an indirect CRL or a partitioned CRL would each be misread as complete).
  const critical = fields.extensions.find((e) => e.critical)
  if (critical !== undefined) throw new TypeError(`CRL has the unsupported critical extension ${critical.oid}`)
  if (fields.entries.some((e) => e.hasCriticalExtension)) throw new TypeError('CRL entry has a critical extension')
  return { fields, algorithm, revoked: new Set(fields.entries.map((e) => e.serialHex)), verified: new Map() }
}

function signatureAlgorithm(der: Uint8Array, what: string): SignatureAlgorithm {
  const algorithm = SIGNATURE_ALGORITHMS.get(toHex(der))
  if (algorithm === undefined) {
    throw fail('ERR_X509_ALG_NOT_ALLOWED', `${what} signature algorithm ${toHex(der)} is not allowed`)
  }
  return algorithm
}

/** The key kind of a SubjectPublicKeyInfo, refusing what Assay does not verify with; imports nothing. */
function keyKindOf(shape: SpkiShape): KeyKind {
  const kind = KEY_ALGORITHMS.get(shape.algorithm)
  if (kind === undefined) throw fail('ERR_KEY_UNSUPPORTED', `key algorithm ${shape.algorithm} is not supported`)
  if (kind === 'ec' && !EC_CURVES.has(shape.curve ?? '')) {
    throw fail('ERR_KEY_UNSUPPORTED', `EC curve ${String(shape.curve)} is not supported`)
  }
  if (kind === 'rsa' || kind === 'rsa-pss') checkRsaBounds(shape.modulusBits, shape.publicExponent)
  return kind
}

/** Reads the extensions path validation acts on, and checks the key's kind and size. */
function describe(fields: CertificateFields): Certificate {
  let ca = false
  let pathLength: number | undefined
  let keyUsage: number | undefined
  let subjectKeyId: Uint8Array | undefined
  let authorityKeyId: Uint8Array | undefined
  for (const ext of fields.extensions) {
    if (ext.critical && !PROCESSED_CRITICAL_EXTENSIONS.has(ext.oid)) {
      throw fail('ERR_X509_EXTENSION_UNSUPPORTED', `critical extension ${ext.oid} is not processed (RFC 5280 §4.2)`)
    }
    if (ext.oid === OID.basicConstraints) ({ ca, pathLength } = readBasicConstraints(ext.value))
    else if (ext.oid === OID.keyUsage) keyUsage = readKeyUsage(ext.value)
    else if (ext.oid === OID.subjectKeyIdentifier) subjectKeyId = readSubjectKeyId(ext.value)
    else if (ext.oid === OID.authorityKeyIdentifier) authorityKeyId = readAuthorityKeyId(ext.value)
  }
  const keyKind = keyKindOf(readSpki(fields.spki))
  return { fields, keyKind, ca, pathLength, keyUsage, subjectKeyId, authorityKeyId }
}

function renderName(der: Uint8Array): string {
  try {
    return new Name(der).toString()
  } catch (cause) {
    throw new VerifierError('ERR_X509_MALFORMED', 'Name cannot be decoded', { cause })
  }
}

/** Verifies `signature` over `tbs` with node:crypto; false for any failure. */
function verifySigned(
  algorithm: SignatureAlgorithm,
  key: PublicKey,
  tbs: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    switch (algorithm.scheme) {
      case 'ecdsa':
        return (
          key.kty === 'EC' && nodeVerify(algorithm.hash, tbs, { key: key.keyObject, dsaEncoding: 'der' }, signature)
        )
      case 'rsa-pkcs1':
        return (
          key.keyObject.asymmetricKeyType === 'rsa' &&
          nodeVerify(algorithm.hash, tbs, { key: key.keyObject, padding: constants.RSA_PKCS1_PADDING }, signature)
        )
      case 'eddsa':
        return key.crv === algorithm.name && nodeVerify(null, tbs, key.keyObject, signature)
    }
  } catch {
    return false
  }
}

/**
 * Verifies that the issuer whose certificate has the digest `issuerDigest` signed `child`,
 * remembering links that verify; the issuer's key is imported only when the link is not known.
 */
function verifyLink(s: StoreState, child: PathCertificate, issuerDigest: string, issuerKey: () => PublicKey): boolean {
  const link = `${child.digest}:${issuerDigest}`
  if (s.links.has(link)) return true
  const key = issuerKey()
  s.counters.signatureVerifications++
  const { tbs, signature } = child.certificate.fields
  const ok = verifySigned(child.algorithm, key, tbs, signature)
  if (ok) {
    boundedAdd(s.links, s.cacheLimit, () => s.links.add(link))
    if (!s.parsed.has(child.digest)) boundedAdd(s.parsed, s.cacheLimit, () => s.parsed.set(child.digest, child))
  }
  return ok
}

/** Copies the chain out of the caller's buffers and enforces its shape and size. */
function copyChain(chain: readonly Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(chain)) throw fail('ERR_X509_MALFORMED', 'certificate chain is not an array')
  if (chain.length === 0) throw fail('ERR_X509_MALFORMED', 'certificate chain is empty')
  if (chain.length > MAX_CHAIN_LENGTH) {
    throw fail('ERR_X509_MALFORMED', `chain of ${chain.length} certificates; at most ${MAX_CHAIN_LENGTH} are accepted`)
  }
  let total = 0
  for (const [i, der] of (chain as readonly unknown[]).entries()) {
    if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_CERTIFICATE_BYTES) {
      throw fail('ERR_X509_MALFORMED', `certificate ${i} is not a byte string of 1..${MAX_CERTIFICATE_BYTES} bytes`)
    }
    total += der.length
  }
  if (total > MAX_CHAIN_BYTES) {
    throw fail('ERR_X509_MALFORMED', `chain of ${total} bytes; at most ${MAX_CHAIN_BYTES} are accepted`)
  }
  return chain.map((der) => Uint8Array.from(der))
}

/**
 * The chain's cache key: SHA-256 over the SHA-256 of each certificate, in order (each digest has a
 * fixed length, so no other split of the same bytes into certificates shares the key). The
 * chain's bytes are hashed once, and the per-certificate digests serve the path walk too.
 */
function cacheKey(digests: readonly string[]): string {
  return createHash('sha256').update(digests.join(':')).digest('base64')
}

/**
 * Validates a certificate chain from Evidence (DER, leaf first, as in `x5chain` and `x5c`)
 * against `store` at `nowSeconds`, and returns the leaf key.
 *
 * @throws VerifierError with an `ERR_X509_*` code naming the first rule the chain breaks, or
 * `ERR_KEY_UNSUPPORTED` / `ERR_KEY_INVALID` for a key that cannot be used.
 */
export function validateChain(
  chain: readonly Uint8Array[],
  store: X509TrustStore,
  nowSeconds: number,
): ValidatedChain {
  const s = state(store)
  if (!Number.isFinite(nowSeconds)) throw new TypeError('nowSeconds must be a finite number')
  if (s.anchors.length === 0) throw fail('ERR_X509_NO_ANCHOR', 'no X.509 trust anchor is provisioned')
  const certs = copyChain(chain)
  const digests = certs.map(sha256)
  const key = cacheKey(digests)
  const hit = s.cache.get(key)
  if (hit !== undefined) {
    s.counters.pathCacheHits++
    checkCurrent(hit, nowSeconds)
    return hit.result
  }
  const refused = s.failures.get(key)
  if (refused !== undefined) {
    if (refused.since <= nowSeconds && nowSeconds < refused.since + s.failureCacheSeconds) {
      s.counters.failureCacheHits++
      throw fail(refused.code, refused.message)
    }
    s.failures.delete(key)
  }
  const timeless = { cacheable: true }
  let entry: CacheEntry
  try {
    entry = buildPath(certs, digests, s, nowSeconds, timeless)
  } catch (err) {
    if (err instanceof VerifierError && timeless.cacheable && CACHEABLE_FAILURES.has(err.code)) {
      const failure: FailureEntry = { code: err.code, message: err.message, since: nowSeconds }
      boundedAdd(s.failures, s.failureCacheLimit, () => s.failures.set(key, failure))
    }
    throw err
  }
  boundedAdd(s.cache, s.cacheLimit, () => s.cache.set(key, entry))
  return entry.result
}

/** The validity window check. */
function checkWindow(notBefore: number, notAfter: number, now: number, what: string): void {
  if (now < notBefore) throw fail('ERR_X509_NOT_YET_VALID', `${what} is valid from ${notBefore}, now is ${now}`)
  if (now > notAfter) throw fail('ERR_X509_EXPIRED', `${what} expired at ${notAfter}, now is ${now}`)
}

/** The checks that depend on the clock: the validity window, then revocation. */
function checkCurrent(entry: PathWindow, now: number): void {
  checkWindow(entry.notBefore, entry.notAfter, now, 'path')
  const { anchor, serials, crlSerials } = entry.revocation
  for (const serial of serials) {
    if (anchor.revokedSerials.has(serial)) throw fail('ERR_X509_REVOKED', `certificate ${serial} is revoked`)
  }
  const crl = anchor.crl
  if (crl === undefined || crlSerials.length === 0) return
  const { thisUpdate, nextUpdate } = crl.fields
  if (!(thisUpdate <= now && nextUpdate !== undefined && now < nextUpdate)) {
    throw fail('ERR_X509_CRL_INVALID', `CRL covers ${thisUpdate}..${String(nextUpdate)}, now is ${now}`)
  }
  for (const serial of crlSerials) {
    if (crl.revoked.has(serial)) throw fail('ERR_X509_REVOKED', `certificate ${serial} is listed in the CRL`)
  }
}

/** Whether `issuer` may have issued `child` by key identifier: unknown (either absent) counts as yes. */
function keyIdsAgree(child: Certificate, issuer: Certificate): boolean {
  return (
    child.authorityKeyId === undefined ||
    issuer.subjectKeyId === undefined ||
    bytesEqual(child.authorityKeyId, issuer.subjectKeyId)
  )
}

/** cA, keyCertSign and pathLen of an issuer with `below` intermediates under it. */
function checkIssuer(issuer: Certificate, below: number, which: string): void {
  if (!issuer.ca) throw fail('ERR_X509_NOT_CA', `${which} issues certificates but has no basicConstraints cA`)
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.keyCertSign) === 0) {
    throw fail('ERR_X509_KEY_USAGE', `${which} issues certificates but its keyUsage lacks keyCertSign`)
  }
  if (issuer.pathLength !== undefined && below > issuer.pathLength) {
    throw fail('ERR_X509_PATH_LENGTH', `${which} allows ${issuer.pathLength} intermediates below it, not ${below}`)
  }
}

const TIME_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ERR_X509_EXPIRED', 'ERR_X509_NOT_YET_VALID'])

/** The link checks that need no signature: `issuer` is next above `child` in the path. */
function checkLink(child: PathCertificate, issuer: Certificate, i: number): void {
  if (!bytesEqual(child.certificate.fields.issuer, issuer.fields.subject)) {
    throw fail('ERR_X509_NAME_CHAINING', `issuer of certificate ${i} is not the subject of certificate ${i + 1}`)
  }
  if (!keyIdsAgree(child.certificate, issuer)) {
    throw fail('ERR_X509_NAME_CHAINING', `authorityKeyIdentifier of certificate ${i} is not the subjectKeyIdentifier of certificate ${i + 1}`)
  }
  if (signerKind(child.algorithm) !== issuer.keyKind) {
    throw fail('ERR_X509_SIGNATURE_INVALID', `certificate ${i} is signed with ${child.algorithm.name}, which the key of certificate ${i + 1} cannot make`)
  }
}

/** A certificate's own checks at position `i` of the path: its role (leaf or issuer) and validity. */
function checkOwn(p: PathCertificate, i: number, now: number): void {
  const { certificate } = p
  if (i === 0) {
    if (certificate.keyUsage !== undefined && (certificate.keyUsage & KEY_USAGE.digitalSignature) === 0) {
      throw fail('ERR_X509_KEY_USAGE', 'leaf keyUsage lacks digitalSignature')
    }
  } else {
    checkIssuer(certificate, i - 1, `certificate ${i}`)
  }
  checkWindow(certificate.fields.notBefore, certificate.fields.notAfter, now, `certificate ${i}`)
}

/**
 * Builds and checks the path from the top down, so that a forged link costs one parse and one
 * signature wherever it sits:
 * 1. The top certificate is parsed and its anchor found by name, key identifier and key type
 *    among the provisioned anchors; none means `ERR_X509_UNKNOWN_ANCHOR` before any signature.
 *    The anchor's constraints and validity, and the top certificate's, are checked next.
 * 2. The anchor's signature on the top certificate; then, for each certificate below, its parse,
 *    name chaining, key identifier, key type, its own constraints and validity, and only then its
 *    signature by the certificate above. The first failure ends the walk.
 * 3. Revocation, once the anchor is known.
 * Certificates below a failure are never parsed. `timeless.cacheable` is cleared when a time
 * check excluded an anchor candidate.
 */
function buildPath(
  certs: readonly Uint8Array[],
  digests: readonly string[],
  s: StoreState,
  now: number,
  timeless: { cacheable: boolean },
): CacheEntry {
  // A chain is never its own anchor, and an anchor never certifies itself as a device key.
  const digest = (i: number): string => digests[i]!
  if (s.byDigest.has(digest(0))) {
    throw fail('ERR_X509_SELF_SIGNED_LEAF', 'the leaf certificate is a trust anchor; it certifies no device key')
  }
  let supplied = certs
  let sentAnchor: Anchor | undefined
  if (certs.length > 1) {
    sentAnchor = s.byDigest.get(digest(certs.length - 1))
    if (sentAnchor !== undefined) supplied = certs.slice(0, -1)
  }
  const n = supplied.length
  const path = new Array<PathCertificate>(n)
  const parse = (i: number): PathCertificate => {
    const known = s.parsed.get(digest(i))
    if (known !== undefined) return (path[i] = known)
    const fields = withIndex(i, () => parseCertificateDer(supplied[i]!))
    const algorithm = withIndex(i, () => signatureAlgorithm(fields.signatureAlgorithm, 'certificate'))
    return (path[i] = { certificate: withIndex(i, () => describe(fields)), algorithm, digest: digest(i) })
  }

  // 1. The anchor, before any signature.
  const top = parse(n - 1)
  const topFields = top.certificate.fields
  if (sentAnchor !== undefined && !bytesEqual(topFields.issuer, sentAnchor.certificate.fields.subject)) {
    throw fail('ERR_X509_NAME_CHAINING', `issuer of certificate ${n - 1} is not the subject of the anchor sent last`)
  }
  const named = sentAnchor !== undefined ? [sentAnchor] : (s.bySubject.get(toHex(topFields.issuer)) ?? [])
  if (named.length === 0) {
    throw fail('ERR_X509_UNKNOWN_ANCHOR', `issuer of certificate ${n - 1} is not a provisioned anchor`)
  }
  const matching = named.filter(
    (a) => keyIdsAgree(top.certificate, a.certificate) && signerKind(top.algorithm) === a.certificate.keyKind,
  )
  if (matching.length === 0) {
    throw fail('ERR_X509_UNKNOWN_ANCHOR', `no anchor named by certificate ${n - 1} has its key identifier and key type`)
  }
  checkOwn(top, n - 1, now)
  const refusals: VerifierError[] = []
  const eligible = matching.filter((a) => {
    try {
      checkIssuer(a.certificate, n - 1, 'the anchor')
      checkWindow(a.certificate.fields.notBefore, a.certificate.fields.notAfter, now, 'the anchor')
      return true
    } catch (err) {
      if (!(err instanceof VerifierError)) throw err
      refusals.push(err)
      return false
    }
  })
  // An anchor passed over for its validity may be the one that verifies later: nothing is cached.
  if (refusals.some((e) => TIME_CODES.has(e.code))) timeless.cacheable = false
  if (eligible.length === 0) throw refusals.find((e) => TIME_CODES.has(e.code)) ?? refusals[0]!

  // 2. Signatures from the anchor down, each link checked before its signature.
  const anchor = eligible.find((a) => verifyLink(s, top, a.digest, () => a.key))
  if (anchor === undefined) {
    throw fail('ERR_X509_UNKNOWN_ANCHOR', `certificate ${n - 1} names an anchor but no anchor key verifies it`)
  }
  for (let i = n - 2; i >= 0; i--) {
    const child = parse(i)
    const issuer = path[i + 1]!
    checkLink(child, issuer.certificate, i)
    checkOwn(child, i, now)
    const issuerKey = () => withIndex(i + 1, () => importSpki(issuer.certificate.fields.spki))
    if (!verifyLink(s, child, issuer.digest, issuerKey)) {
      throw fail('ERR_X509_SIGNATURE_INVALID', `certificate ${i} is not signed by certificate ${i + 1}`)
    }
  }
  const leaf = path[0]!.certificate
  const leafKey = withIndex(0, () => importSpki(leaf.fields.spki))
  const pathNotBefore = Math.max(...path.map((p) => p.certificate.fields.notBefore))
  const pathNotAfter = Math.min(...path.map((p) => p.certificate.fields.notAfter))

  // 3. Revocation, with the anchor now known.
  const issuers: CrlIssuer[] = [
    ...path.slice(1).map((p) => ({ certificate: p.certificate, key: () => importSpki(p.certificate.fields.spki) })),
    { certificate: anchor.certificate, key: () => anchor.key },
  ]
  const window: PathWindow = {
    notBefore: Math.max(pathNotBefore, anchor.certificate.fields.notBefore),
    notAfter: Math.min(pathNotAfter, anchor.certificate.fields.notAfter),
    revocation: {
      anchor,
      serials: path.map((p) => p.certificate.fields.serialHex),
      crlSerials: crlCoverage(s, anchor, path, issuers),
    },
  }
  checkCurrent(window, now)

  const ueid = readUeid(leaf.fields)
  const result: ValidatedChain = Object.freeze({
    leafKey,
    leaf: Object.freeze({
      subject: renderName(leaf.fields.subject),
      serialHex: leaf.fields.serialHex,
      notBefore: leaf.fields.notBefore,
      notAfter: leaf.fields.notAfter,
      ...ueid,
    }),
    anchorSubject: anchor.subject,
    anchorSha256: sha256(anchor.certificate.fields.der),
    path: Object.freeze([...supplied]),
  })
  return Object.freeze({ ...window, result })
}

function withIndex<T>(index: number, step: () => T): T {
  try {
    return step()
  } catch (err) {
    if (err instanceof VerifierError) err.message = `certificate ${index}: ${err.message}`
    throw err
  }
}

/** An issuer in the path, its key imported on demand. */
interface CrlIssuer {
  readonly certificate: Certificate
  readonly key: () => PublicKey
}

/**
 * Which certificates of the path the anchor's CRL speaks for: those whose issuer is the CRL
 * issuer. The CRL must then verify with that issuer's key, which must allow cRLSign.
 */
function crlCoverage(
  s: StoreState,
  anchor: Anchor,
  path: readonly PathCertificate[],
  issuers: readonly CrlIssuer[],
): string[] {
  const crl = anchor.crl
  if (crl === undefined) return []
  const covered: string[] = []
  for (const [i, { certificate }] of path.entries()) {
    const issuer = issuers[i]!
    if (!bytesEqual(crl.fields.issuer, issuer.certificate.fields.subject)) continue
    if (issuer.certificate.keyUsage !== undefined && (issuer.certificate.keyUsage & KEY_USAGE.cRLSign) === 0) {
      throw fail('ERR_X509_CRL_INVALID', 'the CRL issuer keyUsage lacks cRLSign (RFC 5280 §6.3.3 (f))')
    }
    const key = issuer.key()
    let ok = crl.verified.get(key.spkiSha256)
    if (ok === undefined) {
      s.counters.signatureVerifications++
      ok = verifySigned(crl.algorithm, key, crl.fields.tbs, crl.fields.signature)
      if (crl.verified.size >= CRL_VERDICT_LIMIT) crl.verified.clear()
      crl.verified.set(key.spkiSha256, ok)
    }
    if (!ok) throw fail('ERR_X509_CRL_INVALID', 'the CRL signature does not verify with its issuer key')
    covered.push(certificate.fields.serialHex)
  }
  return covered
}

function readUeid(fields: CertificateFields): Pick<ValidatedChain['leaf'], 'ueid' | 'ueidSource'> {
  const fits = (bytes: Uint8Array) => bytes.length >= UEID_MIN_BYTES && bytes.length <= UEID_MAX_BYTES
  const san = fields.extensions.find((e) => e.oid === OID.subjectAltName)
  const fromSan = san === undefined ? [] : hardwareModuleSerials(san.value).filter(fits)
  if (fromSan.length > 0) return { ueid: single(fromSan), ueidSource: 'hardwareModuleName' }
  let values: string[]
  try {
    values = new Name(fields.subject).getField(OID.subjectSerialNumber)
  } catch (cause) {
    throw new VerifierError('ERR_X509_MALFORMED', 'subject Name cannot be decoded', { cause })
  }
  const fromSubject = values
    .filter((v) => v.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(v))
    .map((v) => fromHex(v))
    .filter(fits)
  if (fromSubject.length > 0) return { ueid: single(fromSubject), ueidSource: 'subjectSerialNumber' }
  return {}
}

/** One identity, or a refusal: a certificate naming two devices identifies none. */
function single(candidates: readonly Uint8Array[]): Uint8Array {
  const first = candidates[0]!
  if (candidates.some((c) => !bytesEqual(c, first))) {
    throw fail('ERR_X509_MALFORMED', 'leaf certificate carries more than one device identity')
  }
  return first
}
