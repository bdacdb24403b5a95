/**
 * `assay attest`: a test attester, like Veraison's `evcli`. It keeps a device key (made on first
 * use), prints the reference-values document that provisions it (`--print-reference-values`), asks
 * a running Assay for a nonce (or takes `--nonce`), builds and signs a PSA token or a generic EAT
 * (CWT or JWT) with claims from defaults, a JSON file and flags, submits it to `POST /v1/appraisals`
 * and waits for the result, which it verifies with the server's JWKS and prints. `--out` writes
 * the token instead of submitting it.
 *
 * Exit: 0 when the result is affirming (or the token or document was written), 3 when the
 * appraisal completed with another status, 1 on any error.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolveClaims, type ClaimFlags } from '../../attester/claims.js'
import { DEVICE_ALGS, defaultKeyFile, isReadableByOthers, loadOrCreateDeviceKey, type DeviceAlg } from '../../attester/keys.js'
import { referenceValuesFor } from '../../attester/reference-values.js'
import { buildEatCwt, buildEatJwt, buildPsaToken, PSA_SIGNING_ALGS } from '../../attester/tokens.js'
import { PSA_MEDIA_TYPE_TFM } from '../../evidence/psa/descriptor.js'
import { MEDIA_TYPE } from '../../evidence/eat/descriptor.js'
import { base64urlEncode } from '../../util/base64url.js'
import { CliError, loadJwks, verifyEar } from './ear-verify.js'
import { earToJson, renderEar, worstOf } from './render.js'

export type EvidenceFormat = 'psa' | 'cwt' | 'jwt'
export const EVIDENCE_FORMATS: readonly EvidenceFormat[] = ['psa', 'cwt', 'jwt']

const CONTENT_TYPE: Readonly<Record<EvidenceFormat, string>> = {
  psa: PSA_MEDIA_TYPE_TFM,
  cwt: MEDIA_TYPE.eatCwt,
  jwt: MEDIA_TYPE.eatJwt,
}

export interface AttestFlags extends ClaimFlags {
  readonly format: string
  readonly alg?: string
  readonly key?: string
  readonly url: string
  readonly nonce?: string
  readonly claims?: string
  readonly out?: string
  readonly printReferenceValues?: boolean
  readonly json?: boolean
  readonly timeout: string
}

export interface Io {
  readonly out: (text: string | Uint8Array) => void
  readonly err: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
}

/** A nonce given as base64url or base64, padded or not (what `/v1/nonces` and Veraison sessions hand out). */
export function decodeNonce(text: string): Uint8Array {
  const t = text.trim()
  if (!/^[A-Za-z0-9_+/-]+={0,2}$/.test(t) || (/[-_]/.test(t) && /[+/]/.test(t))) {
    throw new CliError(`--nonce ${JSON.stringify(text.slice(0, 100))} is not base64url or base64`)
  }
  const bytes = new Uint8Array(Buffer.from(t, 'base64'))
  if (bytes.length < 8 || bytes.length > 64) throw new CliError(`--nonce is ${bytes.length} bytes; a nonce is 8 to 64 bytes`)
  return bytes
}

/** Fetch with the time left, naming the server and what failed. */
async function call(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
    throw new CliError(`cannot reach Assay at ${url}: ${reason} (is it running? --url or ASSAY_URL names it)`, 'ERR_UNREACHABLE')
  }
}

/** A non-2xx answer as an error: the problem's title, detail and code when it is problem+json. */
async function refused(res: Response, what: string): Promise<CliError> {
  const body = await res.text()
  try {
    const problem = JSON.parse(body) as { title?: string; detail?: string; code?: string }
    const detail = [problem.title, problem.detail].filter((s) => typeof s === 'string' && s !== '').join(': ')
    return new CliError(`${what}: HTTP ${res.status} ${detail}${problem.code === undefined ? '' : ` (${problem.code})`}`, problem.code ?? 'ERR_HTTP')
  } catch {
    return new CliError(`${what}: HTTP ${res.status} ${body.slice(0, 200)}`, 'ERR_HTTP')
  }
}

async function newNonce(base: string, size: number, timeoutMs: number): Promise<Uint8Array> {
  const res = await call(`${base}/v1/nonces?nonceSize=${size}`, { method: 'POST' }, timeoutMs)
  if (res.status !== 201) throw await refused(res, 'POST /v1/nonces')
  const { nonce } = (await res.json()) as { nonce?: unknown }
  if (typeof nonce !== 'string') throw new CliError('POST /v1/nonces answered without a nonce')
  return decodeNonce(nonce)
}

interface AppraisalView {
  readonly id: string
  readonly status: string
  readonly result?: { readonly ear: string }
}

/** Submits the Evidence and waits (Prefer: wait, then polling) until the appraisal completes. */
async function appraise(base: string, format: EvidenceFormat, token: Uint8Array, timeoutMs: number): Promise<AppraisalView> {
  const deadline = Date.now() + timeoutMs
  const res = await call(
    `${base}/v1/appraisals`,
    {
      method: 'POST',
      headers: { 'content-type': CONTENT_TYPE[format], accept: 'application/json', prefer: `wait=${Math.min(10, Math.ceil(timeoutMs / 1000))}` },
      body: token,
    },
    timeoutMs,
  )
  if (res.status !== 200 && res.status !== 202) throw await refused(res, 'POST /v1/appraisals')
  let view = (await res.json()) as AppraisalView
  while (view.status !== 'complete') {
    if (view.status === 'failed') throw new CliError(`appraisal ${view.id} failed in the verifier`, 'ERR_APPRAISAL_FAILED')
    if (Date.now() > deadline) throw new CliError(`appraisal ${view.id} is still ${view.status} after ${timeoutMs / 1000} s`, 'ERR_TIMEOUT')
    await new Promise((r) => setTimeout(r, 250))
    const next = await call(`${base}/v1/appraisals/${view.id}`, { headers: { accept: 'application/json' } }, Math.max(1000, deadline - Date.now()))
    if (next.status !== 200) throw await refused(next, `GET /v1/appraisals/${view.id}`)
    view = (await next.json()) as AppraisalView
  }
  return view
}

export async function attestCommand(flags: AttestFlags, io: Io): Promise<number> {
  if (flags.alg !== undefined && !DEVICE_ALGS.includes(flags.alg as DeviceAlg)) {
    throw new CliError(`--alg ${flags.alg}: one of ${DEVICE_ALGS.join(', ')}`)
  }
  const format = flags.format as EvidenceFormat
  if (!EVIDENCE_FORMATS.includes(format)) throw new CliError(`--format ${flags.format}: one of ${EVIDENCE_FORMATS.join(', ')}`)
  const timeoutSeconds = Number(flags.timeout)
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new CliError(`--timeout ${flags.timeout}: a number of seconds`)
  const timeoutMs = timeoutSeconds * 1000
  const alg = flags.alg as DeviceAlg | undefined

  const keyFile = flags.key ?? defaultKeyFile(alg ?? 'ES256', io.env)
  let loaded
  try {
    loaded = loadOrCreateDeviceKey(keyFile, alg)
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err))
  }
  const { key } = loaded
  if (loaded.created) io.err(`made a new ${key.alg} device key ${key.kid} in ${keyFile} (mode 0600)\n`)
  else if (isReadableByOthers(keyFile)) io.err(`warning: ${keyFile} is readable by group or others; chmod 600 it\n`)

  let rawClaims: unknown = {}
  if (flags.claims !== undefined) {
    try {
      rawClaims = JSON.parse(readFileSync(flags.claims, 'utf8'))
    } catch (err) {
      throw new CliError(`--claims ${flags.claims}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  let claims
  try {
    claims = resolveClaims(rawClaims, flags, key.deviceId)
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err))
  }

  if (flags.printReferenceValues === true) {
    io.out(`${JSON.stringify(referenceValuesFor(key, claims), null, 2)}\n`)
    return 0
  }
  if (format === 'psa' && !PSA_SIGNING_ALGS.has(key.alg)) {
    throw new CliError(`a PSA token is signed with ES256 or ES384 (RFC 9783 §5.2); this key is ${key.alg}: use --format cwt or jwt`)
  }

  const base = flags.url.replace(/\/+$/, '')
  const nonce = flags.nonce !== undefined ? decodeNonce(flags.nonce) : await newNonce(base, 32, timeoutMs)
  if (format === 'psa' && ![32, 48, 64].includes(nonce.length)) {
    throw new CliError(`--nonce is ${nonce.length} bytes; a PSA nonce is 32, 48 or 64 bytes (RFC 9783 §4.1.1)`)
  }
  const issuedAt = Math.floor(Date.now() / 1000)
  const token =
    format === 'psa'
      ? buildPsaToken(key, claims.psa, nonce)
      : format === 'cwt'
        ? buildEatCwt(key, claims.eat, { nonce, issuedAt })
        : new TextEncoder().encode(buildEatJwt(key, claims.eat, { nonce, issuedAt }))

  if (flags.out !== undefined) {
    if (flags.out === '-') io.out(token)
    else writeFileSync(flags.out, token)
    io.err(`wrote a ${format.toUpperCase()} token of ${token.length} bytes (nonce ${base64urlEncode(nonce)}, Content-Type: ${CONTENT_TYPE[format]})${flags.out === '-' ? '' : ` to ${flags.out}`}\n`)
    return 0
  }

  const view = await appraise(base, format, token, timeoutMs)
  const ear = view.result?.ear
  if (ear === undefined) throw new CliError(`appraisal ${view.id} completed without a result`)
  const jwksUrl = `${base}/.well-known/jwks.json`
  const jwks = await loadJwks(jwksUrl)
  const earBytes = new TextEncoder().encode(ear)
  const { claims: result, kid } = verifyEar(earBytes, jwks)
  // A result echoes the nonce only when it verified it; when it does, it must be ours.
  if (result.nonce !== undefined) verifyEar(earBytes, jwks, { nonce })
  const status = worstOf(result)
  const unknown = [...result.submods.values()].some((s) => s.reasons?.some((r) => r.code === 'ERR_KEY_NOT_FOUND'))
  if (unknown) {
    io.err(`hint: Assay does not know this device key: provision it with \`assay attest --print-reference-values${flags.key === undefined ? '' : ` --key ${flags.key}`} > <reference-values dir>/device.json\` and restart Assay\n`)
  }
  if (flags.json === true) {
    io.out(`${JSON.stringify({ id: view.id, format, kid: key.kid, ...earToJson(result), ear }, null, 2)}\n`)
  } else {
    io.out(
      renderEar(result, [
        `appraisal ${view.id}: ${format.toUpperCase()} Evidence from ${key.kid} (${key.alg}), nonce ${base64urlEncode(nonce)}`,
        `EAR verified with ${jwksUrl} (kid ${kid ?? '-'})`,
      ]),
    )
  }
  return status === 'affirming' ? 0 : 3
}
