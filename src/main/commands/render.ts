/**
 * How the CLI shows an attestation result: a readable report (status, then per submodule its
 * status, trust vector with each value's tier, and Assay's reasons), or the same as JSON.
 */
import type { EarClaims } from '../../results/claims.js'
import { TRUST_CLAIMS, tierOf } from '../../results/trust-vector.js'
import { base64urlEncode } from '../../util/base64url.js'
import { toHex } from '../../util/bytes.js'

const text = (v: string | Uint8Array | undefined): string | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : base64urlEncode(v))
const time = (s: number | undefined): string | undefined => (s === undefined ? undefined : new Date(s * 1000).toISOString())

/** The result as plain JSON: what `--json` prints. */
export function earToJson(claims: EarClaims): Record<string, unknown> {
  const submods: Record<string, unknown> = {}
  for (const [name, s] of claims.submods) {
    submods[name] = {
      status: s.status,
      ...(s.vector === undefined ? {} : { trustVector: s.vector }),
      ...(s.policyIds === undefined ? {} : { policyIds: s.policyIds }),
      ...(s.reasons === undefined ? {} : { reasons: s.reasons }),
      ...(s.attester === undefined
        ? {}
        : {
            attester: {
              keySource: s.attester.keySource,
              ...(s.attester.ueid === undefined ? {} : { ueid: toHex(s.attester.ueid) }),
              ...(s.attester.kid === undefined ? {} : { kid: s.attester.kid }),
              ...(s.attester.x5tS256 === undefined ? {} : { x5tS256: toHex(s.attester.x5tS256) }),
              ...(s.attester.spkiS256 === undefined ? {} : { spkiS256: toHex(s.attester.spkiS256) }),
            },
          }),
    }
  }
  return {
    status: claims.status ?? worstOf(claims),
    profile: claims.profile,
    verifier: claims.verifier,
    issuedAt: time(claims.iat),
    ...(claims.exp === undefined ? {} : { expiresAt: time(claims.exp) }),
    ...(claims.nonce === undefined ? {} : { nonce: text(claims.nonce) }),
    ...(claims.endorsements === undefined ? {} : { endorsements: claims.endorsements }),
    submods,
  }
}

const ORDER = ['none', 'affirming', 'warning', 'contraindicated'] as const

/** The overall status: the top-level one, else the worst submodule's. */
export function worstOf(claims: EarClaims): string {
  if (claims.status !== undefined) return claims.status
  let worst = 0
  for (const s of claims.submods.values()) worst = Math.max(worst, ORDER.indexOf(s.status))
  return ORDER[worst]!
}

/** The readable report, one line per fact, reasons under their claim. */
export function renderEar(claims: EarClaims, header: readonly string[] = []): string {
  const lines = [...header, `status: ${worstOf(claims)}`, `verifier: ${claims.verifier.build} (${claims.verifier.developer})`]
  lines.push(`issued: ${time(claims.iat)}${claims.exp === undefined ? '' : `, expires: ${time(claims.exp)}`}`)
  if (claims.nonce !== undefined) lines.push(`nonce: ${text(claims.nonce)}`)
  if (claims.endorsements !== undefined) lines.push(`endorsements used: ${claims.endorsements.length === 0 ? '(none)' : claims.endorsements.join(', ')}`)
  for (const [name, s] of claims.submods) {
    lines.push('', `submodule ${name}: ${s.status}`)
    if (s.attester !== undefined) {
      const a = s.attester
      const parts = [`key from ${a.keySource}`]
      if (a.ueid !== undefined) parts.unshift(`ueid ${toHex(a.ueid)}`)
      if (a.kid !== undefined) parts.push(`kid ${a.kid}`)
      lines.push(`  attester: ${parts.join(', ')}`)
    }
    if (s.policyIds !== undefined && s.policyIds.length > 0) lines.push(`  policy: ${s.policyIds.join(', ')}`)
    const vector = s.vector ?? {}
    // A claim at 0 ("no claim") without a reason says nothing: it is left out.
    const shown = TRUST_CLAIMS.filter((c) => (vector[c] ?? 0) !== 0 || s.reasons?.some((r) => r.claim === c))
    if (shown.length === 0) lines.push('  trust vector: (empty)')
    for (const claim of shown) {
      const value = vector[claim]
      lines.push(`  ${claim.padEnd(18)} ${value === undefined ? '-' : String(value).padStart(3)}  ${value === undefined ? '' : tierOf(value)}`)
      for (const r of s.reasons ?? []) if (r.claim === claim) lines.push(`      ${r.code}: ${r.detail}`)
    }
    for (const r of s.reasons ?? []) if (r.claim === 'status') lines.push(`  status reason ${r.code}: ${r.detail}`)
  }
  return `${lines.join('\n')}\n`
}
