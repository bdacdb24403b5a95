/**
 * COSE algorithm table (IANA "COSE Algorithms"; RFC 9053, RFC 8230, RFC 8812, RFC 9864).
 *
 * One row per algorithm. Every check below this module receives a resolved row, so nothing else
 * enumerates algorithms. An id that is not in the table is unknown and rejected.
 */
import type { KeyCurve, KeyType } from '../crypto/keys.js'
import type { HashName, SignatureScheme } from '../crypto/verify.js'

export interface SignatureAlgorithm {
  readonly kind: 'signature'
  readonly id: number
  readonly name: string
  readonly scheme: SignatureScheme
  readonly hash: HashName
  readonly kty: KeyType
  /**
   * Curves the key may be on. For the polymorphic ECDSA ids (ES256/384/512) RFC 9053 only
   * recommends one pairing, so this lists that one curve and `polymorphic` says the pairing is a
   * policy; the fully-specified ids (RFC 9864) allow exactly their curve.
   */
  readonly curves: readonly KeyCurve[]
  readonly polymorphic: boolean
  /** JOSE `alg` names that denote this algorithm, for checking a key's own `alg`. */
  readonly jose: readonly string[]
}

export interface MacAlgorithm {
  readonly kind: 'mac'
  readonly id: number
  readonly name: string
  readonly hash: HashName
  /** Tag length in bytes after truncation. */
  readonly tagLength: number
  /** Minimum key length in bytes (the hash output, RFC 7518 §3.2). */
  readonly minKeyLength: number
  readonly jose: readonly string[]
}

export type CoseAlgorithm = SignatureAlgorithm | MacAlgorithm

const sig = (
  id: number,
  name: string,
  scheme: SignatureScheme,
  hash: HashName,
  kty: KeyType,
  curves: readonly KeyCurve[],
  polymorphic: boolean,
  jose: readonly string[],
): SignatureAlgorithm => Object.freeze({ kind: 'signature', id, name, scheme, hash, kty, curves, polymorphic, jose })

const mac = (id: number, name: string, hash: HashName, tagLength: number, minKeyLength: number, jose: string[]) =>
  Object.freeze({ kind: 'mac', id, name, hash, tagLength, minKeyLength, jose }) satisfies MacAlgorithm

export const ALGORITHMS: ReadonlyMap<number, CoseAlgorithm> = new Map<number, CoseAlgorithm>(
  [
    sig(-7, 'ES256', 'ecdsa', 'sha256', 'EC', ['P-256'], true, ['ES256']),
    sig(-35, 'ES384', 'ecdsa', 'sha384', 'EC', ['P-384'], true, ['ES384']),
    sig(-36, 'ES512', 'ecdsa', 'sha512', 'EC', ['P-521'], true, ['ES512']),
    sig(-9, 'ESP256', 'ecdsa', 'sha256', 'EC', ['P-256'], false, ['ES256']),
    sig(-51, 'ESP384', 'ecdsa', 'sha384', 'EC', ['P-384'], false, ['ES384']),
    sig(-52, 'ESP512', 'ecdsa', 'sha512', 'EC', ['P-521'], false, ['ES512']),
    sig(-8, 'EdDSA', 'eddsa', 'sha512', 'OKP', ['Ed25519', 'Ed448'], false, ['EdDSA', 'Ed25519', 'Ed448']),
    sig(-19, 'Ed25519', 'eddsa', 'sha512', 'OKP', ['Ed25519'], false, ['Ed25519', 'EdDSA']),
    sig(-53, 'Ed448', 'eddsa', 'sha512', 'OKP', ['Ed448'], false, ['Ed448', 'EdDSA']),
    sig(-37, 'PS256', 'rsa-pss', 'sha256', 'RSA', [], false, ['PS256']),
    sig(-38, 'PS384', 'rsa-pss', 'sha384', 'RSA', [], false, ['PS384']),
    sig(-39, 'PS512', 'rsa-pss', 'sha512', 'RSA', [], false, ['PS512']),
    sig(-257, 'RS256', 'rsa-pkcs1', 'sha256', 'RSA', [], false, ['RS256']),
    sig(-258, 'RS384', 'rsa-pkcs1', 'sha384', 'RSA', [], false, ['RS384']),
    sig(-259, 'RS512', 'rsa-pkcs1', 'sha512', 'RSA', [], false, ['RS512']),
    mac(4, 'HMAC 256/64', 'sha256', 8, 32, []),
    mac(5, 'HMAC 256/256', 'sha256', 32, 32, ['HS256']),
    mac(6, 'HMAC 384/384', 'sha384', 48, 48, ['HS384']),
    mac(7, 'HMAC 512/512', 'sha512', 64, 64, ['HS512']),
  ].map((a) => [a.id, a]),
)

/** Named COSE algorithm ids, for allow-lists written as data. */
export const ALG = Object.freeze({
  ES256: -7,
  ES384: -35,
  ES512: -36,
  ESP256: -9,
  ESP384: -51,
  ESP512: -52,
  EdDSA: -8,
  Ed25519: -19,
  Ed448: -53,
  PS256: -37,
  PS384: -38,
  PS512: -39,
  RS256: -257,
  RS384: -258,
  RS512: -259,
  HMAC_256_64: 4,
  HMAC_256_256: 5,
  HMAC_384_384: 6,
  HMAC_512_512: 7,
})

/** RSA keys below this size are refused for every RSA algorithm. */
export const MIN_RSA_BITS = 2048

/** Signature length in bytes for a key, or undefined where it depends on the modulus (RSA). */
export function signatureLength(curve: KeyCurve | undefined, modulusBits: number | undefined): number {
  switch (curve) {
    case 'P-256':
      return 64
    case 'P-384':
      return 96
    case 'P-521':
      return 132
    case 'Ed25519':
      return 64
    case 'Ed448':
      return 114
    default:
      return Math.ceil((modulusBits ?? 0) / 8)
  }
}
