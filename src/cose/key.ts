/**
 * COSE_Key (RFC 9052 §7, RFC 9053 §7) to an imported key. The key's own `alg` (label 3) is kept
 * as a binding, so a message using another algorithm is rejected.
 */
import type { JsonWebKey } from 'node:crypto'
import { VerifierError } from '../errors/errors.js'
import { base64urlEncode } from '../util/base64url.js'
import { importJwk, importSecret, type PublicKey, type SecretKey } from '../crypto/keys.js'
import type { CborMap, CborValue } from './cbor.js'

const KTY = { OKP: 1, EC2: 2, RSA: 3, Symmetric: 4 } as const
const EC2_CURVES: Readonly<Record<number, string>> = { 1: 'P-256', 2: 'P-384', 3: 'P-521' }
const OKP_CURVES: Readonly<Record<number, string>> = { 6: 'Ed25519', 7: 'Ed448' }

function bytesParam(key: CborMap, label: number, name: string): string {
  const v = key.get(label)
  if (!(v instanceof Uint8Array) || v.length === 0) {
    throw new VerifierError('ERR_KEY_INVALID', `COSE_Key parameter ${name} (${label}) must be a non-empty byte string`)
  }
  return base64urlEncode(v)
}

function binding(key: CborMap): { alg: number | string | undefined; kid: string | undefined } {
  const alg = key.get(3)
  const kid = key.get(2)
  if (alg !== undefined && typeof alg !== 'number' && typeof alg !== 'string') {
    throw new VerifierError('ERR_KEY_INVALID', 'COSE_Key alg (3) must be an integer or text')
  }
  if (kid !== undefined && !(kid instanceof Uint8Array)) throw new VerifierError('ERR_KEY_INVALID', 'COSE_Key kid (2) must be bytes')
  return { alg, kid: kid === undefined ? undefined : Buffer.from(kid).toString('latin1') }
}

function curve(table: Readonly<Record<number, string>>, value: CborValue | undefined): string {
  const crv = typeof value === 'number' ? table[value] : undefined
  if (crv === undefined) throw new VerifierError('ERR_KEY_UNSUPPORTED', `COSE_Key curve ${String(value)} is not supported`)
  return crv
}

/** Imports a public COSE_Key (EC2, OKP or RSA). Private parameters are refused. */
export function importCoseKey(key: CborMap): PublicKey {
  if (key.has(-4) && key.get(1) !== KTY.RSA) throw new VerifierError('ERR_KEY_INVALID', 'COSE_Key carries a private key (d)')
  let jwk: JsonWebKey
  switch (key.get(1)) {
    case KTY.EC2: {
      const y = key.get(-3)
      if (typeof y === 'boolean') throw new VerifierError('ERR_KEY_UNSUPPORTED', 'compressed EC2 points are not supported')
      jwk = { kty: 'EC', crv: curve(EC2_CURVES, key.get(-1)), x: bytesParam(key, -2, 'x'), y: bytesParam(key, -3, 'y') }
      break
    }
    case KTY.OKP:
      jwk = { kty: 'OKP', crv: curve(OKP_CURVES, key.get(-1)), x: bytesParam(key, -2, 'x') }
      break
    case KTY.RSA:
      // RFC 8230 §4: labels -3 (d) to -12 are the private parts of an RSA key.
      for (let label = -3; label >= -12; label--) {
        if (key.has(label)) throw new VerifierError('ERR_KEY_INVALID', `COSE_Key carries a private RSA parameter (${label})`)
      }
      jwk = { kty: 'RSA', n: bytesParam(key, -1, 'n'), e: bytesParam(key, -2, 'e') }
      break
    default:
      throw new VerifierError('ERR_KEY_UNSUPPORTED', `COSE_Key kty ${String(key.get(1))} is not a public-key type`)
  }
  return importJwk(jwk, binding(key))
}

/** Imports a symmetric COSE_Key (kty 4) for MAC verification. */
export function importCoseSecret(key: CborMap): SecretKey {
  if (key.get(1) !== KTY.Symmetric) throw new VerifierError('ERR_KEY_UNSUPPORTED', 'COSE_Key is not symmetric (kty 4)')
  const k = key.get(-1)
  if (!(k instanceof Uint8Array)) throw new VerifierError('ERR_KEY_INVALID', 'COSE_Key k (-1) must be bytes')
  return importSecret(k, binding(key))
}
