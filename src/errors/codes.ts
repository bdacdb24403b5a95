/**
 * The error catalogue: every stable error code Assay can produce, one row each.
 *
 * A code never changes meaning once published. `family` decides where an error may surface:
 * - `request`: a malformed request; becomes an RFC 9457 problem with `status`.
 * - `evidence`: bad Evidence; never an HTTP error, it becomes a signed result that says why.
 * - `fault`: the verifier itself failed; 500/503, and `verifier_malfunction` in a result.
 *
 * `docs/errors.md` lists every code; a test keeps the two in step.
 */
export type ErrorFamily = 'request' | 'evidence' | 'fault'

export interface ErrorEntry {
  readonly family: ErrorFamily
  /** HTTP status when the error reaches the wire directly (request and fault families). */
  readonly status: number
  readonly title: string
}

const evidence = (title: string): ErrorEntry => ({ family: 'evidence', status: 422, title })
const request = (status: number, title: string): ErrorEntry => ({ family: 'request', status, title })
const fault = (title: string, status = 500): ErrorEntry => ({ family: 'fault', status, title })

export const ERROR_CATALOGUE = {
  // CBOR (src/cose/cbor.ts)
  ERR_CBOR_MALFORMED: evidence('CBOR item is not well-formed'),
  ERR_CBOR_TRUNCATED: evidence('CBOR input ends inside an item'),
  ERR_CBOR_TRAILING_BYTES: evidence('Bytes follow the single CBOR item'),
  ERR_CBOR_TOO_LARGE: evidence('CBOR input exceeds the size limit'),
  ERR_CBOR_TOO_DEEP: evidence('CBOR nesting exceeds the depth limit'),
  ERR_CBOR_DUPLICATE_KEY: evidence('CBOR map has a duplicate key'),
  ERR_CBOR_MAP_KEY_TYPE: evidence('CBOR map key is neither an integer nor a text string'),
  ERR_CBOR_INDEFINITE_LENGTH: evidence('Indefinite-length CBOR item where the profile requires definite lengths'),
  ERR_CBOR_INVALID_UTF8: evidence('CBOR text string is not valid UTF-8'),
  ERR_CBOR_TAG_NOT_ALLOWED: evidence('CBOR tag not allowed here'),
  ERR_CBOR_UNSUPPORTED_SIMPLE: evidence('CBOR simple value other than false, true or null'),

  // COSE structure (src/cose/sign1.ts, mac0.ts, headers.ts)
  ERR_COSE_WRONG_TAG: evidence('COSE message has the wrong CBOR tag'),
  ERR_COSE_UNTAGGED: evidence('Untagged COSE message where the profile requires a tag'),
  ERR_COSE_MALFORMED: evidence('COSE message structure is malformed'),
  ERR_COSE_PROTECTED_NOT_MAP: evidence('Protected header is not a serialized map'),
  ERR_COSE_HEADER_DUPLICATE_LABEL: evidence('Header bucket has a duplicate label'),
  ERR_COSE_HEADER_OVERLAP: evidence('Label appears in both the protected and unprotected header'),
  ERR_COSE_HEADER_INVALID: evidence('Header parameter has an invalid value'),
  ERR_COSE_CRIT_INVALID: evidence('crit header parameter is malformed or not protected'),
  ERR_COSE_CRIT_UNSUPPORTED: evidence('crit names a header parameter the verifier does not understand'),
  ERR_COSE_ALG_MISSING: evidence('alg header parameter is missing'),
  ERR_COSE_ALG_UNPROTECTED: evidence('alg header parameter is not integrity protected'),
  ERR_COSE_ALG_UNKNOWN: evidence('alg header parameter names an unknown algorithm'),
  ERR_COSE_ALG_NOT_ALLOWED: evidence('Algorithm is not in the allow-list of the profile'),
  ERR_COSE_KEY_ALG_MISMATCH: evidence('Verification key does not match the algorithm'),
  ERR_COSE_SIGNATURE_DER: evidence('ECDSA signature is DER-encoded; COSE requires r||s'),
  ERR_COSE_SIGNATURE_LENGTH: evidence('Signature length is wrong for the algorithm'),
  ERR_COSE_SIGNATURE_INVALID: evidence('Signature does not verify'),
  ERR_COSE_MAC_INVALID: evidence('MAC tag does not verify'),
  ERR_COSE_PAYLOAD_DETACHED: evidence('Payload is detached and no content was supplied'),
  ERR_COSE_PAYLOAD_NOT_CLAIMS: evidence('Payload is not a claims-set map'),

  // JOSE (src/jose): strict JSON, JWS compact serialization, JWT claims-set envelope
  ERR_JOSE_MALFORMED: evidence('JWS compact serialization, base64url or JSON text is not well-formed'),
  ERR_JOSE_HEADER_INVALID: evidence('JWS header parameter is missing or has an invalid value'),
  ERR_JOSE_CRIT_UNSUPPORTED: evidence('crit names an extension the verifier does not process'),
  ERR_JOSE_ALG_UNKNOWN: evidence('JWS alg names an unknown algorithm'),
  ERR_JOSE_ALG_NOT_ALLOWED: evidence('JWS algorithm is not in the allow-list'),
  ERR_JOSE_KEY_ALG_MISMATCH: evidence('Verification key does not match the JWS algorithm'),
  ERR_JOSE_SIGNATURE_INVALID: evidence('JWS signature or MAC has the wrong length or does not verify'),
  ERR_JOSE_PAYLOAD_NOT_CLAIMS: evidence('JWT payload is not a JSON claims-set object'),

  // Keys (src/crypto/keys.ts, src/cose/key.ts)
  ERR_KEY_INVALID: evidence('Key material cannot be parsed'),
  ERR_KEY_UNSUPPORTED: evidence('Key type, curve or size is not supported'),
  ERR_KEY_NOT_FOUND: evidence('No trusted key for this Evidence'),

  // X.509 (src/crypto/x509.ts)
  ERR_X509_NO_ANCHOR: evidence('No X.509 trust anchor is provisioned'),
  ERR_X509_MALFORMED: evidence('Certificate chain is empty, too long, or holds a certificate that is not valid DER'),
  ERR_X509_ALG_NOT_ALLOWED: evidence('Certificate or CRL signature algorithm is not allowed'),
  ERR_X509_EXTENSION_UNSUPPORTED: evidence('Certificate has a critical extension the verifier does not process'),
  ERR_X509_NAME_CHAINING: evidence('Certificate issuer name does not match the next certificate subject'),
  ERR_X509_UNKNOWN_ANCHOR: evidence('Certificate chain does not lead to a provisioned trust anchor'),
  ERR_X509_SIGNATURE_INVALID: evidence('Certificate signature does not verify with the issuer key'),
  ERR_X509_SELF_SIGNED_LEAF: evidence('Leaf certificate is a trust anchor, not a certified device key'),
  ERR_X509_EXPIRED: evidence('A certificate in the path has expired'),
  ERR_X509_NOT_YET_VALID: evidence('A certificate in the path is not yet valid'),
  ERR_X509_NOT_CA: evidence('An issuing certificate is not a CA (basicConstraints cA)'),
  ERR_X509_PATH_LENGTH: evidence('Certificate path is longer than a pathLenConstraint allows'),
  ERR_X509_KEY_USAGE: evidence('Certificate keyUsage does not allow its use in the path'),
  ERR_X509_REVOKED: evidence('A certificate in the path is revoked'),
  ERR_X509_CRL_INVALID: evidence('Revocation list does not verify or is not current'),
  ERR_KEY_IDENTITY_MISMATCH: evidence('The key certificate names another device than the Evidence'),

  // Claims (src/evidence)
  ERR_CLAIMS_INVALID: evidence('Claims-set does not satisfy the claim definitions'),
  ERR_CLAIMS_EXPIRED: evidence('Token has expired (exp)'),
  ERR_CLAIMS_NOT_YET_VALID: evidence('Token is not yet valid (nbf), or was issued in the future (iat)'),
  ERR_CLAIMS_FLOAT_TIME: evidence('Time claim is floating point where an integer is required'),
  ERR_CLAIMS_NONCE_MISMATCH: evidence('eat_nonce does not match the expected nonce'),
  ERR_CLAIMS_NONCE_REPLAYED: evidence('eat_nonce was already used by another appraisal'),
  ERR_CLAIMS_NONCE_EXPIRED: evidence('eat_nonce was issued by this verifier but its lifetime ended before it was used'),
  ERR_CLAIMS_NONCE_UNKNOWN: evidence('eat_nonce is not known to this verifier: never issued to this tenant, or long expired'),
  ERR_CLAIMS_STALE: evidence('No eat_nonce, and iat is missing or older than the profile allows'),
  ERR_PROFILE_UNKNOWN: evidence('eat_profile is not a profile this verifier implements'),
  ERR_PROFILE_MISMATCH: evidence('eat_profile claim disagrees with the media type'),
  ERR_PROFILE_CLAIM_MISSING: evidence('A claim the profile makes mandatory is missing'),
  ERR_PROFILE_CLAIM_INVALID: evidence('A claim violates the profile rules'),
  ERR_BUNDLE_MALFORMED: evidence('Detached EAT bundle is malformed'),
  ERR_BUNDLE_DIGEST_MISMATCH: evidence('A detached claims-set does not match its digest in the main token'),
  ERR_PSA_LIFECYCLE_INVALID: evidence('PSA security lifecycle is outside the defined ranges'),

  // CoRIM / CoMID endorsements an operator provisions (src/corim). Request family: a refused CoRIM
  // is a bad submission, answered with a problem that names the field, never a fault.
  ERR_CORIM_MALFORMED: request(422, 'CoRIM or CoMID is not well-formed or breaks the CoRIM CDDL'),
  ERR_CORIM_UNSUPPORTED: request(422, 'CoRIM uses a field, tag, type or algorithm the verifier does not process'),
  ERR_CORIM_PROFILE_UNKNOWN: request(422, 'CoRIM declares a profile the verifier does not know'),
  ERR_CORIM_PROFILE_VIOLATION: request(422, 'CoRIM breaks a rule of its profile'),
  ERR_CORIM_SIGNATURE: request(422, 'Signed CoRIM does not verify with a trusted provisioning key, or is unsigned where a signature is required'),
  ERR_CORIM_EXPIRED: request(422, 'CoRIM validity or signature validity has ended'),
  ERR_CORIM_NOT_YET_VALID: request(422, 'CoRIM validity or signature validity has not begun'),
  ERR_CORIM_CONFLICT: request(409, 'CoRIM tag has the version of a provisioned tag but other content, or provides an entry another source provisioned'),
  ERR_CORIM_STALE: request(409, 'CoRIM tag is older than the provisioned version of that tag'),

  // Appraisal policies (src/policy). Request family: a refused policy is a bad submission that
  // names the field, or the rule and the position in its condition; at start it stops the start.
  ERR_POLICY_INVALID: request(422, 'Policy document is not valid YAML or JSON, or a member is missing, unknown or malformed'),
  ERR_POLICY_TOO_LARGE: request(413, 'Policy document exceeds the size limit'),
  ERR_POLICY_SYNTAX: request(422, 'Policy rule condition is not valid CEL'),
  ERR_POLICY_UNKNOWN_INPUT: request(422, 'Policy rule condition names an unknown input, field or function'),
  ERR_POLICY_TYPE: request(422, 'Policy rule condition has a type error'),
  ERR_POLICY_TOO_COSTLY: request(422, 'Policy rule condition may cost more than the evaluation bound'),
  ERR_POLICY_CONFLICT: request(409, 'Two policies have the same id or the same selector'),
  ERR_POLICY_INPUT_TOO_LARGE: fault('The appraisal input exceeds what a policy may be given; the result says so (AR4SI verifier malfunction)'),
  ERR_POLICY_EVALUATION: fault('A policy failed or ran past its time bound; the result says so (AR4SI verifier malfunction)'),

  // Format selection (src/evidence/registry.ts)
  ERR_MEDIA_TYPE_UNSUPPORTED: request(415, 'Media type is not supported'),
  ERR_MEDIA_TYPE_MALFORMED: request(400, 'Media type cannot be parsed'),
  ERR_EVIDENCE_UNRECOGNIZED: evidence('Evidence envelope is not recognized'),

  // EAR attestation results, as a relying party verifies them (src/results). Evidence family: a
  // bad result is bad input to whoever verifies it, never a fault of this verifier.
  ERR_EAR_MALFORMED: evidence('Attestation result is not a well-formed JWS, COSE_Sign1, JSON or CBOR item'),
  ERR_EAR_ALG_NOT_ALLOWED: evidence('Attestation result algorithm is not allowed (ES256 only)'),
  ERR_EAR_KEY_UNKNOWN: evidence('No configured key matches the attestation result'),
  ERR_EAR_SIGNATURE_INVALID: evidence('Attestation result signature does not verify'),
  ERR_EAR_EXPIRED: evidence('Attestation result has expired (exp) or is older than the accepted age'),
  ERR_EAR_NOT_YET_VALID: evidence('Attestation result is not yet valid (nbf or iat in the future)'),
  ERR_EAR_FLOAT_TIME: evidence('Attestation result time claim is not written as an integer'),
  ERR_EAR_CLAIMS_INVALID: evidence('Attestation result claims-set violates the EAR claim definitions'),
  ERR_EAR_NONCE_MISMATCH: evidence('Attestation result eat_nonce does not match the expected nonce'),
  ERR_EAR_SIGNING_KEY_INVALID: fault('EAR signing key is unreadable or not a P-256 private key'),

  // HTTP requests (src/api)
  ERR_REQUEST_MALFORMED: request(400, 'Request is malformed'),
  ERR_REQUEST_TIMEOUT: request(408, 'Request did not arrive in time'),
  ERR_REQUEST_BODY_TOO_LARGE: request(413, 'Request body exceeds the size limit'),
  ERR_REQUEST_NOT_ACCEPTABLE: request(406, 'No acceptable representation'),
  ERR_REQUEST_HEADER_TOO_LARGE: request(431, 'A request header is longer or has more parts than accepted'),
  ERR_RATE_LIMITED: request(429, 'Too many requests from this client; retry later'),
  ERR_AUTH_REQUIRED: request(401, 'This route needs a credential: Authorization: Bearer <token>'),
  ERR_AUTH_INVALID: request(401, 'The credential is not accepted'),
  ERR_AUTH_FORBIDDEN: request(403, 'The credential does not grant the role this route needs in this tenant'),
  ERR_API_KEY_NOT_FOUND: request(404, 'No API key with this id in this tenant'),
  ERR_API_KEY_LIMIT: request(409, 'The tenant holds as many unrevoked API keys as it may; revoke one first'),
  ERR_ROUTE_NOT_FOUND: request(404, 'No such resource'),
  ERR_METHOD_NOT_ALLOWED: request(405, 'Method not allowed on this resource'),
  ERR_SESSION_NOT_FOUND: request(404, 'Session does not exist or has expired'),
  ERR_SESSION_STATE: request(409, 'Session does not accept Evidence in its current state'),
  ERR_APPRAISAL_NOT_FOUND: request(404, 'Appraisal does not exist or has expired'),
  ERR_APPRAISAL_NOT_READY: request(409, 'Appraisal has no result yet'),
  ERR_ENDORSEMENT_NOT_FOUND: request(404, 'No such provisioned document, or it was deleted'),
  ERR_ENDORSEMENT_CONFLICT: request(409, 'Provisioned document exists already, has another kind, or changed concurrently'),
  ERR_ENDORSEMENT_INVALID: request(400, 'Provisioned document or its index identifiers break the store rules'),
  ERR_ENDORSEMENT_TOO_LARGE: request(413, 'Provisioned document exceeds the size limit'),
  ERR_PAGE_CURSOR_INVALID: request(400, 'Paging cursor was not made by this listing'),
  ERR_PROVISIONING_INVALID: request(422, 'Provisioned document is refused: a member is missing, unknown or malformed, or a key or certificate in it cannot be used'),
  ERR_APPRAISAL_FAILED: fault('Appraisal failed because of a verifier fault'),
  ERR_SERVICE_OVERLOADED: { family: 'fault', status: 503, title: 'Too much Evidence is waiting; retry later' },

  // Store (src/store): faults of the backing service or of data at rest
  ERR_STORE_UNAVAILABLE: fault('Store is unavailable or did not complete the operation', 503),
  ERR_STORE_CORRUPT: fault('Stored record cannot be decoded'),
  ERR_STORE_PERSIST_FAILED: fault('Store could not write its data file'),
  ERR_STORE_FULL: fault('Store is full; retry later', 503),
  ERR_STORE_LOCKED: fault('Data directory is in use by another process'),
  // Audit log (src/store/audited.ts): the change was made, but its audit entry could not be appended
  ERR_AUDIT_UNAVAILABLE: fault('The change was made but could not be recorded in the audit log', 503),

  // Credentials (src/auth): the keys of a configured token issuer cannot be had just now
  ERR_AUTH_ISSUER_UNAVAILABLE: fault('The token issuer\'s keys cannot be fetched; retry later', 503),

  // Queue (src/queue)
  ERR_QUEUE_UNAVAILABLE: fault('Queue is unavailable or did not accept the job', 503),
  ERR_QUEUE_JOB_INVALID: fault('Queue job payload does not match the job schema'),

  // Verifier faults
  ERR_CONFIG_INVALID: fault('Configuration or provisioned data is invalid'),
  ERR_VERIFIER_INTERNAL: fault('Internal verifier error'),
  ERR_VERIFIER_EVIDENCE_UNHANDLED: fault('The verifier failed on this Evidence and could not appraise it; the result says so (AR4SI verifier malfunction)'),
} as const satisfies Record<string, ErrorEntry>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as readonly ErrorCode[]

/** Stable URI path segment for the RFC 9457 `type`: `ERR_COSE_ALG_UNKNOWN` → `cose-alg-unknown`. */
export function typeSlug(code: ErrorCode): string {
  return code.slice(4).toLowerCase().replaceAll('_', '-')
}
