/**
 * Appraisal of a PSA attestation token (RFC 9783 §5 and specs.md §4.3) into one AR4SI submodule:
 *
 * | step | check | on failure |
 * |---|---|---|
 * | 1 | envelope, key by Instance ID, signature/MAC, profile rules | unknown Instance ID: instance-identity 97; anything else: every claim 99 |
 * | 2 | exp, nbf and a future iat against the clock and the one skew setting (as for every format) | every claim 99 |
 * | 3 | freshness: session nonce, or a nonce this verifier issued to this tenant (consumed once) | every claim 99 |
 * | 4 | security lifecycle | instance-identity 96 |
 * | 5 | the Implementation ID is one the key may speak for (the anchor's, or `any`) | hardware 96 |
 * | 6 | Implementation ID has reference values | hardware 97 |
 * | 7 | every software component matches a reference component | executables 33 |
 *
 * Configuration, runtime-opaque, storage-opaque, file-system and sourced-data are not asserted: a
 * PSA token carries nothing that proves them, and AR4SI says to leave unproven claims at 0.
 *
 * The result names the attester: its Instance ID (a UEID) and the SHA-256 of its key's SPKI.
 */
import { isVerifierError } from '../errors/errors.js'
import type { PsaClaims, PsaSoftwareComponent } from '../evidence/psa/claims.js'
import { verifyPsaToken } from '../evidence/psa/verify.js'
import { DEFAULT_SKEW_SECONDS } from '../evidence/time-claims.js'
import type { NonceStore, TenantId } from '../store/types.js'
import { nonceRefusal } from './nonce-refusal.js'
import type { Clock } from '../util/clock.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import { readEndorsements, type Endorsements, type PsaReferenceComponent, type PsaTrustAnchor } from './endorsements.js'
import type { AttesterName } from '../results/ear.js'
import { everyClaim, type Reason, type SubmodAppraisal, type TrustClaim } from './types.js'
import type { AppraisalFacts } from '../policy/input.js'

export const PSA_SUBMOD = 'PSA'
export const PSA_POLICY_ID = 'urn:assay:policy:psa-builtin:1'

/** The claims PSA Evidence must earn for the submodule to be affirming. */
const REQUIRED: readonly TrustClaim[] = ['instance-identity', 'hardware', 'executables']

export interface PsaAppraisalInput {
  readonly tenant: TenantId
  readonly token: Uint8Array
  /** `eat_profile` of the media type, if it named one. */
  readonly expectedProfile?: string | undefined
  /** The session nonce, when the Evidence answers a challenge/response session. */
  readonly sessionNonce?: Uint8Array | undefined
}

export interface PsaAppraisalDeps {
  readonly endorsements: Endorsements
  readonly nonces: NonceStore
  readonly clock: Clock
  /** Tolerated clock difference for exp, nbf and iat. @defaultValue DEFAULT_SKEW_SECONDS */
  readonly skewSeconds?: number
}

const allClaims = (value: number, code: string, detail: string) => everyClaim(value, code, detail, REQUIRED)

export async function appraisePsa(input: PsaAppraisalInput, deps: PsaAppraisalDeps): Promise<SubmodAppraisal> {
  let anchor: PsaTrustAnchor | undefined
  let claims: PsaClaims
  try {
    ;({ claims, anchor } = await readEndorsements(deps.endorsements, (endorsements) => {
      let found: PsaTrustAnchor | undefined
      const verified = verifyPsaToken(input.token, {
        resolveKey: ({ instanceId }) => {
          found = endorsements.psaTrustAnchor(input.tenant, toHex(instanceId))
          return found?.key
        },
        expectedProfile: input.expectedProfile,
        expectedNonce: input.sessionNonce,
        clock: deps.clock,
        skewSeconds: deps.skewSeconds ?? DEFAULT_SKEW_SECONDS,
      })
      return { claims: verified.claims, anchor: found }
    }))
  } catch (err) {
    if (!isVerifierError(err) || err.family !== 'evidence') throw err
    if (err.code === 'ERR_KEY_NOT_FOUND') {
      return {
        vector: { 'instance-identity': 97 },
        reasons: [{ claim: 'instance-identity', value: 97, code: err.code, detail: err.message }],
        required: REQUIRED,
      }
    }
    return allClaims(99, err.code, err.message)
  }

  // The session nonce was matched during verification; otherwise the nonce must be one this
  // verifier issued to this tenant, consumed here, once. Only a nonce verified so is echoed.
  if (input.sessionNonce === undefined) {
    const use = await deps.nonces.consume(input.tenant, claims.nonce)
    if (use !== 'consumed') {
      const e = nonceRefusal(use)
      return allClaims(99, e.code, e.message)
    }
  }
  const verifiedNonce = input.sessionNonce ?? claims.nonce

  const reasons: Reason[] = []
  const vector: Partial<Record<TrustClaim, number>> = {}
  const set = (claim: TrustClaim, value: number, code: string, detail: string) => {
    vector[claim] = value
    reasons.push({ claim, value, code, detail })
  }

  if (claims.lifecycleState === 'secured' || claims.lifecycleState === 'non-psa-rot-debug') {
    set('instance-identity', 2, 'PSA_KEY_VERIFIED', `signed by the provisioned key; lifecycle ${claims.lifecycleState}`)
  } else {
    set('instance-identity', 96, 'PSA_LIFECYCLE_UNTRUSTED', `security lifecycle ${claims.lifecycleState} cannot be trusted`)
  }

  // The key resolved from this Instance ID, so `anchor` is set; it speaks for one Implementation ID or, explicitly, any.
  const bound = anchor!.implementationId
  const reference = await readEndorsements(deps.endorsements, (e) => e.psaReferenceValues(input.tenant, toHex(claims.implementationId)))
  if (bound !== 'any' && !bytesEqual(bound, claims.implementationId)) {
    set('hardware', 96, 'PSA_IMPLEMENTATION_ID_MISMATCH', 'the token reports another Implementation ID than the one provisioned for this Instance ID')
    set('executables', 33, 'PSA_IMPLEMENTATION_ID_MISMATCH', 'software not compared: the key may not speak for this Implementation ID')
  } else if (reference === undefined) {
    set('hardware', 97, 'PSA_IMPLEMENTATION_UNKNOWN', 'no reference values for this Implementation ID')
    set('executables', 33, 'PSA_NO_REFERENCE_VALUES', 'software cannot be recognized without reference values')
  } else {
    set('hardware', 2, 'PSA_IMPLEMENTATION_KNOWN', `Implementation ID has reference values (${reference.source})`)
    const unmatched = claims.softwareComponents.filter((c) => !reference.softwareComponents.some((r) => matches(c, r)))
    if (unmatched.length === 0) {
      set('executables', 2, 'PSA_SOFTWARE_MATCHED', `all ${claims.softwareComponents.length} software components match reference values`)
    } else {
      const names = unmatched.map((c) => c.measurementType ?? toHex(c.measurementValue).slice(0, 16)).join(', ')
      set('executables', 33, 'PSA_SOFTWARE_UNRECOGNIZED', `software components without a matching reference value: ${names}`)
    }
  }
  const compared = bound === 'any' || bytesEqual(bound, claims.implementationId) ? reference : undefined
  const facts: AppraisalFacts = {
    claims,
    key: { source: 'psa-instance-id', ueid: claims.instanceId },
    freshness: { by: input.sessionNonce === undefined ? 'verifier-nonce' : 'session-nonce' },
    reference: {
      found: compared !== undefined,
      source: compared?.source ?? '',
      components: claims.softwareComponents.map((c) => ({
        kind: 'software',
        name: c.measurementType ?? '',
        version: c.version ?? '',
        measurement: toHex(c.measurementValue),
        signer: toHex(c.signerId),
        matched: compared?.softwareComponents.some((r) => matches(c, r)) ?? false,
      })),
    },
  }
  return { vector, reasons, required: REQUIRED, nonce: verifiedNonce, profile: claims.profileUri, attester: attesterOf(claims, anchor!), facts }
}

/** The attester as the result names it: the Instance ID the key is provisioned under, and that key. */
function attesterOf(claims: PsaClaims, anchor: PsaTrustAnchor): AttesterName {
  const spkiS256 = anchor.key.kind === 'public' ? { spkiS256: new Uint8Array(Buffer.from(anchor.key.spkiSha256, 'hex')) } : {}
  return { ueid: claims.instanceId, keySource: 'psa-instance-id', ...spkiS256 }
}

/** Measurement and signer must be equal; type and version only where the reference states them. */
function matches(c: PsaSoftwareComponent, r: PsaReferenceComponent): boolean {
  return (
    bytesEqual(c.measurementValue, r.measurementValue) &&
    bytesEqual(c.signerId, r.signerId) &&
    (r.measurementType === undefined || r.measurementType === c.measurementType) &&
    (r.version === undefined || r.version === c.version)
  )
}
