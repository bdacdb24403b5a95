/**
 * CoRIM decoding and checking (draft-ietf-rats-corim §4, specs.md §7.1 and §7.5): the unsigned
 * corim-map (tag 501) and the signed CoRIM (COSE_Sign1, tag 18, around a tagged 501 payload).
 *
 * Pure: bytes, the caller's trust decisions and the time in; a `Corim` or a `VerifierError`
 * (ERR_CORIM_*) out. The caller chooses which keys may sign a CoRIM (`CorimTrust`); a key, kid or
 * certificate inside the CoRIM is never trusted on its own. Validity periods (rim-validity,
 * corim-meta signature-validity, CWT exp/nbf) are judged at the injected `nowSeconds`.
 */
import { createHash } from 'node:crypto'
import { ALGORITHMS } from '../cose/algorithms.js'
import { CborTag, peekTag, type CborValue } from '../cose/cbor.js'
import { parseSign1, verifySign1, checkKeyForAlgorithm, type UnverifiedSign1 } from '../cose/sign1.js'
import type { PublicKey } from '../crypto/keys.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import { decodeComidMap, decodeDigests, decodeEntities, tagName, textOrUuid, uri, type CorimExtensions } from './comid.js'
import type { CorimProfile, CorimProfileRegistry } from './profile.js'
import {
  asArray,
  asBytes,
  asEpochTime,
  asInt,
  asMap,
  asTag,
  asText,
  checkKeys,
  decodeCorimCbor,
  keyPath,
  malformed,
  unsupported,
} from './read.js'
import type { Comid, Corim, CorimProfileId, CorimSigner, DependentRim, Validity } from './types.js'

export const CORIM_TAG = 501
export const COMID_TAG = 506
export const RIM_CONTENT_TYPE = 'application/rim+cbor'
/** COSE header label of corim-meta (draft-ietf-rats-corim §4.2.1). */
export const HEADER_CORIM_META = 8

/** Who may sign a CoRIM: the caller's decision, never the CoRIM's. */
export interface CorimTrust {
  /** Provisioning public keys; a signed CoRIM must verify with one of them. */
  readonly keys?: readonly PublicKey[]
  /**
   * Validates a protected `x5chain` (leaf first, DER) against the caller's roots at `nowSeconds`
   * and returns the leaf key; throws when the chain is not trusted. Consulted only when the
   * protected header carries an x5chain.
   */
  readonly x5chain?: (chain: readonly Uint8Array[], nowSeconds: number) => PublicKey
  /** Accept an unsigned (tag 501) CoRIM, e.g. one received over an authenticated channel. @defaultValue false */
  readonly acceptUnsigned?: boolean
}

export interface CorimDecodeOptions {
  /** Profiles the caller knows; a CoRIM declaring any other is refused. */
  readonly profiles: CorimProfileRegistry
  /** Upper bound on the CoRIM, signed or not. @defaultValue 262144 (256 KiB) */
  readonly maxBytes?: number
  /** At most this many tags in one CoRIM. @defaultValue 64 */
  readonly maxTags?: number
}

export interface CorimProcessOptions extends CorimDecodeOptions {
  readonly trust: CorimTrust
  /** The time validity periods are judged at, in seconds since the epoch (NumericDate). */
  readonly nowSeconds: number
}

export interface DecodedCorim {
  readonly corim: Corim
  /** The declared profile, or undefined when the CoRIM declares none. */
  readonly profile: CorimProfile | undefined
}

const DEFAULT_MAX_BYTES = 256 * 1024
const DEFAULT_MAX_TAGS = 64

const CORIM_MAP_KEYS = new Set([0, 1, 2, 3, 4, 5])
const VALIDITY_KEYS = new Set([0, 1])
const DEPENDENT_RIM_KEYS = new Set([0, 1])

/** OID contents (BER, no tag/length) in dotted form; malformed when the encoding is not minimal. */
export function oidToDotted(bytes: Uint8Array, path: string): string {
  if (bytes.length === 0 || bytes.length > 64) malformed(path, 'OID must be 1 to 64 bytes')
  const arcs: bigint[] = []
  let acc = 0n
  let start = true
  for (const b of bytes) {
    if (start && b === 0x80) malformed(path, 'OID arc has a leading 0x80 byte')
    acc = (acc << 7n) | BigInt(b & 0x7f)
    start = (b & 0x80) === 0
    if (start) {
      arcs.push(acc)
      acc = 0n
    }
  }
  if (!start) malformed(path, 'OID ends inside an arc')
  const first = arcs[0]!
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n]
  return [...head, ...arcs.slice(1)].join('.')
}

function decodeProfile(v: CborValue | undefined, path: string): CorimProfileId {
  const t = asTag(v, path, 'a 32(uri) or 111(oid) profile')
  if (t.tag === 32) return { type: 'uri', value: uri(t, path) }
  if (t.tag === 111) return { type: 'oid', value: oidToDotted(asBytes(t.value, path), path) }
  return unsupported(path, `profile of type tag ${tagName(t.tag)} is not processed`)
}

export function decodeValidity(v: CborValue | undefined, path: string): Validity {
  const m = asMap(v, path)
  checkKeys(m, path, 'validity-map', VALIDITY_KEYS)
  const notAfter = asEpochTime(m.get(1), keyPath(path, 1))
  if (!m.has(0)) return { notAfter }
  const notBefore = asEpochTime(m.get(0), keyPath(path, 0))
  if (notBefore > notAfter) malformed(path, 'not-before is after not-after')
  return { notBefore, notAfter }
}

/** Refuses `validity` at `nowSeconds`: ERR_CORIM_EXPIRED after not-after, ERR_CORIM_NOT_YET_VALID before not-before. */
export function checkValidity(validity: Validity | undefined, nowSeconds: number, what: string): void {
  if (validity === undefined) return
  if (nowSeconds > validity.notAfter) {
    throw new VerifierError('ERR_CORIM_EXPIRED', `${what} ended at ${new Date(validity.notAfter * 1000).toISOString()}`)
  }
  if (validity.notBefore !== undefined && nowSeconds < validity.notBefore) {
    throw new VerifierError('ERR_CORIM_NOT_YET_VALID', `${what} begins at ${new Date(validity.notBefore * 1000).toISOString()}`)
  }
}

function decodeDependentRims(v: CborValue | undefined, path: string): DependentRim[] {
  return asArray(v, path).map((d, i) => {
    const p = `${path}[${i}]`
    const m = asMap(d, p)
    checkKeys(m, p, 'corim-locator-map', DEPENDENT_RIM_KEYS)
    const hrefValue = m.get(0)
    const href = Array.isArray(hrefValue)
      ? asArray(hrefValue, keyPath(p, 0)).map((h, j) => uri(h, `${keyPath(p, 0)}[${j}]`))
      : [uri(hrefValue, keyPath(p, 0))]
    let thumbprints: DependentRim['thumbprints'] = []
    if (m.has(1)) {
      const t = m.get(1)!
      // One digest is [alg, value]; a list of them is [[alg, value], ...].
      thumbprints = Array.isArray(t) && Array.isArray(t[0]) ? decodeDigests(t, keyPath(p, 1)) : decodeDigests([t], keyPath(p, 1))
    }
    return { href, thumbprints }
  })
}

/**
 * Decodes an unsigned CoRIM (the tagged 501 bytes). Resolves its profile in `options.profiles`
 * before any tag is read, so the profile's extension keys are known; an unknown profile is
 * ERR_CORIM_PROFILE_UNKNOWN. Checks no validity (see `processCorim`).
 */
export function decodeUnsignedCorim(bytes: Uint8Array, options: CorimDecodeOptions): DecodedCorim {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (bytes.length > maxBytes) malformed('corim', `CoRIM is ${bytes.length} bytes; the limit is ${maxBytes}`)
  const top = decodeCorimCbor(bytes, 'corim', maxBytes)
  if (!(top instanceof CborTag) || top.tag !== CORIM_TAG) {
    malformed('corim', `expected 501(corim-map), got ${top instanceof CborTag ? `tag ${tagName(top.tag)}` : 'an untagged item'}`)
  }
  const path = 'corim-map'
  const m = asMap(top.value, path)

  const profileId = m.has(3) ? decodeProfile(m.get(3), keyPath(path, 3)) : undefined
  const profile = profileId === undefined ? undefined : options.profiles.resolve(profileId)
  const ext: CorimExtensions | undefined = profile?.extensions
  const extensions = checkKeys(m, path, 'corim-map', CORIM_MAP_KEYS, ext?.corimMap)

  const id = textOrUuid(m.get(0), keyPath(path, 0), 'corim-id')
  const tagsPath = keyPath(path, 1)
  const tags = asArray(m.get(1), tagsPath)
  const maxTags = options.maxTags ?? DEFAULT_MAX_TAGS
  if (tags.length > maxTags) malformed(tagsPath, `${tags.length} tags; at most ${maxTags}`)
  const comids: Comid[] = tags.map((t, i) => {
    const p = `${tagsPath}[${i}]`
    const tag = asTag(t, p, 'a tagged concise tag')
    if (tag.tag !== COMID_TAG) {
      if (tag.tag === 505 || tag.tag === 508) unsupported(p, `concise tag ${tagName(tag.tag)} is not processed; only CoMID (506) is`)
      malformed(p, `expected 506(bstr .cbor concise-mid-tag), got tag ${tagName(tag.tag)}`)
    }
    const inner = asBytes(tag.value, p)
    const value = decodeCorimCbor(inner, p, maxBytes)
    return decodeComidMap(value, inner, `${p}<<comid>>`, ext)
  })

  const corim: { -readonly [K in keyof Corim]: Corim[K] } = {
    id,
    comids,
    dependentRims: m.has(2) ? decodeDependentRims(m.get(2), keyPath(path, 2)) : [],
    entities: m.has(5) ? decodeEntities(m.get(5), keyPath(path, 5), ext?.entity) : [],
    extensions,
    digest: createHash('sha256').update(bytes).digest(),
  }
  if (profileId !== undefined) corim.profile = profileId
  if (m.has(4)) corim.validity = decodeValidity(m.get(4), keyPath(path, 4))
  return { corim, profile }
}

const SIGNATURE_ALGORITHMS: ReadonlySet<number> = new Set(
  [...ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => a.id),
)
const META_KEYS = new Set([0, 1])
const SIGNER_KEYS = new Set([0, 1])

interface SignedMeta {
  readonly signer: CorimSigner
  readonly validity?: Validity
}

function decodeCorimMeta(bytes: CborValue | undefined, maxBytes: number): SignedMeta {
  const path = 'protected{8}'
  const raw = asBytes(bytes, path)
  const m = asMap(decodeCorimCbor(raw, path, maxBytes), path)
  checkKeys(m, path, 'corim-meta-map', META_KEYS)
  const s = asMap(m.get(0), keyPath(path, 0))
  checkKeys(s, keyPath(path, 0), 'corim-signer-map', SIGNER_KEYS)
  const name = asText(s.get(0), `${keyPath(path, 0)}{0}`)
  if (name.length === 0) malformed(`${keyPath(path, 0)}{0}`, 'signer-name must not be empty')
  const signer: CorimSigner = s.has(1) ? { name, uri: uri(s.get(1), `${keyPath(path, 0)}{1}`) } : { name }
  return m.has(1) ? { signer, validity: decodeValidity(m.get(1), keyPath(path, 1)) } : { signer }
}

const CWT_KEYS = new Set([1, 2, 4, 5, 6])

function decodeCwtClaims(v: CborValue | undefined): SignedMeta & { readonly sub?: string } {
  const path = 'protected{15}'
  const m = asMap(v, path)
  checkKeys(m, path, 'CWT claims', CWT_KEYS)
  const iss = asText(m.get(1), keyPath(path, 1))
  if (iss.length === 0) malformed(keyPath(path, 1), 'iss must not be empty')
  const exp = m.has(4) ? asInt(m.get(4), keyPath(path, 4)) : undefined
  const nbf = m.has(5) ? asInt(m.get(5), keyPath(path, 5)) : undefined
  if (m.has(6)) asInt(m.get(6), keyPath(path, 6))
  const out: { signer: CorimSigner; validity?: Validity; sub?: string } = { signer: { name: iss } }
  if (m.has(2)) out.sub = asText(m.get(2), keyPath(path, 2))
  if (exp !== undefined) out.validity = nbf === undefined ? { notAfter: exp } : { notBefore: nbf, notAfter: exp }
  else if (nbf !== undefined) out.validity = { notBefore: nbf, notAfter: Number.MAX_SAFE_INTEGER }
  return out
}

/** Maps a COSE-layer refusal onto the CoRIM codes, keeping it as the cause. */
function fromCose(cause: unknown): never {
  if (!isVerifierError(cause) || cause.code.startsWith('ERR_CORIM_')) throw cause
  const code = cause.code
  const signature = code === 'ERR_COSE_SIGNATURE_INVALID' || code === 'ERR_COSE_SIGNATURE_LENGTH' || code === 'ERR_COSE_SIGNATURE_DER'
  const unsupportedAlg = code === 'ERR_COSE_ALG_UNKNOWN' || code === 'ERR_COSE_ALG_NOT_ALLOWED' || code === 'ERR_COSE_CRIT_UNSUPPORTED'
  const target = signature ? 'ERR_CORIM_SIGNATURE' : unsupportedAlg ? 'ERR_CORIM_UNSUPPORTED' : 'ERR_CORIM_MALFORMED'
  throw new VerifierError(target, `signed CoRIM: ${cause.message}`, { cause })
}

function verifyWithTrust(message: UnverifiedSign1, trust: CorimTrust, nowSeconds: number) {
  const chain = message.protectedHeader.get(33)
  const candidates: PublicKey[] = []
  if (chain !== undefined) {
    if (trust.x5chain === undefined) {
      throw new VerifierError('ERR_CORIM_SIGNATURE', 'signed CoRIM carries an x5chain and no certificate roots are configured')
    }
    const certs = chain instanceof Uint8Array ? [chain] : (chain as Uint8Array[])
    try {
      candidates.push(trust.x5chain(certs, nowSeconds))
    } catch (cause) {
      throw new VerifierError('ERR_CORIM_SIGNATURE', `signed CoRIM: x5chain is not trusted (${cause instanceof Error ? cause.message : 'refused'})`, {
        cause,
      })
    }
  } else {
    candidates.push(...(trust.keys ?? []))
  }
  const usable = candidates.filter((k) => {
    try {
      checkKeyForAlgorithm(message.algorithm, k)
      return true
    } catch {
      return false
    }
  })
  if (usable.length === 0) {
    throw new VerifierError('ERR_CORIM_SIGNATURE', `signed CoRIM: no trusted key can verify ${message.algorithm.name}`)
  }
  let last: unknown
  for (const key of usable) {
    try {
      return verifySign1(message, key)
    } catch (cause) {
      last = cause
    }
  }
  throw new VerifierError('ERR_CORIM_SIGNATURE', 'signed CoRIM: the signature does not verify with any trusted key', { cause: last })
}

/**
 * Decodes and verifies a signed CoRIM (COSE_Sign1, tag 18): protected alg, content type
 * `application/rim+cbor`, corim-meta (8) and/or CWT claims (15), payload a tagged 501 CoRIM.
 * Checks the signature with `trust` and the signature validity at `nowSeconds`.
 */
export function decodeSignedCorim(bytes: Uint8Array, options: CorimProcessOptions): DecodedCorim {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  let message: UnverifiedSign1
  try {
    message = parseSign1(bytes, { algorithms: SIGNATURE_ALGORITHMS, maxBytes, understood: new Set([HEADER_CORIM_META]) })
  } catch (cause) {
    return fromCose(cause)
  }
  const header = message.protectedHeader
  if (header.has(258) || header.has(259)) unsupported('protected{258}', 'hash-envelope signed CoRIMs are not processed')
  const contentType = header.get(3)
  if (contentType !== RIM_CONTENT_TYPE) {
    malformed('protected{3}', `content type must be "${RIM_CONTENT_TYPE}", got ${JSON.stringify(contentType ?? null)}`)
  }
  if (message.unprotectedHeader.has(HEADER_CORIM_META) || message.unprotectedHeader.has(15)) {
    malformed('unprotected', 'corim-meta and CWT claims must be in the protected header')
  }
  if (message.payload === null) unsupported('payload', 'detached CoRIM payloads are not processed')
  if (!header.has(HEADER_CORIM_META) && !header.has(15)) malformed('protected', 'a signed CoRIM needs corim-meta (8) or CWT claims (15)')
  const meta = header.has(HEADER_CORIM_META) ? decodeCorimMeta(header.get(HEADER_CORIM_META), maxBytes) : undefined
  const cwt = header.has(15) ? decodeCwtClaims(header.get(15)) : undefined
  if (meta !== undefined && cwt !== undefined && meta.signer.name !== cwt.signer.name) {
    malformed('protected{15}{1}', 'CWT iss disagrees with the corim-meta signer-name')
  }

  const trust = options.trust
  let verified
  try {
    verified = verifyWithTrust(message, trust, options.nowSeconds)
  } catch (cause) {
    return fromCose(cause)
  }
  checkValidity(meta?.validity, options.nowSeconds, 'CoRIM signature validity')
  checkValidity(cwt?.validity, options.nowSeconds, 'CoRIM CWT validity')

  const decoded = decodeUnsignedCorim(verified.payload, options)
  if (cwt?.sub !== undefined && typeof decoded.corim.id === 'string' && cwt.sub !== decoded.corim.id) {
    malformed('protected{15}{2}', 'CWT sub disagrees with the corim-id')
  }
  const signer = (meta ?? cwt)!.signer
  const validity = meta?.validity ?? cwt?.validity
  return {
    profile: decoded.profile,
    corim: {
      ...decoded.corim,
      signature: { signer, ...(validity === undefined ? {} : { validity }), keySpkiSha256: verified.key.spkiSha256 },
    },
  }
}

/**
 * The whole intake check of one CoRIM: signed (18) or unsigned (501) by its first tag; signature
 * with the caller's trust; signature validity and rim-validity at `nowSeconds`; the declared
 * profile known; the profile's rules. Returns the decoded CoRIM and its profile.
 */
export function processCorim(bytes: Uint8Array, options: CorimProcessOptions): DecodedCorim {
  const head = peekTag(bytes)
  let decoded: DecodedCorim
  if (head?.tag === 18) decoded = decodeSignedCorim(bytes, options)
  else if (head?.tag === CORIM_TAG) {
    if (options.trust.acceptUnsigned !== true) {
      throw new VerifierError('ERR_CORIM_SIGNATURE', 'unsigned CoRIM refused: this intake requires a signed CoRIM')
    }
    decoded = decodeUnsignedCorim(bytes, options)
  } else {
    return malformed('corim', `expected 18(COSE_Sign1) or 501(corim-map), got ${head === undefined ? 'an untagged item' : `tag ${String(head.tag)}`}`)
  }
  checkValidity(decoded.corim.validity, options.nowSeconds, 'CoRIM rim-validity')
  decoded.profile?.validate?.(decoded.corim)
  return decoded
}
