/**
 * Micro-benchmark: the cost of authenticating one request, next to one bare ES256 signature
 * verification (node:crypto, cached KeyObject), in one run:
 * - an API key (`assay_…`) found in the in-memory store, with the authenticator's 5 s cache and
 *   without it (a store read per request);
 * - an OIDC JWT access token (ES256) of a test issuer whose JWKS is served on loopback, after the key
 *   set was fetched once (cached, as it is for 10 minutes in service): verified in full each time
 *   (a client with a new token), and the same token again (remembered for up to a minute).
 *
 *   npm run bench:auth
 *
 * Rounds alternate between the contenders; the figure for each is the median round. It asserts
 * nothing about speed: it prints microseconds per authentication and the ratio to one ES256 verify.
 *
 * Then the same at the HTTP API (embedded mode, loopback, 8 requests in flight over keep-alive):
 * `POST /v1/nonces` with `ASSAY_EVIDENCE_AUTH=open` (no credential looked at) against `attester` with
 * an API key and with an OIDC token, as requests per second and the cost relative to the open path.
 * `BENCH_HTTP=0` skips it.
 */
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { generateApiKey } from '../src/auth/api-keys.js'
import { createAuthenticator } from '../src/auth/authenticate.js'
import { createOidcVerifier } from '../src/auth/oidc.js'
import { oidcIssuersSchema } from '../src/auth/oidc-config.js'
import { createApp } from '../src/api/app.js'
import { createMetrics } from '../src/api/metrics.js'
import { loadConfig } from '../src/config/load.js'
import { createDefaultRegistry } from '../src/evidence/formats.js'
import { buildServices } from '../src/main/services.js'
import { createMemoryCredentialStore } from '../src/store/memory/credential-store.js'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 700)

// One bare ES256 verification over a JWS-sized input.
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const input = Buffer.from('x'.repeat(300))
const signature = createSign('sha256').update(input).sign({ key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
const bareVerify = async () => {
  if (!createVerify('sha256').update(input).verify({ key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('bad')
}

// API keys in the embedded store.
const store = createMemoryCredentialStore()
for (let i = 0; i < 99; i++) {
  const filler = generateApiKey()
  await store.create({ keyId: filler.keyId, tenant: 'default', name: `k${i}`, roles: ['attester'], hash: filler.hash, createdBy: 'bench' })
}
const apiKey = generateApiKey()
await store.create({ keyId: apiKey.keyId, tenant: 'default', name: 'bench', roles: ['attester'], hash: apiKey.hash, createdBy: 'bench' })
const cached = createAuthenticator({ apiKeys: store })
const uncached = createAuthenticator({ apiKeys: store, apiKeyCacheMs: 0 })
const apiKeyHeader = `Bearer ${apiKey.key}`

// An OIDC issuer on loopback.
const issuerKey = await generateKeyPair('ES256', { extractable: true })
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256' }] })
let jwksFetches = 0
const server = createServer((_req, res) => {
  jwksFetches++
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(jwks)
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const oidc = createOidcVerifier(oidcIssuersSchema.parse([{ issuer: base, jwksUri: `${base}/jwks`, audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:' }]))
const jwt = await new SignJWT({ sub: 'bench', tenant: 'default', scope: 'openid assay:attester assay:relying-party' })
  .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
  .setIssuer(base)
  .setAudience('assay')
  .setExpirationTime('2h')
  .sign(issuerKey.privateKey)
const withOidc = createAuthenticator({ apiKeys: store, oidc })
const oidcUncached = createOidcVerifier(oidcIssuersSchema.parse([{ issuer: base, jwksUri: `${base}/jwks`, audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:' }]), { tokenCacheEntries: 0 })
const withOidcUncached = createAuthenticator({ apiKeys: store, oidc: oidcUncached })
const jwtHeader = `Bearer ${jwt}`

const contenders: Record<string, () => Promise<unknown>> = {
  'bare ES256 verify (node:crypto)': bareVerify,
  'API key, cached record (5 s)': () => cached.authenticate(apiKeyHeader),
  'API key, store read every time (memory)': () => uncached.authenticate(apiKeyHeader),
  'OIDC JWT ES256, cached JWKS, full verify': () => withOidcUncached.authenticate(jwtHeader),
  'OIDC JWT ES256, same token again (cached)': () => withOidc.authenticate(jwtHeader),
}

async function round(fn: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ROUND_MS
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await fn()
    n += 20
  }
  return (ROUND_MS * 1000) / n
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const fn of Object.values(contenders)) await round(fn) // warm-up (and the one JWKS fetch)
const results = new Map<string, number[]>(Object.keys(contenders).map((k) => [k, []]))
for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(contenders)) results.get(name)!.push(await round(fn))

const bare = median(results.get(Object.keys(contenders)[0]!)!)
console.log(`Authentication per request; node ${process.version}; ${ROUNDS} rounds × ${ROUND_MS} ms, median`)
for (const [name, xs] of results) {
  const us = median(xs)
  console.log(`  ${name.padEnd(44)} ${us.toFixed(2).padStart(8)} µs   ${(us / bare).toFixed(2).padStart(6)} × one ES256 verify`)
}
console.log(`  JWKS fetched ${jwksFetches} time(s) during the run`)

if (process.env['BENCH_HTTP'] !== '0') await httpBench()
server.close()
await store.close()

/** Requests per second of `POST /v1/nonces`, open and behind an attester credential. */
async function httpBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-bench-auth-'))
  // Room for every nonce a run issues (they expire after 5 s; the store's nonces get 1/32 of its bytes).
  const services = await buildServices(loadConfig({ port: 0, dataDir, rateLimitPoints: 0, storeMaxBytes: 2 ** 31 }), { role: 'all' })
  const listen = async (evidenceAuth: 'open' | 'attester'): Promise<{ server: Server; url: string }> => {
    const config = loadConfig({ port: 0, dataDir, rateLimitPoints: 0, evidenceAuth, nonceTtlSeconds: 5 })
    const app = createApp({
      config,
      store: services.store,
      queue: services.producer!,
      registry: createDefaultRegistry(),
      results: services.renderer,
      metrics: createMetrics(() => services.producer!.depth()),
      clock: services.clock,
      authenticator: withOidc,
    })
    const http = createServer(app)
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    return { server: http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1/nonces` }
  }
  const open = await listen('open')
  const attester = await listen('attester')
  const paths: Record<string, { url: string; headers: Record<string, string> }> = {
    'open (no credential)': { url: open.url, headers: {} },
    'attester, API key': { url: attester.url, headers: { authorization: apiKeyHeader } },
    'attester, OIDC token (same token)': { url: attester.url, headers: { authorization: jwtHeader } },
  }
  const perSecond = async ({ url, headers }: { url: string; headers: Record<string, string> }): Promise<number> => {
    const end = performance.now() + ROUND_MS
    let n = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < end) {
          const res = await fetch(url, { method: 'POST', headers })
          if (res.status !== 201) throw new Error(`${url} answered ${res.status}`)
          await res.arrayBuffer()
          n++
        }
      }),
    )
    return (n * 1000) / ROUND_MS
  }
  for (const target of Object.values(paths)) await perSecond(target) // warm-up
  const rates = new Map<string, number[]>(Object.keys(paths).map((k) => [k, []]))
  // Each round starts with another contender: whoever runs first pays for the nonces of the round
  // before expiring (the store sweeps them), so a fixed order would favour the later ones.
  const entries = Object.entries(paths)
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < entries.length; i++) {
      const [name, target] = entries[(r + i) % entries.length]!
      rates.get(name)!.push(await perSecond(target))
    }
  }
  const openRate = median(rates.get('open (no credential)')!)
  console.log(`HTTP POST /v1/nonces, embedded, 8 in flight; ${ROUNDS} rounds × ${ROUND_MS} ms, median`)
  for (const [name, xs] of rates) {
    const rate = median(xs)
    console.log(`  ${name.padEnd(44)} ${rate.toFixed(0).padStart(8)} req/s   ${(((openRate - rate) / openRate) * 100).toFixed(1).padStart(6)} % below open`)
  }
  await new Promise<void>((resolve) => open.server.close(() => resolve()))
  await new Promise<void>((resolve) => attester.server.close(() => resolve()))
  await services.close()
  rmSync(dataDir, { recursive: true, force: true })
}
