/**
 * Micro-benchmark: COSE_Sign1 ES256 verification of a ~500-byte PSA token through the library,
 * next to bare node:crypto verify with a cached key over the same Sig_structure, in one run.
 *
 *   npm run bench
 *
 * Rounds alternate between the contenders so that both see the same machine state; the figure
 * reported for each is the median round. This is a benchmark, not a test: it asserts nothing
 * about speed, it prints.
 */
import { verify as nodeVerify } from 'node:crypto'
import { CborTag, encodeCbor } from '../src/cose/cbor.js'
import { parseSign1, verifySign1 } from '../src/cose/sign1.js'
import { sigStructure1 } from '../src/cose/structure.js'
import { PSA_ALGORITHMS, verifyPsaToken } from '../src/evidence/psa/verify.js'
import { generateTestKey, rawSign } from '../test/helpers/cose.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 700)

const key = generateTestKey('ES256')
const component = (type: string, fill: number) =>
  new Map<number, string | Uint8Array>([
    [1, type],
    [2, new Uint8Array(32).fill(fill)],
    [4, '1.2.3'],
    [5, new Uint8Array(32).fill(fill + 1)],
    [6, 'sha-256'],
  ])
const claims = new Map<number, unknown>([
  [265, 'tag:psacertified.org,2023:psa#tfm'],
  [10, new Uint8Array(32).fill(1)],
  [256, Uint8Array.of(1, ...new Uint8Array(32).fill(2))],
  [2396, new Uint8Array(32)],
  [2394, 2147483647],
  [2395, 0x3000],
  [268, new Uint8Array(8)],
  [2398, '1234567890123-12345'],
  [2399, [component('BL', 3), component('PRoT', 5)]],
  [2400, 'https://veraison.example/v1/challenge-response'],
])
const payload = encodeCbor(claims as never)
const protectedBytes = encodeCbor(new Map([[1, -7]]))
const toBeSigned = sigStructure1(protectedBytes, new Uint8Array(0), payload)
const signature = rawSign(key, toBeSigned)
const token = encodeCbor(new CborTag(18, [protectedBytes, new Map(), payload, signature]))
const keyObject = key.publicKey.keyObject
const policy = { algorithms: PSA_ALGORITHMS }

const contenders: Record<string, () => void> = {
  'bare node:crypto verify (cached KeyObject, prebuilt Sig_structure)': () => {
    if (!nodeVerify('sha256', toBeSigned, { key: keyObject, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('bad')
  },
  'library: parseSign1 + verifySign1': () => {
    verifySign1(parseSign1(token, policy), key.publicKey)
  },
  'library: verifyPsaToken (+ key lookup, claims decode and profile rules)': () => {
    verifyPsaToken(token, { resolveKey: () => key.publicKey })
  },
}

function round(fn: () => void): number {
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) fn()
    n += 50
  }
  return (n * 1000) / ROUND_MS
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const fn of Object.values(contenders)) round(fn) // warm-up
const results = new Map<string, number[]>(Object.keys(contenders).map((k) => [k, []]))
for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(contenders)) results.get(name)!.push(round(fn))

const bare = median(results.get(Object.keys(contenders)[0]!)!)
console.log(`COSE_Sign1 ES256, PSA token of ${token.length} bytes; node ${process.version}; ${ROUNDS} rounds × ${ROUND_MS} ms, median`)
for (const [name, xs] of results) {
  const ops = median(xs)
  console.log(`${name.padEnd(76)} ${Math.round(ops).toString().padStart(7)} ops/s  ${((100 * ops) / bare).toFixed(1).padStart(5)}% of bare`)
}
