/**
 * Test-time JWS signers: keys generated per run, node:crypto signatures, and headers and payloads
 * given as text when a test needs bytes no serializer would write (duplicate members, padding).
 */
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import {
  importSecret,
  importSpki,
  type KeyBinding,
  type PublicKey,
  type SecretKey,
} from '../../../src/crypto/keys.js'

export const b64url = (text: string | Uint8Array): string => Buffer.from(text).toString('base64url')

export interface TestJoseKey {
  readonly privateKey: KeyObject
  readonly publicKey: PublicKey
}

export type KeySpec = 'P-256' | 'P-384' | 'P-521' | 'Ed25519' | 'Ed448' | 'RSA-2048' | 'RSA-1024'

export function generateJoseKey(spec: KeySpec, binding: KeyBinding = {}): TestJoseKey {
  let pair: { privateKey: KeyObject; publicKey: KeyObject }
  if (spec.startsWith('P-')) pair = generateKeyPairSync('ec', { namedCurve: spec })
  else if (spec === 'Ed25519') pair = generateKeyPairSync('ed25519')
  else if (spec === 'Ed448') pair = generateKeyPairSync('ed448')
  else pair = generateKeyPairSync('rsa', { modulusLength: spec === 'RSA-2048' ? 2048 : 1024 })
  return {
    privateKey: pair.privateKey,
    publicKey: importSpki(pair.publicKey.export({ type: 'spki', format: 'der' }), binding),
  }
}

export function secretKey(bytes: Uint8Array, binding: KeyBinding = {}): SecretKey {
  return importSecret(bytes, binding)
}

const HASH: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }

/** The raw JWS signature of `input` for `alg` (ECDSA as r||s), or an HMAC under `key` bytes. */
export function signatureFor(alg: string, input: string, key: KeyObject | Uint8Array): Buffer {
  const hash = HASH[alg.slice(-3)]
  if (alg.startsWith('HS')) return createHmac(hash!, key as Uint8Array).update(input).digest()
  const privateKey = key as KeyObject
  if (alg.startsWith('ES')) return sign(hash!, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  if (alg.startsWith('PS')) {
    const saltLength = Number(alg.slice(-3)) / 8
    const padding = constants.RSA_PKCS1_PSS_PADDING
    return sign(hash!, Buffer.from(input), { key: privateKey, padding, saltLength })
  }
  if (alg.startsWith('RS')) return sign(hash!, Buffer.from(input), privateKey)
  return sign(null, Buffer.from(input), privateKey)
}

/**
 * A compact JWS. `header` and `payload` are serialized with JSON.stringify unless given as text;
 * the signature uses `signAlg` (default: the header's `alg`).
 */
export function signJws(
  header: object | string,
  payload: object | string,
  key: KeyObject | Uint8Array,
  signAlg?: string,
): string {
  const headerText = typeof header === 'string' ? header : JSON.stringify(header)
  const alg = signAlg ?? (JSON.parse(headerText) as { alg: string }).alg
  const input = `${b64url(headerText)}.${b64url(typeof payload === 'string' ? payload : JSON.stringify(payload))}`
  return `${input}.${signatureFor(alg, input, key).toString('base64url')}`
}
