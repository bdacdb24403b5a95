#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner, one file at a time, TypeScript through tsx.
// Node 20's `--test` does not expand globs, so the file list is built here.
//
//   node scripts/run-tests.mjs                          all tests
//   node scripts/run-tests.mjs test/unit/cose           only files under that path (file or folder)
//   node scripts/run-tests.mjs --test-name-pattern=nonce test/unit
//                                                       options are passed through to node
//
// Exits with the runner's exit code; exits 1 if no test file matched.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const testDir = path.join(root, 'test')
const SUFFIX = '.test.ts'

// Node options that take their value as the next argument (`--opt value`).
const OPTIONS_WITH_VALUE = new Set([
  '--test-name-pattern',
  '--test-skip-pattern',
  '--test-reporter',
  '--test-reporter-destination',
  '--test-timeout',
  '--test-shard',
  '--test-concurrency',
  '--import',
  '--require',
  '-r',
  '--conditions',
  '-C',
])

/** Every `*.test.ts` below `dir`, as paths relative to the repo root with `/` separators. */
function findTests(dir) {
  const out = []
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch (err) {
    if (err.code === 'ENOENT') return out
    throw err
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...findTests(full))
    else if (entry.isFile() && entry.name.endsWith(SUFFIX)) out.push(toPosix(path.relative(root, full)))
  }
  return out
}

function toPosix(p) {
  return p.split(path.sep).join('/')
}

/** Splits CLI args into node options (passed through) and path filters. */
function parseArgs(args) {
  const nodeOptions = []
  const filters = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') {
      filters.push(...args.slice(i + 1))
      break
    }
    if (arg.startsWith('-')) {
      nodeOptions.push(arg)
      if (OPTIONS_WITH_VALUE.has(arg) && i + 1 < args.length) nodeOptions.push(args[++i])
    } else {
      filters.push(arg)
    }
  }
  return { nodeOptions, filters }
}

/** A filter is a file or folder path (relative to the cwd or the repo root); matching is by prefix. */
function matchesAny(file, filters) {
  if (filters.length === 0) return true
  return filters.some((filter) => {
    const abs = path.resolve(process.cwd(), filter)
    let rel = toPosix(path.relative(root, abs)).replace(/\/+$/, '')
    if (rel === '') return true
    if (rel.startsWith('..')) rel = toPosix(filter).replace(/^\.\//, '').replace(/\/+$/, '')
    return file === rel || file.startsWith(`${rel}/`)
  })
}

const { nodeOptions, filters } = parseArgs(process.argv.slice(2))
const allFiles = findTests(testDir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
const files = allFiles.filter((f) => matchesAny(f, filters))

if (files.length === 0) {
  const where = filters.length > 0 ? ` matching ${filters.join(', ')}` : ''
  console.error(`run-tests: no *${SUFFIX} files found under test/${where}`)
  for (const filter of filters) {
    try {
      statSync(path.resolve(process.cwd(), filter))
    } catch {
      console.error(`run-tests: ${filter} does not exist`)
    }
  }
  process.exit(1)
}

const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...nodeOptions, ...files]
console.error(`run-tests: ${files.length} test file(s)`)
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' })

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal))
}

child.on('error', (err) => {
  console.error(`run-tests: could not start node: ${err.message}`)
  process.exit(1)
})

child.on('exit', (code, signal) => {
  if (signal !== null) {
    console.error(`run-tests: test runner ended by ${signal}`)
    process.exit(1)
  }
  process.exit(code ?? 1)
})
