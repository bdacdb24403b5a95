/**
 * Strict JSON for EAR claims-sets: the parser of src/jose/json.ts (duplicate members rejected,
 * `JsonFloat` for fractions and exponents, RFC 8259 grammar only, bounded depth), with its failures
 * reported as `ERR_EAR_MALFORMED`, the code a relying party sees for every unreadable result.
 */
import { VerifierError, isVerifierError } from '../errors/errors.js'
import { DEFAULT_JSON_MAX_DEPTH, parseStrictJson as parseJoseJson, type JsonValue } from '../jose/json.js'

export { DEFAULT_JSON_MAX_DEPTH, JsonFloat, isJsonObject, type JsonObject, type JsonValue } from '../jose/json.js'

/**
 * Parses one JSON text under the rules of src/jose/json.ts.
 *
 * @throws VerifierError `ERR_EAR_MALFORMED`, with the parser's message and its error as `cause`.
 */
export function parseStrictJson(text: string, maxDepth = DEFAULT_JSON_MAX_DEPTH): JsonValue {
  try {
    return parseJoseJson(text, maxDepth)
  } catch (cause) {
    if (!isVerifierError(cause, 'ERR_JOSE_MALFORMED')) throw cause
    throw new VerifierError('ERR_EAR_MALFORMED', cause.message, { cause })
  }
}
