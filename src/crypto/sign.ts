/**
 * ES256 signing over node:crypto (OpenSSL): the only place Assay creates signatures. Attestation
 * results are signed on the hot path, so keys are imported once into `KeyObject`s and every call
 * states hash and encoding explicitly (raw r||s, as JOSE and COSE require; RFC 7518 §3.4, RFC 9053 §2.1).
 *
 * Only P-256 keys are accepted: ES256 is what every EAR consumer implements (specs.md §5.3).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { VerifierError } from '../errors/errors.js'

/** The public members of a P-256 JWK. A type alias, so it is assignable to node's `JsonWebKey`. */
export type P256PublicJwk = {
  readonly kty: 'EC'
  readonly crv: 'P-256'
  readonly x: string
  readonly y: string
}

/** A P-256 private key ready to sign, with its public JWK and RFC 7638 thumbprint. */
export interface Es256SigningKey {
  readonly privateKey: KeyObject
  readonly publicJwk: P256PublicJwk
  /** RFC 7638 JWK thumbprint (SHA-256, unpadded base64url) of `publicJwk`. */
  readonly thumbprint: string
}

/** RFC 7638 thumbprint of a P-256 public key: SHA-256 over the required members in lexical order. */
export function jwkThumbprint(jwk: P256PublicJwk): string {
  const canonical = `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
  return createHash('sha256').update(canonical).digest('base64url')
}

function describe(privateKey: KeyObject): Es256SigningKey {
  if (privateKey.type !== 'private') throw new VerifierError('ERR_KEY_INVALID', 'not a private key')
  const curve = privateKey.asymmetricKeyDetails?.namedCurve
  if (privateKey.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    const type = privateKey.asymmetricKeyType
    const what = type === 'ec' ? `EC curve ${curve}` : `${type} key`
    throw new VerifierError('ERR_KEY_UNSUPPORTED', `${what}: ES256 signing needs a P-256 key`)
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  const publicJwk: P256PublicJwk = Object.freeze({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! })
  return Object.freeze({ privateKey, publicJwk, thumbprint: jwkThumbprint(publicJwk) })
}

/** Generates a fresh P-256 signing key. */
export function generateEs256Key(): Es256SigningKey {
  return describe(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
}

/**
 * Imports a P-256 private key from PEM (PKCS #8 `PRIVATE KEY` or SEC 1 `EC PRIVATE KEY`, unencrypted)
 * or from a private JWK. Throws `VerifierError`: `ERR_KEY_INVALID` when it cannot be parsed or is not a
 * private key, `ERR_KEY_UNSUPPORTED` for any other key type or curve.
 */
export function importEs256PrivateKey(source: string | JsonWebKey): Es256SigningKey {
  let privateKey: KeyObject
  try {
    privateKey =
      typeof source === 'string'
        ? createPrivateKey({ key: source, format: 'pem' })
        : createPrivateKey({ key: source, format: 'jwk' })
  } catch (cause) {
    const what = typeof source === 'string' ? 'PEM private key' : 'private JWK'
    throw new VerifierError('ERR_KEY_INVALID', `${what} cannot be imported`, { cause })
  }
  return describe(privateKey)
}

/** The private JWK (`kty`, `crv`, `x`, `y`, `d`) of a signing key, for persisting it. */
export function exportPrivateJwk(key: Es256SigningKey): JsonWebKey {
  const { kty, crv, x, y, d } = key.privateKey.export({ format: 'jwk' })
  return { kty, crv, x, y, d }
}

/** ES256 signature over `data`: SHA-256, ECDSA P-256, raw r||s (64 bytes). */
export function signEs256(key: Es256SigningKey, data: Uint8Array): Buffer {
  return nodeSign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
}

/** Signature algorithms a test attester (`assay attest`) signs Evidence with. */
export type EvidenceSigningAlg = 'ES256' | 'ES384' | 'EdDSA'

/**
 * Signature over `data` as COSE and JOSE carry it: ES256 and ES384 are ECDSA over SHA-256 / SHA-384
 * with raw r||s (RFC 9053 §2.1, RFC 7518 §3.4), EdDSA is Ed25519 over the message itself (RFC 8032).
 * Only `assay attest` uses it: Assay itself never signs Evidence.
 */
export function signEvidence(alg: EvidenceSigningAlg, privateKey: KeyObject, data: Uint8Array): Buffer {
  switch (alg) {
    case 'ES256':
      return nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    case 'ES384':
      return nodeSign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    case 'EdDSA':
      return nodeSign(null, data, privateKey)
  }
}
