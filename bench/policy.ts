/**
 * Cost of an appraisal policy per appraisal, one core: the same generic EAT (kid key, session
 * nonce, reference values matched) appraised by the pipeline with the built-in comparison only,
 * then with `policies/examples/lab-debug.yaml` selecting it (two rules, each evaluated), and with
 * the shipped defaults (no rules). Reports appraisals/s of each and the policy's share of the time.
 *
 *   npm run bench:policy
 */
import { MemoryEndorsements, oemidKey } from '../src/appraisal/endorsements.js'
import { appraise, type AppraisalDeps } from '../src/appraisal/pipeline.js'
import { loadPolicyDir } from '../src/appraisal/policy-files.js'
import { encodeCbor, type EncodableValue } from '../src/cose/cbor.js'
import { createDefaultProfiles } from '../src/evidence/eat/profiles.js'
import { createDefaultRegistry } from '../src/evidence/formats.js'
import { classKey } from '../src/evidence/speaks-for.js'
import { PolicySet } from '../src/policy/evaluate.js'
import { loadPolicyText } from '../src/policy/text.js'
import { createMemoryStore } from '../src/store/memory/create-memory-store.js'
import { toHex, utf8 } from '../src/util/bytes.js'
import { fixedClock } from '../src/util/clock.js'
import { generateTestKey, signSign1 } from '../test/helpers/cose.js'
import { readFileSync } from 'node:fs'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 1000)
const NOW = 1_800_000_000
const key = generateTestKey('ES256')
const hwmodel = Uint8Array.of(0xab, 0xcd)
const endorsements = new MemoryEndorsements()
endorsements.addEatKid('default', toHex(utf8('bench')), key.publicKey, { ueids: 'any', classes: new Set([classKey(oemidKey(64242), 'abcd')]) })
endorsements.addEatReferenceValues('default', oemidKey(64242), toHex(hwmodel), { software: new Map([['fw', new Set(['1.2'])]]), measurementDigests: new Set(), source: 'bench' })
const store = createMemoryStore()
const base: AppraisalDeps = { registry: createDefaultRegistry(), endorsements, nonces: store.nonces, profiles: createDefaultProfiles(), clock: fixedClock(NOW) }
const nonce = new Uint8Array(32).fill(5)
const claims = new Map<number, EncodableValue>([[10, nonce], [256, Uint8Array.of(1, ...new Uint8Array(16).fill(8))], [258, 64242], [259, hwmodel], [263, 0], [270, 'fw'], [271, ['1.2']], [6, NOW]])
const evidence = signSign1(key, { protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8('bench')]]), payload: encodeCbor(claims), tag: 'cwt' })
const request = { tenant: 'default', mediaType: 'application/eat+cwt', evidence, sessionNonce: nonce }

const labText = readFileSync(new URL('../policies/examples/lab-debug.yaml', import.meta.url), 'utf8').replace('tenant: lab', 'tenant: default')
const variants: [string, AppraisalDeps][] = [
  ['built-in only', base],
  ['shipped defaults (no rules)', { ...base, policies: loadPolicyDir(new URL('../policies', import.meta.url).pathname).set }],
  ['lab-debug (2 rules)', { ...base, policies: new PolicySet([loadPolicyText(labText, 'yaml')]) }],
]
const check = await appraise(request, variants[2]![1])
if (check.submods['EAT']?.vector.configuration !== 32) throw new Error(`the lab policy did not apply: ${JSON.stringify(check.submods['EAT']?.vector)}`)

async function round(deps: AppraisalDeps): Promise<number> {
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await appraise(request, deps)
    n += 20
  }
  return (n * 1000) / ROUND_MS
}

const rates = new Map<string, number[]>(variants.map(([name]) => [name, []]))
for (const [, deps] of variants) await round(deps)
for (let r = 0; r < ROUNDS; r++) for (const [name, deps] of variants) rates.get(name)!.push(await round(deps))
const median = (l: number[]) => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!
const builtin = median(rates.get('built-in only')!)
for (const [name] of variants) {
  const rate = median(rates.get(name)!)
  const share = name === 'built-in only' ? '' : `, policy ${(((1 / rate - 1 / builtin) / (1 / rate)) * 100).toFixed(1)} % of the appraisal`
  console.log(`appraisal pipeline, generic EAT (kid, ES256), ${name}: ${Math.round(rate)} appraisals/s${share} (median of ${ROUNDS}; target < 10 %)`)
}
await store.close()
