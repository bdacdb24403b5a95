/**
 * The repository's copy of the published vectors (`test/vectors/`): its README names every file with
 * the source its `source` field gives, and, where `../shared/vectors` is beside the repository (CI),
 * the copy holds every published vector with the same bytes.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { sharedVectorDir, SHARED_VECTOR_DIR, VECTOR_DIR, vectorFiles } from '../helpers/vectors.js'

interface Source {
  readonly repo?: string
  readonly path?: string
  readonly commit?: string
  readonly rfc?: string
}

interface Row {
  readonly file: string
  readonly source: string
  readonly path: string
  readonly commit: string
  readonly licence: string
}

/** The rows of the vector table in `test/vectors/README.md` (lines `| \`<file>.json\` | … |`). */
function readmeRows(): Row[] {
  const text = readFileSync(join(VECTOR_DIR, 'README.md'), 'utf8')
  const rows: Row[] = []
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    // A table line splits into ['', file, source, path, commit, licence, ''].
    if (cells.length !== 7 || !/^`[^`]+\.json`$/.test(cells[1]!)) continue
    const [, file, source, path, commit, licence] = cells as [string, string, string, string, string, string]
    rows.push({ file: file.slice(1, -1), source, path: path.replace(/^`|`$/g, ''), commit: commit.replace(/^`|`$/g, ''), licence })
  }
  return rows
}

/** `left` minus `right`, as a sorted list. */
function missing(left: Iterable<string>, right: ReadonlySet<string>): string[] {
  return [...left].filter((x) => !right.has(x)).sort()
}

describe('test/vectors', () => {
  const files = vectorFiles()

  it('holds the published vectors', () => {
    assert.ok(files.length >= 75, `only ${files.length} vectors in ${VECTOR_DIR}`)
  })

  it('README lists every vector once, and only those', () => {
    const rows = readmeRows()
    const listed = rows.map((r) => r.file)
    const dupes = listed.filter((f, i) => listed.indexOf(f) !== i)
    assert.deepEqual(dupes, [], `README lists these more than once: ${dupes.join(', ')}`)
    const notListed = missing(files, new Set(listed))
    assert.deepEqual(notListed, [], `test/vectors/README.md has no row for: ${notListed.join(', ')}`)
    const stale = missing(listed, new Set(files))
    assert.deepEqual(stale, [], `test/vectors/README.md lists files that are not in test/vectors: ${stale.join(', ')}`)
  })

  it("README gives each vector the repository, path and commit of its source field, and a licence", () => {
    const rows = new Map(readmeRows().map((r) => [r.file, r]))
    for (const file of files) {
      const row = rows.get(file)
      assert.ok(row, `no README row for ${file}`)
      const source = (JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as { source?: Source }).source
      assert.ok(source, `${file} has no source field`)
      assert.ok(row.licence.length > 0, `${file}: no licence in the README`)
      if (source.repo !== undefined) {
        assert.ok(row.source.startsWith(source.repo), `${file}: README source "${row.source}", file says ${source.repo}`)
        assert.equal(row.path, source.path, `${file}: README path`)
        assert.ok(
          row.commit.length >= 12 && source.commit?.startsWith(row.commit),
          `${file}: README commit ${row.commit}, file says ${source.commit}`,
        )
      } else {
        assert.ok(source.rfc, `${file}: source names neither a repository nor an RFC`)
        assert.ok(row.source.startsWith(source.rfc), `${file}: README source "${row.source}", file says ${source.rfc}`)
      }
    }
  })

  const shared = sharedVectorDir()
  it(
    'holds every vector of ../shared/vectors with the same bytes',
    { skip: shared === undefined ? `${SHARED_VECTOR_DIR} does not exist (a clone with nothing beside it): nothing to compare with` : false },
    () => {
      assert.ok(shared)
      const published = vectorFiles(shared)
      assert.ok(published.length > 0, `${shared} holds no vectors`)
      const absent = missing(published, new Set(files))
      const differ = published.filter(
        (f) => !absent.includes(f) && !readFileSync(join(shared, f)).equals(readFileSync(join(VECTOR_DIR, f))),
      )
      const problems = [
        ...(absent.length > 0 ? [`missing from test/vectors: ${absent.join(', ')}`] : []),
        ...(differ.length > 0 ? [`different bytes in test/vectors: ${differ.join(', ')}`] : []),
      ]
      assert.deepEqual(problems, [], `${problems.join('; ')} (copy them from ${shared} and add README rows)`)
    },
  )
})
