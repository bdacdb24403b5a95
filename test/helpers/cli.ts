/**
 * The real `assay` command in tests: `runAssay` runs one command to its end (TypeScript through
 * tsx, as `npx assay` runs the built code), `startAssayProcess` starts `assay start` in embedded
 * mode on a free port with a data directory of its own and waits until `/healthz` answers.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './redis-server.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = join(ROOT, 'src/main/cli.ts')

/** tsx's loader as a URL, so the CLI runs from any working directory. */
export const TSX = import.meta.resolve('tsx')

/** The argv that runs the CLI: `node --import tsx src/main/cli.ts`. */
export const ASSAY_ARGV: readonly string[] = [process.execPath, '--import', TSX, CLI]

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stdoutBytes: Buffer
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>
  readonly input?: Uint8Array | string
  readonly cwd?: string
  /** @defaultValue 60000 */
  readonly timeoutMs?: number
}

/** Environment of a CLI run: no Assay settings or attester key location inherited from the caller. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('ASSAY_') || ['REDIS_URL', 'PORT', 'HOST', 'XDG_CONFIG_HOME'].includes(k)) continue
    env[k] = v
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v
  return env
}

export function runAssay(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ASSAY_ARGV[0]!, [...ASSAY_ARGV.slice(1), ...args], {
      cwd: options.cwd ?? ROOT,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`assay ${args.join(' ')} did not end within ${options.timeoutMs ?? 60_000} ms; stderr: ${err}`))
    }, options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const bytes = Buffer.concat(out)
      resolve({ code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: err })
    })
    child.stdin.end(options.input ?? '')
  })
}

export interface AssayServer {
  readonly url: string
  readonly child: ChildProcess
  readonly dataDir: string
  output(): string
  stop(): Promise<void>
}

/** `assay start` in embedded mode on a free port; `env` adds settings (reference values, …). */
export async function startAssayProcess(env: Record<string, string> = {}): Promise<AssayServer> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-cli-data-'))
  const child = spawn(ASSAY_ARGV[0]!, [...ASSAY_ARGV.slice(1), 'start'], {
    cwd: ROOT,
    env: cleanEnv({ PORT: String(port), ASSAY_DATA_DIR: dataDir, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')))
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const server: AssayServer = {
    url,
    child,
    dataDir,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dataDir, { recursive: true, force: true })
      throw new Error(`assay start exited with ${child.exitCode}: ${output}`)
    }
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false)
    if (ok) return server
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(`assay start did not answer /healthz within 30 s: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
