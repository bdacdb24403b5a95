/**
 * `assay ear verify <file|->`: verifies an EAR (JWT or CWT) against a JWKS from a URL or a file
 * with src/results/verify.ts, as a relying party would, and prints its status, trust vector and
 * reasons per submodule. Exit 0 when it verifies (whatever its status), 1 when it does not.
 */
import { readFileSync } from 'node:fs'
import { isVerifierError } from '../../errors/errors.js'
import type { EarClaims } from '../../results/claims.js'
import { verifyEarCwt, verifyEarJwt, type EarJwks } from '../../results/verify.js'
import { systemClock } from '../../util/clock.js'
import { earToJson, renderEar } from './render.js'

/** A failure the CLI reports as one line and exit 1. */
export class CliError extends Error {
  constructor(message: string, readonly code = 'ERR_CLI', readonly exitCode = 1) {
    super(message)
  }
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Reads a file, or standard input for `-`. */
export function readInput(path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path)
  } catch (err) {
    throw new CliError(`cannot read ${path === '-' ? 'standard input' : path}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** A JWKS from an http(s) URL (10 s to answer) or a file. */
export async function loadJwks(source: string): Promise<EarJwks> {
  let text: string
  if (/^https?:\/\//i.test(source)) {
    let res: Response
    try {
      res = await fetch(source, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } })
    } catch (err) {
      const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
      throw new CliError(`cannot fetch the JWKS from ${source}: ${reason}`, 'ERR_JWKS_UNREACHABLE')
    }
    if (!res.ok) throw new CliError(`cannot fetch the JWKS from ${source}: HTTP ${res.status}`, 'ERR_JWKS_UNREACHABLE')
    text = await res.text()
  } else {
    text = readInput(source).toString('utf8')
  }
  let jwks: unknown
  try {
    jwks = JSON.parse(text)
  } catch {
    throw new CliError(`${source} is not JSON, so not a JWKS`, 'ERR_JWKS_INVALID')
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new CliError(`${source} is not a JWKS ({ "keys": [...] })`, 'ERR_JWKS_INVALID')
  }
  return jwks as EarJwks
}

export interface VerifyOptions {
  readonly nonce?: Uint8Array | string
}

/** Verifies an EAR in either form; a bad EAR is a `CliError` carrying the `ERR_EAR_*` code. */
export function verifyEar(bytes: Uint8Array, jwks: EarJwks, options: VerifyOptions = {}): { claims: EarClaims; kid: string | undefined; form: 'JWT' | 'CWT' } {
  const asText = Buffer.from(bytes).toString('latin1').trim()
  const form = COMPACT_JWS.test(asText) ? 'JWT' : 'CWT'
  const opts = { clock: systemClock, ...(options.nonce === undefined ? {} : { expectedNonce: options.nonce }) }
  try {
    const verified = form === 'JWT' ? verifyEarJwt(asText, jwks, opts) : verifyEarCwt(bytes, jwks, opts)
    return { ...verified, form }
  } catch (err) {
    if (isVerifierError(err)) throw new CliError(`the EAR does not verify: ${err.message || err.code}`, err.code)
    if (err instanceof TypeError) throw new CliError(`the JWKS cannot be used: ${err.message}`, 'ERR_JWKS_INVALID')
    throw err
  }
}

export interface EarVerifyFlags {
  readonly jwks: string
  readonly nonce?: string
  readonly json?: boolean
}

export async function earVerifyCommand(input: string, flags: EarVerifyFlags, out: (text: string) => void): Promise<number> {
  const bytes = readInput(input)
  if (bytes.length === 0) throw new CliError(`${input === '-' ? 'standard input' : input} is empty`, 'ERR_EAR_MALFORMED')
  const jwks = await loadJwks(flags.jwks)
  const { claims, kid, form } = verifyEar(bytes, jwks, flags.nonce === undefined ? {} : { nonce: flags.nonce })
  if (flags.json === true) out(`${JSON.stringify({ verified: true, form, kid, ...earToJson(claims) }, null, 2)}\n`)
  else out(renderEar(claims, [`verified: ${form} EAR signed by ${kid === undefined ? 'a JWKS key' : `kid ${kid}`} (${flags.jwks})`]))
  return 0
}

