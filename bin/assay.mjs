#!/usr/bin/env node
// The `assay` command (package.json `bin`, `npm start`, `npx assay`): runs dist/main/cli.js, first
// building dist/ with TypeScript when it is missing or older than anything under src/ (or the
// tsconfig files or package.json), so a fresh clone works right after `npm ci` and an unchanged
// tree starts without compiling. The build is incremental (tsconfig.build.json); its stamp is
// dist/.build-stamp, written after each successful build. Compiler output goes to stderr.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const entry = join(root, 'dist', 'main', 'cli.js')
const stamp = join(root, 'dist', '.build-stamp')
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => join(root, f))

/** The newest modification time under `dir`, folders included (a deleted file changes its folder). */
function newest(dir) {
  let latest = statSync(dir).mtimeMs
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

function isStale() {
  let built
  try {
    statSync(entry)
    built = statSync(stamp).mtimeMs
  } catch {
    return true
  }
  return Math.max(newest(join(root, 'src')), ...inputs.map((f) => statSync(f).mtimeMs)) > built
}

if (isStale()) {
  let tsc
  try {
    tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  } catch {
    process.stderr.write('assay: dist/ is missing or older than src/, and TypeScript is not installed to build it: run `npm ci` (with dev dependencies), then `npm run build`\n')
    process.exit(1)
  }
  process.stderr.write('assay: building dist/ (src/ changed since the last build)\n')
  const started = Date.now()
  const built = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 2, 2] })
  if (built.status !== 0) {
    process.stderr.write('assay: the build failed (see above)\n')
    process.exit(1)
  }
  writeFileSync(stamp, `${new Date().toISOString()}\n`)
  process.stderr.write(`assay: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}

await import(pathToFileURL(entry).href)
