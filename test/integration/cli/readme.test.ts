/**
 * Keeps the README's Quick start and "For a device" sections honest: their shell blocks are run as
 * written, in bash, in an empty folder, against real Assay processes. Only what cannot run in a
 * test is substituted: `npm ci` does nothing (the tree is installed), `npx assay` and `npm start`
 * run this checkout's `src/main/cli.ts` (`assay start` for `npm start`), the port 8080 becomes a
 * free one (also `ASSAY_URL`, the attester's default server), and the attester's key goes to a temporary `XDG_CONFIG_HOME`. A block that ends in
 * `npm start` starts the server the following blocks talk to; every other block must exit 0 (or
 * 3 where its text says `exit 3`), and what it prints must show the result the README promises.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { CLI, ROOT, TSX, cleanEnv } from '../../helpers/cli.js'
import { freePort } from '../../helpers/redis-server.js'

/** The text of the README between a heading and the next heading of the given levels. */
function section(readme: string, heading: string, endAt: RegExp): string {
  const start = readme.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `README has "${heading}"`)
  const rest = readme.slice(start + heading.length + 2)
  const end = rest.search(endAt)
  return end < 0 ? rest : rest.slice(0, end)
}

function shellBlocks(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

const PRELUDE = `
set -eo pipefail
npm() {
  case "$1" in
    ci) return 0 ;;
    start) shift; exec node --import "$ASSAY_TSX" "$ASSAY_CLI" start "$@" ;;
    *) echo "unexpected: npm $*" >&2; return 97 ;;
  esac
}
npx() {
  if [ "$1" = assay ]; then shift; node --import "$ASSAY_TSX" "$ASSAY_CLI" "$@"; else echo "unexpected: npx $*" >&2; return 97; fi
}
`

describe('README', { timeout: 300_000 }, () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const cwd = mkdtempSync(join(tmpdir(), 'assay-readme-'))
  symlinkSync(join(ROOT, 'examples'), join(cwd, 'examples'))
  const servers: ChildProcess[] = []
  after(async () => {
    for (const s of servers) {
      if (s.exitCode === null && s.signalCode === null) {
        const exited = new Promise((r) => s.once('exit', r))
        s.kill('SIGTERM')
        await exited
      }
    }
    rmSync(cwd, { recursive: true, force: true })
  })

  let port = 0
  const env = (extra: Record<string, string> = {}) =>
    cleanEnv({ ASSAY_CLI: CLI, ASSAY_TSX: TSX, XDG_CONFIG_HOME: join(cwd, '.config'), ASSAY_DATA_DIR: join(cwd, `.data-${port}`), PORT: String(port), ASSAY_URL: `http://127.0.0.1:${port}`, ...extra })
  const local = (block: string) => block.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`)

  const bash = (script: string): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve) => {
      const child = spawn('bash', ['-c', PRELUDE + local(script)], { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')))
      child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')))
      child.on('close', (code) => resolve({ code, out }))
    })

  /** Runs a block whose last line starts the server: the lines before it, then the server in the background. */
  async function startServer(block: string): Promise<void> {
    const lines = block.trimEnd().split('\n')
    const startLine = lines.pop()!
    port = await freePort()
    if (lines.length > 0) {
      const setup = await bash(lines.join('\n'))
      assert.equal(setup.code, 0, setup.out)
    }
    const child = spawn('bash', ['-c', PRELUDE + local(startLine)], { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    servers.push(child)
    let log = ''
    child.stdout!.on('data', (c: Buffer) => (log += c.toString('utf8')))
    child.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')))
    const deadline = Date.now() + 30_000
    while (!(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false))) {
      assert.equal(child.exitCode, null, `the server of "${startLine}" exited: ${log}`)
      assert.ok(Date.now() < deadline, `the server of "${startLine}" did not answer: ${log}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Runs every block of a section: servers start, other blocks must succeed. Returns each client block's output. */
  async function run(blocks: string[]): Promise<{ block: string; out: string }[]> {
    const outputs: { block: string; out: string }[] = []
    for (const block of blocks) {
      if (/npm start\s*$/.test(block)) {
        await startServer(block)
        continue
      }
      const r = await bash(block)
      assert.equal(r.code, /\bexit 3\b/.test(block) ? 3 : 0, `${block}\n---\n${r.out}`)
      outputs.push({ block, out: r.out })
    }
    return outputs
  }

  it('the Quick start runs as written: three affirming attestations, then Evidence by hand and an EAR verified offline', async () => {
    const blocks = shellBlocks(section(readme, '## Quick start', /\n## /))
    assert.equal(blocks.length, 3, 'setup and start, assay attest, the HTTP API by hand')
    assert.doesNotMatch(blocks.join('\n'), /<[a-z-]+>/, 'no placeholders to fill in by hand')
    const [attests, byHand] = await run(blocks)
    assert.equal(attests!.out.match(/^status: affirming$/gm)?.length, 3, attests!.out)
    assert.match(attests!.out, /^submodule PSA: affirming$/m)
    assert.match(attests!.out, /^submodule EAT: affirming$/m)
    assert.match(byHand!.out, /^verified: JWT EAR signed by kid /m)
    assert.match(byHand!.out, /^status: affirming$/m)
  })

  it('the device section runs as written: a debug-enabled device is a warning; the RFC 9783 example token is appraised', async () => {
    const blocks = shellBlocks(section(readme, '## For a device', /\n##+ /))
    assert.doesNotMatch(blocks.join('\n'), /<[a-z-]+>/, 'no placeholders to fill in by hand')
    const outputs = await run(blocks)
    const debug = outputs.find((o) => o.block.includes('--dbgstat enabled'))
    assert.ok(debug, 'the dbgstat example is there')
    assert.match(debug.out, /^status: warning$/m)
    assert.match(debug.out, /EAT_DEBUG_ENABLED/)
    const session = outputs.find((o) => o.block.includes('challenge-response'))
    assert.ok(session, 'the challenge/response example is there')
    const answer = JSON.parse(session.out) as { status: string; result?: string }
    assert.equal(answer.status, 'complete', session.out)
    // Veraison's API answers in Veraison's EAR naming (`ear.status`); -03 naming is `ear_status`.
    const claims = JSON.parse(Buffer.from(answer.result!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
    const psa = (claims['submods'] as Record<string, Record<string, unknown>>)['PSA']!
    assert.equal(psa['ear.status'] ?? psa['ear_status'], 'affirming', JSON.stringify(claims))
    assert.match(JSON.stringify(claims), /test mode: published keys accepted/)
  })
})
