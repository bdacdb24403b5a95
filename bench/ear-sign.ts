/**
 * Micro-benchmark: EAR JWT signing (ES256) on one core, next to a bare node:crypto ES256 sign of the
 * same signing input, in one run.
 *
 *   node --import tsx bench/ear-sign.ts
 *
 * Rounds alternate between the contenders so that each sees the same machine state; the figure
 * reported for each is the median round. A benchmark, not a test: it prints, it asserts nothing.
 */
import { sign as nodeSign } from 'node:crypto'
import { generateEs256Key } from '../src/crypto/sign.js'
import { earClaimsJson, type AppraisalOutcome } from '../src/results/ear.js'
import { createEarSigner, signEarCwt, signEarJwt, signJwtClaims } from '../src/results/sign.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 700)

const signer = createEarSigner(generateEs256Key())
const outcome: AppraisalOutcome = {
  iat: 1_767_225_600,
  exp: 1_767_229_200,
  nonce: new Uint8Array(32).fill(7),
  verifier: { developer: 'https://assay.example', build: 'assay 0.1.0' },
  policyIds: ['urn:assay:policy:psa-builtin:1'],
  submods: {
    PSA: {
      vector: { 'instance-identity': 2, 'executables': 2, 'hardware': 2 },
      profile: 'tag:psacertified.org,2023:psa#tfm',
      nonce: new Uint8Array(32).fill(1),
      reasons: [],
    },
  },
}
const claims = earClaimsJson(outcome)
const token = signJwtClaims(claims, signer)
const signingInput = Buffer.from(token.slice(0, token.lastIndexOf('.')), 'latin1')
const privateKey = signer.key.privateKey

const contenders: Record<string, () => void> = {
  'bare node:crypto ES256 sign (same signing input)': () => {
    nodeSign('sha256', signingInput, { key: privateKey, dsaEncoding: 'ieee-p1363' })
  },
  'signJwtClaims (claims prebuilt)': () => {
    signJwtClaims(claims, signer)
  },
  'signEarJwt (outcome → -03 claims → JWT)': () => {
    signEarJwt(outcome, signer)
  },
  'signEarCwt (outcome → CBOR claims → COSE_Sign1)': () => {
    signEarCwt(outcome, signer)
  },
}

function round(fn: () => void): number {
  let n = 0
  const start = process.hrtime.bigint()
  const end = start + BigInt(ROUND_MS) * 1_000_000n
  let now = start
  while (now < end) {
    for (let i = 0; i < 100; i++) fn()
    n += 100
    now = process.hrtime.bigint()
  }
  return (n * 1e9) / Number(now - start)
}

for (const fn of Object.values(contenders)) for (let i = 0; i < 2_000; i++) fn()
const results = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(contenders)) results.get(name)!.push(round(fn))
}

console.log(`EAR sign, ${ROUNDS} rounds of ${ROUND_MS} ms, median (JWT ${token.length} characters)`)
for (const [name, rates] of results) {
  rates.sort((a, b) => a - b)
  const median = Math.round(rates[Math.floor(rates.length / 2)]!)
  console.log(`  ${name.padEnd(52)} ${median.toLocaleString('en')} signs/s`)
}
