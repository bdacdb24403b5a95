#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner, one file per process, one after another,
// TypeScript through tsx. Node 20's `--test` does not expand globs, so the file list is built here.
//
//   node scripts/run-tests.mjs                          all tests
//   node scripts/run-tests.mjs test/unit/cose           only files under that path (file or folder)
//   node scripts/run-tests.mjs --test-name-pattern=nonce test/unit
//                                                       options are passed through to node
//
// Prints `total: N passed, N failed, N skipped` last; exits 1 if any file failed or hung twice
// (ASSAY_TEST_FILE_TIMEOUT_MS, default 600000), or if no test file matched.
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

// Each file runs in its own `node --test` process, one after another, so that a file that never
// finishes loading (Node 20's module-hook thread can deadlock with tsx, rarely, at import time) is
// caught by a timeout: it is killed and run once more, and a second hang fails the run. A timeout
// is reported on stderr, never hidden. The counts of every file are summed into one closing line.
const FILE_TIMEOUT_MS = Number(process.env['ASSAY_TEST_FILE_TIMEOUT_MS'] ?? 600_000)
const totals = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 }
let failedFiles = 0
let current

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    current?.kill(signal)
    process.exit(1)
  })
}

/** Runs one file; resolves with its exit code and counts, or `timeout`. */
function runFile(file) {
  return new Promise((resolve) => {
    const counts = {}
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...nodeOptions, file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    current = child
    let buffered = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      buffered += chunk.toString('utf8')
      let nl
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        const m = /^(?:# |ℹ )(pass|fail|skipped|todo|cancelled) (\d+)$/.exec(line)
        if (m) counts[m[1]] = Number(m[2])
      }
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ timeout: true })
    }, FILE_TIMEOUT_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      console.error(`run-tests: could not start node: ${err.message}`)
      resolve({ code: 1, counts })
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: signal === null ? code : 1, counts })
    })
  })
}

console.error(`run-tests: ${files.length} test file(s)`)
for (const file of files) {
  let result = await runFile(file)
  if (result.timeout) {
    console.error(`run-tests: ${file} did not finish within ${FILE_TIMEOUT_MS} ms; killed, running it once more`)
    result = await runFile(file)
    if (result.timeout) {
      console.error(`run-tests: ${file} did not finish within ${FILE_TIMEOUT_MS} ms again`)
      failedFiles++
      totals.fail++
      continue
    }
  }
  for (const key of Object.keys(totals)) totals[key] += result.counts[key] ?? 0
  if (result.code !== 0) failedFiles++
}

const skipped = totals.skipped + totals.todo
console.log(`total: ${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${skipped} skipped`)
if (failedFiles > 0) console.error(`run-tests: ${failedFiles} test file(s) failed`)
process.exit(failedFiles > 0 || totals.pass === 0 ? 1 : 0)
