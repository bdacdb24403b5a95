/**
 * `assay check-config`: validates what an operator provisions, as Assay's start would, and says
 * what each file provisions. Each kind of configuration folder is one entry of `CHECKS` (the
 * reference-values folder, the policies folder), checked in order; the first
 * invalid file stops the check with a message naming the file and the field, and exit 1.
 */
import { X509Certificate, createPublicKey } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryEndorsements } from '../../appraisal/endorsements.js'
import { addReferenceValueDocument, referenceValueDocumentSchema, type ReferenceValueDocument } from '../../appraisal/reference-values.js'
import { isVerifierError } from '../../errors/errors.js'
import { loadPolicyDir } from '../../appraisal/policy-files.js'
import { CliError } from './ear-verify.js'

export interface CheckConfigFlags {
  readonly referenceValues?: string
  readonly policies?: string
  readonly allowPublishedKeys?: boolean
  readonly json?: boolean
}

/** What one file provisions, one line per item. */
export interface FileReport {
  readonly file: string
  readonly tenant: string
  readonly items: readonly string[]
  readonly counts: { anchors: number; keys: number; referenceValues: number; profiles: number; corimSigners: number }
}

export interface CheckReport {
  readonly section: string
  readonly dir: string
  readonly files: readonly FileReport[]
  readonly warnings: readonly string[]
  /** The closing line, when it is not the reference-values count. */
  readonly summary?: string
}

interface ConfigCheck {
  readonly section: string
  /** The folder to check, from the flags or the environment; undefined when none is configured. */
  dir(flags: CheckConfigFlags, env: Readonly<Record<string, string | undefined>>): string | undefined
  run(dir: string, flags: CheckConfigFlags, env: Readonly<Record<string, string | undefined>>): CheckReport
}

const short = (hex: string): string => (hex.length > 20 ? `${hex.slice(0, 8)}…${hex.slice(-8)}` : hex).toLowerCase()

function keyText(key: unknown): string {
  if (typeof key === 'string') {
    try {
      const k = createPublicKey(key).export({ format: 'jwk' }) as { kty?: string; crv?: string }
      return k.crv === undefined ? `${k.kty ?? 'SPKI'} key (PEM)` : `${k.kty} ${k.crv} key (PEM)`
    } catch {
      return 'SPKI PEM key'
    }
  }
  const k = key as { kty: string; crv?: string }
  if (k.kty === 'oct') return 'symmetric key'
  return k.crv === undefined ? `${k.kty} key` : `${k.kty} ${k.crv} key`
}

type SpeaksForInput = 'any' | { ueids?: 'any' | string[]; classes: 'any' | { oemid: number | string; hwmodel: string }[] }

function bindingText(s: SpeaksForInput): string {
  if (s === 'any') return 'any UEID, any class'
  const ueids = s.ueids === undefined ? undefined : s.ueids === 'any' ? 'any UEID' : `UEID ${s.ueids.map(short).join(', ')}`
  const classes = s.classes === 'any' ? 'any class' : `class ${s.classes.map((c) => `(${c.oemid}, ${short(c.hwmodel)})`).join(', ')}`
  return [ueids, classes].filter((x) => x !== undefined).join('; ')
}

function certText(pem: string): string {
  try {
    return `certificate "${new X509Certificate(pem).subject.replace(/\n/g, ', ')}"`
  } catch {
    return 'certificate'
  }
}

/** The lines for one valid document. */
function describeDocument(doc: ReferenceValueDocument): { items: string[]; counts: FileReport['counts'] } {
  const items: string[] = []
  const counts = { anchors: 0, keys: 0, referenceValues: 0, profiles: 0, corimSigners: 0 }
  for (const a of doc.psa?.trustAnchors ?? []) {
    counts.keys++
    items.push(`PSA key: Instance ID ${short(a.instanceId)}, ${keyText(a.key)}, speaks for Implementation ID ${a.implementationId === 'any' ? 'any' : short(a.implementationId)}`)
  }
  for (const r of doc.psa?.referenceValues ?? []) {
    counts.referenceValues++
    const types = r.softwareComponents.map((c) => c.measurementType ?? short(c.measurementValue)).join(', ')
    items.push(`PSA reference values: Implementation ID ${short(r.implementationId)}, ${r.softwareComponents.length} software component(s) (${types})`)
  }
  const eat = doc.eat
  for (const k of eat?.keys ?? []) {
    counts.keys++
    items.push(`EAT key: kid ${k.kid}, ${keyText(k.key)}, speaks for ${bindingText(k.speaksFor)}`)
  }
  for (const k of eat?.ueidKeys ?? []) {
    counts.keys++
    items.push(`EAT key: UEID ${short(k.ueid)}, ${keyText(k.key)}, speaks for ${k.speaksFor === 'any' ? 'any class' : bindingText(k.speaksFor)}`)
  }
  for (const c of eat?.pinnedCertificates ?? []) {
    counts.keys++
    items.push(`EAT pinned ${certText(c.certificate)}, speaks for ${bindingText(c.speaksFor)}`)
  }
  for (const a of eat?.x509Anchors ?? []) {
    counts.anchors++
    const revoked = (a.revokedSerials?.length ?? 0) + (a.crl === undefined ? 0 : 1)
    items.push(`EAT trust anchor: ${certText(a.certificate)}, speaks for ${bindingText(a.speaksFor)}${revoked > 0 ? `, with revocation data` : ''}`)
  }
  for (const r of eat?.referenceValues ?? []) {
    counts.referenceValues++
    const software = r.software.map((s) => `${s.swname}${s.swversions === undefined ? ' (any version)' : ` ${s.swversions.join('/')}`}`)
    const parts = [
      software.length === 0 ? undefined : `software ${software.join(', ')}`,
      r.measurementDigests.length === 0 ? undefined : `${r.measurementDigests.length} measurement digest(s)`,
      r.manifestDigests.length === 0 ? undefined : `${r.manifestDigests.length} manifest digest(s)`,
    ].filter((p) => p !== undefined)
    items.push(`EAT reference values: class (${r.oemid}, ${short(r.hwmodel)})${parts.length === 0 ? '' : `: ${parts.join('; ')}`}`)
  }
  for (const p of eat?.profiles ?? []) {
    counts.profiles++
    items.push(`EAT profile: ${p.id}, ${[...p.envelopes].join('/')}, key from ${[...p.keySources].join(', ')}, freshness ${p.freshness}`)
  }
  for (const k of doc.provisioning?.keys ?? []) {
    counts.corimSigners++
    items.push(`CoRIM signer: ${keyText(k.key)}`)
  }
  for (const a of doc.provisioning?.x509Anchors ?? []) {
    counts.corimSigners++
    items.push(`CoRIM signer CA: ${certText(a.certificate)}`)
  }
  return { items, counts }
}

const truthy = (v: string | undefined): boolean => v === 'true' || v === '1'

const referenceValuesCheck: ConfigCheck = {
  section: 'reference values',
  dir: (flags, env) => flags.referenceValues ?? (env['ASSAY_REFERENCE_VALUES_DIR'] || undefined),
  run(dir, flags, env) {
    let names: string[]
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    } catch (err) {
      throw new CliError(`${dir}: the reference-values directory cannot be read (${err instanceof Error ? err.message : String(err)})`, 'ERR_CONFIG_INVALID')
    }
    const warnings: string[] = []
    const options = { allowPublishedKeys: flags.allowPublishedKeys === true || truthy(env['ASSAY_ALLOW_PUBLISHED_KEYS']), warn: (w: string) => warnings.push(w) }
    // One store for the folder, as at start: a key or class provisioned twice across files is an error too.
    const endorsements = new MemoryEndorsements()
    const files: FileReport[] = []
    for (const name of names) {
      const file = join(dir, name)
      let raw: unknown
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'))
      } catch (err) {
        throw new CliError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, 'ERR_CONFIG_INVALID')
      }
      try {
        addReferenceValueDocument(endorsements, raw, file, options)
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err), 'ERR_CONFIG_INVALID')
      }
      const doc = referenceValueDocumentSchema.parse(raw)
      files.push({ file, tenant: doc.tenant, ...describeDocument(doc) })
    }
    return { section: 'reference values', dir, files, warnings }
  },
}

const policiesCheck: ConfigCheck = {
  section: 'policies',
  dir: (flags, env) => flags.policies ?? (env['ASSAY_POLICIES_DIR'] || undefined),
  run(dir) {
    let loaded: ReturnType<typeof loadPolicyDir>['loaded']
    try {
      ;({ loaded } = loadPolicyDir(dir))
    } catch (err) {
      if (isVerifierError(err)) throw new CliError(err.message, 'ERR_CONFIG_INVALID')
      throw err
    }
    const files: FileReport[] = loaded.map(({ file, policy }) => ({
      file,
      tenant: policy.document.selector.tenant ?? 'any',
      items: [
        `policy ${policy.document.id} version ${policy.document.version}, sha-256 ${short(policy.digest)}`,
        ...policy.rules.map((r) => `rule ${r.rule.name}: ${r.rule.set} → ${r.rule.to} (cost ${r.cost})`),
      ],
      counts: { anchors: 0, keys: 0, referenceValues: 0, profiles: 0, corimSigners: 0 },
    }))
    const rules = loaded.reduce((n, l) => n + l.policy.rules.length, 0)
    return { section: 'policies', dir, files, warnings: [], summary: `valid: ${files.length} polic${files.length === 1 ? 'y' : 'ies'}, ${rules} rule(s)` }
  },
}

/** The folders `check-config` validates, in order. */
const CHECKS: readonly ConfigCheck[] = [referenceValuesCheck, policiesCheck]

export function checkConfigCommand(flags: CheckConfigFlags, env: Readonly<Record<string, string | undefined>>, out: (text: string) => void): number {
  const reports: CheckReport[] = []
  for (const check of CHECKS) {
    const dir = check.dir(flags, env)
    if (dir === undefined) continue
    reports.push(check.run(dir, flags, env))
  }
  if (reports.length === 0) {
    throw new CliError(
      'nothing to check: pass --reference-values <dir> or --policies <dir>, or set ASSAY_REFERENCE_VALUES_DIR or ASSAY_POLICIES_DIR',
      'ERR_CONFIG_MISSING',
    )
  }
  if (flags.json === true) {
    out(`${JSON.stringify({ valid: true, checks: reports }, null, 2)}\n`)
    return 0
  }
  const lines: string[] = []
  for (const r of reports) {
    lines.push(`${r.section}: ${r.dir}`)
    if (r.files.length === 0) {
      lines.push(r.summary === undefined ? '  no *.json files: nothing is provisioned, every attester is unknown' : '  no policy files: the built-in results stand')
    }
    for (const f of r.files) {
      lines.push(`  ${f.file} (tenant ${f.tenant})`)
      if (f.items.length === 0) lines.push('    nothing')
      for (const item of f.items) lines.push(`    ${item}`)
    }
    for (const w of r.warnings) lines.push(`  warning: ${w}`)
    const sum = (k: keyof FileReport['counts']) => r.files.reduce((n, f) => n + f.counts[k], 0)
    if (r.summary !== undefined) lines.push(`  ${r.summary}`)
    else {
      lines.push(
        `  valid: ${r.files.length} file(s), ${sum('anchors')} trust anchor(s), ${sum('keys')} key(s), ${sum('referenceValues')} reference value set(s), ` +
          `${sum('profiles')} EAT profile(s), ${sum('corimSigners')} CoRIM signer(s)`,
      )
    }
  }
  out(`${lines.join('\n')}\n`)
  return 0
}
