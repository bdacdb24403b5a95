/**
 * Connection bounds (issue 7 item 12): a body over the limit is answered 413 and the connection
 * closed without reading the rest (declared by Content-Length, or chunked); `maxConnections`,
 * `headersTimeout` and `requestTimeout` apply to the server. Real HTTP over raw sockets.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const HUNDRED_MB = 100 * 1024 * 1024

interface Conversation {
  readonly socket: Socket
  /** Everything the server sent so far. */
  received(): string
  /** Resolves when the server has closed the connection (or it broke). */
  readonly closed: Promise<void>
  isClosed(): boolean
}

function open(port: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    let isClosed = false
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    socket.on('error', () => {})
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        isClosed = true
        r()
      }),
    )
    socket.once('connect', () => resolve({ socket, received: () => text, closed, isClosed: () => isClosed }))
    socket.once('error', reject)
  })
}

/** Writes `total` bytes (or until the server closes), a chunk at a time; returns what was written. */
async function pour(c: Conversation, total: number, frame: (chunk: Buffer) => Buffer = (b) => b): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x41)
  let sent = 0
  while (sent < total && !c.isClosed() && c.socket.writable) {
    const ok = c.socket.write(frame(chunk))
    sent += chunk.length
    if (!ok) await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed])
  }
  return sent
}

function statusLine(text: string): string {
  return text.split('\r\n')[0] ?? ''
}

function header(text: string, name: string): string | undefined {
  const head = text.split('\r\n\r\n')[0] ?? ''
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line?.slice(name.length + 1).trim()
}

describe('connection bounds', { timeout: 120_000 }, () => {
  let assay: RunningAssay
  let port: number
  let dataDir: string

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-connections-'))
    const config = loadConfig({
      port: 0,
      dataDir,
      referenceValuesDir: join(ROOT, 'reference-values'),
      maxConnections: 8,
      headersTimeoutSeconds: 1,
      requestTimeoutSeconds: 2,
      rateLimitPoints: 0,
    })
    assay = await startAssay(config, { role: 'all' })
    port = Number(new URL(assay.url!).port)
  })

  after(async () => {
    await assay.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  for (const path of ['/v1/appraisals', '/challenge-response/v1/session/00000000-0000-4000-8000-000000000000', '/v1/nonces']) {
    it(`a declared 100 MB body to ${path} gets 413 and a closed connection, not a 100 MB read`, async () => {
      const c = await open(port)
      c.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/psa-attestation-token\r\nContent-Length: ${HUNDRED_MB}\r\n\r\n`,
      )
      const sent = await pour(c, HUNDRED_MB)
      await c.closed
      assert.equal(statusLine(c.received()), 'HTTP/1.1 413 Payload Too Large')
      assert.equal(header(c.received(), 'connection'), 'close')
      assert.equal(header(c.received(), 'content-type'), 'application/problem+json; charset=utf-8')
      // What got through is what the socket buffers held when the server closed: far from 100 MB.
      assert.ok(sent < HUNDRED_MB / 4, `the client wrote ${sent} bytes before the server closed`)
    })
  }

  it('a chunked body that grows past the limit gets 413 and a closed connection', async () => {
    const c = await open(port)
    c.socket.write(
      'POST /v1/appraisals HTTP/1.1\r\nHost: t\r\nContent-Type: application/psa-attestation-token\r\nTransfer-Encoding: chunked\r\n\r\n',
    )
    const sent = await pour(c, HUNDRED_MB, (b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]))
    await c.closed
    assert.equal(statusLine(c.received()), 'HTTP/1.1 413 Payload Too Large')
    assert.equal(header(c.received(), 'connection'), 'close')
    assert.ok(sent < HUNDRED_MB / 4, `the client wrote ${sent} bytes before the server closed`)
  })

  it('a 15 KB Accept or Prefer of commas gets a 431 problem (item 8), on GET and on POST', async () => {
    const commas = ','.repeat(15 * 1024)
    const id = '00000000-0000-4000-8000-000000000000'
    const requests: [string, RequestInit][] = [
      [`/v1/appraisals/${id}`, { headers: { accept: commas } }],
      ['/v1/appraisals', { method: 'POST', body: 'x', headers: { 'content-type': 'application/psa-attestation-token', accept: commas } }],
      ['/v1/appraisals', { method: 'POST', body: 'x', headers: { 'content-type': 'application/psa-attestation-token', prefer: commas } }],
    ]
    for (const [path, init] of requests) {
      const res = await fetch(`${assay.url}${path}`, init)
      assert.equal(res.status, 431)
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
      assert.equal(((await res.json()) as { code: string }).code, 'ERR_REQUEST_HEADER_TOO_LARGE')
    }
  })

  it('a body within the limit is still read and appraised', async () => {
    const res = await fetch(`${assay.url}/v1/appraisals`, {
      method: 'POST',
      body: new Uint8Array(1000).fill(0xa1),
      headers: { 'content-type': 'application/psa-attestation-token', prefer: 'wait=10' },
    })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { status: string }).status, 'complete')
  })

  /** The problem of a response Node's parser wrote through our clientError handler, when there is one. */
  function problemOf(text: string): { code?: string; status?: number; type?: string; instance?: string } | undefined {
    const body = text.split('\r\n\r\n')[1]
    return body === undefined || body === '' ? undefined : (JSON.parse(body) as { code?: string })
  }

  it('a client that never finishes its headers is cut off (headersTimeout), with a 408 problem when one can be sent', async () => {
    const c = await open(port)
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: t\r\n')
    await c.closed
    const line = statusLine(c.received())
    assert.match(line, /^(HTTP\/1\.1 408 |$)/)
    if (line !== '') assert.equal(problemOf(c.received())?.code, 'ERR_REQUEST_TIMEOUT')
  })

  it('a client that never finishes its body is cut off (requestTimeout)', async () => {
    const c = await open(port)
    c.socket.write('POST /v1/appraisals HTTP/1.1\r\nHost: t\r\nContent-Type: application/psa-attestation-token\r\nContent-Length: 100\r\n\r\nabc')
    await c.closed
    assert.match(statusLine(c.received()), /^(HTTP\/1\.1 408 |$)/)
  })

  it('a request head over 16 KiB gets a 431 problem from the parser, and the connection is closed', async () => {
    const c = await open(port)
    c.socket.write(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
    await c.closed
    const text = c.received()
    assert.match(statusLine(text), /^HTTP\/1\.1 431 /)
    assert.equal(header(text, 'content-type'), 'application/problem+json; charset=utf-8')
    const problem = problemOf(text)
    assert.equal(problem?.code, 'ERR_REQUEST_HEADER_TOO_LARGE')
    assert.equal(problem?.status, 431)
    assert.match(problem?.instance ?? '', /^urn:uuid:[0-9a-f-]{36}$/)
  })

  it('a malformed request line or header gets a 400 problem from the parser', async () => {
    for (const raw of ['GARBAGE\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n', 'GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n']) {
      const c = await open(port)
      c.socket.write(raw)
      await c.closed
      const text = c.received()
      assert.match(statusLine(text), /^HTTP\/1\.1 400 /, JSON.stringify(raw))
      assert.equal(problemOf(text)?.code, 'ERR_REQUEST_MALFORMED')
      assert.equal(header(text, 'connection'), 'close')
    }
  })

  it('connections past maxConnections are closed on arrival, and served again once others leave', async () => {
    // Other tests' keep-alive connections may still count, so open one at a time until one is refused.
    const held: Conversation[] = []
    let refused: Conversation | undefined
    while (refused === undefined && held.length <= 8) {
      const c = await open(port)
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n')
      await Promise.race([c.closed, new Promise<void>((r) => c.socket.once('data', () => r()))])
      if (c.received() === '') refused = c
      else held.push(c)
    }
    assert.ok(refused !== undefined, `a connection past the eighth is refused (${held.length} were served)`)
    assert.ok(held.length >= 1 && held.length <= 8)
    for (const c of held) c.socket.destroy()
    await Promise.all(held.map((c) => c.closed))
    let status = 0
    while (status !== 200) {
      status = await fetch(`${assay.url}/healthz`).then((r) => r.status, () => 0)
    }
    assert.equal(status, 200)
  })
})
