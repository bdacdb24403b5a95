/**
 * Generic EAT as a CWT (RFC 9711 with RFC 8392): profile, key, signature, claims, in that order.
 *
 * | step | check | code on failure |
 * |---|---|---|
 * | 1 | envelope and headers (COSE_Sign1, tag 18, optionally inside tag 61, or untagged) | ERR_CBOR_*, ERR_COSE_* |
 * | 2 | profile: the unverified `eat_profile` claim and the media type's must agree and be known | ERR_PROFILE_* |
 * | 3 | algorithm in the profile's allow-list | ERR_COSE_ALG_NOT_ALLOWED |
 * | 4 | key, from the profile's sources in order: a protected x5chain validated to a provisioned anchor, a provisioned kid, a provisioned UEID | ERR_X509_*, ERR_KEY_NOT_FOUND |
 * | 5 | signature | ERR_COSE_SIGNATURE_INVALID, ERR_COSE_KEY_ALG_MISMATCH |
 * | 6 | claims typed, the profile's mandatory claims and claim rules | ERR_CLAIMS_*, ERR_PROFILE_CLAIM_* |
 * | 7 | the certificate's device identity equals the `ueid` claim | ERR_KEY_IDENTITY_MISMATCH |
 * | 8 | exp/nbf, and the session nonce when there is one | ERR_CLAIMS_EXPIRED, ERR_CLAIMS_NOT_YET_VALID, ERR_CLAIMS_NONCE_MISMATCH |
 *
 * Claims read before step 5 (profile, UEID) are lookup hints only. What the key may speak for (the
 * UEIDs and classes provisioned with it, `SpeaksFor`) is returned with the verified claims, for the
 * appraisal to compare with what they claim.
 */
import { createHash } from 'node:crypto'
import { ALGORITHMS } from '../../cose/algorithms.js'
import { decodeCbor, peekTag, type CborMap } from '../../cose/cbor.js'
import { HEADER } from '../../cose/headers.js'
import { parseSign1, verifySign1, type UnverifiedSign1 } from '../../cose/sign1.js'
import type { PinnedCertificate, PublicKey } from '../../crypto/keys.js'
import { validateChain, type ValidatedChain, type X509TrustStore } from '../../crypto/x509.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { isJsonObject, parseStrictJsonUtf8, type JsonObject } from '../../jose/json.js'
import { parseJwsCompact } from '../../jose/jws.js'
import { base64urlDecode } from '../../util/base64url.js'
import type { Clock } from '../../util/clock.js'
import { verifyEatJwt } from './verify-jwt.js'
import { nonceFromJson } from './nonce.js'
import { bytesEqual, toHex, utf8 } from '../../util/bytes.js'
import { checkClaimDependencies, checkNonce, checkTimeClaims, decodeEatClaims, type EatClaims } from './claims.js'
import { CLAIM_KEY } from './descriptor.js'
import type { SpeaksFor } from '../speaks-for.js'
import type { EatProfile, KeySource, OperatorProfileLookup, ProfileRegistry } from './profiles.js'

/** A provisioned key and what Evidence it verifies may claim. */
export interface ProvisionedKey {
  readonly key: PublicKey
  readonly speaksFor: SpeaksFor
}

/** A pinned certificate and what Evidence its key verifies may claim. */
export interface ProvisionedCertificate extends PinnedCertificate {
  readonly speaksFor: SpeaksFor
}

/** Keys an operator provisioned for generic EAT attesters. */
export interface EatKeyStore {
  /** Key registered under this `kid` (bytes as in the COSE header, read as UTF-8 or hex). */
  byKid(kid: Uint8Array): ProvisionedKey | undefined
  byUeid(ueid: Uint8Array): ProvisionedKey | undefined
  /** A certificate the operator pinned, found by its COSE x5t hash (RFC 9360 §2), if any. */
  byX5t?(hashAlg: number, hash: Uint8Array): ProvisionedCertificate | undefined
  /** Certificate anchors for keys that arrive as an x5chain; undefined when none are provisioned. */
  readonly x509: X509TrustStore | undefined
  /** What chains under the anchor whose certificate has this SHA-256 (hex) may claim. */
  anchorSpeaksFor?(anchorSha256: string): SpeaksFor | undefined
}

/**
 * The key that verified the Evidence, as the result names it: where it came from, its kid or the
 * certificate's SHA-256 thumbprint (`x5t#S256`), the SHA-256 of its SubjectPublicKeyInfo, and what it
 * may speak for (undefined: nothing is known, so nothing may be claimed).
 */
export interface AttesterKey {
  readonly source: KeySource
  readonly kid?: string
  readonly x5tS256?: Uint8Array
  readonly spkiSha256: string
  readonly speaksFor: SpeaksFor | undefined
}

export interface EatVerifyOptions {
  readonly profiles: ProfileRegistry
  /** The tenant's operator-defined profiles, asked for an id no built-in profile has. */
  readonly operatorProfiles?: OperatorProfileLookup
  readonly keys: EatKeyStore
  readonly clock: Clock
  /** `eat_profile` parameter of the media type, if any. */
  readonly expectedProfile?: string | undefined
  /** Session nonce, when the Evidence answers a challenge. */
  readonly expectedNonce?: Uint8Array | undefined
  readonly skewSeconds?: number
}

export interface VerifiedEat {
  readonly claims: EatClaims
  readonly profile: EatProfile
  readonly keySource: KeySource
  /** The certificate path, when the key came from an x5chain. */
  readonly chain?: ValidatedChain
  readonly algorithm: string
  readonly attester: AttesterKey
}

const ALL_SIGNATURES: ReadonlySet<number> = new Set(
  [...ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => a.id),
)
export const EAT_MAX_BYTES = 256 * 1024

export function verifyEatCwt(token: Uint8Array, options: EatVerifyOptions): VerifiedEat {
  // Step 1 accepts every signature algorithm; the profile narrows it in step 3, once it is known.
  const message = parseSign1(token, { algorithms: ALL_SIGNATURES, cwtTag: true, untagged: true, maxBytes: EAT_MAX_BYTES })
  if (message.payload === null) throw new VerifierError('ERR_COSE_PAYLOAD_DETACHED', 'EAT carries its claims as the payload')
  if (peekTag(message.payload) !== undefined) {
    throw new VerifierError('ERR_COSE_PAYLOAD_NOT_CLAIMS', 'nested CWTs are not accepted; the payload must be a claims-set')
  }

  const hintProfile = readProfileHint(message.payload)
  const profile = options.profiles.resolve(hintProfile, options.expectedProfile, options.operatorProfiles)
  if (!profile.envelopes.has('cwt')) throw new VerifierError('ERR_PROFILE_CLAIM_INVALID', `profile ${profile.id} does not use CWTs`)
  if (!profile.coseAlgorithms.has(message.algorithm.id)) {
    throw new VerifierError('ERR_COSE_ALG_NOT_ALLOWED', `${message.algorithm.name} is not allowed by profile ${profile.id || '(default)'}`)
  }

  const payload = decodeCbor(message.payload, { maxBytes: EAT_MAX_BYTES, allowIndefinite: profile.allowIndefinite, maxDepth: 16 })
  if (!(payload instanceof Map)) throw new VerifierError('ERR_COSE_PAYLOAD_NOT_CLAIMS', 'CWT payload is not a claims-set map')
  const { key, source, chain, attester } = resolveKey(message, payload, profile, options)
  verifySign1(message, key, { strictCurvePairing: true })

  const claims = decodeEatClaims(payload)
  applyProfileRules(claims, profile, chain, options)
  return { claims, profile, keySource: source, ...(chain === undefined ? {} : { chain }), algorithm: message.algorithm.name, attester }
}

interface ResolvedKey {
  readonly key: PublicKey
  readonly source: KeySource
  readonly chain?: ValidatedChain
  readonly attester: AttesterKey
}

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

/** A key from a validated chain: named by the leaf's thumbprint, bound by its anchor's provisioning. */
function fromChain(chain: ValidatedChain, leafDer: Uint8Array, options: EatVerifyOptions): ResolvedKey {
  const speaksFor = options.keys.anchorSpeaksFor?.(chain.anchorSha256)
  return {
    key: chain.leafKey,
    source: 'x5chain',
    chain,
    attester: { source: 'x5chain', x5tS256: sha256(leafDer), spkiSha256: chain.leafKey.spkiSha256, speaksFor },
  }
}

function fromKid(found: ProvisionedKey, kid: Uint8Array): ResolvedKey {
  // The kid matched a provisioned one, which is text: these bytes are its UTF-8.
  const text = Buffer.from(kid).toString('utf8')
  return { key: found.key, source: 'kid', attester: { source: 'kid', kid: text, spkiSha256: found.key.spkiSha256, speaksFor: found.speaksFor } }
}

function fromUeid(found: ProvisionedKey): ResolvedKey {
  return { key: found.key, source: 'ueid', attester: { source: 'ueid', spkiSha256: found.key.spkiSha256, speaksFor: found.speaksFor } }
}

/** Steps 6–8, shared by the CBOR and JSON forms. */
function applyProfileRules(claims: EatClaims, profile: EatProfile, chain: ValidatedChain | undefined, options: EatVerifyOptions): void {
  for (const field of profile.mandatoryClaims) {
    if (claims[field] === undefined) {
      throw new VerifierError('ERR_PROFILE_CLAIM_MISSING', `profile ${profile.id} requires ${field} (${CLAIM_KEY[field]})`)
    }
  }
  if (profile.claimDependencies) {
    const [first] = checkClaimDependencies(claims)
    if (first !== undefined) throw first
  }
  if (chain?.leaf.ueid !== undefined && claims.ueid !== undefined && !bytesEqual(chain.leaf.ueid, claims.ueid)) {
    throw new VerifierError('ERR_KEY_IDENTITY_MISMATCH', 'the certificate names another device than the ueid claim')
  }
  checkTimeClaims(claims, options.clock, { skewSeconds: options.skewSeconds ?? 0 })
  if (options.expectedNonce !== undefined) checkNonce(claims, options.expectedNonce)
}

/**
 * Generic EAT as a JWT (RFC 9711, RFC 7519): the same steps as `verifyEatCwt`, with the key from
 * `x5c` (every header of a compact JWS is protected), `kid` or the UEID, and JOSE algorithms.
 */
export function verifyEatJws(token: string, options: EatVerifyOptions): VerifiedEat {
  const jws = parseJwsCompact(token, { maxBytes: EAT_MAX_BYTES })
  let hint: JsonObject | undefined
  try {
    const value = parseStrictJsonUtf8(jws.payload, 'JWT claims-set')
    hint = isJsonObject(value) ? value : undefined
  } catch {
    hint = undefined
  }
  const claimed = hint?.['eat_profile']
  const profile = options.profiles.resolve(typeof claimed === 'string' ? claimed : undefined, options.expectedProfile, options.operatorProfiles)
  if (!profile.envelopes.has('jwt')) throw new VerifierError('ERR_PROFILE_CLAIM_INVALID', `profile ${profile.id} does not use JWTs`)
  const alg = jws.header['alg']
  if (typeof alg !== 'string' || !profile.joseAlgorithms.has(alg)) {
    throw new VerifierError('ERR_JOSE_ALG_NOT_ALLOWED', `${String(alg)} is not allowed by profile ${profile.id || '(default)'}`)
  }
  let found: ResolvedKey | undefined
  for (const source of profile.keySources) {
    if (source === 'x5chain' && jws.x5c !== undefined) {
      if (options.keys.x509 === undefined) throw new VerifierError('ERR_X509_NO_ANCHOR', 'no certificate anchors are provisioned')
      const chain = validateChain(jws.x5c, options.keys.x509, options.clock.nowSeconds())
      found = fromChain(chain, jws.x5c[0]!, options)
    } else if (source === 'kid' && jws.kid !== undefined) {
      const key = options.keys.byKid(utf8(jws.kid))
      if (key !== undefined) found = fromKid(key, utf8(jws.kid))
    } else if (source === 'ueid' && typeof hint?.['ueid'] === 'string') {
      let ueid: Uint8Array | undefined
      try {
        ueid = base64urlDecode(hint['ueid'])
      } catch {
        ueid = undefined
      }
      const key = ueid === undefined ? undefined : options.keys.byUeid(ueid)
      if (key !== undefined) found = fromUeid(key)
    }
    if (found !== undefined) break
  }
  if (found === undefined) throw new VerifierError('ERR_KEY_NOT_FOUND', 'no provisioned key or certificate anchor identifies this attester')
  const verified = verifyEatJwt(token, {
    key: found.key,
    algorithms: profile.joseAlgorithms,
    clock: options.clock,
    maxBytes: EAT_MAX_BYTES,
    ...(options.skewSeconds === undefined ? {} : { skewSeconds: options.skewSeconds }),
  })
  const nonces = verified.claims.nonces?.map(nonceFromJson)
  const claims: EatClaims = nonces === undefined ? verified.claims : { ...verified.claims, nonces }
  applyProfileRules(claims, profile, found.chain, options)
  return {
    claims,
    profile,
    keySource: found.source,
    ...(found.chain === undefined ? {} : { chain: found.chain }),
    algorithm: alg,
    attester: found.attester,
  }
}

function readProfileHint(payload: Uint8Array): string | undefined {
  try {
    const map = decodeCbor(payload, { maxBytes: EAT_MAX_BYTES, allowIndefinite: true, maxDepth: 16 })
    const value = map instanceof Map ? map.get(CLAIM_KEY.eatProfile) : undefined
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}

function resolveKey(
  message: UnverifiedSign1,
  payload: CborMap,
  profile: EatProfile,
  options: EatVerifyOptions,
): ResolvedKey {
  for (const source of profile.keySources) {
    if (source === 'x5chain') {
      // RFC 9360 §2: only an integrity-protected chain identifies the key (specs.md Corrections 1).
      const x5chain = message.protectedHeader.get(HEADER.x5chain)
      if (x5chain === undefined) continue
      if (options.keys.x509 === undefined) throw new VerifierError('ERR_X509_NO_ANCHOR', 'no certificate anchors are provisioned')
      const certs = x5chain instanceof Uint8Array ? [x5chain] : (x5chain as Uint8Array[])
      const chain = validateChain(certs, options.keys.x509, options.clock.nowSeconds())
      return fromChain(chain, certs[0]!, options)
    }
    if (source === 'x5t') {
      // Only a protected x5t identifies the key (RFC 9360 §2).
      const x5t = message.protectedHeader.get(HEADER.x5t)
      if (!Array.isArray(x5t) || options.keys.byX5t === undefined) continue
      const [alg, hash] = x5t as [unknown, unknown]
      const pinned = typeof alg === 'number' && hash instanceof Uint8Array ? options.keys.byX5t(alg, hash) : undefined
      if (pinned === undefined) continue
      const now = options.clock.nowSeconds()
      if (now < pinned.notBefore) throw new VerifierError('ERR_X509_NOT_YET_VALID', 'the pinned certificate is not yet valid')
      if (now >= pinned.notAfter) throw new VerifierError('ERR_X509_EXPIRED', 'the pinned certificate has expired')
      const attester: AttesterKey = { source, x5tS256: sha256(pinned.der), spkiSha256: pinned.key.spkiSha256, speaksFor: pinned.speaksFor }
      return { key: pinned.key, source, attester }
    }
    if (source === 'kid' && message.kid !== undefined) {
      const key = options.keys.byKid(message.kid)
      if (key !== undefined) return fromKid(key, message.kid)
    }
    if (source === 'ueid') {
      const ueid = payload.get(CLAIM_KEY.ueid)
      const key = ueid instanceof Uint8Array ? options.keys.byUeid(ueid) : undefined
      if (key !== undefined) return fromUeid(key)
    }
  }
  const hint = message.kid === undefined ? '' : ` (kid ${toHex(message.kid).slice(0, 32)})`
  throw new VerifierError('ERR_KEY_NOT_FOUND', `no provisioned key or certificate anchor identifies this attester${hint}`)
}

/** Whether an error means "the key could not be found" rather than "the Evidence is bad". */
export function isUnknownAttester(err: unknown): boolean {
  return isVerifierError(err, 'ERR_KEY_NOT_FOUND') || isVerifierError(err, 'ERR_X509_UNKNOWN_ANCHOR')
}
