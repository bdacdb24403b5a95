/**
 * Key import for verification. Every key becomes a node:crypto `KeyObject` once, at import, and is
 * cached: importing a P-256 key costs more than verifying with it (see docs/architecture notes),
 * so the hot path only ever sees ready `PublicKey` values.
 */
import { createHash, createPublicKey, createSecretKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto'
import { VerifierError } from '../errors/errors.js'

export type KeyCurve = 'P-256' | 'P-384' | 'P-521' | 'Ed25519' | 'Ed448'
export type KeyType = 'EC' | 'OKP' | 'RSA'

/** A public verification key, already imported into OpenSSL. */
export interface PublicKey {
  readonly kind: 'public'
  readonly keyObject: KeyObject
  readonly kty: KeyType
  /** Curve for EC and OKP keys. */
  readonly crv: KeyCurve | undefined
  /** Modulus size for RSA keys. */
  readonly modulusBits: number | undefined
  /**
   * The algorithm the key is bound to by its source (JWK `alg`, COSE_Key label 3), as a JOSE
   * name or COSE id. Verification rejects any other algorithm. Undefined when the source said none.
   */
  readonly alg: string | number | undefined
  /** Key id from the source, if any. A lookup hint, never a trust decision. */
  readonly kid: string | undefined
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex: a stable identity for caching and logs. */
  readonly spkiSha256: string
}

/** A symmetric key for MAC verification (COSE_Mac0). */
export interface SecretKey {
  readonly kind: 'secret'
  readonly keyObject: KeyObject
  readonly length: number
  readonly alg: string | number | undefined
  readonly kid: string | undefined
  /**
   * The operator knowingly registered a key shorter than the HMAC hash (RFC 7518 §3.2 and RFC 9053
   * §3.1 forbid it), e.g. to check a published example. Off unless asked for, per key.
   */
  readonly shortKeyAccepted: boolean
}

export interface KeyBinding {
  readonly alg?: string | number | undefined
  readonly kid?: string | undefined
}

/**
 * RSA keys are accepted from 2048 to 4096 bits with the public exponent 65537, whatever their
 * source (JWK, COSE_Key, SPKI, a pinned or chained certificate). Below 2048 bits a key is weak;
 * above 4096 bits, or with a larger exponent, one verification costs what an attacker chooses
 * (a 16384-bit modulus or a 4096-bit exponent makes a verification 20 to 100 times dearer), and
 * e = 3 invites the padding-check mistakes of the past. Nothing real needs either.
 */
export const RSA_MIN_BITS = 2048
export const RSA_MAX_BITS = 4096
export const RSA_EXPONENT = 65_537

const CACHE_LIMIT = 10_000
const cache = new Map<string, PublicKey>()

function remember(cacheKey: string, make: () => PublicKey): PublicKey {
  const hit = cache.get(cacheKey)
  if (hit !== undefined) return hit
  const key = make()
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
  cache.set(cacheKey, key)
  return key
}

const EC_CURVES: Readonly<Record<string, KeyCurve>> = {
  'prime256v1': 'P-256',
  'secp384r1': 'P-384',
  'secp521r1': 'P-521',
}

function describe(keyObject: KeyObject, binding: KeyBinding): PublicKey {
  if (keyObject.type !== 'public') throw new VerifierError('ERR_KEY_INVALID', 'not a public key')
  const details = keyObject.asymmetricKeyDetails ?? {}
  let kty: KeyType
  let crv: KeyCurve | undefined
  let modulusBits: number | undefined
  switch (keyObject.asymmetricKeyType) {
    case 'ec':
      kty = 'EC'
      crv = EC_CURVES[details.namedCurve ?? '']
      if (crv === undefined) throw new VerifierError('ERR_KEY_UNSUPPORTED', `EC curve ${details.namedCurve}`)
      break
    case 'ed25519':
      kty = 'OKP'
      crv = 'Ed25519'
      break
    case 'ed448':
      kty = 'OKP'
      crv = 'Ed448'
      break
    case 'rsa':
    case 'rsa-pss':
      kty = 'RSA'
      modulusBits = details.modulusLength
      checkRsaBounds(modulusBits, details.publicExponent)
      break
    default:
      throw new VerifierError('ERR_KEY_UNSUPPORTED', `key type ${keyObject.asymmetricKeyType}`)
  }
  const spki = keyObject.export({ type: 'spki', format: 'der' })
  return Object.freeze({
    kind: 'public',
    keyObject,
    kty,
    crv,
    modulusBits,
    alg: binding.alg,
    kid: binding.kid,
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
  })
}

/** @throws VerifierError `ERR_KEY_UNSUPPORTED` for an RSA key outside 2048..4096 bits or with e ≠ 65537. */
export function checkRsaBounds(modulusBits: number | undefined, publicExponent: bigint | number | undefined): void {
  if (modulusBits === undefined || modulusBits < RSA_MIN_BITS || modulusBits > RSA_MAX_BITS) {
    throw new VerifierError(
      'ERR_KEY_UNSUPPORTED',
      `RSA key of ${String(modulusBits)} bits; ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits are accepted`,
    )
  }
  const exponentOk =
    typeof publicExponent === 'bigint' ? publicExponent === BigInt(RSA_EXPONENT) : publicExponent === RSA_EXPONENT
  if (!exponentOk) {
    throw new VerifierError('ERR_KEY_UNSUPPORTED', `RSA public exponent ${String(publicExponent)}; only ${RSA_EXPONENT} is accepted`)
  }
}

function bindingKey(binding: KeyBinding): string {
  // typeof keeps the COSE id -7 and the text "-7" apart.
  return `${typeof binding.alg}:${String(binding.alg ?? '')}|${binding.kid ?? ''}`
}

/** Imports a public JWK (EC, OKP or RSA). Private members are refused rather than ignored. */
export function importJwk(jwk: JsonWebKey, binding: KeyBinding = {}): PublicKey {
  if (typeof jwk !== 'object' || jwk === null) throw new VerifierError('ERR_KEY_INVALID', 'JWK is not an object')
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) {
    throw new VerifierError('ERR_KEY_INVALID', 'JWK carries private or symmetric key material')
  }
  const publicMembers: JsonWebKey = {}
  for (const m of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) if (jwk[m] !== undefined) publicMembers[m] = jwk[m]
  const resolved: KeyBinding = {
    alg: binding.alg ?? (typeof jwk.alg === 'string' ? jwk.alg : undefined),
    kid: binding.kid ?? (typeof jwk.kid === 'string' ? jwk.kid : undefined),
  }
  return remember(`jwk:${JSON.stringify(publicMembers)}:${bindingKey(resolved)}`, () => {
    let keyObject: KeyObject
    try {
      keyObject = createPublicKey({ key: publicMembers, format: 'jwk' })
    } catch (cause) {
      throw new VerifierError('ERR_KEY_INVALID', 'JWK cannot be imported', { cause })
    }
    return describe(keyObject, resolved)
  })
}

/** Imports an SPKI public key, PEM (`-----BEGIN PUBLIC KEY-----`) or DER. */
export function importSpki(spki: string | Uint8Array, binding: KeyBinding = {}): PublicKey {
  if (typeof spki === 'string' && /PRIVATE KEY-----/.test(spki)) {
    throw new VerifierError('ERR_KEY_INVALID', 'a private key was given where a public key is expected')
  }
  const id = typeof spki === 'string' ? spki : Buffer.from(spki).toString('base64')
  return remember(`spki:${id}:${bindingKey(binding)}`, () => {
    let keyObject: KeyObject
    try {
      keyObject =
        typeof spki === 'string'
          ? createPublicKey({ key: spki, format: 'pem' })
          : createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
    } catch (cause) {
      throw new VerifierError('ERR_KEY_INVALID', 'SPKI public key cannot be imported', { cause })
    }
    return describe(keyObject, binding)
  })
}

/**
 * Takes the public key out of an X.509 certificate (PEM or DER) that the operator configured as a
 * known key. This does not validate any chain: that is `crypto/x509.ts`, for certificates that
 * arrive in Evidence.
 */
export function importCertificateKey(cert: string | Uint8Array, binding: KeyBinding = {}): PublicKey {
  const id = typeof cert === 'string' ? cert : Buffer.from(cert).toString('base64')
  return remember(`x509:${id}:${bindingKey(binding)}`, () => {
    let keyObject: KeyObject
    try {
      keyObject = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert)).publicKey
    } catch (cause) {
      throw new VerifierError('ERR_KEY_INVALID', 'X.509 certificate cannot be parsed', { cause })
    }
    return describe(keyObject, binding)
  })
}

/** A certificate the operator pinned: its key and validity window (seconds since the epoch). */
export interface PinnedCertificate {
  readonly key: PublicKey
  readonly notBefore: number
  readonly notAfter: number
  readonly der: Uint8Array
}

/** Reads a pinned certificate (DER): its public key and validity. No chain is validated. */
export function importPinnedCertificate(der: Uint8Array): PinnedCertificate {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(Buffer.from(der))
  } catch (cause) {
    throw new VerifierError('ERR_KEY_INVALID', 'X.509 certificate cannot be parsed', { cause })
  }
  return Object.freeze({
    key: importCertificateKey(der),
    notBefore: Math.floor(Date.parse(cert.validFrom) / 1000),
    notAfter: Math.floor(Date.parse(cert.validTo) / 1000),
    der: new Uint8Array(der),
  })
}

/** Imports a symmetric key for MAC verification. */
export function importSecret(
  bytes: Uint8Array,
  binding: KeyBinding & { readonly acceptShortKey?: boolean } = {},
): SecretKey {
  if (bytes.length === 0) throw new VerifierError('ERR_KEY_INVALID', 'empty symmetric key')
  return Object.freeze({
    kind: 'secret',
    keyObject: createSecretKey(Buffer.from(bytes)),
    length: bytes.length,
    alg: binding.alg,
    kid: binding.kid,
    shortKeyAccepted: binding.acceptShortKey ?? false,
  })
}
