/**
 * COSE_Mac0 verification (RFC 9052 §6.2, RFC 9053 §3.1): HMAC with SHA-2, tags compared in
 * constant time. Used by PSA symmetric-key tokens (RFC 9783) and MACed CWTs.
 */
import { VerifierError } from '../errors/errors.js'
import type { SecretKey } from '../crypto/keys.js'
import { verifyHmac } from '../crypto/verify.js'
import type { MacAlgorithm } from './algorithms.js'
import type { CborMap } from './cbor.js'
import { parseMessage, type MessagePolicy, type UnverifiedMessage } from './message.js'
import { macStructure0 } from './structure.js'

export type UnverifiedMac0 = UnverifiedMessage<MacAlgorithm>

declare const verifiedBrand: unique symbol

/** A COSE_Mac0 whose tag verified with a trusted key. Only `verifyMac0` makes one. */
export interface VerifiedMac0 {
  readonly [verifiedBrand]: true
  readonly payload: Uint8Array
  readonly protectedHeader: CborMap
  readonly unprotectedHeader: CborMap
  readonly algorithm: MacAlgorithm
  readonly cwtTagged: boolean
}

export function parseMac0(input: Uint8Array, policy: MessagePolicy): UnverifiedMac0 {
  return parseMessage<MacAlgorithm>(input, 'mac0', policy)
}

export function verifyMac0(
  message: UnverifiedMac0,
  key: SecretKey,
  options: { readonly externalAad?: Uint8Array; readonly detachedPayload?: Uint8Array } = {},
): VerifiedMac0 {
  const { algorithm, signature: tag } = message
  if (key.length < algorithm.minKeyLength && !key.shortKeyAccepted) {
    throw new VerifierError('ERR_KEY_UNSUPPORTED', `${algorithm.name} needs a key of at least ${algorithm.minKeyLength} bytes`)
  }
  if (key.alg !== undefined && key.alg !== algorithm.id && !algorithm.jose.includes(String(key.alg))) {
    throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', `key is bound to ${String(key.alg)}, message uses ${algorithm.name}`)
  }
  const payload = message.payload ?? options.detachedPayload
  if (payload === undefined) throw new VerifierError('ERR_COSE_PAYLOAD_DETACHED', 'payload is detached and no content was given')
  if (tag.length !== algorithm.tagLength) {
    throw new VerifierError('ERR_COSE_SIGNATURE_LENGTH', `MAC tag is ${tag.length} bytes; ${algorithm.name} needs ${algorithm.tagLength}`)
  }
  const toBeMaced = macStructure0(message.protectedBytes, options.externalAad ?? new Uint8Array(0), payload)
  if (!verifyHmac(algorithm.hash, algorithm.tagLength, key, toBeMaced, tag)) {
    throw new VerifierError('ERR_COSE_MAC_INVALID', `${algorithm.name} tag does not verify`)
  }
  return {
    payload,
    protectedHeader: message.protectedHeader,
    unprotectedHeader: message.unprotectedHeader,
    algorithm,
    cwtTagged: message.cwtTagged,
  } as VerifiedMac0
}
