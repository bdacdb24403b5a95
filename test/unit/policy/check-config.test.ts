/**
 * `assay check-config --policies <dir>`: validates a policies folder as a start would; the shipped
 * folder and the examples are valid, and an invalid policy is refused naming file, rule and position.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { checkConfigCommand } from '../../../src/main/commands/check-config.js'
import { REPO_ROOT } from '../../helpers/vectors.js'

describe('check-config --policies', () => {
  it('reports the shipped policies and the examples, each with its rules', () => {
    let out = ''
    assert.equal(checkConfigCommand({ policies: join(REPO_ROOT, 'policies') }, {}, (t) => (out += t)), 0)
    assert.match(out, /policy eat-default version 1, sha-256 /)
    assert.match(out, /valid: 2 policies, 0 rule\(s\)/)
    out = ''
    assert.equal(checkConfigCommand({}, { ASSAY_POLICIES_DIR: join(REPO_ROOT, 'policies', 'examples') }, (t) => (out += t)), 0)
    assert.match(out, /rule debug-is-a-warning: configuration → unsafe \(cost \d+\)/)
    assert.match(out, /valid: 3 policies, 4 rule\(s\)/)
  })

  it('refuses an invalid policy, naming the file, the rule and the position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-check-policies-'))
    try {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ id: 'bad', version: 1, selector: {}, rules: [{ name: 'x', when: 'key.source == 1', set: 'hardware', to: 'genuine', reason: 'r' }] }))
      assert.throws(() => checkConfigCommand({ policies: dir }, {}, () => {}), /bad\.json: rules\[0\] \(rule "x"\), when 1:\d+: == compares a string with an int/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
