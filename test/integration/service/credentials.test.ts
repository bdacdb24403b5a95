/**
 * Credentials at the API, end to end over real HTTP, in embedded mode and on Redis: every protected
 * route of openapi.yaml (walked from the document, so a new route cannot be forgotten) refuses a
 * missing, wrong, expired, wrong-audience and wrong-role credential; the admin API makes, lists and
 * revokes API keys; the first admin key is printed once; the legacy operator token and Basic
 * credentials (Veraison's cocli) still work; `ASSAY_EVIDENCE_AUTH=attester` end to end. OIDC tokens
 * come from a test issuer whose keys this test makes and whose JWKS it serves on loopback.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose'
import { parse as parseYaml } from 'yaml'
import { generateApiKey } from '../../../src/auth/api-keys.js'
import { ROLES, type Role } from '../../../src/auth/roles.js'
import { loadConfig } from '../../../src/config/load.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { rfc9783Iak, signSign1 } from '../../helpers/cose.js'
import { deletePrefix, REDIS_URL } from '../../helpers/redis.js'

const OPERATOR_TOKEN = `assay-test-operator-${randomBytes(24).toString('base64url')}`
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const RFC_TOKEN = readFileSync(new URL('../../../examples/psa-rfc9783-a1.cbor', import.meta.url))
const METHODS = ['get', 'post', 'put', 'delete'] as const
const FIRST_KEY = /={5,} ASSAY FIRST ADMIN KEY \(shown once\) ={5,}\n {2}(assay_[0-9a-f]{24}_[A-Za-z0-9_-]{43})\n/

interface Operation {
  readonly method: string
  readonly path: string
  /** Roles the route takes (any one); empty for an open route. */
  readonly roles: readonly Role[]
  /** Open unless `ASSAY_EVIDENCE_AUTH=attester`. */
  readonly evidence: boolean
}

/** Every operation of openapi.yaml with the roles its security requirement names. */
function operations(): Operation[] {
  const spec = parseYaml(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>
  }
  const out: Operation[] = []
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op === undefined) continue
      const requirements = op.security ?? []
      const roles = [...new Set(requirements.flatMap((r) => Object.values(r).flat()))] as Role[]
      for (const role of roles) assert.ok((ROLES as readonly string[]).includes(role), `${method} ${path} names role ${role}`)
      out.push({ method: method.toUpperCase(), path, roles, evidence: requirements.some((r) => Object.keys(r).length === 0) })
    }
  }
  return out
}

/** The RFC 9783 example token with another nonce, signed again with its (published) key. */
function psaToken(nonce: Uint8Array): Uint8Array {
  const outer = decodeCbor(RFC_TOKEN, { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(rfc9783Iak(), { payload: encodeCbor(claims) })
}

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` })
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

/** A test issuer: its keys, and a JWKS server on loopback. */
class TestIssuer {
  server!: Server
  base = ''
  private keys!: { privateKey: CryptoKey; publicKey: CryptoKey }

  async start(): Promise<void> {
    this.keys = await generateKeyPair('ES256', { extractable: true })
    const jwks = { keys: [{ ...(await exportJWK(this.keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }
    this.server = createServer((req, res) => {
      res.writeHead(req.url === '/idp/jwks' ? 200 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify(req.url === '/idp/jwks' ? jwks : {}))
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  get issuer(): string {
    return `${this.base}/idp`
  }

  setting(): string {
    return JSON.stringify([{ issuer: this.issuer, jwksUri: `${this.base}/idp/jwks`, audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:' }])
  }

  token(claims: JWTPayload & { roles?: readonly string[] }): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    const { roles, ...rest } = claims
    return new SignJWT({ sub: 'alice', aud: 'assay', iss: this.issuer, exp: now + 300, tenant: 'default', scope: (roles ?? []).map((r) => `assay:${r}`).join(' '), ...rest })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .sign(this.keys.privateKey)
  }

  stop(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

interface Mode {
  readonly name: string
  /** Starts an API (and worker) on this mode's shared data (same dataDir / prefix every time). */
  start(settings: Record<string, unknown>, printed: string[]): Promise<RunningAssay>
  cleanup(): Promise<void>
  /** Whether a second process may run beside the first (Redis), or must follow it (embedded: the data dir is locked). */
  readonly concurrent: boolean
}

function embeddedMode(): Mode {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-cred-'))
  return {
    name: 'embedded',
    concurrent: false,
    start: (settings, printed) => startAssay(loadConfig({ port: 0, dataDir, rateLimitPoints: 0, ...settings }), { role: 'all', printSecret: (t) => printed.push(t) }),
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  }
}

function redisMode(): Mode {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-cred-'))
  const prefix = `assay-test-cred-${randomUUID().slice(0, 8)}`
  return {
    name: 'Redis',
    concurrent: true,
    start: (settings, printed) =>
      startAssay(loadConfig({ port: 0, dataDir, redisUrl: REDIS_URL, redisPrefix: prefix, rateLimitPoints: 0, ...settings }), {
        role: 'all',
        printSecret: (t) => printed.push(t),
      }),
    cleanup: async () => {
      await deletePrefix(prefix)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

for (const makeMode of [embeddedMode, redisMode]) {
  const mode = makeMode()
  describe(`credentials at the API: ${mode.name}`, { timeout: 180_000 }, () => {
    const idp = new TestIssuer()
    let running: RunningAssay
    let url: string
    const printed: string[] = []
    let admin: string
    const keys = new Map<string, string>()

    async function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
      const isBytes = body instanceof Uint8Array
      return fetch(url + path, {
        method,
        headers: { ...headers, ...(body === undefined || isBytes ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: isBytes ? body : JSON.stringify(body) }),
      })
    }

    async function makeKey(name: string, roles: readonly Role[], as = admin): Promise<string> {
      const res = await call('POST', '/v1/api-keys', bearer(as), { name, roles })
      const body = (await res.json()) as { key: string }
      assert.equal(res.status, 201, JSON.stringify(body))
      return body.key
    }

    before(async () => {
      await idp.start()
      running = await mode.start({ operatorToken: OPERATOR_TOKEN, oidcIssuers: idp.setting(), evidenceAuth: 'attester' }, printed)
      url = running.url!
      assert.equal(printed.length, 1, 'the first start prints the first admin key')
      admin = FIRST_KEY.exec(printed[0]!)![1]!
      for (const role of ROLES) keys.set(role, await makeKey(`only ${role}`, [role]))
    })

    after(async () => {
      await running?.stop()
      await idp.stop()
      await mode.cleanup()
    })

    it('prints the first admin key once, in a marked block, and it holds every role of tenant default', async () => {
      assert.match(printed[0]!, FIRST_KEY)
      assert.match(printed[0]!, /tenant default, roles attester, relying-party, provisioner, policy-admin, admin/)
      const listed = (await (await call('GET', '/v1/api-keys', bearer(admin))).json()) as { items: { name: string; createdBy: string }[] }
      assert.ok(listed.items.some((k) => k.name === 'bootstrap admin' && k.createdBy === 'bootstrap'))
      if (mode.concurrent) {
        const again: string[] = []
        const second = await mode.start({ operatorToken: OPERATOR_TOKEN }, again)
        try {
          assert.deepEqual(again, [], 'a second process prints nothing')
          assert.equal((await call('GET', '/v1/api-keys', bearer(admin))).status, 200)
        } finally {
          await second.stop()
        }
      }
    })

    it('names a role for every route of openapi.yaml but the open ones (health, metrics, well-known documents, docs)', () => {
      const open = operations().filter((op) => op.roles.length === 0).map((op) => `${op.method} ${op.path}`)
      const allowed = /^GET (\/|\/healthz|\/readyz|\/metrics|\/openapi\.yaml|\/docs|\/docs\/assets\/\{file\}|\/\.well-known\/[a-z./-]+)$/
      for (const op of open) assert.match(op, allowed, `${op} names no role: say which role it needs, or keep it open on purpose here`)
      assert.ok(operations().filter((op) => op.evidence).every((op) => op.roles.length > 0), 'an Evidence route names the role of attester mode')
    })

    it('refuses every protected route of openapi.yaml without a credential, or with a wrong, expired or wrong-audience one (401)', async () => {
      const protectedOps = operations().filter((op) => op.roles.length > 0)
      assert.ok(protectedOps.length >= 40, `found the protected routes (${protectedOps.length})`)
      const expired = await idp.token({ roles: ROLES, exp: Math.floor(Date.now() / 1000) - 3600 })
      const otherAudience = await idp.token({ roles: ROLES, aud: 'someone-else' })
      const cases: [string, Record<string, string>, string, RegExp][] = [
        ['no credential', {}, 'ERR_AUTH_REQUIRED', /^Bearer realm="assay"$/],
        ['another scheme', { authorization: 'Digest username="x"' }, 'ERR_AUTH_REQUIRED', /^Bearer realm="assay"$/],
        ['an unknown API key', bearer(generateApiKey().key), 'ERR_AUTH_INVALID', /error="invalid_token"/],
        ['a wrong operator token', bearer(`${OPERATOR_TOKEN}x`), 'ERR_AUTH_INVALID', /error="invalid_token"/],
        ['an expired token', bearer(expired), 'ERR_AUTH_INVALID', /error="invalid_token"/],
        ['a token of another audience', bearer(otherAudience), 'ERR_AUTH_INVALID', /error="invalid_token"/],
        ['Basic with a wrong password', basic('cocli', generateApiKey().key), 'ERR_AUTH_INVALID', /error="invalid_token"/],
      ]
      for (const op of protectedOps) {
        const path = op.path.replace(/\{\w+\}/g, () => randomUUID())
        for (const [what, headers, code, challenge] of cases) {
          const res = await call(op.method, path, headers, op.method === 'POST' || op.method === 'PUT' ? {} : undefined)
          const problem = (await res.json()) as { code: string }
          assert.equal(res.status, 401, `${op.method} ${op.path} with ${what}`)
          assert.equal(problem.code, code, `${op.method} ${op.path} with ${what}`)
          assert.match(res.headers.get('www-authenticate') ?? '', challenge, `${op.method} ${op.path} with ${what}`)
        }
      }
    })

    it('refuses every protected route to a credential without its role (403), API key or token', async () => {
      for (const op of operations().filter((o) => o.roles.length > 0)) {
        const path = op.path.replace(/\{\w+\}/g, () => randomUUID())
        const others = ROLES.filter((r) => !op.roles.includes(r))
        const credentials: [string, Record<string, string>][] = [
          ['an API key of the other roles', bearer(await makeKeyOnce(others))],
          ['a token of the other roles', bearer(await idp.token({ roles: others }))],
          ['a token naming no Assay role', bearer(await idp.token({ roles: ['unrelated'] }))],
        ]
        for (const [what, headers] of credentials) {
          const res = await call(op.method, path, headers, op.method === 'POST' || op.method === 'PUT' ? {} : undefined)
          const problem = (await res.json()) as { code: string }
          assert.equal(res.status, 403, `${op.method} ${op.path} with ${what}: ${JSON.stringify(problem)}`)
          assert.equal(problem.code, 'ERR_AUTH_FORBIDDEN')
          assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/)
        }
      }
    })

    const byRoles = new Map<string, string>()
    async function makeKeyOnce(roles: readonly Role[]): Promise<string> {
      const name = roles.join('+')
      if (!byRoles.has(name)) byRoles.set(name, await makeKey(name, roles))
      return byRoles.get(name)!
    }

    it('makes an API key shown once, lists and reads keys without secrets, pages, and revokes', async () => {
      const res = await call('POST', '/v1/api-keys', bearer(admin), { name: 'ci provisioner', roles: ['provisioner'] })
      const made = (await res.json()) as { id: string; key: string; roles: string[]; tenant: string; createdBy: string }
      assert.equal(res.status, 201)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.headers.get('location'), `/v1/api-keys/${made.id}`)
      assert.match(made.key, new RegExp(`^assay_${made.id}_[A-Za-z0-9_-]{43}$`))
      assert.deepEqual(made.roles, ['provisioner'])
      assert.equal(made.tenant, 'default')
      assert.match(made.createdBy, /^api-key:[0-9a-f]{24}$/)

      const one = await call('GET', `/v1/api-keys/${made.id}`, bearer(admin))
      const text = await one.text()
      assert.equal(one.status, 200)
      assert.ok(!text.includes(made.key.slice(31)), 'the secret is never shown again')
      assert.deepEqual(Object.keys(JSON.parse(text) as object).sort(), ['createdAt', 'createdBy', 'id', 'name', 'roles', 'tenant'])

      const seen = new Set<string>()
      let cursor: string | undefined
      for (let page = 0; page < 50; page++) {
        const listing = await call('GET', `/v1/api-keys?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`, bearer(admin))
        const body = (await listing.json()) as { items: Record<string, unknown>[]; cursor?: string }
        assert.ok(body.items.length <= 2)
        for (const item of body.items) {
          assert.equal(item['key'], undefined)
          assert.equal(item['hash'], undefined)
          seen.add(String(item['id']))
        }
        cursor = body.cursor
        if (cursor === undefined) break
      }
      assert.ok(seen.has(made.id), 'the listing, page by page, names the new key')

      assert.equal((await call('GET', '/v1/trust-anchors', bearer(made.key))).status, 200, 'the new key works at once')
      assert.equal((await call('DELETE', `/v1/api-keys/${made.id}`, bearer(admin))).status, 204)
      // Revoked in this process: refused at once (the documented bound for other processes is 5 s).
      const refused = await call('GET', '/v1/trust-anchors', bearer(made.key))
      assert.equal(refused.status, 401)
      assert.equal(((await refused.json()) as { code: string }).code, 'ERR_AUTH_INVALID')
      const revoked = (await (await call('GET', `/v1/api-keys/${made.id}`, bearer(admin))).json()) as { revokedAt?: string; revokedBy?: string }
      assert.ok(revoked.revokedAt !== undefined && revoked.revokedBy?.startsWith('api-key:'))
    })

    it('refuses malformed key requests (400), another tenant (403), and unknown key ids (404)', async () => {
      for (const body of [{}, { name: '', roles: ['admin'] }, { name: 'x', roles: [] }, { name: 'x', roles: ['root'] }, { name: 'x', roles: ['admin', 'admin'] }, { name: 'x', roles: ['admin'], extra: 1 }, ['x']]) {
        const res = await call('POST', '/v1/api-keys', bearer(admin), body)
        assert.equal(res.status, 400, JSON.stringify(body))
        assert.equal(((await res.json()) as { code: string }).code, 'ERR_REQUEST_MALFORMED')
      }
      const oversized = await call('POST', '/v1/api-keys', bearer(admin), { name: 'x', roles: ['admin'], pad: 'x'.repeat(5000) })
      assert.equal(oversized.status, 413)
      await oversized.arrayBuffer()
      const notJson = await fetch(`${url}/v1/api-keys`, { method: 'POST', headers: { ...bearer(admin), 'content-type': 'text/plain' }, body: 'x' })
      assert.equal(notJson.status, 400)
      const other = await call('POST', '/v1/api-keys', bearer(admin), { name: 'x', roles: ['admin'], tenant: 'acme' })
      assert.equal(other.status, 403)
      assert.match(other.headers.get('www-authenticate') ?? '', /insufficient_scope/)
      assert.equal((await call('GET', `/v1/api-keys/${'0'.repeat(24)}`, bearer(admin))).status, 404)
      assert.equal((await call('DELETE', `/v1/api-keys/${'0'.repeat(24)}`, bearer(admin))).status, 404)
      assert.equal((await call('GET', '/v1/api-keys/not-a-key-id', bearer(admin))).status, 404)
      assert.equal((await call('GET', '/v1/api-keys?limit=0', bearer(admin))).status, 400)
      assert.equal((await call('GET', '/v1/api-keys?cursor=nope', bearer(admin))).status, 400)
      // An admin of another tenant (a token of tenant acme) sees none of tenant default's keys.
      const acmeAdmin = await idp.token({ tenant: 'acme', roles: ['admin'] })
      const madeId = (await (await call('GET', '/v1/api-keys', bearer(admin))).json() as { items: { id: string }[] }).items[0]!.id
      assert.equal((await call('GET', `/v1/api-keys/${madeId}`, bearer(acmeAdmin))).status, 404)
      assert.equal((await call('DELETE', `/v1/api-keys/${madeId}`, bearer(acmeAdmin))).status, 404)
      assert.deepEqual(((await (await call('GET', '/v1/api-keys', bearer(acmeAdmin))).json()) as { items: unknown[] }).items, [])
    })

    it('keeps the legacy operator token for provisioning (not for credentials), and takes Basic credentials as cocli sends them', async () => {
      assert.equal((await call('GET', '/v1/trust-anchors', bearer(OPERATOR_TOKEN))).status, 200)
      assert.equal((await call('GET', '/v1/api-keys', bearer(OPERATOR_TOKEN))).status, 403)
      const corim = Uint8Array.of(0xa0)
      const submit = (headers: Record<string, string>) =>
        fetch(`${url}/endorsement-provisioning/v1/submit`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/rim+cbor; profile="tag:arm.com,2025:psa#1.0.0"', accept: 'application/vnd.veraison.provisioning-session+json' },
          body: corim,
        })
      for (const headers of [basic('cocli', OPERATOR_TOKEN), basic('', keys.get('provisioner')!), basic('anyone', admin)]) {
        const res = await submit(headers)
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('content-type'), 'application/vnd.veraison.provisioning-session+json')
        assert.equal(((await res.json()) as { status: string }).status, 'failed', 'authenticated: the (empty) CoRIM is judged')
      }
      const refused = await submit(basic('cocli', keys.get('relying-party')!))
      assert.equal(refused.status, 403)
      await refused.arrayBuffer()
    })

    it('records who changed what, and provisions in the credential\'s tenant only', async () => {
      const provisioner = keys.get('provisioner')!
      const profile = { id: `tag:vendor.example,2026:${randomUUID()}`, envelopes: ['cwt'], coseAlgorithms: ['ES256'], keySources: ['kid'], mandatoryClaims: ['eat_nonce'], freshness: 'nonce' }
      const res = await call('POST', '/v1/profiles', bearer(provisioner), profile)
      const made = (await res.json()) as { id: string; createdBy: string }
      assert.equal(res.status, 201, JSON.stringify(made))
      assert.equal(made.createdBy, `api-key:${provisioner.slice(6, 30)}`)
      const acme = await idp.token({ tenant: 'acme', roles: ['provisioner'] })
      assert.equal((await call('GET', `/v1/profiles/${made.id}`, bearer(acme))).status, 404, 'tenant acme does not see tenant default\'s profile')
      // Every route of a profile, by id, with tenant acme's credential: none reads or changes default's.
      for (const op of operations().filter((o) => o.path.startsWith('/v1/profiles/{id}'))) {
        const path = op.path.replace('{id}', made.id).replace('{n}', '1')
        const answer = await call(op.method, path, bearer(acme), op.method === 'PUT' ? profile : undefined)
        assert.equal(answer.status, 404, `${op.method} ${op.path} with another tenant's credential`)
        await answer.arrayBuffer()
      }
      const acmeMade = await call('POST', '/v1/profiles', bearer(acme), profile)
      const acmeBody = (await acmeMade.json()) as { createdBy: string; id: string }
      assert.equal(acmeMade.status, 201)
      assert.equal(acmeBody.createdBy, `oidc:${idp.issuer}#alice`)
      const listed = (await (await call('GET', '/v1/profiles', bearer(acme))).json()) as { items: { id: string }[] }
      assert.deepEqual(listed.items.map((i) => i.id), [made.id])
      const still = (await (await call('GET', `/v1/profiles/${made.id}/versions`, bearer(provisioner))).json()) as { items: { active: boolean; deleted: boolean }[] }
      assert.equal(still.items.length, 1, 'nothing acme did made a version of tenant default\'s document')
      assert.deepEqual([still.items[0]!.active, still.items[0]!.deleted], [true, false])
    })

    it('with ASSAY_EVIDENCE_AUTH=attester: nonce and appraisal with an attester key, read by the submitter and a relying party only', async () => {
      const attester = keys.get('attester')!
      const reader = keys.get('relying-party')!
      const nonceRes = await call('POST', '/v1/nonces', bearer(attester))
      assert.equal(nonceRes.status, 201)
      const { nonce } = (await nonceRes.json()) as { nonce: string }
      const submitted = await fetch(`${url}/v1/appraisals`, {
        method: 'POST',
        headers: { ...bearer(attester), 'content-type': PSA_TFM, prefer: 'wait=10' },
        body: psaToken(Buffer.from(nonce, 'base64url')),
      })
      const result = (await submitted.json()) as { id: string; status: string; result: { claims: Record<string, unknown> } }
      assert.equal(submitted.status, 200, JSON.stringify(result))
      assert.equal(result.status, 'complete')
      const path = `/v1/appraisals/${result.id}`
      for (const who of [attester, reader]) {
        const read = await call('GET', path, bearer(who))
        assert.equal(read.status, 200)
        assert.equal(((await read.json()) as { id: string }).id, result.id)
      }
      // Another attester of the tenant (not the submitter), and a provisioner: 403.
      const otherAttester = await makeKeyOnce(['attester'])
      for (const who of [otherAttester, keys.get('provisioner')!]) {
        const read = await call('GET', path, bearer(who))
        assert.equal(read.status, 403)
        await read.arrayBuffer()
      }
      // A relying party of another tenant looks in its own tenant: no such appraisal.
      const acmeReader = await idp.token({ tenant: 'acme', roles: ['relying-party'] })
      assert.equal((await call('GET', path, bearer(acmeReader))).status, 404)
      assert.equal((await call('GET', path, {})).status, 401)
      // A nonce of tenant default is not one of tenant acme: its Evidence is appraised there as unknown.
      const acmeAttester = await idp.token({ tenant: 'acme', roles: ['attester'] })
      const acmeRes = await fetch(`${url}/v1/appraisals`, {
        method: 'POST',
        headers: { ...bearer(acmeAttester), 'content-type': PSA_TFM, prefer: 'wait=10' },
        body: psaToken(Buffer.from(nonce, 'base64url')),
      })
      assert.equal(acmeRes.status, 200)
      const acmeResult = (await acmeRes.json()) as { id: string }
      assert.equal((await call('GET', `/v1/appraisals/${acmeResult.id}`, bearer(reader))).status, 404, 'tenant default cannot read acme\'s result')
    })

    it('with ASSAY_EVIDENCE_AUTH=attester: a challenge/response session is the opener\'s, and a relying party\'s of its tenant', async () => {
      const attester = keys.get('attester')!
      const opened = await call('POST', '/challenge-response/v1/newSession', bearer(attester))
      assert.equal(opened.status, 201)
      const session = (await opened.json()) as { nonce: string }
      const path = `/challenge-response/v1/${opened.headers.get('location')!}`
      const other = await makeKeyOnce(['attester'])
      for (const thief of [other, admin]) {
        const stolen = await fetch(url + path, { method: 'POST', headers: { ...bearer(thief), 'content-type': PSA_TFM }, body: psaToken(Buffer.from(session.nonce, 'base64url')) })
        assert.equal(stolen.status, 403, 'another attester (even with relying-party) cannot answer the session')
        await stolen.arrayBuffer()
      }
      const answered = await fetch(url + path, { method: 'POST', headers: { ...bearer(attester), 'content-type': PSA_TFM }, body: psaToken(Buffer.from(session.nonce, 'base64url')) })
      assert.ok(answered.status === 200 || answered.status === 202, String(answered.status))
      await answered.arrayBuffer()
      for (const [who, status] of [[attester, 200], [keys.get('relying-party')!, 200], [other, 403], [keys.get('admin')!, 403]] as const) {
        const read = await call('GET', path, bearer(who))
        assert.equal(read.status, status)
        await read.arrayBuffer()
      }
      assert.equal((await call('DELETE', path, bearer(other))).status, 403)
      assert.equal((await call('DELETE', path, bearer(attester))).status, 204)
    })

    // Only a mode with a second process to reach (Redis) registers this test.
    if (mode.concurrent) it('a revocation reaches another process within the documented bound (5 s; polled)', async () => {
      const second = await mode.start({ operatorToken: OPERATOR_TOKEN }, [])
      try {
        const made = (await (await call('POST', '/v1/api-keys', bearer(admin), { name: 'revoked elsewhere', roles: ['provisioner'] })).json()) as { id: string; key: string }
        const read = () => fetch(`${second.url!}/v1/trust-anchors`, { headers: bearer(made.key) })
        assert.equal((await read()).status, 200, 'the other process reads (and caches) the key')
        assert.equal((await call('DELETE', `/v1/api-keys/${made.id}`, bearer(admin))).status, 204)
        let status = 200
        // Polled: the bound is 5 s; the deadline only stops a broken build from hanging the test.
        for (let i = 0; i < 300 && status === 200; i++) {
          status = (await read()).status
          if (status === 200) await new Promise((r) => setTimeout(r, 100))
        }
        assert.equal(status, 401)
      } finally {
        await second.stop()
      }
    })

    // Only the embedded mode restarts the one process holding the data directory.
    if (!mode.concurrent) it('a restart prints no key, and the first admin key still works', async () => {
      await running.stop()
      const again: string[] = []
      running = await mode.start({ operatorToken: OPERATOR_TOKEN, oidcIssuers: idp.setting(), evidenceAuth: 'attester' }, again)
      url = running.url!
      assert.deepEqual(again, [])
      assert.equal((await call('GET', '/v1/api-keys', bearer(admin))).status, 200)
    })
  })
}

describe('credentials at the API: Evidence open by default', { timeout: 60_000 }, () => {
  it('takes nonces and appraisals without a credential, and needs one for provisioning', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-cred-open-'))
    const printed: string[] = []
    const running = await startAssay(loadConfig({ port: 0, dataDir, rateLimitPoints: 0, bootstrapAdminKey: generateApiKey().key }), { role: 'all', printSecret: (t) => printed.push(t) })
    try {
      assert.deepEqual(printed, [], 'a chosen bootstrap key: nothing generated, nothing printed')
      const nonce = await fetch(`${running.url!}/v1/nonces`, { method: 'POST' })
      assert.equal(nonce.status, 201)
      await nonce.arrayBuffer()
      const anchors = await fetch(`${running.url!}/v1/trust-anchors`)
      assert.equal(anchors.status, 401)
      await anchors.arrayBuffer()
    } finally {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
