/**
 * PSA attestation token verification (RFC 9783 §5): envelope, claim-based key lookup by Instance
 * ID, signature or MAC, then the profile's claim rules, the CWT time claims (exp, nbf, a future iat;
 * RFC 8392 §3.1, as for every format), then (if asked) the nonce.
 *
 * Order matters: the Instance ID is read from the payload before the signature is checked, but
 * only as a key-lookup hint; no claim is trusted, and no profile rule runs, until the signature
 * or MAC has verified with a key the caller's trust store returned for that hint.
 */
import { ALG } from '../../cose/algorithms.js'
import { decodeCbor, peekTag, type CborMap } from '../../cose/cbor.js'
import { parseMac0, verifyMac0 } from '../../cose/mac0.js'
import type { MessagePolicy, UnverifiedMessage } from '../../cose/message.js'
import { parseSign1, verifySign1 } from '../../cose/sign1.js'
import type { CoseAlgorithm } from '../../cose/algorithms.js'
import { constantTimeEqual } from '../../crypto/compare.js'
import type { PublicKey, SecretKey } from '../../crypto/keys.js'
import { VerifierError } from '../../errors/errors.js'
import { systemClock, type Clock } from '../../util/clock.js'
import { checkTimeClaims, readCwtTimeClaims } from '../time-claims.js'
import { decodePsaClaims, readInstanceIdHint, type PsaClaims, type PsaProfile } from './claims.js'
import { PSA_PROFILE_2_0_0, PSA_PROFILE_LEGACY, PSA_PROFILE_LEGACY_URI, PSA_PROFILE_TFM } from './descriptor.js'

/**
 * Algorithms a PSA verifier accepts: the TF-M profile's MUST set (ES256, ES384, ES512 for Sign1;
 * HMAC 256/256, 384/384, 512/512 for Mac0; RFC 9783 §5.2) plus the fully-specified ECDSA ids.
 */
export const PSA_ALGORITHMS: ReadonlySet<number> = new Set([
  ALG.ES256,
  ALG.ES384,
  ALG.ES512,
  ALG.ESP256,
  ALG.ESP384,
  ALG.ESP512,
  ALG.HMAC_256_256,
  ALG.HMAC_384_384,
  ALG.HMAC_512_512,
])

/** PSA tokens are small; 64 KiB leaves room for many software components and refuses the absurd. */
export const PSA_MAX_TOKEN_BYTES = 64 * 1024

export interface PsaKeyHint {
  /** Instance ID (ueid) from the unverified payload: a lookup key, not yet authenticated. */
  readonly instanceId: Uint8Array
  readonly kid: Uint8Array | undefined
  readonly protection: 'sign1' | 'mac0'
}

/** Returns the trusted key registered for this attester, or undefined when there is none. */
export type PsaKeyResolver = (hint: PsaKeyHint) => PublicKey | SecretKey | undefined

export interface PsaVerifyOptions {
  readonly resolveKey: PsaKeyResolver
  /** Profile the media type named (an `eat_profile` parameter value); the token must carry it. */
  readonly expectedProfile?: string | undefined
  /** The challenge this token must answer; compared in constant time. */
  readonly expectedNonce?: Uint8Array | undefined
  /** Narrower allow-list than `PSA_ALGORITHMS`, e.g. per tenant. */
  readonly algorithms?: ReadonlySet<number>
  /** Clock for exp, nbf and iat. @defaultValue systemClock */
  readonly clock?: Clock
  /** Tolerated clock difference, in seconds. @defaultValue 0 */
  readonly skewSeconds?: number
}

export interface VerifiedPsaToken {
  readonly claims: PsaClaims
  readonly protection: 'sign1' | 'mac0'
  readonly algorithm: CoseAlgorithm
  readonly key: PublicKey | SecretKey
}

const MEDIA_PROFILE: ReadonlyMap<string, PsaProfile> = new Map<string, PsaProfile>([
  [PSA_PROFILE_TFM.toLowerCase(), 'tfm'],
  [PSA_PROFILE_LEGACY_URI.toLowerCase(), 'legacy'],
  [PSA_PROFILE_LEGACY.toLowerCase(), 'legacy'],
  [PSA_PROFILE_2_0_0.toLowerCase(), 'psa-2.0.0'],
])

export function verifyPsaToken(token: Uint8Array, options: PsaVerifyOptions): VerifiedPsaToken {
  const policy: MessagePolicy = {
    algorithms: options.algorithms ?? PSA_ALGORITHMS,
    requireProtectedAlg: true,
    maxBytes: PSA_MAX_TOKEN_BYTES,
  }
  // RFC 9783 §5.1: Sign1 tagged 18 or Mac0 tagged 17; untagged and CWT-tagged tokens are not PSA.
  const protection = peekTag(token)?.tag === 17 ? 'mac0' : 'sign1'
  const mac0 = protection === 'mac0' ? parseMac0(token, policy) : undefined
  const sign1 = protection === 'sign1' ? parseSign1(token, policy) : undefined
  const message: UnverifiedMessage<CoseAlgorithm> = (sign1 ?? mac0)!
  if (message.payload === null) throw new VerifierError('ERR_COSE_PAYLOAD_DETACHED', 'PSA tokens carry their payload')

  const payload = decodePayload(message.payload)
  const instanceId = readInstanceIdHint(payload)
  if (instanceId === undefined) {
    throw new VerifierError('ERR_PROFILE_CLAIM_MISSING', 'psa-instance-id (256) is needed to find the attestation key')
  }
  const key = options.resolveKey({ instanceId, kid: message.kid, protection })
  if (key === undefined) throw new VerifierError('ERR_KEY_NOT_FOUND', 'no attestation key is registered for this Instance ID')

  if (mac0 !== undefined) {
    if (key.kind !== 'secret') throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', 'a COSE_Mac0 token needs a symmetric key')
    verifyMac0(mac0, key)
  } else {
    if (key.kind !== 'public') throw new VerifierError('ERR_COSE_KEY_ALG_MISMATCH', 'a COSE_Sign1 token needs a public key')
    verifySign1(sign1!, key, { strictCurvePairing: true })
  }

  // The payload map was decoded from the bytes the signature or MAC just covered.
  const claims = decodePsaClaims(payload, expectedProfileOf(options.expectedProfile))
  checkTimeClaims(readCwtTimeClaims(payload), options.clock ?? systemClock, { skewSeconds: options.skewSeconds ?? 0 })
  if (options.expectedNonce !== undefined && !constantTimeEqual(claims.nonce, options.expectedNonce)) {
    throw new VerifierError('ERR_CLAIMS_NONCE_MISMATCH', 'eat_nonce does not match the challenge')
  }
  return { claims, protection, algorithm: message.algorithm, key }
}

function decodePayload(bytes: Uint8Array): CborMap {
  const payload = decodeCbor(bytes, { maxDepth: 8, maxBytes: PSA_MAX_TOKEN_BYTES })
  if (!(payload instanceof Map)) throw new VerifierError('ERR_COSE_PAYLOAD_NOT_CLAIMS', 'PSA payload is not a claims map')
  return payload
}

function expectedProfileOf(mediaTypeProfile: string | undefined): PsaProfile | undefined {
  if (mediaTypeProfile === undefined) return undefined
  const profile = MEDIA_PROFILE.get(mediaTypeProfile.toLowerCase())
  if (profile === undefined) throw new VerifierError('ERR_PROFILE_UNKNOWN', `${mediaTypeProfile} is not a PSA profile`)
  return profile
}
