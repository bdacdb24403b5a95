/**
 * A policy's text to a compiled policy: size bound, YAML or JSON (JSON is YAML, but a `.json` file
 * is read as strict JSON), zod validation, compilation. The digest is of the exact text, so the
 * EAR names what the operator wrote.
 */
import { isNode, LineCounter, parseDocument } from 'yaml'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { PolicyCache, policyDigest, type CompiledPolicy } from './compile.js'
import { POLICY_LIMITS, validatePolicyDocument } from './document.js'

export type PolicyTextFormat = 'yaml' | 'json'

/** Where a field is in the text, as a message prefix (`line 12, column 9: `), or nothing. */
type Locate = (path: readonly PropertyKey[]) => string

/** Parses a policy text into a plain value (not yet validated), and how to locate a field in it. */
function parseText(text: string, format: PolicyTextFormat): { value: unknown; locate: Locate } {
  if (format === 'json') {
    try {
      return { value: JSON.parse(text) as unknown, locate: () => '' }
    } catch (err) {
      throw new VerifierError('ERR_POLICY_INVALID', `not JSON: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true, lineCounter })
  const first = doc.errors[0]
  if (first !== undefined) {
    const at = first.linePos?.[0]
    throw new VerifierError('ERR_POLICY_INVALID', `not YAML${at === undefined ? '' : ` (line ${at.line}, column ${at.col})`}: ${first.message.split('\n')[0]}`)
  }
  const locate: Locate = (path) => {
    const node = doc.getIn(path as PropertyKey[], true)
    if (!isNode(node) || node.range === undefined || node.range === null) return ''
    const at = lineCounter.linePos(node.range[0])
    return `line ${at.line}, column ${at.col}: `
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 0 }) as unknown, locate }
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
  const { value, locate } = parseText(text, format)
  const document = validatePolicyDocument(value, locate)
  try {
    return cache.get(document, policyDigest(text))
  } catch (err) {
    // A condition's problem: say where its `when` starts in the file, before the rule and position.
    const rule = isVerifierError(err) ? /^rules\[(\d+)\]\.when$/.exec(err.path ?? '') : null
    if (rule === null || !isVerifierError(err)) throw err
    const at = locate(['rules', Number(rule[1]), 'when'])
    throw at === '' ? err : new VerifierError(err.code, `${at}${err.message}`, { path: err.path! })
  }
}
