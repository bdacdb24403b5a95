/**
 * The Markdown documents name things the code must have: files of the repository, `ASSAY_*`
 * settings, HTTP routes and reason codes. A document that names one that does not exist describes
 * another program, so each is checked here against the repository as it is.
 *
 * - Paths: code spans, relative links and the words of fenced blocks whose first segment is a
 *   top-level entry of the repository (`src/…`, `examples/…`) must exist on disk. The part of a path
 *   before a placeholder (`*`, `<…>`, `{…}`) must exist. A path outside the repository (`../…`) is an
 *   error, except `../shared/vectors`, where CI keeps the published vectors. `test/vectors/`'s
 *   documents name files of other repositories and are left out of this check.
 * - Settings: every `ASSAY_*` name is a setting (`ENV_NAMES`, src/config/load.ts) or an environment
 *   variable that a script, bench or test reads.
 * - Routes: every code span that starts with one of the API's route prefixes is a path of
 *   `openapi.yaml`.
 * - Reason codes: docs/relying-parties.md lists exactly the reason codes the appraisal sets.
 * - Problems: openapi.yaml's Problem schema has the members `sendProblem` writes.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { PROBLEM_MEMBERS } from '../../../src/api/problem.js'
import { ENV_NAMES } from '../../../src/config/load.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Folders never searched: dependencies, build output, data, git. */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.data', '.git'])

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue
    const full = join(dir, entry.name)
    if (entry.isDirectory()) walk(full, keep, out)
    else if (keep(full)) out.push(full)
  }
  return out
}

/** Every Markdown document of the repository, as paths relative to its root. */
const DOCUMENTS = walk(ROOT, (f) => f.endsWith('.md')).map((f) => relative(ROOT, f).replaceAll('\\', '/'))

/** Top-level entries of the repository: a path is taken to be one when it starts with one of these. */
const TOP_LEVEL = new Set(readdirSync(ROOT).filter((name) => !SKIP_DIRS.has(name)))

interface Mention {
  readonly doc: string
  readonly line: number
  readonly text: string
}

/** Code spans, relative link targets and (for fenced blocks) whitespace-separated words, with their line. */
function mentions(doc: string): { spans: Mention[]; words: Mention[] } {
  const spans: Mention[] = []
  const words: Mention[] = []
  let fenced = false
  readFileSync(join(ROOT, doc), 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = i + 1
      if (/^\s*```/.test(raw)) {
        fenced = !fenced
        return
      }
      if (fenced) {
        for (const word of raw.split(/[\s='"]+/)) if (word !== '') words.push({ doc, line, text: word.replace(/^@/, '') })
        return
      }
      for (const m of raw.matchAll(/`([^`]+)`/g)) spans.push({ doc, line, text: m[1]! })
      for (const m of raw.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (!/^[a-z]+:/.test(m[1]!)) spans.push({ doc, line, text: m[1]! })
      }
    })
  return { spans, words }
}

const ALL = DOCUMENTS.map(mentions)
const SPANS = ALL.flatMap((m) => m.spans)
const WORDS = ALL.flatMap((m) => m.words)
const where = (m: Mention) => `${m.doc}:${m.line}`

/** The path a mention names, relative to the repository root, or undefined when it names none. */
function repositoryPath(m: Mention, strict: boolean): string | undefined {
  const text = m.text.replace(/[.,;:)]+$/, '')
  if (/\s|:\/\//.test(text) || text.startsWith('/') || text.startsWith('-')) return undefined
  // A relative link is relative to its document.
  const linked = text.startsWith('./') || (text.startsWith('../') && !text.startsWith('../shared/'))
  const path = linked ? relative(ROOT, join(ROOT, m.doc, '..', text)).replaceAll('\\', '/') : text
  const first = path.split('/')[0]!
  if (path.startsWith('../')) return path
  if (TOP_LEVEL.has(first) && (path.includes('/') || strict)) return path
  return undefined
}

/** The part of a path before its first placeholder segment. */
function concretePrefix(path: string): string {
  const segments = path.split('/')
  const at = segments.findIndex((s) => /[*<>{}]|\$/.test(s))
  return (at === -1 ? segments : segments.slice(0, at)).join('/')
}

describe('Markdown documents', () => {
  it('are found', () => {
    for (const doc of ['README.md', 'SECURITY.md', 'docs/decisions.md', 'docs/errors.md', 'docs/relying-parties.md']) {
      assert.ok(DOCUMENTS.includes(doc), `${doc} is checked`)
    }
  })

  it('name only repository files that exist', () => {
    const missing: string[] = []
    const outside: string[] = []
    let checked = 0
    const check = (m: Mention, strict: boolean) => {
      const path = repositoryPath(m, strict)
      if (path === undefined) return
      checked++
      if (path.startsWith('../')) {
        if (!path.startsWith('../shared/vectors')) outside.push(`${where(m)} ${m.text}`)
        return
      }
      const concrete = concretePrefix(path)
      if (concrete !== '' && !existsSync(join(ROOT, concrete))) missing.push(`${where(m)} ${m.text}`)
    }
    // The vectors' README names files of the repositories the vectors come from, not of this one.
    const own = (m: Mention) => !m.doc.startsWith('test/vectors/')
    for (const m of SPANS.filter(own)) check(m, true)
    for (const m of WORDS.filter(own)) check(m, false)
    assert.ok(checked > 30, `only ${checked} paths found: the extraction is broken`)
    assert.deepEqual(missing, [], `documents name files that do not exist:\n  ${missing.join('\n  ')}`)
    assert.deepEqual(outside, [], `documents name files outside the repository:\n  ${outside.join('\n  ')}`)
  })

  it('name only ASSAY_* settings that exist', () => {
    const settings = new Set(Object.values(ENV_NAMES))
    // Environment variables read outside the configuration (test runner, bench, fuzz, CI).
    const tools = walk(ROOT, (f) => /\.(m?[jt]s|sh)$/.test(f) || f.endsWith('/run'))
      .filter((f) => /^(scripts|bench|test|\.ci)\//.test(relative(ROOT, f).replaceAll('\\', '/')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n')
    const unknown: string[] = []
    let named = 0
    for (const m of [...SPANS, ...WORDS]) {
      for (const [name] of m.text.matchAll(/ASSAY_[A-Z0-9_]*[A-Z0-9]/g)) {
        named++
        if (!settings.has(name!) && !new RegExp(`\\b${name}\\b`).test(tools)) unknown.push(`${where(m)} ${name}`)
      }
    }
    assert.ok(named > 20, `only ${named} settings found: the extraction is broken`)
    assert.deepEqual(unknown, [], `documents name settings that do not exist:\n  ${unknown.join('\n  ')}`)
  })

  it('name only routes that openapi.yaml has', () => {
    const spec = parseYaml(readFileSync(join(ROOT, 'openapi.yaml'), 'utf8')) as { paths: Record<string, unknown> }
    const templates = Object.keys(spec.paths).map((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+').replaceAll('.', '\\.')}$`))
    const prefixes = [...new Set(Object.keys(spec.paths).map((p) => p.split('/')[1]!))].map((s) => `/${s}`)
    const unknown: string[] = []
    let routes = 0
    for (const m of SPANS) {
      // `GET /v1/appraisals/{id}` or `/v1/nonces?nonceSize=16`: the path alone.
      const path = m.text.replace(/^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /, '').replace(/[?#].*$/, '')
      if (!prefixes.some((p) => path === p || path.startsWith(`${p}/`)) || /\s/.test(path)) continue
      routes++
      const concrete = path.replace(/<[^>]+>|\{[^}]+\}|\$[A-Z_]+/g, 'x')
      if (!templates.some((t) => t.test(concrete))) unknown.push(`${where(m)} ${m.text}`)
    }
    assert.ok(routes > 10, `only ${routes} routes found: the extraction is broken`)
    assert.deepEqual(unknown, [], `documents name routes that openapi.yaml does not have:\n  ${unknown.join('\n  ')}`)
  })
})

describe('docs/relying-parties.md', () => {
  it('lists exactly the reason codes the appraisal sets', () => {
    const source = ['src/appraisal/eat.ts', 'src/appraisal/psa.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n')
    const set = new Set([...source.matchAll(/'((?:EAT|PSA)_[A-Z0-9_]+)'/g)].map((m) => m[1]!))
    assert.ok(set.size > 10, 'reason codes are found in the appraisal')
    const doc = readFileSync(join(ROOT, 'docs/relying-parties.md'), 'utf8')
    const listed = new Set([...doc.matchAll(/^\| `((?:EAT|PSA)_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!))
    assert.deepEqual([...set].filter((c) => !listed.has(c)).sort(), [], 'reason codes the page does not list')
    assert.deepEqual([...listed].filter((c) => !set.has(c)).sort(), [], 'listed codes the appraisal never sets')
  })
})

describe('openapi.yaml', () => {
  it('describes the problem members that are sent (PROBLEM_MEMBERS, as docs/errors.md does)', () => {
    const spec = parseYaml(readFileSync(join(ROOT, 'openapi.yaml'), 'utf8')) as {
      components: { schemas: { Problem: { properties: Record<string, unknown>; required: string[] } } }
    }
    const problem = spec.components.schemas.Problem
    assert.deepEqual(Object.keys(problem.properties).sort(), PROBLEM_MEMBERS.map((m) => m.name).sort())
    for (const name of problem.required) assert.ok(PROBLEM_MEMBERS.find((m) => m.name === name)?.always, `${name} is always sent`)
  })
})
