/**
 * The Veraison-compatible API as Veraison's clients use it (issue 8 item 13). The requests are
 * exactly what github.com/veraison/apiclient's `verification/challengeresponse.go` sends: `POST
 * newSession` with no body, `nonce=` as unpadded base64url (or `nonceSize=`) built by Go's
 * `url.Values.Encode`, `Accept: application/vnd.veraison.challenge-response-session+json`; then the
 * Evidence to the Location resolved against the newSession URL, with its media type and the same
 * Accept. The answers are checked as that client reads them: the session's `nonce` decoded strictly
 * as unpadded base64url (Go's `base64.RawURLEncoding`), 201 + Location, then 200 `complete` with the
 * result, or 202 and polling. Older clients' encodings (padded base64url, base64) are accepted too.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'

const SESSION_MEDIA_TYPE = 'application/vnd.veraison.challenge-response-session+json'
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const REFERENCE_VALUES = fileURLToPath(new URL('../../../examples/reference-values/', import.meta.url))
// The RFC 9783 A.1 token; its eat_nonce is 32 bytes of 0x01.
const RFC_TOKEN = readFileSync(new URL('../../../examples/psa-rfc9783-a1.cbor', import.meta.url))
const RFC_NONCE = Buffer.alloc(32, 1)

/** Go's `base64.RawURLEncoding.DecodeString`: unpadded base64url only, canonical. */
function goRawUrlDecode(text: string): Buffer {
  assert.match(text, /^[A-Za-z0-9_-]*$/, `${text} is unpadded base64url`)
  assert.notEqual(text.length % 4, 1)
  const bytes = Buffer.from(text, 'base64url')
  assert.equal(bytes.toString('base64url'), text, 'canonical')
  return bytes
}

/** Go's `url.Values{"nonce": {v}}.Encode()`: `=`, `+` and `/` percent-encoded. */
const goQuery = (name: string, value: string) => `${name}=${encodeURIComponent(value)}`

describe('a Veraison client (veraison/apiclient) against Assay', () => {
  let running: RunningAssay
  let dataDir: string
  let newSessionUri: string

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-veraison-'))
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir: REFERENCE_VALUES, allowPublishedKeys: true, rateLimitPoints: 0 })
    running = await startAssay(config, { role: 'all' })
    newSessionUri = `${running.url}/challenge-response/v1/newSession`
  })

  after(async () => {
    await running.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** `newSessionRequest()`: POST, no body, nonce info in the query, the session media type in Accept. */
  const newSession = (query: string, accept = SESSION_MEDIA_TYPE) =>
    fetch(`${newSessionUri}?${query}`, { method: 'POST', headers: { accept } })

  it('runs the whole exchange with a caller nonce: 201, Location, the nonce back as sent, a complete session', async () => {
    const sent = RFC_NONCE.toString('base64url')
    const created = await newSession(goQuery('nonce', sent))
    assert.equal(created.status, 201)
    assert.equal(created.headers.get('content-type'), `${SESSION_MEDIA_TYPE}; charset=utf-8`)
    const session = (await created.json()) as { nonce: string; status: string; accept: string[]; expiry: string }
    assert.equal(session.nonce, sent, 'the nonce comes back exactly as the client sent it')
    assert.deepEqual(goRawUrlDecode(session.nonce), RFC_NONCE)
    assert.equal(session.status, 'waiting')
    assert.ok(session.accept.includes(PSA_TFM))
    assert.ok(!Number.isNaN(Date.parse(session.expiry)))

    // common.ExtractLocation: the Location resolved against the newSession URI.
    const sessionUri = new URL(created.headers.get('location')!, newSessionUri).href
    assert.match(sessionUri, /\/challenge-response\/v1\/session\/[0-9a-f-]{36}$/)
    // PostResource(evidence, mediaType, SESSION_MEDIA_TYPE, uri)
    const res = await fetch(sessionUri, { method: 'POST', body: RFC_TOKEN, headers: { 'content-type': PSA_TFM, accept: SESSION_MEDIA_TYPE } })
    assert.equal(res.headers.get('content-type'), `${SESSION_MEDIA_TYPE}; charset=utf-8`)
    let final = (await res.json()) as { status: string; result?: string; nonce: string }
    if (res.status === 202) {
      // pollForAttestationResult: GET until complete or failed.
      assert.equal(final.status, 'processing')
      for (let i = 0; i < 100 && final.status === 'processing'; i++) {
        await new Promise((r) => setTimeout(r, 100))
        final = (await (await fetch(sessionUri)).json()) as typeof final
      }
    } else {
      assert.equal(res.status, 200)
    }
    assert.equal(final.status, 'complete', 'a 200 always reads complete (the client refuses anything else)')
    assert.match(final.result ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the result is the EAR JWT')
    assert.deepEqual(goRawUrlDecode(final.nonce), RFC_NONCE)

    // DeleteResource accepts 200, 202 or 204.
    assert.equal((await fetch(sessionUri, { method: 'DELETE' })).status, 204)
  })

  it('nonceSize=N: the server picks N bytes and gives them in unpadded base64url', async () => {
    for (const size of [8, 31, 32, 33, 64]) {
      const created = await newSession(goQuery('nonceSize', String(size)))
      assert.equal(created.status, 201)
      const { nonce } = (await created.json()) as { nonce: string }
      assert.equal(goRawUrlDecode(nonce).length, size)
    }
  })

  it('accepts the nonce encodings of older clients: padded base64url, and base64 padded or not', async () => {
    const nonce = Buffer.from('de ad be ef 01 02 03 fe ff fb'.replaceAll(' ', ''), 'hex') // has '+' and '/' in base64
    const forms = [
      nonce.toString('base64url'), // apiclient since 2026: RawURLEncoding
      `${nonce.toString('base64url')}==`, // apiclient 2024 (URLEncoding) and the Rust client
      nonce.toString('base64'), // apiclient before 2024 (StdEncoding), URL-encoded by url.Values
      nonce.toString('base64').replace(/=+$/, ''),
    ]
    for (const form of forms) {
      const created = await newSession(goQuery('nonce', form))
      assert.equal(created.status, 201, form)
      assert.equal(((await created.json()) as { nonce: string }).nonce, nonce.toString('base64url'), form)
    }
    // The Rust client appends padded base64url to the query as it is: '=' there is not a separator.
    const raw = await fetch(`${newSessionUri}?nonce=${nonce.toString('base64url')}==`, { method: 'POST', headers: { accept: SESSION_MEDIA_TYPE } })
    assert.equal(raw.status, 201)
    assert.equal(((await raw.json()) as { nonce: string }).nonce, nonce.toString('base64url'))
  })

  it('refuses a nonce it cannot read with a problem that says what to URL-encode', async () => {
    const std = Buffer.from('fbef be ff 00 11 22 33'.replaceAll(' ', ''), 'hex').toString('base64') // '++/' in it
    assert.match(std, /\+/)
    const cases: [string, RegExp][] = [
      [`nonce=${std}`, /'\+' that was not URL-encoded.*%2B/], // '+' sent raw arrives as a space
      [goQuery('nonce', 'AAAAAAAAAAA=='), /incomplete padding/], // 11 characters take one '=', not two
      [goQuery('nonce', 'ab-_cd+/efghijkl'), /mixes base64url/],
      [goQuery('nonce', 'AAAAAAAAAAA*'), /URL-encode/],
      [goQuery('nonce', 'AAAAAAAAAAB'), /not canonical/],
      [goQuery('nonce', 'AAAAAAA'), /nonce is 5 bytes/],
      [goQuery('nonce', 'A'.repeat(88)), /nonce is 66 bytes/],
      [`nonce=${'A'.repeat(12)}&nonce=${'B'.repeat(12)}`, /give one nonce/],
      [`${goQuery('nonce', 'A'.repeat(12))}&nonceSize=32`, /either nonce or nonceSize/],
    ]
    for (const [query, detail] of cases) {
      const res = await newSession(query)
      assert.equal(res.status, 400, query)
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
      const problem = (await res.json()) as { code: string; detail: string }
      assert.equal(problem.code, 'ERR_REQUEST_MALFORMED')
      assert.match(problem.detail, detail, query)
    }
  })

  it('answers the session in the media type asked for, and 406 for one it does not have', async () => {
    for (const [accept, expected] of [
      [SESSION_MEDIA_TYPE, SESSION_MEDIA_TYPE],
      ['application/rats-challenge-response-session+json', 'application/rats-challenge-response-session+json'],
      ['application/json', 'application/json'],
      ['*/*', SESSION_MEDIA_TYPE],
      ['text/html;q=0.9, application/json;q=0.5', 'application/json'],
    ] as const) {
      const res = await newSession('nonceSize=16', accept)
      assert.equal(res.status, 201, accept)
      assert.equal(res.headers.get('content-type'), `${expected}; charset=utf-8`, accept)
      await res.arrayBuffer()
    }
    const refused = await newSession('nonceSize=16', 'text/html')
    assert.equal(refused.status, 406)
    assert.equal(((await refused.json()) as { code: string }).code, 'ERR_REQUEST_NOT_ACCEPTABLE')
  })
})
