/**
 * The JWT claims-set envelope (RFC 7519 §7.2 steps 8–10) over a verified JWS: the payload is the
 * claims-set itself, a strict-JSON object. Nested JWTs (`cty: "JWT"`) are not accepted, as nested
 * CWTs are not (src/evidence/eat/verify-cwt.ts): an attester signs its own claims.
 */
import { VerifierError } from '../errors/errors.js'
import { isJsonObject, parseStrictJsonUtf8, type JsonObject } from './json.js'
import type { VerifiedJws } from './jws.js'

/** Nesting allowed inside a JWT claims-set, as for CWT claims-sets. @defaultValue 16 */
export const JWT_MAX_DEPTH = 16

/**
 * Reads the claims-set of a verified JWS.
 *
 * @throws VerifierError `ERR_JOSE_PAYLOAD_NOT_CLAIMS` (a nested JWT, or JSON that is not an object),
 *   `ERR_JOSE_MALFORMED` (not UTF-8, not strict JSON: duplicate members included)
 */
export function decodeJwtClaimsSet(jws: VerifiedJws, maxDepth = JWT_MAX_DEPTH): JsonObject {
  const cty = jws.header['cty']
  if (typeof cty === 'string' && cty.toLowerCase() === 'jwt') {
    const message = 'nested JWTs are not accepted; the payload must be a claims-set (RFC 7519 §5.2)'
    throw new VerifierError('ERR_JOSE_PAYLOAD_NOT_CLAIMS', message)
  }
  const claims = parseStrictJsonUtf8(jws.payload, 'JWT claims-set', maxDepth)
  if (!isJsonObject(claims)) {
    throw new VerifierError('ERR_JOSE_PAYLOAD_NOT_CLAIMS', 'JWT payload is not a JSON object (RFC 7519 §7.2)')
  }
  return claims
}
