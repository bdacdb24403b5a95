/**
 * scripts/run-tests.mjs, run for real on the fixture files in test/fixtures/run-tests/ (named
 * `*.fixture.ts`, so the normal run never takes them): the short report (skip reasons included), the
 * closing list of failed tests, the exit code, `--verbose`, options passed through to node, and a file
 * that never ends.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { REPO_ROOT } from '../../helpers/vectors.js'

const FIXTURES = 'test/fixtures/run-tests'
const PASSING = `${FIXTURES}/passing.fixture.ts`
const FAILING = `${FIXTURES}/failing.fixture.ts`
const CRASHING = `${FIXTURES}/crashing.fixture.ts`
const HANGING = `${FIXTURES}/hanging.fixture.ts`

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Pids of the processes whose environment holds `ASSAY_TEST_MARK=<mark>` (Linux /proc). */
function processesMarked(mark: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`ASSAY_TEST_MARK=${mark}`)) pids.push(Number(entry))
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids
}

function runTests(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ASSAY_TEST_VERBOSE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The lines after the last blank line: the closing summary. */
function summary(stdout: string): string[] {
  const lines = stdout.trimEnd().split('\n')
  return lines.slice(lines.lastIndexOf('') + 1)
}

describe('scripts/run-tests.mjs', { timeout: 300_000 }, () => {
  it('reports a passing and a failing file in one line each, the failures in full, and lists them last', async () => {
    const run = await runTests([PASSING, FAILING])
    assert.equal(run.code, 1, run.stdout)
    const lines = run.stdout.split('\n')
    assert.match(lines.find((l) => l.includes(PASSING)) ?? '', /^✔ \S+passing\.fixture\.ts {2}2 passed, 1 skipped {2}\(\d+\.\d s\)$/)
    assert.match(lines.find((l) => l.includes(FAILING)) ?? '', /^✖ \S+failing\.fixture\.ts {2}1 passed, 3 failed {2}\(\d+\.\d s\)$/)
    // Each failure with its place in the tree, where it was thrown, its message and its stack.
    assert.ok(lines.includes(`  ✖ ${FAILING} › strings › padding › pads to the wrong width  (${FAILING}:12:48)`), run.stdout)
    assert.match(run.stdout, /AssertionError \[ERR_ASSERTION\]: fixture-marker: padStart/)
    assert.match(run.stdout, /'007' !== '0007'/)
    assert.match(run.stdout, /at TestContext\.<anonymous> \(\S+failing\.fixture\.ts:12:48\)/)
    assert.match(run.stdout, /Error: fixture-marker: thrown at top level/)
    // The passing file's tests are not listed one by one.
    assert.doesNotMatch(run.stdout, /multiplies/)

    assert.deepEqual(summary(run.stdout), [
      'failed (3):',
      `  ✖ ${FAILING} › strings › upper-cases wrongly`,
      `  ✖ ${FAILING} › strings › padding › pads to the wrong width`,
      `  ✖ ${FAILING} › throws at top level`,
      summary(run.stdout)[4]!,
      'total: 3 passed, 3 failed, 1 skipped',
    ])
    assert.match(summary(run.stdout)[4]!, /^2 file\(s\) in \d+\.\d s, 1 failed$/)
    assert.match(run.stderr, /run-tests: 1 test file\(s\) failed/)
  })

  it('exits 0 with no failure list when every file passes', async () => {
    const run = await runTests([PASSING])
    assert.equal(run.code, 0, run.stdout)
    assert.doesNotMatch(run.stdout, /failed \(/)
    assert.ok(run.stdout.split('\n').includes('  ↷ skipped divides by zero: not a number'), run.stdout)
    assert.equal(summary(run.stdout).at(-1), 'total: 2 passed, 0 failed, 1 skipped')
  })

  it('shows what a file printed when it fails before any test runs', async () => {
    const run = await runTests([CRASHING])
    assert.equal(run.code, 1)
    assert.match(run.stdout, /^✖ \S+crashing\.fixture\.ts {2}0 passed, 1 failed/m)
    assert.match(run.stdout, /│ Error: fixture-marker: the file failed to load/)
    assert.ok(summary(run.stdout).includes(`  ✖ ${CRASHING}`), run.stdout)
  })

  it('prints every test with --verbose, and passes options through to node', async () => {
    const verbose = await runTests(['--verbose', PASSING])
    assert.equal(verbose.code, 0)
    assert.match(verbose.stdout, /✔ multiplies/)
    const viaEnv = await runTests([PASSING], { ASSAY_TEST_VERBOSE: '1' })
    assert.match(viaEnv.stdout, /✔ multiplies/)

    const filtered = await runTests(['--test-name-pattern', 'concatenates', FAILING])
    assert.equal(filtered.code, 0, filtered.stdout)
    assert.match(filtered.stdout, /total: 1 passed, 0 failed, \d+ skipped/)

    // A reporter of the user's own is shown as it runs; the counts are still the file's.
    const tap = await runTests(['--test-reporter=tap', PASSING])
    assert.equal(tap.code, 0)
    assert.match(tap.stdout, /^TAP version 13$/m)
    assert.equal(summary(tap.stdout).at(-1), 'total: 2 passed, 0 failed, 1 skipped')
  })

  it('never takes the fixtures in a folder run, and fails when no test file matches', async () => {
    const run = await runTests([FIXTURES])
    assert.equal(run.code, 1)
    assert.match(run.stderr, /no \*\.test\.ts files found under test\/ matching test\/fixtures\/run-tests/)
  })

  it('kills a file that does not finish, runs it once more, and fails when it hangs again', async () => {
    // Any timeout shows the behaviour: this file never ends, however fast or slow the machine is.
    const mark = `assay-run-tests-${randomUUID()}`
    const run = await runTests([HANGING], { ASSAY_TEST_FILE_TIMEOUT_MS: '3000', ASSAY_TEST_MARK: mark })
    // Nothing of either try is left running: not `node --test`, nor the process it ran the file in.
    assert.deepEqual(processesMarked(mark), [])
    assert.equal(run.code, 1)
    assert.match(run.stderr, /hanging\.fixture\.ts did not finish within 3000 ms; killed, running it once more/)
    assert.match(run.stderr, /hanging\.fixture\.ts did not finish within 3000 ms again/)
    assert.ok(summary(run.stdout).includes(`  ✖ ${HANGING} › (did not finish within 3000 ms, twice)`), run.stdout)
  })
})
