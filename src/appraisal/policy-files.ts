/**
 * Reads the policies folder (`ASSAY_POLICIES_DIR`, by default the shipped `policies/`) at start:
 * every `*.yaml`, `*.yml` and `*.json` file is one policy; other files (the README) are ignored.
 * One invalid policy refuses them all, with a message naming the file, and the rule and the
 * position in its condition, so a process never runs with half of what the operator wrote.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isVerifierError, VerifierError } from '../errors/errors.js'
import { PolicyCache, type CompiledPolicy } from '../policy/compile.js'
import { POLICY_LIMITS } from '../policy/document.js'
import { PolicySet } from '../policy/evaluate.js'
import { loadPolicyText } from '../policy/text.js'

/** Most policy files one folder may hold. */
export const MAX_POLICY_FILES = 256

/** One policy of the folder. */
export interface LoadedPolicy {
  readonly file: string
  readonly policy: CompiledPolicy
}

/** Whether a file name is a policy's. */
export const isPolicyFile = (name: string): boolean => /\.(ya?ml|json)$/.test(name)

/**
 * Loads, validates and compiles every policy of `dir`. Throws a `VerifierError` whose message starts
 * with the file name (ERR_POLICY_*), or ERR_CONFIG_INVALID when the folder cannot be read.
 */
export function loadPolicyDir(dir: string, cache: PolicyCache = new PolicyCache()): { set: PolicySet; loaded: LoadedPolicy[] } {
  let names: string[]
  try {
    names = readdirSync(dir).filter(isPolicyFile).sort()
  } catch (err) {
    throw new VerifierError('ERR_CONFIG_INVALID', `policies folder ${dir} cannot be read: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (names.length > MAX_POLICY_FILES) throw new VerifierError('ERR_CONFIG_INVALID', `policies folder ${dir} holds more than ${MAX_POLICY_FILES} policies`)
  const loaded: LoadedPolicy[] = []
  for (const name of names) {
    const file = join(dir, name)
    try {
      if (statSync(file).size > POLICY_LIMITS.maxTextBytes) {
        throw new VerifierError('ERR_POLICY_TOO_LARGE', `larger than ${POLICY_LIMITS.maxTextBytes} bytes`)
      }
      const text = readFileSync(file, 'utf8')
      loaded.push({ file, policy: loadPolicyText(text, name.endsWith('.json') ? 'json' : 'yaml', cache) })
    } catch (err) {
      if (isVerifierError(err)) throw new VerifierError(err.code, `${file}: ${err.message}`, { cause: err, ...(err.path === undefined ? {} : { path: err.path }) })
      throw new VerifierError('ERR_CONFIG_INVALID', `${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  try {
    return { set: new PolicySet(loaded.map((l) => l.policy)), loaded }
  } catch (err) {
    if (isVerifierError(err)) throw new VerifierError(err.code, `${dir}: ${err.message}`)
    throw err
  }
}
