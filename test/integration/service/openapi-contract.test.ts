/**
 * openapi.yaml is the contract (issue 8 item 16): every route and method the Express app serves is
 * in it, and every path and method in it is served; a known path with another method is a 405 with
 * `Allow`; and the Evidence media types the app accepts (the format registry) are exactly those the
 * contract lists for each Evidence route. Real app, real HTTP on a port, embedded adapters.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Express } from 'express'
import { parse } from 'yaml'
import { createApp } from '../../../src/api/app.js'
import { createMetrics } from '../../../src/api/metrics.js'
import { loadConfig } from '../../../src/config/load.js'
import { createDefaultRegistry } from '../../../src/evidence/formats.js'
import { buildServices, type Services } from '../../../src/main/services.js'

const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const
const EVIDENCE_ROUTES = [
  ['/v1/appraisals', 'post'],
  ['/challenge-response/v1/session/{id}', 'post'],
] as const

interface OpenApi {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } } & Record<string, unknown>>>
}

const spec = parse(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as OpenApi

/** `METHOD /path/{param}` for every operation in openapi.yaml. */
function contractOperations(): Set<string> {
  const out = new Set<string>()
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of OPENAPI_METHODS) if (item[method] !== undefined) out.add(`${method.toUpperCase()} ${path}`)
  }
  return out
}

interface Layer {
  readonly route?: { readonly path: unknown; readonly methods: Record<string, boolean | undefined> }
  readonly handle?: { readonly stack?: readonly Layer[] }
  readonly rawPath?: unknown
}

/**
 * `METHOD /path/{param}` for every route the app registers, walking Express's router stack (mounted
 * routers included). OPTIONS (answered on every path) and the catch-all that answers 405 are the
 * generic behaviour the contract describes once, not operations.
 */
function appOperations(app: Express): Set<string> {
  const out = new Set<string>()
  const walk = (stack: readonly Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route !== undefined) {
        assert.equal(typeof layer.route.path, 'string', 'every route path is a string pattern')
        const path = `${prefix}${layer.route.path as string}`.replace(/:(\w+)/g, '{$1}')
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on === true && method !== '_all' && method !== 'options') out.add(`${method.toUpperCase()} ${path === '' ? '/' : path}`)
        }
      } else if (layer.handle?.stack !== undefined) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : ''
        walk(layer.handle.stack, prefix + mount)
      }
    }
  }
  walk((app as unknown as { router: { stack: readonly Layer[] } }).router.stack, '')
  return out
}

describe('openapi.yaml and the app agree', () => {
  let services: Services
  let app: Express
  let server: Server
  let base: string
  let dataDir: string

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-contract-'))
    const config = loadConfig({ port: 0, dataDir, rateLimitPoints: 0 })
    services = await buildServices(config, { role: 'all' })
    await services.startWorker()
    const producer = services.producer!
    app = createApp({
      config,
      store: services.store,
      queue: producer,
      registry: createDefaultRegistry(),
      results: services.renderer,
      metrics: createMetrics(() => producer.depth()),
      clock: services.clock,
    })
    server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await services.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** A concrete URL for a contract path: `{id}` a fresh UUID, `{file}` the first of its enum. */
  const concrete = (path: string): string =>
    path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      const param = (spec.paths[path]!['parameters'] as { name: string; schema: { enum?: string[] } }[] | undefined)?.find((p) => p.name === name)
      return param?.schema.enum?.[0] ?? randomUUID()
    })

  it('every route and method the app serves is in openapi.yaml, and the reverse', () => {
    const served = appOperations(app)
    const contract = contractOperations()
    assert.ok(served.size >= 15, `the walk found the routes (${served.size})`)
    assert.deepEqual([...served].filter((op) => !contract.has(op)).sort(), [], 'served but not in openapi.yaml')
    assert.deepEqual([...contract].filter((op) => !served.has(op)).sort(), [], 'in openapi.yaml but not served')
  })

  it('every operation in openapi.yaml answers over HTTP (no 404 of an unknown route, no 405)', async () => {
    for (const op of contractOperations()) {
      const [method, path] = op.split(' ') as [string, string]
      const res = await fetch(base + concrete(path), { method, redirect: 'manual' })
      const body = res.headers.get('content-type')?.startsWith('application/problem+json') ? ((await res.json()) as { code: string }) : undefined
      if (body === undefined) await res.arrayBuffer()
      assert.notEqual(body?.code, 'ERR_ROUTE_NOT_FOUND', op)
      assert.notEqual(res.status, 405, op)
      const documented = Object.keys((spec.paths[path]![method.toLowerCase()] as { responses: Record<string, unknown> }).responses)
      assert.ok(documented.includes(String(res.status)), `${op} answered ${res.status}, which openapi.yaml does not list (${documented.join(', ')})`)
    }
  })

  it('a listed path with a method it does not list is a 405 problem with Allow; OPTIONS is 204 with Allow', async () => {
    for (const [path, item] of Object.entries(spec.paths)) {
      const listed = OPENAPI_METHODS.filter((m) => item[m] !== undefined).map((m) => m.toUpperCase())
      const expected = new Set(listed.includes('GET') ? [...listed, 'HEAD'] : listed)
      const url = base + concrete(path)
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        if (expected.has(method)) continue
        const res = await fetch(url, { method })
        assert.equal(res.status, 405, `${method} ${path}`)
        assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
        const problem = (await res.json()) as { type: string; code: string; status: number }
        assert.equal(problem.code, 'ERR_METHOD_NOT_ALLOWED')
        assert.equal(problem.status, 405)
        assert.equal(problem.type, 'tag:assay-verifier.dev,2026:problem:method-not-allowed')
        assert.deepEqual(new Set(res.headers.get('allow')?.split(', ')), expected, `Allow of ${path}`)
      }
      const options = await fetch(url, { method: 'OPTIONS' })
      assert.equal(options.status, 204, `OPTIONS ${path}`)
      assert.deepEqual(new Set(options.headers.get('allow')?.split(', ')), expected, `Allow of ${path}`)
    }
  })

  it('an unknown path is still a 404 problem, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await fetch(`${base}/v1/nothing-here`, { method })
      assert.equal(res.status, 404)
      assert.equal(((await res.json()) as { code: string }).code, 'ERR_ROUTE_NOT_FOUND')
    }
  })

  it('each Evidence route lists exactly the media types the format registry accepts', () => {
    const accepted = new Set(createDefaultRegistry().accepted())
    assert.equal(accepted.size, 11)
    for (const [path, method] of EVIDENCE_ROUTES) {
      const listed = new Set(Object.keys(spec.paths[path]![method]!.requestBody!.content))
      assert.deepEqual(listed, accepted, `${method.toUpperCase()} ${path}`)
    }
  })

  it('the app takes in Evidence of every listed media type, and refuses others with 415 and Accept', async () => {
    const listed = Object.keys(spec.paths['/v1/appraisals']!['post']!.requestBody!.content)
    for (const mediaType of listed) {
      // Bytes of no format: intake accepts the media type, the result then says what was wrong.
      const res = await fetch(`${base}/v1/appraisals`, { method: 'POST', body: 'not evidence', headers: { 'content-type': mediaType } })
      await res.arrayBuffer()
      assert.equal(res.status, 202, mediaType)
    }
    const session = await fetch(`${base}/challenge-response/v1/newSession`, { method: 'POST' })
    assert.deepEqual(new Set(((await session.json()) as { accept: string[] }).accept), new Set(listed), 'a session accepts the same media types')
    const refused = await fetch(`${base}/v1/appraisals`, { method: 'POST', body: 'x', headers: { 'content-type': 'application/jwt' } })
    assert.equal(refused.status, 415)
    assert.deepEqual(new Set(refused.headers.get('accept')?.split(', ')), new Set(listed))
    await refused.arrayBuffer()
  })
})
