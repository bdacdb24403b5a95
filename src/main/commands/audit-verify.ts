/**
 * `assay audit verify <export|->`: re-computes the audit chains of an export (JSON lines of entries,
 * checkpoint entries among them, one or more tenants; docs/audit.md) with src/audit/verify-chain.ts
 * and verifies their checkpoints against the verifier's JWKS (a URL or a file), as an auditor would.
 * Prints per tenant the entries checked, the checkpoints verified, how many entries no checkpoint
 * covers, and the first problem found (kind and seq).
 *
 * Exit 0 when every chain verifies, 3 when any does not (or a line of the export is not an entry),
 * 1 when the command cannot run (unreadable export, JWKS or anchor).
 *
 * The export is read as a stream, one line at a time; a line longer than any entry, more than
 * {@link MAX_TENANTS} tenants or a line that is not JSON stop the check with a problem of the file.
 */
import { createReadStream } from 'node:fs'
import { AUDIT_LIMITS } from '../../audit/entry.js'
import { ChainVerifier, type ChainReport } from '../../audit/verify-chain.js'
import { isVerifierError } from '../../errors/errors.js'
import { parseStrictJson } from '../../jose/json.js'
import type { EarJwks } from '../../results/verify.js'
import { CliError, loadJwks, readInput } from './ear-verify.js'

/** Most tenants one export may hold. */
export const MAX_TENANTS = 10_000
/** Longest line read: the largest entry, with room for a line end written as CRLF. */
const MAX_LINE_BYTES = AUDIT_LIMITS.maxEntryBytes + 2
const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/

export interface AuditVerifyFlags {
  readonly jwks: string
  /** Most entries allowed after the last checkpointed one (the writer's checkpoint interval). */
  readonly maxGap?: string
  /** Files each holding a checkpoint JWS kept from earlier. */
  readonly anchor?: readonly string[]
  /** Only this tenant's entries. */
  readonly tenant?: string
  readonly json?: boolean
}

/** A problem of the export file itself, outside any tenant's chain. */
export interface FileProblem {
  readonly line: number
  readonly message: string
}

export interface AuditVerifyReport {
  readonly ok: boolean
  readonly tenants: readonly ChainReport[]
  readonly fileProblem?: FileProblem
}

/** Verifies an export read from `lines`; never throws for what the export holds. */
export async function verifyAuditExport(
  lines: AsyncIterable<string | FileProblem>,
  options: { jwks: EarJwks; maxGap?: number; anchors?: readonly string[]; tenant?: string },
): Promise<AuditVerifyReport> {
  const verifiers = new Map<string, ChainVerifier>()
  let fileProblem: FileProblem | undefined
  let number = 0
  for await (const line of lines) {
    number++
    if (typeof line !== 'string') {
      fileProblem = line
      break
    }
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = parseStrictJson(line, 16)
    } catch (err) {
      fileProblem = { line: number, message: `line ${number} is not JSON: ${err instanceof Error ? err.message : String(err)}` }
      break
    }
    const tenant = typeof value === 'object' && value !== null ? (value as { tenant?: unknown }).tenant : undefined
    if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
      fileProblem = { line: number, message: `line ${number} is not an audit entry (no tenant)` }
      break
    }
    if (options.tenant !== undefined && tenant !== options.tenant) continue
    let verifier = verifiers.get(tenant)
    if (verifier === undefined) {
      if (verifiers.size >= MAX_TENANTS) {
        fileProblem = { line: number, message: `the export holds more than ${MAX_TENANTS} tenants; check them with --tenant` }
        break
      }
      verifier = new ChainVerifier(tenant, {
        jwks: options.jwks,
        ...(options.maxGap === undefined ? {} : { maxGap: options.maxGap }),
        ...(options.anchors === undefined ? {} : { anchors: options.anchors }),
      })
      verifiers.set(tenant, verifier)
    }
    verifier.add(value)
  }
  if (options.tenant !== undefined && !verifiers.has(options.tenant)) {
    verifiers.set(options.tenant, new ChainVerifier(options.tenant, { jwks: options.jwks, ...(options.anchors === undefined ? {} : { anchors: options.anchors }) }))
  }
  const tenants = [...verifiers.values()].map((verifier) => verifier.finish())
  const ok = fileProblem === undefined && tenants.every((report) => report.problem === undefined)
  return { ok, tenants, ...(fileProblem === undefined ? {} : { fileProblem }) }
}

/** The lines of a file (or standard input for `-`), each at most {@link MAX_LINE_BYTES}; a longer one ends the lines with a problem. */
export async function* exportLines(path: string): AsyncGenerator<string | FileProblem> {
  const stream = path === '-' ? process.stdin : createReadStream(path)
  let carry = Buffer.alloc(0)
  let number = 0
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
      let from = 0
      for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, from)) {
        number++
        if (end - from > MAX_LINE_BYTES) {
          yield { line: number, message: `line ${number} is longer than any audit entry (${AUDIT_LIMITS.maxEntryBytes} bytes)` }
          return
        }
        yield stripCr(data.toString('utf8', from, end))
        from = end + 1
      }
      carry = Buffer.from(data.subarray(from))
      if (carry.length > MAX_LINE_BYTES) {
        yield { line: number + 1, message: `line ${number + 1} is longer than any audit entry (${AUDIT_LIMITS.maxEntryBytes} bytes)` }
        return
      }
    }
  } catch (err) {
    throw new CliError(`cannot read ${path === '-' ? 'standard input' : path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (carry.length > 0) yield stripCr(carry.toString('utf8'))
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

export async function auditVerifyCommand(input: string, flags: AuditVerifyFlags, out: (text: string) => void): Promise<number> {
  let maxGap: number | undefined
  if (flags.maxGap !== undefined) {
    maxGap = Number(flags.maxGap)
    if (!/^[1-9][0-9]{0,8}$/.test(flags.maxGap)) throw new CliError(`--max-gap must be a positive integer, got ${JSON.stringify(flags.maxGap)}`, 'ERR_CLI', 2)
  }
  if (flags.tenant !== undefined && !TENANT.test(flags.tenant)) throw new CliError(`--tenant ${JSON.stringify(flags.tenant)} is not a tenant id`, 'ERR_CLI', 2)
  const anchors = (flags.anchor ?? []).map((file) => readInput(file).toString('utf8').trim())
  const jwks = await loadJwks(flags.jwks)
  let report: AuditVerifyReport
  try {
    report = await verifyAuditExport(exportLines(input), {
      jwks,
      ...(maxGap === undefined ? {} : { maxGap }),
      ...(anchors.length === 0 ? {} : { anchors }),
      ...(flags.tenant === undefined ? {} : { tenant: flags.tenant }),
    })
  } catch (err) {
    if (err instanceof TypeError || isVerifierError(err)) throw new CliError(`the JWKS cannot be used: ${err.message}`, 'ERR_JWKS_INVALID')
    throw err
  }
  if (flags.json === true) out(`${JSON.stringify(report, null, 2)}\n`)
  else out(renderReport(report))
  return report.ok ? 0 : 3
}

function renderReport(report: AuditVerifyReport): string {
  const lines: string[] = []
  if (report.tenants.length === 0 && report.fileProblem === undefined) lines.push('the export holds no entries')
  for (const t of report.tenants) {
    lines.push(`tenant ${t.tenant}: ${t.entries} entries checked, ${t.checkpoints} checkpoints verified, last seq ${t.lastSeq}`)
    if (t.problem !== undefined) {
      lines.push(`  PROBLEM ${t.problem.kind} at seq ${t.problem.seq}: ${t.problem.message}`)
      continue
    }
    lines.push(
      t.coveredSeq === 0
        ? '  ok: the chain is unbroken; no entry is covered by a signed checkpoint yet'
        : `  ok: the chain is unbroken; entries 1 to ${t.coveredSeq} are covered by a signed checkpoint`,
    )
    if (t.uncovered > 0) {
      lines.push(`  note: the last ${t.uncovered} entries follow the last checkpoint; cutting or rewriting them would not show (docs/audit.md)`)
    }
  }
  if (report.fileProblem !== undefined) lines.push(`PROBLEM in the export file: ${report.fileProblem.message}`)
  lines.push(report.ok ? 'verified' : 'NOT verified')
  return `${lines.join('\n')}\n`
}
