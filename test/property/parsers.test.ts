/**
 * Property tests of every Evidence parser (test/fuzz/properties.ts): for any input, a parser
 * returns or throws a VerifierError of the evidence family; a mutated signed token never verifies
 * with other signed bytes; the CBOR decoder round-trips what it accepts.
 *
 * The budget here is small so `npm test` stays quick: FUZZ_RUNS runs per property (default 200),
 * with a random seed that a failure prints. `FUZZ_SEED=<n>` replays one; for big runs use
 * `npm run fuzz -- parsers --runs 1000000` (scripts/fuzz.ts).
 */
import fc from 'fast-check'
import { describe, it } from 'node:test'
import { TARGETS } from '../fuzz/properties.js'

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200)
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED'])

/**
 * Properties that find a defect today, with what it is; they run as `todo` until the owner fixes
 * it (a todo that fails does not fail the run, and one that passes says so in the report).
 */
const KNOWN_DEFECTS: Readonly<Record<string, string>> = {}

describe('parser properties', () => {
  for (const target of TARGETS) {
    const todo = KNOWN_DEFECTS[target.name]
    it(`${target.name}: ${target.what}`, { ...(todo === undefined ? {} : { todo }) }, async () => {
      await fc.assert(target.property(), { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) })
    })
  }
})
