/**
 * What the service trusts out of the box (issue 7, item 1): with the default settings nothing is
 * provisioned, so a PSA token signed with the RFC 9783 example IAK (whose private key is published)
 * over a fresh verifier nonce is not affirming. The shipped sample provisions that key, so it loads
 * only in test mode, and then every EAR says so in its verifier id. Real HTTP, embedded mode.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { decodeCbor, encodeCbor, type CborMap, type CborTag, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { verifyEarCwt, verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { fromHex } from '../../../src/util/bytes.js'
import { systemClock } from '../../../src/util/clock.js'
import { rfc9783Iak, signSign1 } from '../../helpers/cose.js'
import { readVector } from '../../helpers/vectors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SAMPLES = join(ROOT, 'examples/reference-values')
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VECTOR = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const INSTANCE_ID = fromHex('01' + '02'.repeat(32))

/** The RFC 9783 example claims over `nonce`, signed with the published IAK: what any attacker can make. */
function forgedPsa(nonce: Uint8Array): Uint8Array {
  const outer = decodeCbor(fromHex(VECTOR.token_hex), { allowedTags: new Set([18]) }) as CborTag
  const claims = new Map(decodeCbor((outer.value as Uint8Array[])[2]!) as CborMap) as Map<number, EncodableValue>
  claims.set(10, nonce)
  return signSign1(rfc9783Iak(), { payload: encodeCbor(claims) })
}

describe('trust out of the box', { timeout: 60_000 }, () => {
  const dirs: string[] = []
  const running: RunningAssay[] = []
  after(async () => {
    for (const r of running) await r.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  async function start(settings: Record<string, unknown>): Promise<RunningAssay> {
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-trust-'))
    dirs.push(dataDir)
    const r = await startAssay(loadConfig({ port: 0, dataDir, ...settings }), { role: 'all' })
    running.push(r)
    return r
  }

  async function appraiseForged(service: RunningAssay) {
    const nonceRes = await fetch(`${service.url}/v1/nonces`, { method: 'POST' })
    assert.equal(nonceRes.status, 201)
    const nonce = base64urlDecode(((await nonceRes.json()) as { nonce: string }).nonce)
    const res = await fetch(`${service.url}/v1/appraisals`, {
      method: 'POST',
      body: forgedPsa(nonce),
      headers: { 'content-type': PSA_TFM, prefer: 'wait=10' },
    })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { id: string; result: { ear: string } }
    const jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as EarJwks
    return { id: body.id, jwks, claims: verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims }
  }

  it('default settings: nothing is provisioned, and a token signed with the published IAK is not affirming', async () => {
    const logs: string[] = []
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-trust-'))
    dirs.push(dataDir)
    const service = await startAssay(loadConfig({ port: 0, dataDir }), { role: 'all', log: (m) => logs.push(m) })
    running.push(service)
    assert.ok(logs.some((m) => /no reference values provisioned/.test(m)), logs.join('\n'))
    const { claims } = await appraiseForged(service)
    const psa = claims.submods.get('PSA')!
    assert.equal(psa.status, 'contraindicated')
    assert.equal(psa.vector?.['instance-identity'], 97)
    assert.doesNotMatch(claims.verifier.build, /test mode/)
  })

  it('the shipped sample provisions a published key: refused at start unless test mode is on', async () => {
    await assert.rejects(
      start({ referenceValuesDir: SAMPLES }),
      (err: unknown) =>
        isVerifierError(err, 'ERR_CONFIG_INVALID') && /psa-rfc9783-example\.json: psa\.trustAnchors\.0\.key: .*published/.test(err.message),
    )
  })

  it('test mode: the sample loads with a loud warning, and every EAR says test mode in JWT and CWT', async () => {
    const logs: string[] = []
    const dataDir = mkdtempSync(join(tmpdir(), 'assay-trust-'))
    dirs.push(dataDir)
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir: SAMPLES, allowPublishedKeys: 'true' })
    const service = await startAssay(config, { role: 'all', log: (m) => logs.push(m) })
    running.push(service)
    assert.ok(logs.some((m) => /WARNING: TEST MODE/.test(m)), logs.join('\n'))
    assert.ok(logs.some((m) => /WARNING: .*published key \(RFC 9783/.test(m)), logs.join('\n'))

    const { id, jwks, claims } = await appraiseForged(service)
    assert.equal(claims.submods.get('PSA')!.status, 'affirming')
    assert.equal(claims.verifier.build, 'assay 0.1.0 (test mode: published keys accepted)')
    assert.deepEqual(claims.submods.get('PSA')!.attester?.ueid, INSTANCE_ID)
    assert.equal(claims.submods.get('PSA')!.attester?.keySource, 'psa-instance-id')
    const cwt = await fetch(`${service.url}/v1/appraisals/${id}`, { headers: { accept: 'application/eat+cwt' } })
    assert.equal(cwt.status, 200)
    const cwtClaims = verifyEarCwt(new Uint8Array(await cwt.arrayBuffer()), jwks, { clock: systemClock }).claims
    assert.equal(cwtClaims.verifier.build, 'assay 0.1.0 (test mode: published keys accepted)')
    assert.deepEqual(cwtClaims.submods.get('PSA')!.attester?.ueid, INSTANCE_ID)
  })
})
