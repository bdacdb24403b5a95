/**
 * The operator credential (issue 9): one bearer token from a setting, kept only as its SHA-256 and
 * compared in constant time; 401 with `WWW-Authenticate` for everything else. Real HTTP through an
 * Express app on a loopback port.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import { basicPassword, bearerToken, operatorOf, requireOperator } from '../../../src/api/operator-auth.js'
import { sendProblem } from '../../../src/api/problem.js'
import { loadConfig } from '../../../src/config/load.js'
import { isVerifierError } from '../../../src/errors/errors.js'

const TOKEN = 'op-' + 'k'.repeat(29) + '-0123456789'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

function appWith(operatorToken: { sha256: string } | undefined): express.Express {
  const app = express()
  app.get('/guarded', requireOperator(operatorToken), (_req, res) => {
    res.json({ operator: operatorOf(res)?.id })
  })
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    sendProblem(req, res, err, { typeBase: 'https://assay.test/problems/' })
  })
  return app
}

async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/guarded`, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

describe('operator token setting', () => {
  it('keeps only the SHA-256 of the token', () => {
    const config = loadConfig({ operatorToken: TOKEN })
    assert.deepEqual(config.operatorToken, { sha256: sha256(TOKEN) })
    assert.equal(JSON.stringify(config).includes(TOKEN), false, 'the token text is nowhere in the configuration')
  })

  it('refuses a short, spaced or non-ASCII token at start', () => {
    for (const bad of ['short-token', 'a'.repeat(31), `${'a'.repeat(20)} ${'b'.repeat(20)}`, `${'a'.repeat(40)}é`, 'a'.repeat(513)]) {
      assert.throws(() => loadConfig({ operatorToken: bad }), (err) => isVerifierError(err, 'ERR_CONFIG_INVALID'), bad)
    }
  })
})

describe('bearerToken', () => {
  it('reads the token of a bearer credential, scheme in any case', () => {
    assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN)
    assert.equal(bearerToken(`bearer ${TOKEN}`), TOKEN)
    assert.equal(bearerToken(`BEARER  ${TOKEN} `), TOKEN)
  })

  it('reads nothing from other schemes, empty or oversized credentials', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`, `Bearer ${'a'.repeat(600)}`, `Bearer\t${TOKEN}`]) {
      assert.equal(bearerToken(header), undefined, String(header))
    }
  })
})

describe('basicPassword', () => {
  it('reads the password of Basic credentials, and nothing from malformed ones', () => {
    assert.equal(basicPassword(`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`), TOKEN)
    assert.equal(basicPassword(`basic ${Buffer.from(`:${TOKEN}`).toString('base64')}`), TOKEN)
    for (const header of [undefined, 'Basic', 'Basic ', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from('u: spaced pw').toString('base64')}`, `Basic ${'A'.repeat(700)}`]) {
      assert.equal(basicPassword(header), undefined, String(header))
    }
  })
})

describe('requireOperator over HTTP', () => {
  let open: Awaited<ReturnType<typeof listen>>
  let closed: Awaited<ReturnType<typeof listen>>
  before(async () => {
    open = await listen(appWith({ sha256: sha256(TOKEN) }))
    closed = await listen(appWith(undefined))
  })
  after(async () => {
    await open.close()
    await closed.close()
  })

  async function call(url: string, authorization?: string) {
    const res = await fetch(url, authorization === undefined ? {} : { headers: { authorization } })
    const body = (await res.json()) as Record<string, unknown>
    return { status: res.status, body, challenge: res.headers.get('www-authenticate'), type: res.headers.get('content-type') }
  }

  it('lets the operator token through and names the operator without the token', async () => {
    const r = await call(open.url, `Bearer ${TOKEN}`)
    assert.equal(r.status, 200)
    assert.equal(r.body['operator'], `operator-token:${sha256(TOKEN).slice(0, 8)}`)
  })

  it('answers 401 ERR_AUTH_REQUIRED with a Bearer challenge when no credential is sent', async () => {
    const r = await call(open.url)
    assert.equal(r.status, 401)
    assert.equal(r.body['code'], 'ERR_AUTH_REQUIRED')
    assert.match(r.type ?? '', /^application\/problem\+json/)
    assert.equal(r.challenge, 'Bearer realm="assay-provisioning"')
  })

  it('lets Basic credentials through whose password is the token, whatever the user name (Veraison clients)', async () => {
    for (const user of ['admin', '', 'cocli']) {
      const r = await call(open.url, `Basic ${Buffer.from(`${user}:${TOKEN}`).toString('base64')}`)
      assert.equal(r.status, 200, user)
      assert.equal(r.body['operator'], `operator-token:${sha256(TOKEN).slice(0, 8)}`)
    }
  })

  it('answers 401 ERR_AUTH_INVALID for Basic credentials with another password', async () => {
    const r = await call(open.url, `Basic ${Buffer.from(`${TOKEN}:wrong-password-of-enough-length-000000`).toString('base64')}`)
    assert.equal(r.status, 401)
    assert.equal(r.body['code'], 'ERR_AUTH_INVALID')
  })

  it('answers 401 ERR_AUTH_REQUIRED for another scheme or unusable Basic credentials', async () => {
    for (const header of [`Digest ${TOKEN}`, `Basic ${Buffer.from(TOKEN).toString('base64')}`, 'Basic !!!', `Basic ${Buffer.from('user:').toString('base64')}`]) {
      const r = await call(open.url, header)
      assert.equal(r.status, 401, header)
      assert.equal(r.body['code'], 'ERR_AUTH_REQUIRED')
    }
  })

  it('answers 401 ERR_AUTH_INVALID with error="invalid_token" for a wrong token, a prefix or the hash itself', async () => {
    for (const wrong of [TOKEN.slice(0, -1) + 'X', TOKEN.slice(0, 32), sha256(TOKEN), `${TOKEN}0`]) {
      const r = await call(open.url, `Bearer ${wrong}`)
      assert.equal(r.status, 401, wrong)
      assert.equal(r.body['code'], 'ERR_AUTH_INVALID')
      assert.equal(r.challenge, 'Bearer realm="assay-provisioning", error="invalid_token"')
    }
  })

  it('answers 401 to every request, the right token included, when no operator token is configured', async () => {
    for (const authorization of [undefined, `Bearer ${TOKEN}`]) {
      const r = await call(closed.url, authorization)
      assert.equal(r.status, 401)
      assert.equal(r.body['code'], 'ERR_AUTH_REQUIRED')
      assert.match(String(r.body['detail']), /ASSAY_OPERATOR_TOKEN/)
    }
  })
})
