/**
 * A policy's text to a compiled policy: size bound, YAML or JSON (JSON is YAML, but a `.json` file
 * is read as strict JSON), zod validation, compilation. The digest is of the exact text, so the
 * EAR names what the operator wrote.
 */
import { parseDocument } from 'yaml'
import { VerifierError } from '../errors/errors.js'
import { PolicyCache, policyDigest, type CompiledPolicy } from './compile.js'
import { POLICY_LIMITS, validatePolicyDocument } from './document.js'

export type PolicyTextFormat = 'yaml' | 'json'

/** Parses a policy text into a plain value (not yet validated). */
function parseText(text: string, format: PolicyTextFormat): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown
    } catch (err) {
      throw new VerifierError('ERR_POLICY_INVALID', `not JSON: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true })
  const first = doc.errors[0]
  if (first !== undefined) {
    const at = first.linePos?.[0]
    throw new VerifierError('ERR_POLICY_INVALID', `not YAML${at === undefined ? '' : ` (line ${at.line}, column ${at.col})`}: ${first.message.split('\n')[0]}`)
  }
  try {
    return doc.toJS({ maxAliasCount: 0 }) as unknown
  } catch (err) {
    throw new VerifierError('ERR_POLICY_INVALID', `YAML aliases are not accepted: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/**
 * Reads, validates and compiles one policy text. Throws a `VerifierError` (ERR_POLICY_*) whose
 * message names the field, or the rule and the position in its condition.
 */
export function loadPolicyText(text: string, format: PolicyTextFormat, cache: PolicyCache = new PolicyCache()): CompiledPolicy {
  if (Buffer.byteLength(text, 'utf8') > POLICY_LIMITS.maxTextBytes) {
    throw new VerifierError('ERR_POLICY_TOO_LARGE', `the policy text is larger than ${POLICY_LIMITS.maxTextBytes} bytes`)
  }
  const document = validatePolicyDocument(parseText(text, format))
  return cache.get(document, policyDigest(text))
}
