/**
 * CWT verification (RFC 8392 §7.2) for EAT claims-sets with a key the caller already trusts:
 * optional tag 61, then a tagged (or, where the context allows, untagged) COSE_Sign1 or
 * COSE_Mac0, signature or MAC, claims decoded and type-checked, then time and nonce.
 *
 * Key selection by kid, UEID or an X.509 chain is the caller's job (the appraisal pipeline); this
 * function never takes a key from the token.
 */
import { ALG } from '../../cose/algorithms.js'
import type { CoseAlgorithm } from '../../cose/algorithms.js'
import { decodeCbor, peekTag, type CborMap } from '../../cose/cbor.js'
import { parseMac0, verifyMac0 } from '../../cose/mac0.js'
import type { MessagePolicy } from '../../cose/message.js'
import { parseSign1, verifySign1 } from '../../cose/sign1.js'
import type { PublicKey, SecretKey } from '../../crypto/keys.js'
import { VerifierError } from '../../errors/errors.js'
import type { Clock } from '../../util/clock.js'
import { sniffEnvelope } from '../sniff.js'
import { checkNonce, checkTimeClaims, decodeEatClaims, type EatClaims } from './claims.js'

/** ES256, ES384 and ES512 are what the RFC 9711 constrained-device profile makes receivers accept. */
export const EAT_ALGORITHMS: ReadonlySet<number> = new Set([
  ALG.ES256,
  ALG.ES384,
  ALG.ES512,
  ALG.ESP256,
  ALG.ESP384,
  ALG.ESP512,
  ALG.EdDSA,
  ALG.Ed25519,
  ALG.Ed448,
  ALG.PS256,
  ALG.PS384,
  ALG.PS512,
])

export const CWT_MAX_BYTES = 256 * 1024

export interface CwtVerifyOptions {
  readonly key: PublicKey | SecretKey
  /** Allow-list of COSE algorithm ids. */
  readonly algorithms: ReadonlySet<number>
  readonly clock: Clock
  readonly skewSeconds?: number
  readonly expectedNonce?: Uint8Array
  readonly externalAad?: Uint8Array
  /** Accept a COSE message without its tag. @defaultValue false */
  readonly untagged?: boolean
  /** @defaultValue true */
  readonly requireProtectedAlg?: boolean
  /** Nesting depth allowed inside the claims-set. @defaultValue 16 */
  readonly maxDepth?: number
}

export interface VerifiedCwt {
  readonly claims: EatClaims
  readonly protection: 'sign1' | 'mac0'
  readonly algorithm: CoseAlgorithm
  readonly cwtTagged: boolean
}

export function verifyCwt(token: Uint8Array, options: CwtVerifyOptions): VerifiedCwt {
  const policy: MessagePolicy = {
    algorithms: options.algorithms,
    cwtTag: true,
    untagged: options.untagged ?? false,
    requireProtectedAlg: options.requireProtectedAlg ?? true,
    maxBytes: CWT_MAX_BYTES,
  }
  const protection = sniffEnvelope(token).envelope === 'cose-mac0' ? 'mac0' : 'sign1'

  let verified: { payload: Uint8Array; algorithm: CoseAlgorithm; cwtTagged: boolean }
  if (protection === 'mac0') {
    if (options.key.kind !== 'secret') throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', 'a COSE_Mac0 CWT needs a symmetric key')
    verified = verifyMac0(parseMac0(token, policy), options.key, { externalAad: options.externalAad })
  } else {
    if (options.key.kind !== 'public') throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', 'a COSE_Sign1 CWT needs a public key')
    verified = verifySign1(parseSign1(token, policy), options.key, { externalAad: options.externalAad })
  }

  if (peekTag(verified.payload) !== undefined) {
    throw new VerifierError('ERR_COSE_PAYLOAD_NOT_CLAIMS', 'nested CWTs are not accepted; the payload must be a claims-set')
  }
  const payload = decodeCbor(verified.payload, { maxBytes: CWT_MAX_BYTES, maxDepth: options.maxDepth ?? 16 })
  if (!(payload instanceof Map)) throw new VerifierError('ERR_COSE_PAYLOAD_NOT_CLAIMS', 'CWT payload is not a claims-set map')
  const claims = decodeEatClaims(payload as CborMap)
  checkTimeClaims(claims, options.clock, { skewSeconds: options.skewSeconds ?? 0 })
  if (options.expectedNonce !== undefined) checkNonce(claims, options.expectedNonce)
  return { claims, protection, algorithm: verified.algorithm, cwtTagged: verified.cwtTagged }
}
