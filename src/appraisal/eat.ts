/**
 * Appraisal of generic EAT (RFC 9711) into one AR4SI submodule per attester: the token's own, and
 * one per submodule it carries.
 *
 * | claim | from | values |
 * |---|---|---|
 * | instance-identity | key verified (kid, UEID, or x5chain to an anchor) and identity bound | 2; unknown attester 97; revoked certificate 96; a UEID the key may not speak for 96; anything else 99 |
 * | hardware | (oemid, hwmodel) has reference values and the key may speak for it | 2; unknown or absent 97; a class the key may not speak for 96 |
 * | executables | swname/swversion approved, measurements digests approved, measres all success, oemboot | 2; unrecognized 33; oemboot false 32; a failed measurement 96 |
 * | configuration | dbgstat | enabled: 32 or 96 per profile; otherwise not asserted |
 *
 * The profile is a built-in one or the tenant's operator-defined profile (`Endorsements.eatProfile`,
 * looked up only for an id no built-in has). A profile with `referenceValues: 'none'` compares
 * nothing with reference values: the submodule then requires instance-identity only, and hardware
 * and executables are asserted only against it (a class the key may not claim, a failed measurement).
 *
 * Freshness comes first. Evidence that carries a nonce is fresh only through it: it matches the
 * session's nonce, or it is a nonce this verifier issued to this tenant, consumed here once
 * (atomically, by the store). Only Evidence that carries no nonce, under a profile that allows it,
 * is fresh by an `iat` within the profile's window. Stale or replayed Evidence gets 99 everywhere,
 * and only a verified nonce is ever echoed in the result.
 *
 * Submodule names are `EAT/<label>/<label>…`, each label escaped (`%` → `%25`, `/` → `%2F`) so no
 * label can stand for a path; two submodules that still end up with one name make that name
 * contraindicated. A detached claims-set of a bundle that no digest in the main token covers gets a
 * contraindicated submodule of its own, never silently dropped.
 *
 * Submodules inherit nothing (RFC 9711 §4.2.18): a nested claims-set is covered by the parent's
 * signature but appraised on its own claims; a nested token is verified with its own key path, and
 * its failure makes only its own submodule contraindicated. A parent that fails takes its
 * submodules down with it (nothing it carries can be trusted).
 *
 * Identity is bound to the key (`SpeaksFor`): the UEID a claims-set claims (or its certificate names)
 * and its (oemid, hwmodel) must be ones the verifying key, pinned certificate or anchor was
 * provisioned to speak for. That holds for the claims-sets nested in a token too, since the same key
 * signed them; a nested token is bound by its own key. The result names the attester: its UEID and
 * the key that verified it.
 */
import { createHash } from 'node:crypto'
import type { CborMap } from '../cose/cbor.js'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { decodeEatClaims, type EatClaims } from '../evidence/eat/claims.js'
import type { EatProfile, ProfileRegistry } from '../evidence/eat/profiles.js'
import { MAX_PROFILE_ID_LENGTH } from '../evidence/eat/profile-document.js'
import {
  bindDetachedClaims,
  bindDetachedJsonClaims,
  parseCborBundle,
  parseJsonBundle,
  type UnverifiedBundle,
  type UnverifiedJsonBundle,
} from '../evidence/eat/bundle.js'
import { decodeEatJsonClaims } from '../evidence/eat/json-claims.js'
import { parseStrictJsonUtf8 } from '../jose/json.js'
import { verifyEatCwt, verifyEatJws, isUnknownAttester, type VerifiedEat } from '../evidence/eat/verify-eat.js'
import { DEFAULT_SKEW_SECONDS } from '../evidence/time-claims.js'
import { isNonceSize } from '../evidence/eat/nonce.js'
import { mayClaimClass, mayClaimUeid, onlyUeid, SPEAKS_FOR_NOTHING, type SpeaksFor } from '../evidence/speaks-for.js'
import type { AttesterName } from '../results/ear.js'
import type { NonceStore, NonceUse, TenantId } from '../store/types.js'
import { nonceRefusal } from './nonce-refusal.js'
import type { Clock } from '../util/clock.js'
import { base64urlDecode } from '../util/base64url.js'
import { fromHex, toHex, utf8 } from '../util/bytes.js'
import { oemidKey, readEndorsements, type Endorsements } from './endorsements.js'
import { everyClaim as everyOne, type Reason, type SubmodAppraisal, type TrustClaim } from './types.js'
import type { AppraisalFacts, ComponentFact } from '../policy/input.js'

export const EAT_SUBMOD = 'EAT'
export const EAT_POLICY_ID = 'urn:assay:policy:eat-builtin:1'
const REQUIRED: readonly TrustClaim[] = ['instance-identity', 'hardware', 'executables']
/** What a profile that applies no reference values (`referenceValues: 'none'`) requires. */
const IDENTITY_ONLY: readonly TrustClaim[] = ['instance-identity']
/** Submodules nest; this bounds the recursion (and the work one token can cause). */
const MAX_SUBMOD_DEPTH = 4
const MAX_SUBMODS = 32

export interface EatAppraisalInput {
  readonly tenant: TenantId
  readonly token: Uint8Array
  /** CWT (the default) or JWT (the token's bytes are then its compact serialization). */
  readonly envelope?: 'cwt' | 'jwt'
  readonly expectedProfile?: string | undefined
  readonly sessionNonce?: Uint8Array | undefined
  /** A nested token is fresh by inclusion in a fresh parent; its own nonce is not consumed again. */
  readonly freshByInclusion?: boolean
  /** The Evidence is a detached EAT bundle (RFC 9711 §5); `token` is then its main token. */
  readonly bundle?: { readonly kind: 'cbor'; readonly value: UnverifiedBundle } | { readonly kind: 'json'; readonly value: UnverifiedJsonBundle }
}

/** Appraises a detached EAT bundle: its main token, and each detached claims-set bound by its digest. */
export async function appraiseEatBundle(
  input: Omit<EatAppraisalInput, 'token' | 'envelope' | 'bundle'> & { readonly bytes: Uint8Array; readonly kind: 'cbor' | 'json' },
  deps: EatAppraisalDeps,
): Promise<Record<string, SubmodAppraisal>> {
  try {
    if (input.kind === 'cbor') {
      const value = parseCborBundle(input.bytes)
      return await appraiseEat({ ...input, token: value.mainToken, bundle: { kind: 'cbor', value } }, deps)
    }
    const value = parseJsonBundle(parseStrictJsonUtf8(input.bytes, 'JSON bundle'))
    const main = value.main
    const token = main.type === 'JWT' ? utf8(main.token) : main.bytes
    return await appraiseEat({ ...input, token, envelope: main.type === 'JWT' ? 'jwt' : 'cwt', bundle: { kind: 'json', value } }, deps)
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
    return { [EAT_SUBMOD]: everyClaim(99, err.code, err.message) }
  }
}

/** The detached claims-sets of a bundle whose digests match the verified main token, by label. */
function bindBundle(claims: EatClaims, bundle: NonNullable<EatAppraisalInput['bundle']>): Map<string, EatClaims | VerifierError> {
  const out = new Map<string, EatClaims | VerifierError>()
  for (const [label, bytes] of bundle.value.detached) {
    try {
      const one = new Map([[label, bytes]])
      out.set(
        label,
        bundle.kind === 'cbor'
          ? decodeEatClaims(bindDetachedClaims(claims, { mainToken: bundle.value.mainToken, detached: one }).get(label)!)
          : bindDetachedJsonClaims(claims, { main: bundle.value.main, detached: one }).get(label)!,
      )
    } catch (err) {
      if (!isVerifierError(err) || err.family !== 'evidence') throw err
      out.set(label, err)
    }
  }
  return out
}

export interface EatAppraisalDeps {
  readonly endorsements: Endorsements
  readonly nonces: NonceStore
  readonly profiles: ProfileRegistry
  readonly clock: Clock
  /** Tolerated clock difference for exp, nbf and iat. @defaultValue DEFAULT_SKEW_SECONDS */
  readonly skewSeconds?: number
}

/** The most `eat_nonce` values one token may offer for consumption (each costs a store round trip). */
const MAX_NONCES = 8

const everyClaim = (value: number, code: string, detail: string) => everyOne(value, code, detail, REQUIRED)

/**
 * The deps of one verified token and the claims-sets it carries: what its key may speak for. Passed
 * down through the submodule walk so nested claims-sets are held to the same binding; a nested token
 * replaces it with its own key's.
 */
interface BoundDeps extends EatAppraisalDeps {
  readonly speaksFor?: SpeaksFor
  /** How the verifying key was found, and how the claims-set is fresh: what a policy is told. */
  readonly facts?: Pick<AppraisalFacts, 'key' | 'freshness'>
}

/** How the key was found, as a policy is told (`pinned` is a certificate found by its x5t). */
function keyFacts(verified: VerifiedEat): AppraisalFacts['key'] {
  const key = verified.attester
  return {
    source: key.source === 'x5t' ? 'pinned' : key.source,
    kid: key.kid,
    ueid: attesterName(verified).ueid,
    chainSubject: verified.chain?.leaf.subject,
    anchorSubject: verified.chain?.anchorSubject,
  }
}

/** The attester as the result names it: its UEID (claimed, certified, or the one its key is bound to) and its key. */
function attesterName(verified: VerifiedEat): AttesterName {
  const key = verified.attester
  const bound = key.speaksFor === undefined ? undefined : onlyUeid(key.speaksFor)
  const ueid = verified.claims.ueid ?? verified.chain?.leaf.ueid ?? (bound === undefined ? undefined : fromHex(bound))
  return {
    keySource: key.source,
    ...(ueid !== undefined && ueid.length >= 7 && ueid.length <= 33 ? { ueid } : {}),
    ...(key.kid === undefined ? {} : { kid: key.kid }),
    ...(key.x5tS256 === undefined ? {} : { x5tS256: key.x5tS256 }),
    spkiS256: fromHex(key.spkiSha256),
  }
}

/** The result of a verification failure, by what it says about the attester. */
function failed(err: VerifierError): SubmodAppraisal {
  if (isUnknownAttester(err)) {
    return { vector: { 'instance-identity': 97 }, reasons: [{ claim: 'instance-identity', value: 97, code: err.code, detail: err.message }], required: REQUIRED }
  }
  if (err.code === 'ERR_X509_REVOKED') {
    return { vector: { 'instance-identity': 96 }, reasons: [{ claim: 'instance-identity', value: 96, code: err.code, detail: err.message }], required: REQUIRED }
  }
  return everyClaim(99, err.code, err.message)
}

/** Appraises a CWT EAT; returns its submodule and those of the submodules it carries, by label. */
export async function appraiseEat(input: EatAppraisalInput, deps: EatAppraisalDeps): Promise<Record<string, SubmodAppraisal>> {
  let verified: VerifiedEat
  try {
    verified = await readEndorsements(deps.endorsements, (endorsements) => {
      const options = {
        profiles: deps.profiles,
        operatorProfiles: (id: string) => (id.length <= MAX_PROFILE_ID_LENGTH ? endorsements.eatProfile?.(input.tenant, id) : undefined),
        keys: endorsements.eatKeys(input.tenant),
        clock: deps.clock,
        skewSeconds: deps.skewSeconds ?? DEFAULT_SKEW_SECONDS,
        expectedProfile: input.expectedProfile,
        expectedNonce: input.sessionNonce,
      }
      return input.envelope === 'jwt' ? verifyEatJws(jwsText(input.token), options) : verifyEatCwt(input.token, options)
    })
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
    return { [EAT_SUBMOD]: failed(err) }
  }

  const { claims, profile } = verified
  const fresh = await freshness(claims, profile, input, deps)
  if (fresh instanceof VerifierError) return { [EAT_SUBMOD]: everyClaim(99, fresh.code, fresh.message) }
  if (input.bundle !== undefined && !profile.envelopes.has(input.bundle.kind === 'cbor' ? 'cbor-bundle' : 'json-bundle')) {
    return { [EAT_SUBMOD]: everyClaim(99, 'ERR_PROFILE_CLAIM_INVALID', `profile ${profile.id} does not allow detached bundles`) }
  }
  const detached = input.bundle === undefined ? undefined : bindBundle(claims, input.bundle)

  const by = input.freshByInclusion === true ? 'parent' : input.sessionNonce !== undefined ? 'session-nonce' : fresh.nonce !== undefined ? 'verifier-nonce' : 'iat'
  const bound: BoundDeps = {
    ...deps,
    speaksFor: verified.attester.speaksFor ?? SPEAKS_FOR_NOTHING,
    facts: { key: keyFacts(verified), freshness: { by } },
  }
  const out: Record<string, SubmodAppraisal> = {}
  out[EAT_SUBMOD] = {
    ...(await readEndorsements(deps.endorsements, (endorsements) =>
      appraiseClaims(
        claims,
        profile,
        input.tenant,
        { ...bound, endorsements },
        [{ claim: 'instance-identity', value: 2, code: 'EAT_KEY_VERIFIED', detail: `signed by a provisioned key (${verified.attester.source})` }],
        verified.chain?.leaf.ueid,
      ),
    )),
    ...(fresh.nonce === undefined ? {} : { nonce: fresh.nonce }),
    // The profile it was appraised under, whether the token or the media type named it.
    ...(profile.id === '' ? {} : { profile: profile.id }),
    attester: attesterName(verified),
  }
  await appraiseSubmods(claims, profile, input, bound, EAT_SUBMOD, 1, out, detached)
  for (const [label, bound] of detached ?? []) {
    if (claims.submods?.get(label)?.kind === 'digest') continue
    const detail = bound instanceof VerifierError ? bound.message : `no digest in the main token for ${label}`
    addSubmod(out, submodName(EAT_SUBMOD, label), everyClaim(99, 'ERR_BUNDLE_DIGEST_MISMATCH', `${detail}: no signature covers this detached claims-set`))
  }
  return out
}

/** A submodule's name under its parent's: the label escaped so that it cannot pose as a path. */
export function submodName(parent: string, label: string): string {
  return `${parent}/${label.replaceAll('%', '%25').replaceAll('/', '%2F')}`
}

/** Adds a submodule result; a name given twice fails closed (contraindicated), never overwrites. */
export function addSubmod(out: Record<string, SubmodAppraisal>, name: string, result: SubmodAppraisal): void {
  out[name] = Object.hasOwn(out, name)
    ? everyClaim(99, 'EAT_SUBMOD_NAME_COLLISION', `more than one submodule is named ${name}`)
    : result
}

/**
 * Whether verified claims are fresh, and by which nonce (the one to echo). A session nonce was
 * matched during verification; a nested token is fresh through its parent and echoes nothing.
 */
async function freshness(
  claims: EatClaims,
  profile: EatProfile,
  input: EatAppraisalInput,
  deps: EatAppraisalDeps,
): Promise<{ readonly nonce?: Uint8Array } | VerifierError> {
  if (input.freshByInclusion === true) return {}
  if (input.sessionNonce !== undefined) return { nonce: input.sessionNonce }
  const nonces = claims.nonces ?? []
  if (nonces.length > MAX_NONCES) {
    return new VerifierError('ERR_PROFILE_CLAIM_INVALID', `${nonces.length} eat_nonce values; at most ${MAX_NONCES} are considered`)
  }
  if (nonces.length > 0) {
    // The Evidence names its freshness: only that nonce can provide it, never a recent iat.
    let refused: Exclude<NonceUse, 'consumed'> = 'unknown'
    for (const nonce of nonces) {
      if (!isNonceSize(nonce)) continue
      const use = await deps.nonces.consume(input.tenant, nonce)
      if (use === 'consumed') return { nonce }
      // Of several refused nonces, the most telling reason is reported: a replay, then an expiry.
      if (use === 'used' || (use === 'expired' && refused === 'unknown')) refused = use
    }
    return nonceRefusal(refused)
  }
  if (profile.freshness === 'nonce') return new VerifierError('ERR_PROFILE_CLAIM_MISSING', 'the profile requires a verifier nonce')
  const iat = claims.iat === undefined ? undefined : Number(claims.iat)
  const now = deps.clock.nowSeconds()
  // A future iat beyond the skew was refused with the other time claims.
  if (iat === undefined || now - iat > profile.maxAgeSeconds) {
    return new VerifierError('ERR_CLAIMS_STALE', `no eat_nonce, and no iat within ${profile.maxAgeSeconds} s`)
  }
  return {}
}

/**
 * Hardware, executables and configuration from one claims-set; `identity` says how it was
 * authenticated, `deps.speaksFor` what its key may claim (nothing, when unknown), and
 * `certifiedUeid` the device the key's certificate names, if any.
 */
function appraiseClaims(
  claims: EatClaims,
  profile: EatProfile,
  tenant: TenantId,
  deps: BoundDeps,
  identity: readonly Reason[],
  certifiedUeid?: Uint8Array,
): SubmodAppraisal {
  const vector: Partial<Record<TrustClaim, number>> = {}
  const reasons: Reason[] = []
  const set = (claim: TrustClaim, value: number, code: string, detail: string) => {
    vector[claim] = value
    reasons.push({ claim, value, code, detail })
  }
  const components: ComponentFact[] = []
  const withFacts = (result: SubmodAppraisal, reference?: { readonly source: string }): SubmodAppraisal =>
    deps.facts === undefined
      ? result
      : { ...result, facts: { ...deps.facts, claims, reference: { found: reference !== undefined, source: reference?.source ?? '', components } } }
  const binding = deps.speaksFor ?? SPEAKS_FOR_NOTHING
  const ueid = claims.ueid ?? certifiedUeid
  if (!mayClaimUeid(binding, ueid)) {
    set('instance-identity', 96, 'EAT_UEID_NOT_BOUND', `the verifying key may not speak for UEID ${toHex(ueid!)}`)
  } else {
    for (const r of identity) if (r.claim !== 'status') set(r.claim, r.value, r.code, r.detail)
  }

  const classBound = mayClaimClass(binding, claims.oemid, claims.hwmodel)
  if (profile.referenceValues === 'none') {
    // The profile appraises identity only: what the key may not claim, or a failure the device
    // reports itself, still counts against it; nothing is compared with reference values.
    if (!classBound) set('hardware', 96, 'EAT_CLASS_NOT_BOUND', 'the verifying key may not speak for this (oemid, hwmodel)')
    if (claims.measres?.some((m) => m.results.some((r) => r.result === 'fail')) === true) {
      set('executables', 96, 'EAT_MEASUREMENT_FAILED', 'a measurement result reports fail')
    }
    if (claims.dbgstat === 'enabled') set('configuration', profile.debugEnabled === 'contraindicated' ? 96 : 32, 'EAT_DEBUG_ENABLED', 'debug is enabled')
    return withFacts({ vector, reasons, required: IDENTITY_ONLY })
  }
  const reference =
    classBound && claims.oemid !== undefined && claims.hwmodel !== undefined
      ? deps.endorsements.eatReferenceValues(tenant, oemidKey(claims.oemid), toHex(claims.hwmodel))
      : undefined
  if (!classBound) set('hardware', 96, 'EAT_CLASS_NOT_BOUND', 'the verifying key may not speak for this (oemid, hwmodel)')
  else if (reference === undefined) set('hardware', 97, 'EAT_HARDWARE_UNKNOWN', 'no reference values for this (oemid, hwmodel)')
  else set('hardware', 2, 'EAT_HARDWARE_KNOWN', `(oemid, hwmodel) has reference values (${reference.source})`)

  const failedResult = claims.measres?.some((m) => m.results.some((r) => r.result === 'fail'))
  if (failedResult === true) {
    set('executables', 96, 'EAT_MEASUREMENT_FAILED', 'a measurement result reports fail')
  } else if (!classBound) {
    set('executables', 33, 'EAT_CLASS_NOT_BOUND', 'software not compared: the verifying key may not speak for this (oemid, hwmodel)')
  } else if (reference !== undefined) {
    const problems: string[] = []
    if (reference.software.size > 0) {
      const versions = claims.swname === undefined ? undefined : reference.software.get(claims.swname)
      const before = problems.length
      if (versions === undefined) problems.push(`software ${claims.swname ?? '(unnamed)'} is not approved`)
      else if (versions !== 'any' && (claims.swversion === undefined || !versions.has(claims.swversion.version))) {
        problems.push(`version ${claims.swversion?.version ?? '(none)'} of ${claims.swname} is not approved`)
      }
      const software = { name: claims.swname ?? '', version: claims.swversion?.version ?? '', measurement: '', signer: '' }
      components.push({ kind: 'software', ...software, matched: problems.length === before })
    }
    for (const [what, approved, bodies] of [
      ['measurements', reference.measurementDigests, claims.measurements],
      ['manifests', reference.manifestDigests, claims.manifests],
    ] as const) {
      if (approved === undefined || approved.size === 0) continue
      const unknown = (bodies ?? []).filter((m) => !approved.has(sha256Hex(m.body)))
      for (const m of bodies ?? []) {
        const digest = sha256Hex(m.body)
        components.push({ kind: what === 'measurements' ? 'measurement' : 'manifest', name: '', version: '', measurement: digest, signer: '', matched: approved.has(digest) })
      }
      if ((bodies ?? []).length === 0) problems.push(`no ${what} to compare with reference values`)
      else if (unknown.length > 0) problems.push(`${unknown.length} ${what} match no reference digest`)
    }
    if (problems.length > 0) set('executables', 33, 'EAT_SOFTWARE_UNRECOGNIZED', problems.join('; '))
    else if (claims.oemboot === false) set('executables', 32, 'EAT_OEMBOOT_FALSE', 'the device did not boot OEM-authorised software')
    else set('executables', 2, 'EAT_SOFTWARE_APPROVED', 'software matches reference values')
  } else {
    set('executables', 33, 'EAT_NO_REFERENCE_VALUES', 'software cannot be recognized without reference values')
  }

  if (claims.dbgstat === 'enabled') {
    const value = profile.debugEnabled === 'contraindicated' ? 96 : 32
    set('configuration', value, 'EAT_DEBUG_ENABLED', 'debug is enabled')
  }
  return withFacts({ vector, reasons, required: REQUIRED }, reference)
}

/** A compact JWS is ASCII; anything else cannot be one. */
function jwsText(bytes: Uint8Array): string {
  for (const b of bytes) if (b < 0x21 || b > 0x7e) throw new VerifierError('ERR_JOSE_MALFORMED', 'a JWT is ASCII text')
  return Buffer.from(bytes).toString('latin1')
}

/**
 * Digest of a measurement body as the CBOR form carries it: a JSON body is base64url of those
 * bytes (RFC 9711 JSON interoperability), so both encodings of one measurement match one reference.
 */
function sha256Hex(body: Uint8Array | string): string {
  let bytes: Uint8Array | string = body
  if (typeof body === 'string') {
    try {
      bytes = base64urlDecode(body)
    } catch {
      bytes = body
    }
  }
  return createHash('sha256').update(bytes).digest('hex')
}

async function appraiseSubmods(
  claims: EatClaims,
  profile: EatProfile,
  input: EatAppraisalInput,
  deps: EatAppraisalDeps,
  parent: string,
  depth: number,
  out: Record<string, SubmodAppraisal>,
  detached?: ReadonlyMap<string, EatClaims | VerifierError>,
): Promise<void> {
  if (claims.submods === undefined) return
  if (depth > MAX_SUBMOD_DEPTH || claims.submods.size > MAX_SUBMODS) {
    addSubmod(out, `${parent}/*`, everyClaim(1, 'EAT_SUBMODS_LIMIT', `more than ${MAX_SUBMODS} submodules or nesting deeper than ${MAX_SUBMOD_DEPTH}`))
    return
  }
  /** A claims-set inside the parent: covered by its signature, appraised on its own claims. */
  const nestedClaims = async (decode: () => EatClaims, name: string): Promise<void> => {
    let nested: EatClaims
    try {
      nested = decode()
    } catch (err) {
      if (!isVerifierError(err) || err.family !== 'evidence') throw err
      addSubmod(out, name, everyClaim(99, err.code, err.message))
      return
    }
    const identity: Reason[] = [{ claim: 'instance-identity', value: 2, code: 'EAT_COVERED_BY_PARENT', detail: `claims-set signed within ${parent}` }]
    // Covered by the parent's signature and fresh through it: the parent's key, freshness `parent`.
    const parentFacts = (deps as BoundDeps).facts
    const facts = parentFacts === undefined ? {} : { facts: { key: parentFacts.key, freshness: { by: 'parent' as const } } }
    addSubmod(out, name, await readEndorsements(deps.endorsements, (endorsements) => appraiseClaims(nested, profile, input.tenant, { ...deps, endorsements, ...facts }, identity)))
    await appraiseSubmods(nested, profile, input, deps, name, depth + 1, out)
  }
  /** A token inside the parent: its own key path; fresh by inclusion; its submodules renamed under `name`. */
  const nestedToken = (nested: Record<string, SubmodAppraisal>, name: string): void => {
    for (const [k, v] of Object.entries(nested)) addSubmod(out, k === EAT_SUBMOD ? name : `${name}/${k.slice(EAT_SUBMOD.length + 1)}`, v)
  }
  for (const [label, submod] of claims.submods) {
    const name = submodName(parent, label)
    switch (submod.kind) {
      case 'claims':
        await nestedClaims(() => decodeEatClaims(submod.claims as CborMap), name)
        break
      case 'json-claims':
        await nestedClaims(() => decodeEatJsonClaims(submod.claims), name)
        break
      case 'jwt':
        nestedToken(await appraiseEat({ tenant: input.tenant, token: utf8(submod.token), envelope: 'jwt', freshByInclusion: true }, deps), name)
        break
      case 'token':
        nestedToken(await appraiseEat({ tenant: input.tenant, token: submod.bytes, freshByInclusion: true }, deps), name)
        break
      case 'digest': {
        // A detached claims-set, bound to this digest when the Evidence came as a bundle.
        const bound = detached?.get(label)
        if (bound === undefined) addSubmod(out, name, everyClaim(1, 'EAT_DETACHED_MISSING', 'the detached claims-set was not supplied'))
        else if (bound instanceof VerifierError) addSubmod(out, name, everyClaim(99, bound.code, bound.message))
        else await nestedClaims(() => bound, name)
        break
      }
      default:
        addSubmod(out, name, everyClaim(1, 'EAT_SUBMOD_UNSUPPORTED', `${submod.kind} submodules are not appraised yet`))
    }
  }
}
