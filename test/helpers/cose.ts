/**
 * Test-time signers: real keys generated per run, real node:crypto signatures. Everything here
 * builds Evidence the way an Attester would, including the malformed kinds negative tests need.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { CborTag, encodeCbor, type EncodableValue } from '../../src/cose/cbor.js'
import { sigStructure1 } from '../../src/cose/structure.js'
import { importSpki, type PublicKey } from '../../src/crypto/keys.js'

export type TestAlg = 'ES256' | 'ES384' | 'ES512' | 'EdDSA-Ed25519' | 'EdDSA-Ed448' | 'PS256' | 'RS256'

export interface TestKeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: PublicKey
  readonly coseAlg: number
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  readonly curveOrder?: bigint
}

const ORDERS: Record<string, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  'P-521':
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
}

export function generateTestKey(alg: TestAlg): TestKeyPair {
  const make = (pair: { privateKey: KeyObject; publicKey: KeyObject }, coseAlg: number, hash: TestKeyPair['hash'], crv?: string) => ({
    privateKey: pair.privateKey,
    publicKey: importSpki(pair.publicKey.export({ type: 'spki', format: 'der' })),
    coseAlg,
    hash,
    ...(crv === undefined ? {} : { curveOrder: ORDERS[crv]! }),
  })
  switch (alg) {
    case 'ES256':
      return make(generateKeyPairSync('ec', { namedCurve: 'P-256' }), -7, 'sha256', 'P-256')
    case 'ES384':
      return make(generateKeyPairSync('ec', { namedCurve: 'P-384' }), -35, 'sha384', 'P-384')
    case 'ES512':
      return make(generateKeyPairSync('ec', { namedCurve: 'P-521' }), -36, 'sha512', 'P-521')
    case 'EdDSA-Ed25519':
      return make(generateKeyPairSync('ed25519'), -8, null)
    case 'EdDSA-Ed448':
      return make(generateKeyPairSync('ed448'), -8, null)
    case 'PS256':
      return make(generateKeyPairSync('rsa', { modulusLength: 2048 }), -37, 'sha256')
    case 'RS256':
      return make(generateKeyPairSync('rsa', { modulusLength: 2048 }), -257, 'sha256')
  }
}

/** Raw signature over `data` as COSE wants it (r||s for ECDSA). */
export function rawSign(key: TestKeyPair, data: Uint8Array): Uint8Array {
  if (key.hash === null) return sign(null, data, key.privateKey)
  if (key.coseAlg === -37) {
    return sign(key.hash, data, { key: key.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
  }
  if (key.coseAlg === -257) return sign(key.hash, data, key.privateKey)
  return sign(key.hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
}

/** The same ECDSA signature with s replaced by n − s: equally valid, the other "S half". */
export function flipS(key: TestKeyPair, signature: Uint8Array): Uint8Array {
  const n = key.curveOrder
  if (n === undefined) throw new Error('not an ECDSA key')
  const half = signature.length / 2
  const s = BigInt('0x' + Buffer.from(signature.subarray(half)).toString('hex'))
  const flipped = (n - s).toString(16).padStart(half * 2, '0')
  const out = new Uint8Array(signature)
  out.set(Buffer.from(flipped, 'hex'), half)
  return out
}

export function isHighS(key: TestKeyPair, signature: Uint8Array): boolean {
  const half = signature.length / 2
  const s = BigInt('0x' + Buffer.from(signature.subarray(half)).toString('hex'))
  return s > key.curveOrder! / 2n
}

export interface Sign1Parts {
  /** Protected header map, or raw bytes to put in the protected bucket as they are. */
  readonly protectedHeader?: Map<number | string, EncodableValue> | Uint8Array
  readonly unprotectedHeader?: Map<number | string, EncodableValue>
  readonly payload: Uint8Array | null
  readonly externalAad?: Uint8Array
  /** 'sign1' → 18(...), 'cwt' → 61(18(...)), 'none' → untagged, or any tag number. */
  readonly tag?: 'sign1' | 'cwt' | 'none' | number
  /** Replace the computed signature (for malformed-signature tests). */
  readonly signature?: (computed: Uint8Array) => Uint8Array
}

/** Builds and signs a COSE_Sign1. By default alg = the key's algorithm in the protected bucket. */
export function signSign1(key: TestKeyPair, parts: Sign1Parts): Uint8Array {
  const protectedBytes =
    parts.protectedHeader instanceof Uint8Array
      ? parts.protectedHeader
      : encodeCbor(parts.protectedHeader ?? new Map([[1, key.coseAlg]]))
  const tbs = sigStructure1(protectedBytes, parts.externalAad ?? new Uint8Array(0), parts.payload ?? new Uint8Array(0))
  let signature = rawSign(key, tbs)
  if (parts.signature !== undefined) signature = parts.signature(signature)
  const body: EncodableValue = [protectedBytes, parts.unprotectedHeader ?? new Map(), parts.payload, signature]
  const tag = parts.tag ?? 'sign1'
  if (tag === 'none') return encodeCbor(body)
  if (tag === 'sign1') return encodeCbor(new CborTag(18, body as never))
  if (tag === 'cwt') return encodeCbor(new CborTag(61, new CborTag(18, body as never)))
  return encodeCbor(new CborTag(tag, body as never))
}

/** The RFC 9783 Appendix A.1 IAK with its published private scalar (a test key only). */
export function rfc9783Iak(): TestKeyPair {
  const privateKey = createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: 'Tl4iCZ47zrRbRG0TVf0dw7VFlHtv18HInYhnmMNybo8',
      y: 'gNcLhAslaqw0pi7eEEM2TwRAlfADR0uR4Bggkq-xPy4',
      d: 'Q__-y5X4CFp8QOHT6nkL7063jN131YUDpkwWAPkbM-c',
    },
    format: 'jwk',
  })
  return {
    privateKey,
    publicKey: importSpki(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })),
    coseAlg: -7,
    hash: 'sha256',
    curveOrder: ORDERS['P-256']!,
  }
}
