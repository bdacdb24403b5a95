/**
 * `bin/assay.mjs` (the package's `bin`, `npm start`, `npx assay`) in a copy of the repository as a
 * fresh clone has it after `npm ci`: no dist/. The first run builds dist/ and runs it; a second run
 * with nothing changed does not build; a changed file under src/ is rebuilt; `npx assay` finds the
 * clone's own command; without TypeScript installed, a missing dist/ is a clear error.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ROOT, cleanEnv } from '../../helpers/cli.js'

function copyOfClone(withModules: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'assay-clone-'))
  for (const entry of ['src', 'bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'openapi.yaml']) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
  }
  if (withModules) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

const run = (cwd: string, argv: readonly string[]) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('bin/assay.mjs in a fresh clone', { timeout: 300_000 }, () => {
  const dirs: string[] = []
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('builds dist/ when it is missing or stale, and only then', () => {
    const clone = copyOfClone(true)
    dirs.push(clone)
    const version = (JSON.parse(spawnSync('cat', [join(ROOT, 'package.json')], { encoding: 'utf8' }).stdout) as { version: string }).version

    const first = run(clone, [process.execPath, 'bin/assay.mjs', '--version'])
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.stdout.trim(), version)
    assert.match(first.stderr, /building dist\//)
    assert.ok(existsSync(join(clone, 'dist/main/cli.js')))

    const second = run(clone, [process.execPath, 'bin/assay.mjs', '--version'])
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.stdout.trim(), version)
    assert.doesNotMatch(second.stderr, /building/)

    // A source file changed after the build: rebuilt (incrementally) before it runs.
    const later = new Date(Date.now() + 5_000)
    utimesSync(join(clone, 'src/util/bytes.ts'), later, later)
    const third = run(clone, [process.execPath, 'bin/assay.mjs', '--version'])
    assert.equal(third.code, 0, third.stderr)
    assert.match(third.stderr, /building dist\//)

    const npx = run(clone, ['npx', '--offline', '--no-install', 'assay', 'check-config', '--help'])
    assert.equal(npx.code, 0, npx.stderr)
    assert.match(npx.stdout, /Usage: assay check-config/)
  })

  it('without TypeScript installed, a missing dist/ is a clear error', () => {
    const clone = copyOfClone(false)
    dirs.push(clone)
    const r = run(clone, [process.execPath, 'bin/assay.mjs', '--version'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /dist\/ is missing or older than src\/, and TypeScript is not installed to build it: run `npm ci`/)
  })
})
