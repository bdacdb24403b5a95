/**
 * `assay attest` and `assay ear verify` end to end, as real processes against a real Assay (embedded
 * mode, a free port) provisioned with the reference-values documents `assay attest` printed: PSA,
 * CWT and JWT Evidence appraise as affirming; `--nonce` and `--out` work; the EARs verify with the
 * server's JWKS URL and a JWKS file, and do not verify tampered, with another JWKS, expired, or
 * when the JWKS cannot be fetched. An unprovisioned device gets exit 3 and a hint.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createEarSigner, signJwtClaims } from '../../../src/results/sign.js'
import { importEs256PrivateKey } from '../../../src/crypto/sign.js'
import { runAssay, startAssayProcess, type AssayServer } from '../../helpers/cli.js'
import { freePort } from '../../helpers/redis-server.js'

describe('assay attest against a running Assay', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-attest-'))
  const rvDir = join(dir, 'reference-values')
  const es256 = join(dir, 'es256.jwk')
  const ed25519 = join(dir, 'ed25519.jwk')
  const es384 = join(dir, 'es384.jwk')
  let server: AssayServer
  const attest = (args: string[], env: Record<string, string> = {}) => runAssay(['attest', '--url', server.url, ...args], { env })

  before(async () => {
    mkdirSync(rvDir)
    for (const [file, alg] of [
      [es256, 'ES256'],
      [ed25519, 'EdDSA'],
      [es384, 'ES384'],
    ] as const) {
      const printed = await runAssay(['attest', '--key', file, '--alg', alg, '--print-reference-values'])
      assert.equal(printed.code, 0, printed.stderr)
      assert.match(printed.stderr, new RegExp(`made a new ${alg} device key`))
      writeFileSync(join(rvDir, `${alg}.json`), printed.stdout)
    }
    server = await startAssayProcess({ ASSAY_REFERENCE_VALUES_DIR: rvDir })
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const format of ['psa', 'cwt', 'jwt'] as const) {
    it(`${format}: affirming, readable, exit 0`, async () => {
      const r = await attest(['--key', es256, '--format', format])
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assert.match(r.stdout, /^status: affirming$/m)
      assert.match(r.stdout, new RegExp(`^submodule ${format === 'psa' ? 'PSA' : 'EAT'}: affirming$`, 'm'))
      assert.match(r.stdout, /^ {2}instance-identity +2 {2}affirming$/m)
      assert.match(r.stdout, /^ {2}hardware +2 {2}affirming$/m)
      assert.match(r.stdout, /^ {2}executables +2 {2}affirming$/m)
      assert.match(r.stdout, /^ {6}(PSA|EAT)_[A-Z_]+: /m, 'reasons are printed under their claim')
      assert.match(r.stdout, new RegExp(`EAR verified with ${server.url}/\\.well-known/jwks\\.json`))
    })
  }

  it('Ed25519 (JWT) and P-384 (CWT, PSA) keys attest too; Ed25519 PSA is refused with a reason', async () => {
    const jwt = await attest(['--key', ed25519, '--format', 'jwt'])
    assert.equal(jwt.code, 0, jwt.stderr + jwt.stdout)
    const cwt = await attest(['--key', es384, '--format', 'cwt'])
    assert.equal(cwt.code, 0, cwt.stderr + cwt.stdout)
    const psa = await attest(['--key', es384, '--format', 'psa'])
    assert.equal(psa.code, 0, psa.stderr + psa.stdout)
    const refused = await attest(['--key', ed25519, '--format', 'psa'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /PSA token is signed with ES256 or ES384.*this key is EdDSA/)
  })

  it('--json prints the result and the EAR; the EAR verifies with the JWKS URL and a JWKS file', async () => {
    const r = await attest(['--key', es256, '--format', 'cwt', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as { status: string; ear: string; submods: Record<string, { status: string; trustVector: Record<string, number> }> }
    assert.equal(result.status, 'affirming')
    assert.deepEqual(result.submods['EAT']!.trustVector['instance-identity'], 2)
    const earFile = join(dir, 'ear.jwt')
    writeFileSync(earFile, result.ear)

    const byUrl = await runAssay(['ear', 'verify', earFile, '--jwks', `${server.url}/.well-known/jwks.json`])
    assert.equal(byUrl.code, 0, byUrl.stderr)
    assert.match(byUrl.stdout, /^verified: JWT EAR signed by kid /m)
    assert.match(byUrl.stdout, /^status: affirming$/m)
    assert.match(byUrl.stdout, /^submodule EAT: affirming$/m)

    const jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, await (await fetch(`${server.url}/.well-known/jwks.json`)).text())
    const byFile = await runAssay(['ear', 'verify', '-', '--jwks', jwksFile, '--json'], { input: result.ear })
    assert.equal(byFile.code, 0, byFile.stderr)
    const verified = JSON.parse(byFile.stdout) as { verified: boolean; status: string; submods: Record<string, unknown> }
    assert.equal(verified.verified, true)
    assert.equal(verified.status, 'affirming')
    assert.deepEqual(Object.keys(verified.submods), ['EAT'])
  })

  it('a CWT EAR from the server verifies too', async () => {
    const out = join(dir, 'evidence-for-cwt-ear.cwt')
    assert.equal((await attest(['--key', es256, '--format', 'cwt', '--out', out])).code, 0)
    const res = await fetch(`${server.url}/v1/appraisals`, {
      method: 'POST',
      headers: { 'content-type': 'application/eat+cwt', accept: 'application/eat+cwt', prefer: 'wait=10' },
      body: readFileSync(out),
    })
    assert.equal(res.status, 200)
    const earFile = join(dir, 'ear.cwt')
    writeFileSync(earFile, Buffer.from(await res.arrayBuffer()))
    const r = await runAssay(['ear', 'verify', earFile, '--jwks', `${server.url}/.well-known/jwks.json`])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^verified: CWT EAR/m)
    assert.match(r.stdout, /^status: affirming$/m)
  })

  it('--nonce: Evidence carries the given nonce; a nonce Assay never issued is not affirming', async () => {
    const issued = (await (await fetch(`${server.url}/v1/nonces`, { method: 'POST' })).json()) as { nonce: string }
    const r = await attest(['--key', es256, '--format', 'jwt', '--nonce', issued.nonce, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as { nonce: string }).nonce, issued.nonce)
    // Used once: the same nonce again is a replay.
    const again = await attest(['--key', es256, '--format', 'jwt', '--nonce', issued.nonce])
    assert.equal(again.code, 3, again.stdout)
    assert.match(again.stdout, /^status: contraindicated$/m)
    assert.match(again.stdout, /ERR_CLAIMS_NONCE_REPLAYED/)
    const bad = await attest(['--key', es256, '--nonce', 'not*base64'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--nonce "not\*base64" is not base64url or base64/)
  })

  it('--out writes the token instead of submitting it; posted by hand it is affirming', async () => {
    for (const [format, type] of [
      ['psa', 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'],
      ['jwt', 'application/eat+jwt'],
    ] as const) {
      const file = join(dir, `evidence.${format}`)
      const r = await attest(['--key', es256, '--format', format, '--out', file])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, new RegExp(`wrote a ${format.toUpperCase()} token of \\d+ bytes`))
      const res = await fetch(`${server.url}/v1/appraisals`, {
        method: 'POST',
        headers: { 'content-type': type, prefer: 'wait=10' },
        body: readFileSync(file),
      })
      assert.equal(res.status, 200)
      const body = (await res.json()) as { result: { claims: { ear_status: string } } }
      assert.equal(body.result.claims.ear_status, 'affirming', format)
    }
  })

  it('--out - with --nonce works offline and writes the token to stdout', async () => {
    const r = await runAssay(['attest', '--key', es256, '--format', 'cwt', '--url', 'http://127.0.0.1:1', '--nonce', 'AAECAwQFBgcICQoLDA0ODw', '--out', '-'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdoutBytes[0], 0xd2, 'a COSE_Sign1 tagged 18')
  })

  it('an unprovisioned device: not affirming, exit 3, and a hint how to provision it', async () => {
    const r = await attest(['--key', join(dir, 'stranger.jwk'), '--format', 'cwt'])
    assert.equal(r.code, 3, r.stderr + r.stdout)
    assert.match(r.stdout, /^ {2}instance-identity +97 {2}contraindicated$/m)
    assert.match(r.stderr, /hint: Assay does not know this device key: provision it with `assay attest --print-reference-values --key /)
  })

  it('refusals are named: a problem from the server, a nonce of the wrong size, a bad --timeout', async () => {
    const problem = await runAssay(['attest', '--key', es256, '--url', `${server.url}/no-such-prefix`])
    assert.equal(problem.code, 1)
    assert.match(problem.stderr, /^assay: POST \/v1\/nonces: HTTP 404 .*\(ERR_[A-Z_]+\)$/m)
    const short = await attest(['--key', es256, '--format', 'psa', '--nonce', 'AAECAwQFBgcICQoLDA0ODw'])
    assert.equal(short.code, 1)
    assert.match(short.stderr, /--nonce is 16 bytes; a PSA nonce is 32, 48 or 64 bytes/)
    const tiny = await attest(['--key', es256, '--format', 'cwt', '--nonce', 'AAEC'])
    assert.equal(tiny.code, 1)
    assert.match(tiny.stderr, /--nonce is 3 bytes; a nonce is 8 to 64 bytes/)
    const timeout = await attest(['--key', es256, '--timeout', 'soon'])
    assert.equal(timeout.code, 1)
    assert.match(timeout.stderr, /--timeout soon: a number of seconds/)
  })

  it('no Assay at --url: exit 1 with a clear message', async () => {
    const r = await runAssay(['attest', '--key', es256, '--url', `http://127.0.0.1:${await freePort()}`])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^assay: cannot reach Assay at http:\/\/127\.0\.0\.1:\d+\/v1\/nonces\?nonceSize=32: .*is it running\?/m)
  })

  describe('ear verify refuses', () => {
    let ear: string
    let jwksFile: string
    before(async () => {
      const r = await attest(['--key', es256, '--format', 'jwt', '--json'])
      ear = (JSON.parse(r.stdout) as { ear: string }).ear
      jwksFile = join(dir, 'server-jwks.json')
      writeFileSync(jwksFile, await (await fetch(`${server.url}/.well-known/jwks.json`)).text())
    })
    const verify = (token: string | Uint8Array, jwks: string) => runAssay(['ear', 'verify', '-', '--jwks', jwks], { input: token })

    it('a tampered EAR (bad signature)', async () => {
      const [h, p, s] = ear.split('.') as [string, string, string]
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
      claims['ear_status'] = 'affirming'
      claims['iat'] = (claims['iat'] as number) + 1
      const r = await verify(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`, jwksFile)
      assert.equal(r.code, 1)
      assert.match(r.stderr, /^assay: the EAR does not verify: .*signature/m)
      assert.equal(r.stdout, '')
    })

    it('another JWKS (unknown kid)', async () => {
      const other = join(dir, 'other-jwks.json')
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      writeFileSync(other, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'someone-else', alg: 'ES256' }] }))
      const r = await verify(ear, other)
      assert.equal(r.code, 1)
      assert.match(r.stderr, /the EAR does not verify: no ES256 key in the configured JWKS has kid/)
    })

    it('an expired EAR', async () => {
      const key = importEs256PrivateKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const signer = createEarSigner(key, 'test-key')
      const claims = JSON.parse(Buffer.from(ear.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
      const expired = signJwtClaims({ ...claims, iat: 1_700_000_000, exp: 1_700_003_600 }, signer)
      const jwks = join(dir, 'test-key-jwks.json')
      writeFileSync(jwks, JSON.stringify({ keys: [{ ...key.publicJwk, kid: 'test-key', alg: 'ES256' }] }))
      const fresh = await verify(signJwtClaims({ ...claims, iat: Math.floor(Date.now() / 1000) }, signer), jwks)
      assert.equal(fresh.code, 0, fresh.stderr)
      const r = await verify(expired, jwks)
      assert.equal(r.code, 1)
      assert.match(r.stderr, /the EAR does not verify: result expired at 1700003600/)
      const json = await runAssay(['ear', 'verify', '-', '--jwks', jwks, '--json'], { input: expired })
      assert.equal(json.code, 1)
      assert.deepEqual(JSON.parse(json.stdout), { error: { code: 'ERR_EAR_EXPIRED', message: 'the EAR does not verify: result expired at 1700003600 (now ' + /now (\d+)/.exec(json.stderr)![1] + ')' } })
    })

    it('malformed input, an empty file, a JWKS that is not one, and a JWKS URL that does not answer', async () => {
      const garbage = await verify('definitely not an EAR', jwksFile)
      assert.equal(garbage.code, 1)
      assert.match(garbage.stderr, /the EAR does not verify: CWT/)
      const empty = await verify('', jwksFile)
      assert.equal(empty.code, 1)
      assert.match(empty.stderr, /standard input is empty/)
      const notJwks = join(dir, 'not-jwks.json')
      writeFileSync(notJwks, '{"keys": 3}')
      const bad = await verify(ear, notJwks)
      assert.equal(bad.code, 1)
      assert.match(bad.stderr, /is not a JWKS/)
      const port = await freePort()
      const down = await verify(ear, `http://127.0.0.1:${port}/.well-known/jwks.json`)
      assert.equal(down.code, 1)
      assert.match(down.stderr, new RegExp(`cannot fetch the JWKS from http://127\\.0\\.0\\.1:${port}/\\.well-known/jwks\\.json: `))
      const missing = await verify(ear, `${server.url}/no-such-jwks`)
      assert.equal(missing.code, 1)
      assert.match(missing.stderr, /cannot fetch the JWKS from .*: HTTP 404/)
    })
  })
})
