#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner, one file per process, one after another,
// TypeScript through tsx. Node 20's `--test` does not expand globs, so the file list is built here.
//
//   node scripts/run-tests.mjs                          all tests
//   node scripts/run-tests.mjs test/unit/cose           only files under that path (file or folder)
//   node scripts/run-tests.mjs path/to/any.ts           a file named outright runs whatever its name
//   node scripts/run-tests.mjs --test-name-pattern=nonce test/unit
//                                                       options are passed through to node
//   node scripts/run-tests.mjs --verbose                every test's line and output, as it runs
//                                                       (or ASSAY_TEST_VERBOSE=1)
//
// By default the output is short: one line per file (✔ or ✖, counts, duration), and under it one
// line per reason its tests were skipped; under a file that failed, each failing test with its
// error and stack (and the file's last lines of output); and at
// the end every failed test as `file › suite › test`, then `total: N passed, N failed, N skipped`.
// Exits 1 if any file failed or hung twice (ASSAY_TEST_FILE_TIMEOUT_MS, default 600000), if no test
// passed, or if no test file matched.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const testDir = path.join(root, 'test')
const SUFFIX = '.test.ts'
const EVENTS_REPORTER = pathToFileURL(path.join(root, 'scripts/test-events-reporter.mjs')).href
/** Lines of a failing file's output shown in the short output. */
const OUTPUT_TAIL_LINES = 40
/** Most bytes of one file's output kept in memory for the short output. */
const MAX_CAPTURE_BYTES = 8 * 1024 * 1024

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

/** Splits CLI args into the runner's own flags, node options (passed through) and path filters. */
function parseArgs(args) {
  const nodeOptions = []
  const filters = []
  let verbose = process.env['ASSAY_TEST_VERBOSE'] === '1'
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') {
      filters.push(...args.slice(i + 1))
      break
    }
    if (arg === '--verbose') {
      verbose = true
    } else if (arg.startsWith('-')) {
      nodeOptions.push(arg)
      if (OPTIONS_WITH_VALUE.has(arg) && i + 1 < args.length) nodeOptions.push(args[++i])
    } else {
      filters.push(arg)
    }
  }
  return { nodeOptions, filters, verbose }
}

/** A filter relative to the repo root, or undefined when it points outside it. */
function filterPath(filter) {
  const rel = toPosix(path.relative(root, path.resolve(process.cwd(), filter))).replace(/\/+$/, '')
  return rel.startsWith('..') ? undefined : rel
}

/** A filter is a file or folder path (relative to the cwd or the repo root); matching is by prefix. */
function matchesAny(file, filters) {
  if (filters.length === 0) return true
  return filters.some((filter) => {
    const rel = filterPath(filter) ?? toPosix(filter).replace(/^\.\//, '').replace(/\/+$/, '')
    if (rel === '') return true
    return file === rel || file.startsWith(`${rel}/`)
  })
}

/** Files named outright, whatever their suffix (a fixture, say), relative to the repo root. */
function namedFiles(filters) {
  const out = []
  for (const filter of filters) {
    try {
      if (!statSync(path.resolve(process.cwd(), filter)).isFile()) continue
    } catch {
      continue
    }
    out.push(filterPath(filter) ?? path.resolve(process.cwd(), filter))
  }
  return out
}

/**
 * The reporter options, to follow the user's options (node pairs the n-th reporter with the n-th
 * destination): the user's own reporters, if any, each given a destination (stdout if none), else
 * the spec reporter on stdout; then the events reporter on `eventsPath`.
 */
function reporterOptions(nodeOptions, eventsPath) {
  const count = (name) => nodeOptions.filter((o) => o === name || o.startsWith(`${name}=`)).length
  const own = count('--test-reporter')
  const options = []
  if (own === 0) options.push('--test-reporter=spec', '--test-reporter-destination=stdout')
  else for (let i = count('--test-reporter-destination'); i < own; i++) options.push('--test-reporter-destination=stdout')
  options.push(`--test-reporter=${EVENTS_REPORTER}`, `--test-reporter-destination=${eventsPath}`)
  return { options, own: own > 0 }
}

const { nodeOptions, filters, verbose: verboseFlag } = parseArgs(process.argv.slice(2))
const allFiles = findTests(testDir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
const files = [...new Set([...allFiles.filter((f) => matchesAny(f, filters)), ...namedFiles(filters)])]

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
const eventsDir = mkdtempSync(path.join(tmpdir(), 'assay-run-tests-'))
let runs = 0
let current

/**
 * Signals a test file's whole process group: `node --test` runs the file in a process of its own,
 * which a signal to `node --test` alone would leave behind (a file that never ends would live on).
 */
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {
    child.kill(signal)
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (current !== undefined) killGroup(current, signal)
    rmSync(eventsDir, { recursive: true, force: true })
    process.exit(1)
  })
}

/** Keeps the last `MAX_CAPTURE_BYTES` of a stream's output. */
function capture() {
  const chunks = []
  let bytes = 0
  return {
    add(chunk) {
      chunks.push(chunk)
      bytes += chunk.length
      while (bytes > MAX_CAPTURE_BYTES && chunks.length > 1) bytes -= chunks.shift().length
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  }
}

/** The events the reporter wrote, turned into counts and failures with their place in the tree. */
function readEvents(eventsPath, file) {
  const counts = {}
  const failures = []
  const skips = []
  const output = []
  let text = ''
  try {
    text = readFileSync(eventsPath, 'utf8')
  } catch {
    return { counts, failures, skips, output: '' }
  }
  const stack = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    let event
    try {
      event = JSON.parse(line)
    } catch {
      continue
    }
    if (event.type === 'test:start') {
      stack.length = event.nesting
      stack[event.nesting] = event.name
    } else if (event.type === 'test:fail') {
      if (event.suite && event.failureType === 'subtestsFailed') continue
      // A file that failed outside any test is reported as a test named after the file itself.
      const names = [...stack.slice(0, event.nesting), event.name].filter((n) => n !== file && n !== path.resolve(root, file))
      failures.push({ title: [file, ...names].join(' › '), where: location(event.error ?? '', file), error: event.error ?? '' })
    } else if (event.type === 'test:pass' && event.skip !== false && !event.suite) {
      skips.push({ name: event.name, reason: event.skip === true ? 'no reason given' : event.skip })
    } else if (event.type === 'output') {
      output.push(event.message)
    } else if (event.type === 'test:diagnostic') {
      const m = /^(pass|fail|skipped|todo|cancelled) (\d+)$/.exec(event.message)
      if (m) counts[m[1]] = Number(m[2])
    }
  }
  return { counts, failures, skips, output: output.join('') }
}

/** `file:line:column` of the first stack frame in `file` (source-mapped by tsx), or ''. */
function location(errorText, file) {
  const abs = path.resolve(root, file)
  const at = errorText.indexOf(`${abs}:`)
  if (at === -1) return ''
  const m = /^:(\d+):(\d+)/.exec(errorText.slice(at + abs.length))
  return m ? `${file}:${m[1]}:${m[2]}` : ''
}

/** Runs one file; resolves with its exit code, counts, failures and captured output, or `timeout`. */
function runFile(file, verbose) {
  const eventsPath = path.join(eventsDir, `${runs++}.jsonl`)
  const reporters = reporterOptions(nodeOptions, eventsPath)
  const stream = verbose || reporters.own
  return new Promise((resolve) => {
    // Without NODE_TEST_CONTEXT: run from inside a test (test/unit/scripts/run-tests.test.ts), the child
    // would otherwise report to that test's runner instead of to its own reporters.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...nodeOptions, ...reporters.options, file], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a timeout kills the file's process too (killGroup).
      detached: true,
    })
    current = child
    const stdout = capture()
    const stderr = capture()
    child.stdout.on('data', (chunk) => (stream ? process.stdout.write(chunk) : stdout.add(chunk)))
    child.stderr.on('data', (chunk) => (stream ? process.stderr.write(chunk) : stderr.add(chunk)))
    const started = performance.now()
    const finish = (result) => {
      clearTimeout(timer)
      const ms = performance.now() - started
      resolve({ ...result, ...readEvents(eventsPath, file), ms, stdout: stdout.text(), stderr: stderr.text() })
    }
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL')
      finish({ timeout: true })
    }, FILE_TIMEOUT_MS)
    child.on('error', (err) => {
      console.error(`run-tests: could not start node: ${err.message}`)
      finish({ code: 1 })
    })
    child.on('exit', (code, signal) => finish({ code: signal === null ? code : 1 }))
  })
}

function indent(text, prefix) {
  return text
    .replace(/\s+$/, '')
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n')
}

function lastLines(text, n) {
  const lines = text.replace(/\s+$/, '').split('\n')
  return { shown: lines.slice(-n).join('\n'), dropped: Math.max(0, lines.length - n) }
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`
}

function countsText(counts) {
  const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0)
  const skipped = (counts.skipped ?? 0) + (counts.todo ?? 0)
  const parts = [`${counts.pass ?? 0} passed`]
  if (failed > 0) parts.push(`${failed} failed`)
  if (skipped > 0) parts.push(`${skipped} skipped`)
  return parts.join(', ')
}

/** One line per reason a file's tests were skipped: the test's name, or how many share the reason. */
function skipReport(skips) {
  const byReason = new Map()
  for (const { name, reason } of skips) byReason.set(reason, [...(byReason.get(reason) ?? []), name])
  return [...byReason].map(([reason, names]) =>
    names.length === 1 ? `  ↷ skipped ${names[0]}: ${reason}` : `  ↷ skipped ${names.length} tests: ${reason}`,
  )
}

/** What the short output shows under a file that failed. */
function failureReport(result) {
  const out = []
  for (const failure of result.failures) {
    out.push(`  ✖ ${failure.title}${failure.where === '' ? '' : `  (${failure.where})`}`)
    if (failure.error !== '') out.push(indent(failure.error, '      '))
  }
  // What the file printed: all of it (up to 200 lines) when no test's error explains the failure
  // (the file crashed while loading, or exited non-zero), else its last lines.
  const unexplained = result.failures.every((f) => f.where === '')
  // The reporter's own lines (stdout) only when nothing else says why: the test runner itself failed.
  let printed = `${result.output}${result.stderr}`
  if (printed.trim() === '' && result.failures.length === 0) printed = result.stdout
  if (printed.trim() !== '') {
    const limit = unexplained ? 200 : OUTPUT_TAIL_LINES
    const { shown, dropped } = lastLines(printed, limit)
    const head = unexplained && result.failures.length === 0 ? `the file exited with code ${result.code} and no failing test; ` : ''
    out.push(`  ${head}output of the file${dropped > 0 ? ` (last ${limit} lines; --verbose shows all)` : ''}:`)
    out.push(indent(shown, '  │ '))
  }
  return out.join('\n')
}

const verbose = verboseFlag
const totals = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 }
const failedTests = []
let failedFiles = 0
const runStarted = performance.now()

console.error(`run-tests: ${files.length} test file(s)${verbose ? '' : ' (--verbose for every test)'}`)
for (const file of files) {
  let result = await runFile(file, verbose)
  if (result.timeout) {
    console.error(`run-tests: ${file} did not finish within ${FILE_TIMEOUT_MS} ms; killed, running it once more`)
    result = await runFile(file, verbose)
    if (result.timeout) {
      console.error(`run-tests: ${file} did not finish within ${FILE_TIMEOUT_MS} ms again`)
      console.log(`✖ ${file}  did not finish within ${FILE_TIMEOUT_MS} ms, twice  (${seconds(result.ms)})`)
      if (!verbose) {
        const { shown } = lastLines(`${result.stdout}\n${result.stderr}`, OUTPUT_TAIL_LINES)
        if (shown.trim() !== '') console.log(indent(shown, '  │ '))
      }
      failedFiles++
      totals.fail++
      failedTests.push(`${file} › (did not finish within ${FILE_TIMEOUT_MS} ms, twice)`)
      continue
    }
  }
  for (const key of Object.keys(totals)) totals[key] += result.counts[key] ?? 0
  const failed = result.code !== 0
  console.log(`${failed ? '✖' : '✔'} ${file}  ${countsText(result.counts)}  (${seconds(result.ms)})`)
  if (!verbose) for (const line of skipReport(result.skips)) console.log(line)
  if (!failed) continue
  failedFiles++
  if (!verbose) console.log(failureReport(result))
  if (result.failures.length === 0) failedTests.push(`${file} › (exited with code ${result.code}; no test failed)`)
  for (const failure of result.failures) failedTests.push(failure.title)
}
rmSync(eventsDir, { recursive: true, force: true })

const skipped = totals.skipped + totals.todo
console.log('')
if (failedTests.length > 0) {
  console.log(`failed (${failedTests.length}):`)
  for (const title of failedTests) console.log(`  ✖ ${title}`)
}
console.log(`${files.length} file(s) in ${seconds(performance.now() - runStarted)}${failedFiles > 0 ? `, ${failedFiles} failed` : ''}`)
console.log(`total: ${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${skipped} skipped`)
if (failedFiles > 0) console.error(`run-tests: ${failedFiles} test file(s) failed`)
process.exit(failedFiles > 0 || totals.pass === 0 ? 1 : 0)
