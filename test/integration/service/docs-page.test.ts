/**
 * The API page in a real browser (issue 8 item 11): Debian's chromium, driven by playwright-core,
 * opens `/docs` on the real app and finds every path of openapi.yaml on the rendered page; no
 * request leaves 127.0.0.1 and the page's Content-Security-Policy blocks nothing it needs. A
 * screenshot is kept in test-results/docs-page.png (git-ignored).
 *
 * Skips, saying why, when /usr/bin/chromium is missing (`.ci/run` installs it, so CI always runs it).
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { chromium, type BrowserContext } from 'playwright-core'
import { parse } from 'yaml'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'

const CHROMIUM = process.env['ASSAY_TEST_CHROMIUM'] ?? '/usr/bin/chromium'
const RESULTS_DIR = fileURLToPath(new URL('../../../test-results/', import.meta.url))
const SCREENSHOT = join(RESULTS_DIR, 'docs-page.png')
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const paths = Object.keys((parse(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as { paths: object }).paths)
const missing = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the API page test`

describe('GET /docs in chromium', () => {
  let running: RunningAssay
  let context: BrowserContext
  let dataDir: string
  let profileDir: string

  before(async () => {
    if (missing !== false) return
    dataDir = mkdtempSync(join(tmpdir(), 'assay-docs-'))
    profileDir = mkdtempSync(join(tmpdir(), 'assay-chromium-'))
    running = await startAssay(loadConfig({ port: 0, dataDir, rateLimitPoints: 0 }), { role: 'all' })
    // A fresh profile each run: launchPersistentContext takes the user-data-dir; the browser is its owner.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 1800 },
    })
  })

  after(async () => {
    if (missing !== false) return
    await context?.close()
    await running?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(profileDir, { recursive: true, force: true })
  })

  it('renders every path of openapi.yaml from local assets only, under its CSP', { skip: missing }, async () => {
    const page = await context.newPage()
    const requests: string[] = []
    page.on('request', (req) => requests.push(req.url()))
    const problems: string[] = []
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(msg.text())
    })
    page.on('pageerror', (err) => problems.push(err.message))

    const origin = new URL(running.url!)
    // `/` leads to the page.
    const response = await page.goto(`${running.url}/`, { waitUntil: 'load' })
    assert.equal(new URL(page.url()).pathname, '/docs')
    assert.equal(response?.status(), 200)
    assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'/)

    await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 })
    const rendered = new Set(await page.$$eval('.opblock-summary-path', (els) => els.map((el) => el.getAttribute('data-path') ?? el.textContent ?? '')))
    for (const path of paths) assert.ok(rendered.has(path), `${path} is on the page (rendered: ${[...rendered].join(' ')})`)

    mkdirSync(RESULTS_DIR, { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    assert.ok(requests.length >= 4, `the page loaded its assets (${requests.length} requests)`)
    for (const url of requests) {
      const u = new URL(url)
      if (u.protocol === 'data:') continue
      assert.equal(u.host, origin.host, `request to ${url} left ${origin.host}`)
    }
    assert.deepEqual(problems, [], 'no console errors (a CSP violation is one)')
    await page.close()
  })
})
