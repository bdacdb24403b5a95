/**
 * PSA attestation token (RFC 9783): profile identifiers, media types and CBOR claim labels.
 *
 * Named constants only; the rules that use them live in `claims.ts`. Three claim-key layouts are
 * in use: the RFC 9783 TF-M profile, the legacy `PSA_IOT_PROFILE_1` (private-use keys, RFC 9783
 * §4.6) and TF-M's interim `http://arm.com/psa/2.0.0` (RFC 9783 keys, but boot seed under 2397).
 */

/** `eat_profile` (265) value of the RFC 9783 TF-M profile (RFC 9783 §4.5.2, §5.2). */
export const PSA_PROFILE_TFM = 'tag:psacertified.org,2023:psa#tfm'

/** Base of derived PSA profile identifiers: a fragment is appended (RFC 9783 §4.5.2.1). */
export const PSA_PROFILE_BASE = 'tag:psacertified.org,2023:psa'

/** Value of the legacy profile claim (-75000) in `PSA_IOT_PROFILE_1` tokens (RFC 9783 §4.6). */
export const PSA_PROFILE_LEGACY = 'PSA_IOT_PROFILE_1'

/**
 * Profile string naming legacy `PSA_IOT_PROFILE_1` tokens in the `eat_profile` media type parameter
 * (RFC 9783, IANA Considerations; CoAP Content-Format 10004). It never appears inside a token.
 */
export const PSA_PROFILE_LEGACY_URI = 'tag:psacertified.org,2019:psa#legacy'

/**
 * `eat_profile` (265) value of TF-M's interim pre-RFC profile (draft-tschofenig-rats-psa-token
 * before -14; Veraison `Profile2`): RFC 9783 claim keys, but the boot seed under 2397.
 */
export const PSA_PROFILE_2_0_0 = 'http://arm.com/psa/2.0.0'

/** Media type of a TF-M profile token (RFC 9783, IANA Considerations; CoAP CF 10003). */
export const PSA_MEDIA_TYPE_TFM = `application/eat+cwt; eat_profile="${PSA_PROFILE_TFM}"`

/** Media type of a legacy `PSA_IOT_PROFILE_1` token (RFC 9783, IANA Considerations; CoAP CF 10004). */
export const PSA_MEDIA_TYPE_LEGACY = `application/eat+cwt; eat_profile="${PSA_PROFILE_LEGACY_URI}"`

/** Veraison's media type for PSA tokens; in practice it carries legacy `PSA_IOT_PROFILE_1` tokens. */
export const PSA_MEDIA_TYPE_VERAISON = 'application/psa-attestation-token'

/** CoAP Content-Format of the TF-M profile media type (RFC 9783, IANA Considerations). */
export const PSA_COAP_CF_TFM = 10003

/** CoAP Content-Format of the legacy profile media type (RFC 9783, IANA Considerations). */
export const PSA_COAP_CF_LEGACY = 10004

/**
 * Claim keys of the RFC 9783 TF-M profile: EAT claims 10 (nonce), 256 (ueid), 265 (eat_profile),
 * 268 (bootseed) and the PSA claims 2394–2400 (RFC 9783 §4, §4.6). 2397 is not used.
 */
export const PSA_TFM_CLAIM_KEYS = Object.freeze({
  nonce: 10,
  instanceId: 256,
  profile: 265,
  clientId: 2394,
  securityLifecycle: 2395,
  implementationId: 2396,
  bootSeed: 268,
  certificationReference: 2398,
  softwareComponents: 2399,
  verificationServiceIndicator: 2400,
})

/**
 * Claim keys of the legacy `PSA_IOT_PROFILE_1` (PSA Attestation API 1.0; mapping in RFC 9783 §4.6).
 * -75007 (no software measurements) was retired by RFC 9783 but may appear in legacy tokens.
 */
export const PSA_LEGACY_CLAIM_KEYS = Object.freeze({
  profile: -75000,
  clientId: -75001,
  securityLifecycle: -75002,
  implementationId: -75003,
  bootSeed: -75004,
  certificationReference: -75005,
  softwareComponents: -75006,
  noSoftwareMeasurements: -75007,
  nonce: -75008,
  instanceId: -75009,
  verificationServiceIndicator: -75010,
})

/** Claim keys of the interim `http://arm.com/psa/2.0.0` profile: as RFC 9783, boot seed under 2397. */
export const PSA_2_0_0_CLAIM_KEYS = Object.freeze({
  ...PSA_TFM_CLAIM_KEYS,
  bootSeed: 2397,
})

/** Claim names used in error messages, after the RFC 9783 CDDL rule names (RFC 9783 §6). */
export const PSA_CLAIM_NAMES = Object.freeze({
  nonce: 'psa-nonce',
  instanceId: 'psa-instance-id',
  profile: 'psa-profile',
  clientId: 'psa-client-id',
  securityLifecycle: 'psa-security-lifecycle',
  implementationId: 'psa-implementation-id',
  bootSeed: 'psa-boot-seed',
  certificationReference: 'psa-certification-reference',
  softwareComponents: 'psa-software-components',
  noSoftwareMeasurements: 'psa-no-software-measurements',
  verificationServiceIndicator: 'psa-verification-service-indicator',
})

/** Keys of a software component map (RFC 9783 §4.4.1); key 3 is unassigned. */
export const PSA_SW_COMPONENT_KEYS = Object.freeze({
  measurementType: 1,
  measurementValue: 2,
  version: 4,
  signerId: 5,
  measurementDescription: 6,
})

/** Software component attribute names used in error messages (RFC 9783 §4.4.1.1–§4.4.1.5). */
export const PSA_SW_COMPONENT_NAMES = Object.freeze({
  measurementType: 'measurement-type',
  measurementValue: 'measurement-value',
  version: 'version',
  signerId: 'signer-id',
  measurementDescription: 'measurement-desc',
})

/**
 * Security lifecycle ranges (RFC 9783 §4.3.1): the major state is bits 15:8, the minor state
 * (bits 7:0) is implementation defined. `unknown` is an invalid state that must not occur.
 */
export const PSA_LIFECYCLE_RANGES = Object.freeze([
  Object.freeze({ state: 'unknown', min: 0x0000, max: 0x00ff }),
  Object.freeze({ state: 'assembly-and-test', min: 0x1000, max: 0x10ff }),
  Object.freeze({ state: 'psa-rot-provisioning', min: 0x2000, max: 0x20ff }),
  Object.freeze({ state: 'secured', min: 0x3000, max: 0x30ff }),
  Object.freeze({ state: 'non-psa-rot-debug', min: 0x4000, max: 0x40ff }),
  Object.freeze({ state: 'recoverable-psa-rot-debug', min: 0x5000, max: 0x50ff }),
  Object.freeze({ state: 'decommissioned', min: 0x6000, max: 0x60ff }),
] as const)
