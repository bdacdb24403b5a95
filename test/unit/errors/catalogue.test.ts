import { strict as assert } from 'node:assert'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ERROR_CATALOGUE, ERROR_CODES, typeSlug } from '../../../src/errors/codes.js'
import { ERRORS_DOC_PATH, renderErrorsDoc } from '../../../scripts/gen-errors-doc.js'

const CODE_PATTERN = /^ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/

/** Codes named in the first column of the table rows of a rendered errors.md. */
function codesInDoc(markdown: string): string[] {
  const codes: string[] = []
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`([^`]+)`\s*\|/.exec(line)
    if (match) codes.push(match[1]!)
  }
  return codes
}

describe('error catalogue', () => {
  it('has codes shaped ERR_<AREA>_<WHAT>', () => {
    const bad = ERROR_CODES.filter((code) => !CODE_PATTERN.test(code))
    assert.deepEqual(bad, [], `codes not matching ${CODE_PATTERN}: ${bad.join(', ')}`)
  })

  it('has a unique problem type slug per code', () => {
    const byslug = new Map<string, string[]>()
    for (const code of ERROR_CODES) {
      const slug = typeSlug(code)
      assert.match(slug, /^[a-z0-9]+(-[a-z0-9]+)*$/, `slug of ${code}`)
      byslug.set(slug, [...(byslug.get(slug) ?? []), code])
    }
    const clashes = [...byslug].filter(([, codes]) => codes.length > 1)
    assert.deepEqual(clashes, [], `codes sharing a slug: ${JSON.stringify(clashes)}`)
  })

  it('keeps family and HTTP status consistent (request → 4xx, fault → 5xx)', () => {
    const bad: string[] = []
    for (const code of ERROR_CODES) {
      const { family, status } = ERROR_CATALOGUE[code]
      assert.ok(Number.isInteger(status), `${code}: status ${status} is not an integer`)
      if (family === 'request' && !(status >= 400 && status <= 499)) bad.push(`${code} (request, ${status})`)
      if (family === 'fault' && !(status >= 500 && status <= 599)) bad.push(`${code} (fault, ${status})`)
      assert.ok(['request', 'evidence', 'fault'].includes(family), `${code}: unknown family ${family}`)
    }
    assert.deepEqual(bad, [], `family/status mismatch: ${bad.join(', ')}`)
  })

  it('has a non-empty title per code', () => {
    const untitled = ERROR_CODES.filter((code) => ERROR_CATALOGUE[code].title.trim() === '')
    assert.deepEqual(untitled, [])
  })
})

describe('docs/errors.md', () => {
  it('matches the catalogue (regenerate with `npm run docs:errors`)', () => {
    let actual: string
    try {
      actual = readFileSync(ERRORS_DOC_PATH, 'utf8')
    } catch (err) {
      assert.fail(`cannot read docs/errors.md (${String(err)}); run \`npm run docs:errors\``)
    }
    const expected = renderErrorsDoc()
    if (actual === expected) return

    const documented = new Set(codesInDoc(actual))
    const catalogued = new Set<string>(ERROR_CODES)
    const missing = [...catalogued].filter((code) => !documented.has(code))
    const extra = [...documented].filter((code) => !catalogued.has(code))
    const lines = ['docs/errors.md is out of date with src/errors/codes.ts; run `npm run docs:errors`.']
    if (missing.length > 0) lines.push(`  missing from the doc: ${missing.join(', ')}`)
    if (extra.length > 0) lines.push(`  in the doc but not in the catalogue: ${extra.join(', ')}`)
    if (missing.length === 0 && extra.length === 0) {
      lines.push('  same codes, but a title, family, status, slug, order or the prose differs')
    }
    assert.equal(actual, expected, lines.join('\n'))
  })
})
