/**
 * X.509 certification path validation for certificates that arrive in Evidence (COSE `x5chain`,
 * RFC 9360 §2; JWS `x5c`, RFC 7515 §4.1.6), against trust anchors the operator provisioned.
 *
 * RFC 5280 §6 cut down to what a verifier of device key attestation needs, and failing closed:
 * - No anchor means no trust. A chain is never its own anchor, and an anchor is never a device key.
 * - The path is the chain as supplied (leaf first; the anchor may be omitted or sent last). Names
 *   chain by byte equality of the DER `Name`, stricter than the §7.1 comparison rules: a CA that
 *   re-encodes its own name breaks the chain rather than matching loosely.
 * - Signatures are checked with node:crypto over the exact `tbs` bytes the strict DER reader
 *   (`x509-der.ts`) took every other field from, so no second parser decides anything.
 *   @peculiar/x509 only decodes basicConstraints and keyUsage values, and names for display and
 *   for the subject serialNumber attribute.
 * - Signature algorithms: ECDSA and RSASSA-PKCS1-v1_5 with SHA-256/384/512, Ed25519, Ed448.
 *   SHA-1, MD5 and RSASSA-PSS are refused. RSA keys shorter than 2048 bits are refused.
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
 * Validated paths are cached per store, keyed by the SHA-256 of the chain bytes; a hit re-checks
 * only the validity window and revocation against `nowSeconds`. Failures are never cached.
 */
import 'reflect-metadata'
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, Name } from '@peculiar/x509'
import { constants, createHash, verify as nodeVerify } from 'node:crypto'
import type { ErrorCode } from '../errors/codes.js'
import { VerifierError } from '../errors/errors.js'
import { bytesEqual, fromHex, toHex } from '../util/bytes.js'
import { importSpki, type PublicKey } from './keys.js'
import {
  hardwareModuleSerials,
  normaliseSerialHex,
  parseCertificateDer,
  parseCrlDer,
  type CertificateFields,
  type CrlFields,
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
   * How many validated chains to remember; the oldest is dropped first. 0 disables the cache.
   * @defaultValue 10000
   */
  readonly cacheLimit?: number
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
/** Larger than any attestation certificate in the field; bounds parsing and hashing. */
export const MAX_CERTIFICATE_BYTES = 16_384
const DEFAULT_CACHE_LIMIT = 10_000
const MIN_RSA_BITS = 2048
const UEID_MIN_BYTES = 7
const UEID_MAX_BYTES = 33

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  subjectSerialNumber: '2.5.4.5',
} as const

const PROCESSED_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.subjectAltName,
])

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

/** A parsed certificate with the facts path validation reads from its extensions. */
interface Certificate {
  readonly fields: CertificateFields
  readonly key: PublicKey
  readonly ca: boolean
  readonly pathLength: number | undefined
  /** keyUsage flags, undefined when the extension is absent. */
  readonly keyUsage: number | undefined
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

interface StoreState {
  readonly anchors: readonly Anchor[]
  readonly byDigest: ReadonlyMap<string, Anchor>
  readonly bySubject: ReadonlyMap<string, readonly Anchor[]>
  readonly cache: Map<string, CacheEntry>
  readonly cacheLimit: number
}

// Keeps the state out of reach of callers, and makes a look-alike object fail: only a store this
// module built can be validated against.
const STATES = new WeakMap<X509TrustStore, StoreState>()

function fail(code: ErrorCode, message: string): VerifierError {
  return new VerifierError(code, message)
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/**
 * The trust anchors for certificates in Evidence, parsed and checked once. Immutable; each store
 * keeps its own cache of validated paths, so stores never share results.
 */
export class X509TrustStore {
  /** The number of anchors. */
  readonly size: number

  /**
   * @throws VerifierError `ERR_CONFIG_INVALID` for an anchor or CRL that cannot be used: not DER,
   * an unsupported key, an unprocessed critical extension, a malformed serial, a CRL without
   * nextUpdate or with an algorithm that is not allowed, or the same anchor twice.
   */
  constructor(anchors: readonly X509Anchor[], options: X509TrustStoreOptions = {}) {
    if (!Array.isArray(anchors)) throw new TypeError('anchors must be an array')
    const cacheLimit = options.cacheLimit ?? DEFAULT_CACHE_LIMIT
    if (!Number.isSafeInteger(cacheLimit) || cacheLimit < 0) throw new TypeError('cacheLimit must be an integer >= 0')
    const parsed: Anchor[] = []
    const byDigest = new Map<string, Anchor>()
    const bySubject = new Map<string, Anchor[]>()
    for (const [i, input] of anchors.entries()) {
      let anchor: Anchor
      let digest: string
      try {
        anchor = loadAnchor(input)
        digest = sha256(anchor.certificate.fields.der)
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
    STATES.set(this, { anchors: parsed, byDigest, bySubject, cache: new Map(), cacheLimit })
    Object.freeze(this)
  }

  /** Forgets every validated path (benchmarks, tests, or after a clock jump). */
  clearCache(): void {
    state(this).cache.clear()
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
  return { certificate, subject: renderName(fields.subject), revokedSerials, crl }
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

/** Reads the extensions path validation acts on, and imports the key. */
function describe(fields: CertificateFields): Certificate {
  let ca = false
  let pathLength: number | undefined
  let keyUsage: number | undefined
  for (const ext of fields.extensions) {
    if (ext.critical && !PROCESSED_CRITICAL_EXTENSIONS.has(ext.oid)) {
      throw fail('ERR_X509_EXTENSION_UNSUPPORTED', `critical extension ${ext.oid} is not processed (RFC 5280 §4.2)`)
    }
    try {
      if (ext.oid === OID.basicConstraints) {
        const bc = new BasicConstraintsExtension(ext.der)
        ca = bc.ca === true
        pathLength = bc.pathLength
      } else if (ext.oid === OID.keyUsage) {
        keyUsage = new KeyUsagesExtension(ext.der).usages
      }
    } catch (cause) {
      throw new VerifierError('ERR_X509_MALFORMED', `extension ${ext.oid} cannot be decoded`, { cause })
    }
  }
  if (pathLength !== undefined && !(Number.isSafeInteger(pathLength) && pathLength >= 0)) {
    throw fail('ERR_X509_MALFORMED', 'pathLenConstraint is not a small non-negative integer')
  }
  const key = importSpki(fields.spki)
  if (key.kty === 'RSA' && (key.modulusBits ?? 0) < MIN_RSA_BITS) {
    throw fail('ERR_KEY_UNSUPPORTED', `RSA key of ${key.modulusBits} bits; at least ${MIN_RSA_BITS} are required`)
  }
  return { fields, key, ca, pathLength, keyUsage }
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

/** Copies the chain out of the caller's buffers and enforces its shape. */
function copyChain(chain: readonly Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(chain)) throw fail('ERR_X509_MALFORMED', 'certificate chain is not an array')
  if (chain.length === 0) throw fail('ERR_X509_MALFORMED', 'certificate chain is empty')
  if (chain.length > MAX_CHAIN_LENGTH) {
    throw fail('ERR_X509_MALFORMED', `chain of ${chain.length} certificates; at most ${MAX_CHAIN_LENGTH} are accepted`)
  }
  return chain.map((der: unknown, i) => {
    if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_CERTIFICATE_BYTES) {
      throw fail('ERR_X509_MALFORMED', `certificate ${i} is not a byte string of 1..${MAX_CERTIFICATE_BYTES} bytes`)
    }
    return Uint8Array.from(der)
  })
}

function cacheKey(certs: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  const length = Buffer.alloc(4)
  // Length-prefixed so that no other split of the same bytes into certificates shares the key.
  for (const der of certs) {
    length.writeUInt32BE(der.length)
    hash.update(length).update(der)
  }
  return hash.digest('base64')
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
  const key = cacheKey(certs)
  const hit = s.cache.get(key)
  if (hit !== undefined) {
    checkCurrent(hit, nowSeconds)
    return hit.result
  }
  const entry = buildPath(certs, s, nowSeconds)
  if (s.cacheLimit > 0) {
    if (s.cache.size >= s.cacheLimit) s.cache.delete(s.cache.keys().next().value as string)
    s.cache.set(key, entry)
  }
  return entry.result
}

/** The checks that depend on the clock: the validity window, then revocation. */
function checkCurrent(entry: PathWindow, now: number): void {
  if (now < entry.notBefore) {
    throw fail('ERR_X509_NOT_YET_VALID', `path is valid from ${entry.notBefore}, now is ${now}`)
  }
  if (now > entry.notAfter) throw fail('ERR_X509_EXPIRED', `path expired at ${entry.notAfter}, now is ${now}`)
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

function buildPath(certs: readonly Uint8Array[], s: StoreState, now: number): CacheEntry {
  // A chain is never its own anchor, and an anchor never certifies itself as a device key.
  if (s.byDigest.has(sha256(certs[0]!))) {
    throw fail('ERR_X509_SELF_SIGNED_LEAF', 'the leaf certificate is a trust anchor; it certifies no device key')
  }
  let supplied = certs
  let sentAnchor: Anchor | undefined
  if (certs.length > 1) {
    sentAnchor = s.byDigest.get(sha256(certs[certs.length - 1]!))
    if (sentAnchor !== undefined) supplied = certs.slice(0, -1)
  }

  const path = supplied.map((der, i) => {
    const fields = withIndex(i, () => parseCertificateDer(der))
    const algorithm = withIndex(i, () => signatureAlgorithm(fields.signatureAlgorithm, 'certificate'))
    return { certificate: withIndex(i, () => describe(fields)), algorithm }
  })
  const n = path.length
  const leaf = path[0]!.certificate
  const last = path[n - 1]!

  for (let i = 0; i + 1 < n; i++) {
    if (!bytesEqual(path[i]!.certificate.fields.issuer, path[i + 1]!.certificate.fields.subject)) {
      throw fail('ERR_X509_NAME_CHAINING', `issuer of certificate ${i} is not the subject of certificate ${i + 1}`)
    }
  }
  const lastFields = last.certificate.fields
  if (sentAnchor !== undefined && !bytesEqual(lastFields.issuer, sentAnchor.certificate.fields.subject)) {
    throw fail('ERR_X509_NAME_CHAINING', `issuer of certificate ${n - 1} is not the subject of the anchor sent last`)
  }
  const candidates = s.bySubject.get(toHex(lastFields.issuer)) ?? []
  if (candidates.length === 0) {
    throw fail('ERR_X509_UNKNOWN_ANCHOR', `issuer of certificate ${n - 1} is not a provisioned anchor`)
  }

  for (let i = 0; i + 1 < n; i++) {
    const { certificate, algorithm } = path[i]!
    const f = certificate.fields
    if (!verifySigned(algorithm, path[i + 1]!.certificate.key, f.tbs, f.signature)) {
      throw fail('ERR_X509_SIGNATURE_INVALID', `certificate ${i} is not signed by certificate ${i + 1}`)
    }
  }
  const anchor = candidates.find((a) =>
    verifySigned(last.algorithm, a.certificate.key, lastFields.tbs, lastFields.signature),
  )
  if (anchor === undefined) {
    throw fail('ERR_X509_UNKNOWN_ANCHOR', `certificate ${n - 1} names an anchor but no anchor key verifies it`)
  }

  // issuers[k] signed path[k]; k intermediates sit below it in the path.
  const issuers = [...path.slice(1).map((p) => p.certificate), anchor.certificate]
  for (const [k, issuer] of issuers.entries()) {
    const which = k === n - 1 ? 'the anchor' : `certificate ${k + 1}`
    if (!issuer.ca) throw fail('ERR_X509_NOT_CA', `${which} issues certificates but has no basicConstraints cA`)
    if (issuer.keyUsage !== undefined && (issuer.keyUsage & KeyUsageFlags.keyCertSign) === 0) {
      throw fail('ERR_X509_KEY_USAGE', `${which} issues certificates but its keyUsage lacks keyCertSign`)
    }
    if (issuer.pathLength !== undefined && k > issuer.pathLength) {
      throw fail('ERR_X509_PATH_LENGTH', `${which} allows ${issuer.pathLength} intermediates below it, not ${k}`)
    }
  }
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & KeyUsageFlags.digitalSignature) === 0) {
    throw fail('ERR_X509_KEY_USAGE', 'leaf keyUsage lacks digitalSignature')
  }

  const everyone = [...path.map((p) => p.certificate.fields), anchor.certificate.fields]
  const window: PathWindow = {
    notBefore: Math.max(...everyone.map((f) => f.notBefore)),
    notAfter: Math.min(...everyone.map((f) => f.notAfter)),
    revocation: {
      anchor,
      serials: path.map((p) => p.certificate.fields.serialHex),
      crlSerials: crlCoverage(anchor, path.map((p) => p.certificate), issuers),
    },
  }
  checkCurrent(window, now)

  const ueid = readUeid(leaf.fields)
  const result: ValidatedChain = Object.freeze({
    leafKey: leaf.key,
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

/**
 * Which certificates of the path the anchor's CRL speaks for: those whose issuer is the CRL
 * issuer. The CRL must then verify with that issuer's key, which must allow cRLSign.
 */
function crlCoverage(anchor: Anchor, path: readonly Certificate[], issuers: readonly Certificate[]): string[] {
  const crl = anchor.crl
  if (crl === undefined) return []
  const covered: string[] = []
  for (const [i, certificate] of path.entries()) {
    const issuer = issuers[i]!
    if (!bytesEqual(crl.fields.issuer, issuer.fields.subject)) continue
    if (issuer.keyUsage !== undefined && (issuer.keyUsage & KeyUsageFlags.cRLSign) === 0) {
      throw fail('ERR_X509_CRL_INVALID', 'the CRL issuer keyUsage lacks cRLSign (RFC 5280 §6.3.3 (f))')
    }
    let ok = crl.verified.get(issuer.key.spkiSha256)
    if (ok === undefined) {
      ok = verifySigned(crl.algorithm, issuer.key, crl.fields.tbs, crl.fields.signature)
      if (crl.verified.size >= 64) crl.verified.clear()
      crl.verified.set(issuer.key.spkiSha256, ok)
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
