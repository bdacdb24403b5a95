/**
 * The settings help cannot drift: every key of the schema has an environment variable, a
 * description and a printed default equal to what the schema really applies when the variable is
 * unset; and each `@defaultValue` the JSDoc in schema.ts states agrees with that default.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { SETTING_DESCRIPTIONS, settingsHelp } from '../../../src/config/help.js'
import { configFromEnv, ENV_NAMES } from '../../../src/config/load.js'
import { configSchema } from '../../../src/config/schema.js'

const keys = Object.keys(configSchema.shape) as (keyof typeof ENV_NAMES)[]
/** What Assay runs with when no variable is set. */
const applied = configFromEnv({}) as Record<string, unknown>

describe('settings help', () => {
  it('lists every schema key once, in schema order, and nothing else', () => {
    assert.deepEqual(
      settingsHelp().map((s) => s.key),
      keys,
    )
    assert.deepEqual(Object.keys(ENV_NAMES).sort(), [...keys].sort())
    assert.deepEqual(Object.keys(SETTING_DESCRIPTIONS).sort(), [...keys].sort())
  })

  it('every setting has a distinct environment variable and a description', () => {
    const envs = settingsHelp().map((s) => s.env)
    assert.equal(new Set(envs).size, envs.length)
    for (const s of settingsHelp()) {
      assert.match(s.env, /^[A-Z][A-Z0-9_]+$/, s.key)
      assert.ok(s.description.length >= 10, `${s.key} has a description`)
    }
  })

  it('the printed default is the default the schema applies (unset when it applies none)', () => {
    for (const s of settingsHelp()) {
      const real = applied[s.key]
      assert.equal(s.defaultText, real === undefined ? 'unset' : String(real), s.key)
    }
  })

  it('each JSDoc @defaultValue in schema.ts agrees with the applied default', () => {
    const source = readFileSync(fileURLToPath(new URL('../../../src/config/schema.ts', import.meta.url)), 'utf8')
    let checked = 0
    // A JSDoc block, then the setting it documents: `/** … @defaultValue X … */ key: …`.
    for (const m of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*?)\*\/\s*\n\s*([A-Za-z]+):/g)) {
      const doc = m[1]!
      const key = m[2]!
      const stated = /@defaultValue\s+(\S+)/.exec(doc)?.[1]
      if (stated === undefined) continue
      assert.ok(keys.includes(key as never), `${key} is a setting`)
      const real = applied[key]
      assert.equal(stated, real === undefined ? 'unset' : String(real), `${key}: JSDoc says ${stated}`)
      checked++
    }
    assert.ok(checked >= 20, `checked ${checked} @defaultValue tags`)
  })
})
