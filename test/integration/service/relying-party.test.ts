/**
 * The relying-party example (`examples/relying-party/verify-ear.mjs`, docs/relying-parties.md) run
 * as a relying party would run it: as its own process, against a real embedded Assay on a free port,
 * with the keys from `/.well-known/jwks.json`. Assay appraises a PSA token signed with the RFC 9783
 * example key (provisioned by the sample reference values, so in test mode) and carrying a nonce it
 * issued; the example must report what Assay decided (status, trust vector, reasons, attester) for
 * the JWT in both namings and for the CWT, and refuse a tampered, test-mode or wrong-nonce result.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { TRUST_CLAIMS } from '../../../src/results/trust-vector.js'
import { rfc9783Iak, signSign1 } from '../../helpers/cose.js'

const EXAMPLE = fileURLToPath(new URL('../../../examples/relying-party/verify-ear.mjs', import.meta.url))
const REFERENCE_VALUES = fileURLToPath(new URL('../../../examples/reference-values/', import.meta.url))
const RFC_TOKEN = readFileSync(new URL('../../../examples/psa-rfc9783-a1.cbor', import.meta.url))
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VERAISON = 'tag:github.com,2023:veraison/ear'
const EAR_03 = 'tag:ietf.org,2026:rats/ear#03'

/** What the sample reference values make of the RFC 9783 token: identity, hardware and software known. */
const AFFIRMING_VECTOR: Record<string, number> = Object.fromEntries(
  TRUST_CLAIMS.map((c) => [c, c === 'instance-identity' || c === 'hardware' || c === 'executables' ? 2 : 0]),
)

interface Summary {
  form: string
  kid: string
  profile: string
  iat: number
  exp: number
  verifier: { developer: string; build: string }
  testMode: boolean
  status: string
  submods: Record<string, { status: string; trustVector: Record<string, number>; reasons: { claim: string; code: string }[]; attester?: Record<string, string> }>
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the example as its own process (asynchronously: the Assay it asks for keys runs in this one). */
function runExample(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [EXAMPLE, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** The RFC 9783 example token with another nonce, signed again with its (published) key. */
function psaToken(nonce: Uint8Array): Uint8Array {
  const outer = decodeCbor(RFC_TOKEN, { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(rfc9783Iak(), { payload: encodeCbor(claims) })
}

describe('relying-party example against a running Assay', { timeout: 120_000 }, () => {
  let dataDir: string
  let running: RunningAssay
  let url: string
  let jwksUrl: string
  let nonce: string
  const files: Record<string, string> = {}

  async function ear(id: string, accept: string): Promise<Buffer> {
    const res = await fetch(`${url}/v1/appraisals/${id}`, { headers: { accept } })
    assert.equal(res.status, 200, accept)
    return Buffer.from(await res.arrayBuffer())
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-relying-party-'))
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir: REFERENCE_VALUES, allowPublishedKeys: true, rateLimitPoints: 0 })
    running = await startAssay(config, { role: 'all' })
    url = running.url!
    jwksUrl = `${url}/.well-known/jwks.json`

    const issued = await fetch(`${url}/v1/nonces`, { method: 'POST' })
    assert.equal(issued.status, 201)
    nonce = ((await issued.json()) as { nonce: string }).nonce
    const res = await fetch(`${url}/v1/appraisals`, {
      method: 'POST',
      headers: { 'content-type': PSA_TFM, prefer: 'wait=10' },
      body: psaToken(Buffer.from(nonce, 'base64url')),
    })
    assert.equal(res.status, 200)
    const { id, status } = (await res.json()) as { id: string; status: string }
    assert.equal(status, 'complete')

    files['jwt'] = join(dataDir, 'ear.jwt')
    writeFileSync(files['jwt'], await ear(id, 'application/eat+jwt'))
    files['veraison'] = join(dataDir, 'ear-veraison.jwt')
    writeFileSync(files['veraison'], await ear(id, `application/eat+jwt; eat_profile="${VERAISON}"`))
    files['cwt'] = join(dataDir, 'ear.cwt')
    writeFileSync(files['cwt'], await ear(id, 'application/eat+cwt'))
    files['jwks'] = join(dataDir, 'jwks.json')
    writeFileSync(files['jwks'], Buffer.from(await (await fetch(jwksUrl)).arrayBuffer()))
  })

  after(async () => {
    await running?.stop()
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  })

  function checkAffirming(run: Run, form: string, profile: string): Summary {
    assert.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout) as Summary
    assert.equal(out.form, form)
    assert.equal(out.profile, profile)
    assert.equal(out.status, 'affirming')
    assert.equal(out.testMode, true)
    assert.match(out.verifier.build, /\(test mode: published keys accepted\)$/)
    assert.ok(out.exp > out.iat)
    const psa = out.submods['PSA']
    assert.ok(psa !== undefined, 'one PSA submodule')
    assert.equal(psa.status, 'affirming')
    assert.deepEqual(psa.trustVector, AFFIRMING_VECTOR)
    assert.deepEqual(psa.reasons.map((r) => r.code).sort(), ['PSA_IMPLEMENTATION_KNOWN', 'PSA_KEY_VERIFIED', 'PSA_SOFTWARE_MATCHED'])
    assert.equal(psa.attester?.['key-source'], 'psa-instance-id')
    assert.equal(Buffer.from(psa.attester?.['ueid'] ?? '', 'base64url').toString('hex'), '01' + '02'.repeat(32))
    return out
  }

  it('verifies the JWT (draft -03 naming) with the JWKS URL and the nonce it sent', async () => {
    const out = checkAffirming(await runExample(['--jwks', jwksUrl, '--nonce', nonce, '--allow-test-mode', files['jwt']!]), 'jwt', EAR_03)
    const jwks = JSON.parse(readFileSync(files['jwks']!, 'utf8')) as { keys: { kid: string }[] }
    assert.ok(jwks.keys.some((k) => k.kid === out.kid), 'signed by a key of the JWKS')
  })

  it('verifies the JWT in Veraison naming, with the JWKS from a file', async () => {
    checkAffirming(await runExample(['--jwks', files['jwks']!, '--nonce', nonce, '--allow-test-mode', files['veraison']!]), 'jwt', VERAISON)
  })

  it('verifies the CWT with the same key', async () => {
    checkAffirming(await runExample(['--jwks', jwksUrl, '--nonce', nonce, '--allow-test-mode', files['cwt']!]), 'cwt', EAR_03)
  })

  it('refuses a test-mode result unless told to accept it', async () => {
    for (const form of ['jwt', 'cwt']) {
      const run = await runExample(['--jwks', jwksUrl, files[form]!])
      assert.equal(run.code, 1, form)
      assert.equal(run.stdout, '')
      assert.match(run.stderr, /test mode/)
    }
  })

  it('refuses a tampered JWT', async () => {
    const [header, payload, signature] = readFileSync(files['jwt']!, 'utf8').trim().split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as { submods: Record<string, Record<string, unknown>> }
    claims.submods['PSA']!['ear_trustworthiness_vector'] = { ...AFFIRMING_VECTOR, configuration: 2 }
    const tampered = join(dataDir, 'tampered.jwt')
    writeFileSync(tampered, `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`)
    const run = await runExample(['--jwks', jwksUrl, '--allow-test-mode', tampered])
    assert.equal(run.code, 1)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /does not verify/)
  })

  it('refuses a tampered CWT', async () => {
    const cwt = readFileSync(files['cwt']!)
    // Change the top-level status code inside the signed payload: affirming (2) → warning (32) would
    // need another length, so turn `1000: 2` into `1000: 3` (same length, still CBOR).
    const at = cwt.indexOf(Buffer.from([0x19, 0x03, 0xe8, 0x02]))
    assert.ok(at > 0, 'the CWT carries ear_status 2')
    const tampered = Buffer.from(cwt)
    tampered[at + 3] = 0x03
    const file = join(dataDir, 'tampered.cwt')
    writeFileSync(file, tampered)
    const run = await runExample(['--jwks', jwksUrl, '--allow-test-mode', file])
    assert.equal(run.code, 1)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /signature does not verify/)
  })

  it('refuses a result for another nonce, and a key it does not know', async () => {
    const other = Buffer.alloc(32, 7).toString('base64url')
    for (const form of ['jwt', 'cwt']) {
      const run = await runExample(['--jwks', jwksUrl, '--nonce', other, '--allow-test-mode', files[form]!])
      assert.equal(run.code, 1, form)
      assert.match(run.stderr, /nonce/)
    }
    const strangers = join(dataDir, 'other-jwks.json')
    const jwks = JSON.parse(readFileSync(files['jwks']!, 'utf8')) as { keys: Record<string, string>[] }
    writeFileSync(strangers, JSON.stringify({ keys: jwks.keys.map((k) => ({ ...k, kid: 'someone-else' })) }))
    for (const form of ['jwt', 'cwt']) {
      const run = await runExample(['--jwks', strangers, '--allow-test-mode', files[form]!])
      assert.equal(run.code, 1, form)
      assert.equal(run.stdout, '')
    }
  })
})
