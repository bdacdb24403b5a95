/**
 * OIDC access tokens against test issuers whose keys this test makes (jose `generateKeyPair`) and
 * whose JWKS and discovery documents it serves on a loopback HTTP server, counting every request:
 * a valid token becomes a principal; every kind of bad token is ERR_AUTH_INVALID, with jose's reason
 * in the detail so each case fails for the reason it is meant to; keys are fetched once and cached;
 * an unknown issuer and an oversized token fetch nothing; an issuer whose keys cannot be had is 503.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose'
import { createAuthenticator } from '../../../src/auth/authenticate.js'
import { MAX_JWT_LENGTH, createOidcVerifier, type OidcVerifier } from '../../../src/auth/oidc.js'
import { oidcIssuersSchema } from '../../../src/auth/oidc-config.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { isVerifierError } from '../../../src/errors/errors.js'

interface TestIssuer {
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly kid: string
}

const requests = new Map<string, number>()
const count = (path: string) => requests.get(path) ?? 0
const now = () => Math.floor(Date.now() / 1000)

async function refused(promise: Promise<unknown>, code: ErrorCode, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isVerifierError(err, code), `expected ${code}, got ${String(err)}`)
    assert.match((err as Error).message, detail)
    return true
  })
}

describe('OIDC access tokens', () => {
  let server: Server
  let base: string
  let a: TestIssuer
  let b: TestIssuer
  let stranger: TestIssuer
  let verifier: OidcVerifier
  const jwks: Record<string, unknown> = {}

  async function issuerKeys(alg: 'ES256' | 'EdDSA' | 'RS384', kid: string): Promise<TestIssuer> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
    return { privateKey, publicKey, kid }
  }

  async function token(issuer: TestIssuer, claims: JWTPayload, alg = 'ES256'): Promise<string> {
    return new SignJWT({ sub: 'alice', aud: 'assay', iss: `${base}/a`, exp: now() + 300, tenant: 'acme', scope: 'openid assay:provisioner assay:admin other:x', ...claims })
      .setProtectedHeader({ alg, kid: issuer.kid, typ: 'at+jwt' })
      .sign(issuer.privateKey)
  }

  before(async () => {
    a = await issuerKeys('ES256', 'a-1')
    b = await issuerKeys('EdDSA', 'b-1')
    stranger = await issuerKeys('ES256', 'a-2')
    server = createServer((req, res) => {
      const path = req.url ?? ''
      requests.set(path, count(path) + 1)
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (path === '/a/jwks') return send(200, jwks['a'])
      if (path === '/b/.well-known/openid-configuration') return send(200, { issuer: `${base}/b`, jwks_uri: `${base}/b/jwks` })
      if (path === '/b/jwks') return send(200, jwks['b'])
      if (path === '/c/jwks') return send(500, { error: 'down' })
      if (path === '/d/jwks') return send(200, { keys: [], padding: 'x'.repeat(100_000) })
      if (path === '/f/.well-known/openid-configuration') return send(200, { issuer: 'https://elsewhere.example', jwks_uri: `${base}/a/jwks` })
      if (path === '/e/jwks') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' })
        return res.end()
      }
      return send(404, {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    jwks['a'] = { keys: [{ ...(await exportJWK(a.publicKey)), kid: a.kid, alg: 'ES256', use: 'sig' }] }
    jwks['b'] = { keys: [{ ...(await exportJWK(b.publicKey)), kid: b.kid, alg: 'EdDSA' }] }
    const issuers = oidcIssuersSchema.parse([
      { issuer: `${base}/a`, jwksUri: `${base}/a/jwks`, audience: ['assay', 'assay-2'], tenantClaim: 'tenant', scopePrefix: 'assay:' },
      { issuer: `${base}/b`, audience: 'assay', tenant: 'beta', rolesClaim: 'https://assay.example/roles' },
      { issuer: `${base}/c`, jwksUri: `${base}/c/jwks`, audience: 'assay', tenant: 'gamma', rolesClaim: 'roles' },
      { issuer: `${base}/d`, jwksUri: `${base}/d/jwks`, audience: 'assay', tenant: 'delta', rolesClaim: 'roles' },
      { issuer: `${base}/e`, jwksUri: `${base}/e/jwks`, audience: 'assay', tenant: 'epsilon', rolesClaim: 'roles' },
      { issuer: `${base}/f`, audience: 'assay', tenant: 'phi', rolesClaim: 'roles' },
    ])
    verifier = createOidcVerifier(issuers)
  })

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('turns a valid token into a principal, fetching the JWKS once for many tokens', async () => {
    const principal = await verifier.verify(await token(a, {}))
    assert.deepEqual(principal, { id: `oidc:${base}/a#alice`, tenant: 'acme', roles: ['provisioner', 'admin'], via: 'oidc' })
    for (let i = 0; i < 5; i++) await verifier.verify(await token(a, { sub: `user-${i}`, aud: 'assay-2' }))
    assert.equal(count('/a/jwks'), 1)
  })

  it('works through the authenticator, as a bearer token', async () => {
    const auth = createAuthenticator({ oidc: verifier })
    const principal = await auth.authenticate(`Bearer ${await token(a, { scope: 'assay:relying-party' })}`)
    assert.deepEqual(principal.roles, ['relying-party'])
  })

  it('maps a fixed tenant and a roles claim, with the keys found by discovery (fetched once)', async () => {
    const make = (claims: JWTPayload) =>
      new SignJWT({ sub: 'svc', aud: 'assay', iss: `${base}/b`, exp: now() + 300, ...claims }).setProtectedHeader({ alg: 'EdDSA', kid: b.kid }).sign(b.privateKey)
    const principal = await verifier.verify(await make({ 'https://assay.example/roles': ['attester', 'unknown', 'policy-admin'] }))
    assert.deepEqual(principal, { id: `oidc:${base}/b#svc`, tenant: 'beta', roles: ['attester', 'policy-admin'], via: 'oidc' })
    assert.deepEqual((await verifier.verify(await make({}))).roles, [], 'no roles claim: no roles (authorize answers 403)')
    await refused(verifier.verify(await make({ 'https://assay.example/roles': 'admin' })), 'ERR_AUTH_INVALID', /not a list/)
    assert.equal(count('/b/.well-known/openid-configuration'), 1)
    assert.equal(count('/b/jwks'), 1)
  })

  it('refuses an expired token and one not yet valid', async () => {
    await refused(verifier.verify(await token(a, { exp: now() - 120 })), 'ERR_AUTH_INVALID', /ERR_JWT_EXPIRED/)
    await refused(verifier.verify(await token(a, { nbf: now() + 120 })), 'ERR_AUTH_INVALID', /ERR_JWT_CLAIM_VALIDATION_FAILED/)
  })

  it('refuses a token without exp', async () => {
    const noExp = await new SignJWT({ sub: 'alice', aud: 'assay', iss: `${base}/a`, tenant: 'acme' }).setProtectedHeader({ alg: 'ES256', kid: a.kid }).sign(a.privateKey)
    await refused(verifier.verify(noExp), 'ERR_AUTH_INVALID', /ERR_JWT_CLAIM_VALIDATION_FAILED/)
  })

  it('refuses a token for another audience', async () => {
    await refused(verifier.verify(await token(a, { aud: 'someone-else' })), 'ERR_AUTH_INVALID', /ERR_JWT_CLAIM_VALIDATION_FAILED/)
  })

  it('refuses a token of an unknown issuer without fetching anything', async () => {
    const before = [...requests.values()].reduce((x, y) => x + y, 0)
    await refused(verifier.verify(await token(a, { iss: 'https://evil.example' })), 'ERR_AUTH_INVALID', /not from a configured issuer/)
    await refused(verifier.verify(await token(a, { iss: `${base}/a/` })), 'ERR_AUTH_INVALID', /not from a configured issuer/)
    await refused(verifier.verify(await token(a, { iss: undefined })), 'ERR_AUTH_INVALID', /not from a configured issuer/)
    assert.equal([...requests.values()].reduce((x, y) => x + y, 0), before)
  })

  it('refuses a token signed by one issuer\'s key but naming another issuer', async () => {
    // Issuer b's key set does not hold a's key.
    const forged = await new SignJWT({ sub: 'x', aud: 'assay', iss: `${base}/b`, exp: now() + 300 }).setProtectedHeader({ alg: 'ES256', kid: a.kid }).sign(a.privateKey)
    await refused(verifier.verify(forged), 'ERR_AUTH_INVALID', /ERR_JOSE_ALG_NOT_ALLOWED|ERR_JWKS_NO_MATCHING_KEY/)
  })

  it('refuses HS256 made with the public key as secret, and alg none', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(a.publicKey))
    const hs = await new SignJWT({ sub: 'alice', aud: 'assay', iss: `${base}/a`, exp: now() + 300, tenant: 'acme' }).setProtectedHeader({ alg: 'HS256', kid: a.kid }).sign(pem)
    await refused(verifier.verify(hs), 'ERR_AUTH_INVALID', /ERR_JOSE_ALG_NOT_ALLOWED/)
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const none = `${part({ alg: 'none' })}.${part({ sub: 'alice', aud: 'assay', iss: `${base}/a`, exp: now() + 300, tenant: 'acme' })}.`
    await refused(verifier.verify(none), 'ERR_AUTH_INVALID', /ERR_JOSE_ALG_NOT_ALLOWED|ERR_JWS_INVALID|ERR_JOSE_NOT_SUPPORTED/)
    const rs = await issuerKeys('RS384', a.kid)
    await refused(verifier.verify(await token(rs, {}, 'RS384')), 'ERR_AUTH_INVALID', /ERR_JOSE_ALG_NOT_ALLOWED/)
  })

  it('refuses an unknown kid within the cooldown without fetching again', async () => {
    await verifier.verify(await token(a, {}))
    const fetched = count('/a/jwks')
    await refused(verifier.verify(await token(stranger, {})), 'ERR_AUTH_INVALID', /ERR_JWKS_NO_MATCHING_KEY/)
    assert.equal(count('/a/jwks'), fetched)
  })

  it('refuses a tampered signature and a tampered payload', async () => {
    const good = await token(a, {})
    const [h, p, s] = good.split('.') as [string, string, string]
    const flipped = s[5] === 'A' ? 'B' : 'A'
    await refused(verifier.verify(`${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`), 'ERR_AUTH_INVALID', /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload
    const changed = Buffer.from(JSON.stringify({ ...payload, tenant: 'other' })).toString('base64url')
    await refused(verifier.verify(`${h}.${changed}.${s}`), 'ERR_AUTH_INVALID', /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
  })

  it('refuses an oversized token unread, and malformed ones', async () => {
    const before = count('/a/jwks')
    const big = await token(a, { padding: 'x'.repeat(MAX_JWT_LENGTH) })
    await refused(verifier.verify(big), 'ERR_AUTH_INVALID', /longer than/)
    await refused(verifier.verify('a.b.c'), 'ERR_AUTH_INVALID', /not a JWT/)
    await refused(verifier.verify('e30.e30.'), 'ERR_AUTH_INVALID', /not from a configured issuer/)
    assert.equal(count('/a/jwks'), before)
  })

  it('refuses a token whose tenant or sub claims are unusable', async () => {
    await refused(verifier.verify(await token(a, { tenant: 'Not A Tenant' })), 'ERR_AUTH_INVALID', /tenant claim/)
    await refused(verifier.verify(await token(a, { tenant: undefined })), 'ERR_AUTH_INVALID', /tenant claim/)
    await refused(verifier.verify(await token(a, { sub: 'x'.repeat(256) })), 'ERR_AUTH_INVALID', /sub/)
    await refused(verifier.verify(await token(a, { sub: 'alice\u0000' })), 'ERR_AUTH_INVALID', /sub/)
    await refused(verifier.verify(await token(a, { sub: '' })), 'ERR_AUTH_INVALID', /sub/)
    await refused(verifier.verify(await token(a, { scope: ['assay:admin'] as unknown as string })), 'ERR_AUTH_INVALID', /scope/)
  })

  it('answers 503 for an issuer whose discovery document names another issuer, and asks again only after the cooldown', async () => {
    const jwt = await new SignJWT({ sub: 'x', aud: 'assay', iss: `${base}/f`, exp: now() + 300 }).setProtectedHeader({ alg: 'ES256', kid: a.kid }).sign(a.privateKey)
    for (let i = 0; i < 3; i++) {
      await assert.rejects(verifier.verify(jwt), (err: unknown) => isVerifierError(err, 'ERR_AUTH_ISSUER_UNAVAILABLE') && /names another issuer|cooldown/.test((err as Error).message))
    }
    assert.equal(count('/f/.well-known/openid-configuration'), 1)
  })

  it('refuses a tenant the issuer may not name', async () => {
    const limited = createOidcVerifier(oidcIssuersSchema.parse([{ issuer: `${base}/a`, jwksUri: `${base}/a/jwks`, audience: 'assay', tenantClaim: 'tenant', tenants: ['acme'], scopePrefix: 'assay:' }]))
    assert.equal((await limited.verify(await token(a, {}))).tenant, 'acme')
    await refused(limited.verify(await token(a, { tenant: 'globex' })), 'ERR_AUTH_INVALID', /may not name tenant globex/)
  })

  it('checks the typ header when the issuer sets one', async () => {
    const strict = createOidcVerifier(oidcIssuersSchema.parse([{ issuer: `${base}/a`, jwksUri: `${base}/a/jwks`, audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:', typ: 'at+jwt' }]))
    await strict.verify(await token(a, {}))
    const plain = await new SignJWT({ sub: 'alice', aud: 'assay', iss: `${base}/a`, exp: now() + 300, tenant: 'acme' }).setProtectedHeader({ alg: 'ES256', kid: a.kid, typ: 'JWT' }).sign(a.privateKey)
    await refused(strict.verify(plain), 'ERR_AUTH_INVALID', /ERR_JWT_CLAIM_VALIDATION_FAILED/)
    await verifier.verify(plain)
  })

  it('property: a header changed in any way is refused as invalid (401), never as the issuer\'s fault or a crash', async () => {
    const good = await token(a, {})
    const [, p, sig] = good.split('.') as [string, string, string]
    const header = fc.record(
      {
        alg: fc.oneof(fc.constantFrom('ES256', 'none', 'HS256', 'RS256', 'EdDSA', 'ES384'), fc.jsonValue()),
        kid: fc.oneof(fc.constant(a.kid), fc.jsonValue()),
        typ: fc.jsonValue(),
        crit: fc.oneof(fc.constant(['b64']), fc.jsonValue()),
        b64: fc.jsonValue(),
        jwk: fc.jsonValue(),
        x5u: fc.constant('http://169.254.169.254/'),
      },
      { requiredKeys: [] },
    )
    const before = count('/a/jwks')
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const forged = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${p}.${sig}`
        await assert.rejects(verifier.verify(forged), (err: unknown) => {
          assert.ok(isVerifierError(err, 'ERR_AUTH_INVALID'), `${JSON.stringify(h)}: ${String(err)}`)
          return true
        })
      }),
      { numRuns: 500 },
    )
    assert.ok(count('/a/jwks') <= before + 1, 'the key set is not fetched over and over')
  })

  it('remembers a verified token, but never past its exp', async () => {
    let at = Date.now()
    const issuers = oidcIssuersSchema.parse([{ issuer: `${base}/a`, jwksUri: `${base}/a/jwks`, audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:' }])
    const clocked = createOidcVerifier(issuers, { now: () => new Date(at) })
    const short = await token(a, { exp: Math.floor(at / 1000) + 10 })
    await clocked.verify(short)
    await clocked.verify(short)
    // 45 s later: within the cache's minute, past exp and the 30 s tolerance.
    at += 45_000
    await refused(clocked.verify(short), 'ERR_AUTH_INVALID', /ERR_JWT_EXPIRED/)
  })

  it('answers 503 when an issuer\'s keys cannot be had: error status, too large, a redirect', async () => {
    const other = (path: string, tenantIssuer: string) =>
      new SignJWT({ sub: 'x', aud: 'assay', iss: `${base}/${tenantIssuer}`, exp: now() + 300 }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).sign(a.privateKey).then((t) => [path, t] as const)
    for (const [path, jwt] of await Promise.all([other('/c/jwks', 'c'), other('/d/jwks', 'd'), other('/e/jwks', 'e')])) {
      await assert.rejects(verifier.verify(jwt), (err: unknown) => {
        assert.ok(isVerifierError(err, 'ERR_AUTH_ISSUER_UNAVAILABLE'), `${path}: ${String(err)}`)
        assert.equal((err as { status: number }).status, 503)
        return true
      })
      assert.equal(count(path), 1, `${path} asked once`)
    }
  })
})
