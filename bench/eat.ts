/**
 * Generic EAT appraisal with a 3-certificate chain (root → intermediate → device), one core:
 * envelope, profile, chain validation (cached paths), ES256 verify, claims, reference values.
 *
 *   npm run bench:eat
 */
import { createPublicKey } from 'node:crypto'
import { appraiseEat, type EatAppraisalDeps } from '../src/appraisal/eat.js'
import { MemoryEndorsements, oemidKey } from '../src/appraisal/endorsements.js'
import { classKey } from '../src/evidence/speaks-for.js'
import { encodeCbor, type EncodableValue } from '../src/cose/cbor.js'
import { importSpki } from '../src/crypto/keys.js'
import { createDefaultProfiles } from '../src/evidence/eat/profiles.js'
import { createMemoryStore } from '../src/store/memory/create-memory-store.js'
import { toHex } from '../src/util/bytes.js'
import { fixedClock } from '../src/util/clock.js'
import { signSign1 } from '../test/helpers/cose.js'
import { buildPki, NOW } from '../test/helpers/pki.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 1000)

const pki = await buildPki()
const endorsements = new MemoryEndorsements()
for (const anchor of pki.anchors) endorsements.addEatAnchor('default', anchor, { ueids: 'any', classes: new Set([classKey(oemidKey(64242), 'abcd')]) })
const hwmodel = Uint8Array.of(0xab, 0xcd)
endorsements.addEatReferenceValues('default', oemidKey(64242), toHex(hwmodel), {
  software: new Map([['fw', new Set(['1.2'])]]),
  measurementDigests: new Set(),
  source: 'bench',
})
const store = createMemoryStore()
const deps: EatAppraisalDeps = {
  endorsements,
  nonces: store.nonces,
  profiles: createDefaultProfiles(),
  clock: fixedClock(NOW),
}
const device = {
  privateKey: pki.leaf.privateKey,
  publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
  coseAlg: -7,
  hash: 'sha256' as const,
}
const claims = new Map<number, EncodableValue>([
  [256, Uint8Array.of(1, ...new Uint8Array(16).fill(8))],
  [258, 64242],
  [259, hwmodel],
  [270, 'fw'],
  [271, ['1.2']],
  [6, NOW],
])
const token = signSign1(device, {
  protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]),
  payload: encodeCbor(claims),
  tag: 'cwt',
})

const check = await appraiseEat({ tenant: 'default', token }, deps)
if (check['EAT']?.vector.executables !== 2) throw new Error(`bench token does not appraise cleanly: ${JSON.stringify(check)}`)

async function round(): Promise<number> {
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await appraiseEat({ tenant: 'default', token }, deps)
    n += 20
  }
  return (n * 1000) / ROUND_MS
}

await round()
const results: number[] = []
for (let r = 0; r < ROUNDS; r++) results.push(await round())
results.sort((a, b) => a - b)
console.log(
  `generic EAT appraisal, ${token.length}-byte CWT with a 3-certificate x5chain (root omitted), one core: ` +
    `${Math.round(results[Math.floor(results.length / 2)]!)} appraisals/s (median of ${ROUNDS}; target ≥ 1,000)`,
)
await store.close()
