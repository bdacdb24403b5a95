/**
 * A redis-server of a test's own, on a free port, with no persistence: for tests that stop Redis
 * (never the shared one on 6379). `stop()` kills it; `start()` brings it back on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

export interface OwnRedis {
  readonly port: number
  readonly url: string
  start(): Promise<void>
  stop(): Promise<void>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export async function ownRedis(extraArgs: readonly string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const self: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child !== undefined) return
      const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
        stdio: 'ignore',
      })
      child = started
      started.once('exit', () => {
        if (child === started) child = undefined
      })
      const password = extraArgs[extraArgs.indexOf('--requirepass') + 1]
      const deadline = Date.now() + 30_000
      for (;;) {
        const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, ...(extraArgs.includes('--requirepass') ? { password } : {}) })
        probe.on('error', () => {})
        try {
          await probe.connect()
          if ((await probe.ping()) === 'PONG') return
        } catch {
          if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`)
          await new Promise((r) => setTimeout(r, 50))
        } finally {
          probe.disconnect()
        }
      }
    },
    async stop() {
      const current = child
      if (current === undefined) return
      child = undefined
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()))
      current.kill('SIGKILL')
      await exited
    },
  }
  await self.start()
  return self
}
