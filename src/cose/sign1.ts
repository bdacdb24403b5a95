/**
 * COSE_Sign1 verification (RFC 9052 §4.2, RFC 9053). `parseSign1` does every check that needs no
 * key; the caller then picks the key from its trust store (never from the message alone) and
 * `verifySign1` checks key/algorithm consistency and the signature.
 */
import { VerifierError } from '../errors/errors.js'
import type { PublicKey } from '../crypto/keys.js'
import { verifySignature } from '../crypto/verify.js'
import { MIN_RSA_BITS, signatureLength, type SignatureAlgorithm } from './algorithms.js'
import type { CborMap } from './cbor.js'
import { parseMessage, type MessagePolicy, type UnverifiedMessage } from './message.js'
import { sigStructure1 } from './structure.js'

export type UnverifiedSign1 = UnverifiedMessage<SignatureAlgorithm>

declare const verifiedBrand: unique symbol

/** A COSE_Sign1 whose signature verified with a trusted key. Only `verifySign1` makes one. */
export interface VerifiedSign1 {
  readonly [verifiedBrand]: true
  readonly payload: Uint8Array
  readonly protectedHeader: CborMap
  readonly unprotectedHeader: CborMap
  readonly algorithm: SignatureAlgorithm
  readonly key: PublicKey
  readonly cwtTagged: boolean
}

export interface Sign1VerifyOptions {
  /** External AAD bound into the signature. @defaultValue empty */
  readonly externalAad?: Uint8Array
  /** The content when the message's payload is nil (detached). */
  readonly detachedPayload?: Uint8Array
  /**
   * Require the RFC 9053 curve/hash pairing for the polymorphic ids (ES256 on P-256, ES384 on
   * P-384, ES512 on P-521). Profiles turn this on; a general COSE verifier may not. @defaultValue true
   */
  readonly strictCurvePairing?: boolean
}

/** Parses a COSE_Sign1 under a profile's policy; throws `VerifierError` (ERR_CBOR_*, ERR_COSE_*). */
export function parseSign1(input: Uint8Array, policy: MessagePolicy): UnverifiedSign1 {
  return parseMessage<SignatureAlgorithm>(input, 'sign1', policy)
}

/** Checks that `key` may verify `algorithm`: key type, curve, size and the key's own `alg`. */
export function checkKeyForAlgorithm(algorithm: SignatureAlgorithm, key: PublicKey, strictCurvePairing = true): void {
  if (key.kty !== algorithm.kty) {
    throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', `${algorithm.name} needs a ${algorithm.kty} key, not ${key.kty}`)
  }
  if (algorithm.kty === 'RSA') {
    if ((key.modulusBits ?? 0) < MIN_RSA_BITS) {
      throw new VerifierError('ERR_KEY_UNSUPPORTED', `RSA key of ${key.modulusBits} bits; at least ${MIN_RSA_BITS} required`)
    }
  } else if (!algorithm.curves.includes(key.crv!)) {
    const lax = algorithm.polymorphic && !strictCurvePairing && key.kty === 'EC'
    if (!lax) throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', `${algorithm.name} is not used with a ${key.crv} key`)
  }
  if (key.alg !== undefined) {
    const bound = typeof key.alg === 'number' ? key.alg === algorithm.id : algorithm.jose.includes(key.alg)
    if (!bound) {
      throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', `key is bound to ${String(key.alg)}, message uses ${algorithm.name}`)
    }
  }
}

/** Verifies a parsed COSE_Sign1 with a trusted key. */
export function verifySign1(message: UnverifiedSign1, key: PublicKey, options: Sign1VerifyOptions = {}): VerifiedSign1 {
  const { algorithm, signature } = message
  checkKeyForAlgorithm(algorithm, key, options.strictCurvePairing ?? true)
  const payload = message.payload ?? options.detachedPayload
  if (payload === undefined) throw new VerifierError('ERR_COSE_PAYLOAD_DETACHED', 'payload is detached and no content was given')

  const expected = signatureLength(key.crv, key.modulusBits)
  if (signature.length !== expected) {
    if (algorithm.scheme === 'ecdsa' && looksLikeDerEcdsa(signature)) {
      throw new VerifierError('ERR_COSE_SIGNATURE_DER', 'ECDSA signature is DER; COSE requires r||s (RFC 9053 §2.1)')
    }
    throw new VerifierError('ERR_COSE_SIGNATURE_LENGTH', `signature is ${signature.length} bytes; ${algorithm.name} needs ${expected}`)
  }
  const toBeSigned = sigStructure1(message.protectedBytes, options.externalAad ?? EMPTY, payload)
  if (!verifySignature(algorithm, key, toBeSigned, signature)) {
    throw new VerifierError('ERR_COSE_SIGNATURE_INVALID', `${algorithm.name} signature does not verify`)
  }
  return {
    payload,
    protectedHeader: message.protectedHeader,
    unprotectedHeader: message.unprotectedHeader,
    algorithm,
    key,
    cwtTagged: message.cwtTagged,
  } as VerifiedSign1
}

const EMPTY = new Uint8Array(0)

/** `SEQUENCE { INTEGER r, INTEGER s }` with consistent lengths: a DER ECDSA signature. */
function looksLikeDerEcdsa(sig: Uint8Array): boolean {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[2] !== 0x02) return false
  const seqLen = sig[1]!
  const rLen = sig[3]!
  if (seqLen !== sig.length - 2 || 4 + rLen >= sig.length) return false
  return sig[4 + rLen] === 0x02 && 6 + rLen + sig[5 + rLen]! === sig.length
}
