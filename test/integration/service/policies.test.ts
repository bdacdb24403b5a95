/**
 * Appraisal policies through the service (embedded mode, real HTTP, real signatures): a policies
 * folder with a lab policy that accepts debug-enabled devices and unrecognised software as warnings
 * instead of contraindicated; the EAR shows the changed claims with the policy's reasons, and names
 * the policy by id, version and digest. A folder with an invalid policy stops the start, naming the
 * file, the rule and the position.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { policyDigest } from '../../../src/policy/compile.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1 } from '../../helpers/cose.js'
import { REPO_ROOT } from '../../helpers/vectors.js'

const now = Math.floor(Date.now() / 1000)
const HWMODEL = 'abcd'
const UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(8))
const CLASS = { oemid: 64242, hwmodel: HWMODEL }
const PROFILE = 'urn:ietf:rfc:rfc9711'
const CT = `application/eat+cwt; eat_profile="${PROFILE}"`

const LAB_POLICY = `# the lab accepts debug builds and unrecognised software, as warnings
id: lab
version: 2
selector:
  tenant: default
  formats: [eat]
rules:
  - name: debug-is-a-warning
    when: 'has(claims.dbgstat) && claims.dbgstat == "enabled"'
    set: configuration
    to: unsafe
    reason: { code: LAB_DEBUG_ACCEPTED, detail: debug is enabled; accepted as a warning in the lab }
  - name: unknown-software-is-a-warning
    when: 'builtin.vector["executables"] == 33 && key.source == "kid" && freshness.by == "verifier-nonce"'
    set: executables
    to: unsafe
    reason: { code: LAB_SOFTWARE_ACCEPTED, detail: software without a matching reference value }
`

describe('appraisal policies through the service', { timeout: 60_000 }, () => {
  let running: RunningAssay
  let jwks: EarJwks
  let dir: string
  const key = generateTestKey('ES256')

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'assay-policies-'))
    const rv = join(dir, 'rv')
    const policies = join(dir, 'policies')
    mkdirSync(rv)
    mkdirSync(policies)
    writeFileSync(join(policies, 'lab.yaml'), LAB_POLICY)
    writeFileSync(join(policies, 'psa-default.yaml'), readFileSync(join(REPO_ROOT, 'policies', 'psa-default.yaml')))
    writeFileSync(
      join(rv, 'eat.json'),
      JSON.stringify({
        eat: {
          keys: [{ kid: 'sensor-7', key: key.publicKey.keyObject.export({ format: 'jwk' }), speaksFor: { ueids: [Buffer.from(UEID).toString('hex')], classes: [CLASS] } }],
          referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
        },
      }),
    )
    running = await startAssay(loadConfig({ port: 0, dataDir: join(dir, 'data'), referenceValuesDir: rv, policiesDir: policies }), { role: 'all' })
    jwks = (await (await fetch(`${running.url}/.well-known/jwks.json`)).json()) as EarJwks
  })

  after(async () => {
    await running?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function appraise(extra: [number, EncodableValue][]): Promise<EarClaims> {
    const n = base64urlDecode(((await (await fetch(`${running.url}/v1/nonces`, { method: 'POST' })).json()) as { nonce: string }).nonce)
    const claims = new Map<number, EncodableValue>([
      [265, PROFILE],
      [10, n],
      [256, UEID],
      [258, 64242],
      [259, Buffer.from(HWMODEL, 'hex')],
      [270, 'fw'],
      [271, ['1.2']],
      [6, now],
      ...extra,
    ])
    const token = signSign1(key, {
      protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, new TextEncoder().encode('sensor-7')]]),
      payload: encodeCbor(claims),
      tag: 'cwt',
    })
    const res = await fetch(`${running.url}/v1/appraisals`, { method: 'POST', body: token, headers: { 'content-type': CT, prefer: 'wait=10' } })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { result: { ear: string } }
    return verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims
  }

  const labRef = `urn:assay:policy:lab:2#sha-256:${policyDigest(LAB_POLICY)}`

  it('debug enabled: configuration is a warning with the policy reason, and the EAR names the policy', async () => {
    const ear = await appraise([[263, 0]])
    const eat = ear.submods.get('EAT')!
    assert.equal(eat.vector?.configuration, 32)
    assert.equal(eat.vector?.executables, 2)
    assert.equal(eat.status, 'warning')
    const reason = eat.reasons?.find((r) => r.claim === 'configuration')
    assert.deepEqual(reason && { code: reason.code, value: reason.value }, { code: 'LAB_DEBUG_ACCEPTED', value: 32 })
    assert.ok(!eat.reasons?.some((r) => r.code === 'EAT_DEBUG_ENABLED'), 'the built-in reason for the claim is replaced')
    assert.deepEqual(eat.policyIds, ['urn:assay:policy:eat-builtin:1', labRef])
  })

  it('unrecognised software: executables is a warning instead of unrecognized', async () => {
    const eat = (await appraise([[271, ['9.9']]])).submods.get('EAT')!
    assert.equal(eat.vector?.executables, 32)
    assert.equal(eat.status, 'warning')
    assert.equal(eat.reasons?.find((r) => r.claim === 'executables')?.code, 'LAB_SOFTWARE_ACCEPTED')
  })

  it('Evidence the policy has nothing to say about keeps the built-in result', async () => {
    const eat = (await appraise([])).submods.get('EAT')!
    assert.equal(eat.status, 'affirming')
    assert.deepEqual(eat.vector && { c: eat.vector.configuration ?? 0, e: eat.vector.executables }, { c: 0, e: 2 })
  })

  it('an invalid policy stops the start, naming the file, the rule and the position', async () => {
    const bad = join(dir, 'bad')
    mkdirSync(bad)
    writeFileSync(join(bad, 'broken.yaml'), LAB_POLICY.replace('claims.dbgstat == "enabled"', 'claims.dbgstat == colour'))
    await assert.rejects(
      startAssay(loadConfig({ port: 0, dataDir: join(dir, 'data2'), policiesDir: bad }), { role: 'all' }),
      (err: Error) => {
        assert.match(err.message, /broken\.yaml: line 9, column 11: rules\[0\] \(rule "debug-is-a-warning"\), when 1:42: unknown input colour/)
        return true
      },
    )
  })
})
