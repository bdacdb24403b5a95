/**
 * Signature and MAC primitives over node:crypto (OpenSSL). Callers pass fully resolved parameters;
 * nothing here chooses an algorithm, and every call states hash, encoding and padding explicitly.
 *
 * OpenSSL accepts both high-S and low-S ECDSA signatures, as COSE and JOSE require: neither
 * RFC 9053 nor RFC 7518 asks for low-S normalisation, and TEE signers do not normalise.
 */
import { constants, createHmac, verify as nodeVerify } from 'node:crypto'
import { constantTimeEqual } from './compare.js'
import type { PublicKey, SecretKey } from './keys.js'

export type HashName = 'sha256' | 'sha384' | 'sha512'
export type SignatureScheme = 'ecdsa' | 'eddsa' | 'rsa-pss' | 'rsa-pkcs1'

export interface SignatureParams {
  readonly scheme: SignatureScheme
  /** Digest for ECDSA and RSA; ignored for EdDSA (PureEdDSA signs the message itself). */
  readonly hash: HashName
}

/**
 * Verifies `signature` over `data`. ECDSA signatures are raw r||s (IEEE P1363), as in COSE and
 * JWS; RSASSA-PSS uses MGF1 with the same hash and a salt as long as the hash (RFC 8230).
 * Returns false for a bad signature; the caller decides the error.
 */
export function verifySignature(
  params: SignatureParams,
  key: PublicKey,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    switch (params.scheme) {
      case 'ecdsa':
        return nodeVerify(params.hash, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, signature)
      case 'eddsa':
        return nodeVerify(null, data, key.keyObject, signature)
      case 'rsa-pss':
        return nodeVerify(
          params.hash,
          data,
          { key: key.keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[params.hash] },
          signature,
        )
      case 'rsa-pkcs1':
        return nodeVerify(params.hash, data, { key: key.keyObject, padding: constants.RSA_PKCS1_PADDING }, signature)
    }
  } catch {
    // OpenSSL throws on some malformed inputs (for example an RSA signature longer than the modulus).
    return false
  }
}

export const HASH_LENGTH: Readonly<Record<HashName, number>> = { sha256: 32, sha384: 48, sha512: 64 }

/** Computes HMAC(`hash`) over `data`, truncates it to `tagLength` bytes and compares in constant time. */
export function verifyHmac(
  hash: HashName,
  tagLength: number,
  key: SecretKey,
  data: Uint8Array,
  tag: Uint8Array,
): boolean {
  const mac = createHmac(hash, key.keyObject).update(data).digest().subarray(0, tagLength)
  return constantTimeEqual(mac, tag)
}
