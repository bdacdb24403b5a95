/**
 * Micro-benchmark: X.509 path validation of a 3-certificate chain (leaf, intermediate, root
 * anchor; P-256, ECDSA-SHA256), cold (path cache cleared before every call) and warm (cache hit),
 * next to one ES256 verify of a token with the leaf key: the per-appraisal cost on the hot path.
 *
 *   node --import tsx bench/x509.ts
 *
 * "Cold" clears only the path cache: keys.ts keeps its own cache of imported keys, as it does in
 * the service. Rounds alternate between the contenders so that all see the same machine state;
 * the figure reported for each is the median round. This prints; it asserts nothing about speed.
 */
import { randomBytes, sign, verify } from 'node:crypto'
import { validateChain, X509TrustStore } from '../src/crypto/x509.js'
import { buildPki, NOW } from '../test/helpers/pki.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 700)

const pki = await buildPki()
const store = new X509TrustStore(pki.anchors)
const chain = pki.fullChain
const token = randomBytes(500)
const signature = sign('sha256', token, { key: pki.leaf.privateKey, dsaEncoding: 'ieee-p1363' })
const leafKey = validateChain(chain, store, NOW).leafKey.keyObject

const verifyToken = (key = leafKey): void => {
  if (!verify('sha256', token, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('bad signature')
}

const contenders: Record<string, () => void> = {
  'ES256 verify of a 500-byte token alone (reference)': () => verifyToken(),
  'validateChain cold (path cache cleared every call)': () => {
    store.clearCache()
    validateChain(chain, store, NOW)
  },
  'validateChain warm (cache hit: window + revocation re-checked)': () => {
    validateChain(chain, store, NOW)
  },
  'appraisal core: validateChain warm + ES256 verify of the token': () => {
    verifyToken(validateChain(chain, store, NOW).leafKey.keyObject)
  },
}

function round(fn: () => void): number {
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) fn()
    n += 20
  }
  return (n * 1000) / ROUND_MS
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const fn of Object.values(contenders)) round(fn) // warm-up
const results = new Map<string, number[]>(Object.keys(contenders).map((k) => [k, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(contenders)) results.get(name)!.push(round(fn))
}

const bytes = chain.reduce((n, c) => n + c.length, 0)
console.log(
  `X.509 path validation, ${chain.length} certificates (${bytes} bytes, P-256); node ${process.version}; ` +
    `${ROUNDS} rounds × ${ROUND_MS} ms, median`,
)
for (const [name, xs] of results) {
  console.log(`${name.padEnd(66)} ${Math.round(median(xs)).toString().padStart(8)} ops/s`)
}
