/**
 * Signing attestation results: EAR as a JWT (compact JWS, ES256) or as a CWT (COSE_Sign1 tagged 18,
 * ES256), specs.md §5.3. The JWT is assembled by hand rather than through a JOSE library: it is on
 * the hot path, and the JOSE header of a key never changes, so its base64url segment is computed once
 * per key (`createEarSigner`) and each signature costs one JSON.stringify, one base64url pass and one
 * OpenSSL sign (docs: architecture.md, performance notes).
 */
import { ALG } from '../cose/algorithms.js'
import { CborTag, encodeCbor } from '../cose/cbor.js'
import { HEADER } from '../cose/headers.js'
import { COSE_TAG } from '../cose/message.js'
import { sigStructure1 } from '../cose/structure.js'
import { signEs256, type Es256SigningKey } from '../crypto/sign.js'
import { utf8 } from '../util/bytes.js'
import { NAMING_PROFILE, earClaimsCbor, earClaimsJson, type AppraisalOutcome, type EarNaming } from './ear.js'

/** `application/eat+jwt; eat_profile="…"` (RFC 9782) for an EAR with `profile`. */
export function earJwtMediaType(profile: string): string {
  return `application/eat+jwt; eat_profile="${profile}"`
}

/** `application/eat+cwt; eat_profile="…"` (RFC 9782) for an EAR with `profile`. */
export function earCwtMediaType(profile: string): string {
  return `application/eat+cwt; eat_profile="${profile}"`
}

/** One signing key with everything about it that does not change per result. */
export interface EarSigner {
  readonly key: Es256SigningKey
  /** Key id in both headers; the JWKS lists the public key under the same `kid`. */
  readonly kid: string
  /** `base64url({"alg":"ES256","typ":"JWT","kid":…})` followed by `.`. */
  readonly jwtPrefix: string
  /** Encoded protected header of the CWT: `{1: -7, 4: h'<kid as UTF-8>'}`. */
  readonly cwtProtected: Uint8Array
}

/**
 * Prepares a key for signing. `kid` defaults to the key's RFC 7638 thumbprint. In the CWT the kid is
 * the UTF-8 bytes of the same text, so one JWKS serves both forms.
 */
export function createEarSigner(key: Es256SigningKey, kid: string = key.thumbprint): EarSigner {
  if (typeof kid !== 'string' || kid.length === 0) throw new TypeError('kid must be a non-empty string')
  const header = JSON.stringify({ alg: 'ES256', typ: 'JWT', kid })
  return Object.freeze({
    key,
    kid,
    jwtPrefix: `${Buffer.from(header, 'utf8').toString('base64url')}.`,
    cwtProtected: encodeCbor(
      new Map<number, number | Uint8Array>([
        [HEADER.alg, ALG.ES256],
        [HEADER.kid, utf8(kid)],
      ]),
    ),
  })
}

/** A signed result and the media type to send it with. */
export interface SignedEar<T extends string | Uint8Array> {
  readonly token: T
  readonly mediaType: string
}

/**
 * Signs any JSON claims-set as a compact JWS with the signer's precomputed ES256 header. The caller
 * owns the claims; `signEarJwt` is the EAR-specific entry point.
 */
export function signJwtClaims(claims: object, signer: EarSigner): string {
  // The signing input is ASCII (base64url and '.'), so latin1 is a byte-exact and the fastest encoding.
  const signingInput = signer.jwtPrefix + Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')
  const signature = signEs256(signer.key, Buffer.from(signingInput, 'latin1'))
  return `${signingInput}.${signature.toString('base64url')}`
}

/**
 * Builds the JSON EAR of an outcome (`earClaimsJson`, -03 naming by default) and signs it as a JWT.
 * Throws `TypeError` when the outcome is malformed.
 */
export function signEarJwt(
  outcome: AppraisalOutcome,
  signer: EarSigner,
  naming: EarNaming = 'ear-03',
): SignedEar<string> {
  const token = signJwtClaims(earClaimsJson(outcome, naming), signer)
  return { token, mediaType: earJwtMediaType(NAMING_PROFILE[naming]) }
}

/**
 * Builds the CBOR EAR of an outcome (`earClaimsCbor`) and signs it as a COSE_Sign1 tagged 18, with
 * protected `{1: -7, 4: kid}`, an empty unprotected header and no external AAD. Throws `TypeError`
 * when the outcome is malformed.
 */
export function signEarCwt(outcome: AppraisalOutcome, signer: EarSigner): SignedEar<Uint8Array> {
  const payload = encodeCbor(earClaimsCbor(outcome))
  const signature = signEs256(signer.key, sigStructure1(signer.cwtProtected, EMPTY, payload))
  const message = [signer.cwtProtected, new Map(), payload, new Uint8Array(signature)]
  const token = encodeCbor(new CborTag(COSE_TAG.sign1, message))
  return { token, mediaType: earCwtMediaType(NAMING_PROFILE['ear-03']) }
}

const EMPTY = new Uint8Array(0)
