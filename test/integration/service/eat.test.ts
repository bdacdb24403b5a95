/**
 * Generic EAT through the service (embedded mode, real HTTP): a device certified by a test CA signs
 * Evidence with its key; the operator provisioned only the root and reference values.
 */
import assert from 'node:assert/strict'
import { createPublicKey, sign, type KeyObject } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { loadConfig } from '../../../src/config/load.js'
import { importSpki } from '../../../src/crypto/keys.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import type { EarClaims } from '../../../src/results/claims.js'
import { verifyEarCwt, verifyEarJwt, type EarJwks } from '../../../src/results/verify.js'
import { base64urlDecode } from '../../../src/util/base64url.js'
import { systemClock } from '../../../src/util/clock.js'
import { generateTestKey, signSign1, type TestKeyPair } from '../../helpers/cose.js'
import { buildPki, type TestPki } from '../../helpers/pki.js'

const now = Math.floor(Date.now() / 1000)
const YEAR = 365 * 86_400
const HWMODEL = 'abcd'
const DEVICE_UEID = Uint8Array.of(1, ...new Uint8Array(16).fill(8))
const CLASS = { oemid: 64242, hwmodel: HWMODEL }
const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`

describe('generic EAT through the service', { timeout: 60_000 }, () => {
  let pki: TestPki
  let running: RunningAssay
  let jwks: EarJwks
  let dir: string
  const kidKey = generateTestKey('ES256')

  before(async () => {
    pki = await buildPki({
      root: { notBefore: now - YEAR, notAfter: now + 10 * YEAR },
      intermediate: { notBefore: now - YEAR, notAfter: now + 5 * YEAR },
      leaf: { notBefore: now - 3600, notAfter: now + YEAR },
    })
    dir = mkdtempSync(join(tmpdir(), 'assay-eat-'))
    const rv = join(dir, 'rv')
    mkdirSync(rv)
    writeFileSync(
      join(rv, 'eat.json'),
      JSON.stringify({
        eat: {
          x509Anchors: [{ certificate: pem('CERTIFICATE', pki.root.der), speaksFor: { ueids: 'any', classes: [CLASS] } }],
          keys: [
            {
              kid: 'sensor-7',
              key: kidKey.publicKey.keyObject.export({ format: 'jwk' }),
              speaksFor: { ueids: [Buffer.from(DEVICE_UEID).toString('hex')], classes: [CLASS] },
            },
          ],
          referenceValues: [{ oemid: 64242, hwmodel: HWMODEL, software: [{ swname: 'fw', swversions: ['1.2'] }] }],
        },
      }),
    )
    running = await startAssay(loadConfig({ port: 0, dataDir: join(dir, 'data'), referenceValuesDir: rv }), { role: 'all' })
    jwks = (await (await fetch(`${running.url}/.well-known/jwks.json`)).json()) as EarJwks
  })

  after(async () => {
    await running?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function nonce(): Promise<Uint8Array> {
    const res = await fetch(`${running.url}/v1/nonces`, { method: 'POST' })
    return base64urlDecode(((await res.json()) as { nonce: string }).nonce)
  }

  function claims(n: Uint8Array, profile?: string, ueid = DEVICE_UEID): Uint8Array {
    const m = new Map<number, EncodableValue>([
      [10, n],
      [256, ueid],
      [258, 64242],
      [259, Buffer.from(HWMODEL, 'hex')],
      [270, 'fw'],
      [271, ['1.2']],
      [6, now],
    ])
    if (profile !== undefined) m.set(265, profile)
    return encodeCbor(m)
  }

  async function appraiseWithId(token: Uint8Array, contentType: string): Promise<{ id: string; claims: EarClaims }> {
    const res = await fetch(`${running.url}/v1/appraisals`, {
      method: 'POST',
      body: token,
      headers: { 'content-type': contentType, prefer: 'wait=10' },
    })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { id: string; result: { ear: string } }
    return { id: body.id, claims: verifyEarJwt(body.result.ear, jwks, { clock: systemClock }).claims }
  }

  async function appraise(token: Uint8Array, contentType: string): Promise<EarClaims> {
    return (await appraiseWithId(token, contentType)).claims
  }

  it('affirms Evidence signed by a device key certified under the provisioned root', async () => {
    const device: TestKeyPair = {
      privateKey: pki.leaf.privateKey,
      publicKey: importSpki(createPublicKey(pki.leaf.privateKey).export({ type: 'spki', format: 'der' })),
      coseAlg: -7,
      hash: 'sha256',
    }
    const token = signSign1(device, {
      protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, pki.chain]]),
      payload: claims(await nonce()),
      tag: 'cwt',
    })
    const ear = await appraise(token, 'application/eat+cwt')
    const eat = ear.submods.get('EAT')!
    assert.equal(eat.status, 'affirming')
    assert.equal(eat.vector?.['instance-identity'], 2)
    assert.equal(eat.vector?.hardware, 2)
    assert.equal(eat.vector?.executables, 2)
  })

  it('affirms RFC 9711 constrained-profile Evidence keyed by kid, and refuses it without a fresh nonce', async () => {
    const profile = 'urn:ietf:rfc:rfc9711'
    const ct = `application/eat+cwt; eat_profile="${profile}"`
    const sign = (payload: Uint8Array) =>
      signSign1(kidKey, {
        protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, new TextEncoder().encode('sensor-7')]]),
        payload,
        tag: 'cwt',
      })
    const token = sign(claims(await nonce(), profile))
    assert.equal((await appraise(token, ct)).submods.get('EAT')!.status, 'affirming')
    const replay = (await appraise(token, ct)).submods.get('EAT')!
    assert.equal(replay.status, 'contraindicated')
    assert.equal(replay.reasons?.[0]?.code, 'ERR_CLAIMS_NONCE_REPLAYED')
  })

  it('a kid key claiming a UEID it was not provisioned for is contraindicated; the EAR names the attester', async () => {
    const profile = 'urn:ietf:rfc:rfc9711'
    const ct = `application/eat+cwt; eat_profile="${profile}"`
    const sign = (payload: Uint8Array) =>
      signSign1(kidKey, {
        protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, new TextEncoder().encode('sensor-7')]]),
        payload,
        tag: 'cwt',
      })
    const other = Uint8Array.of(1, ...new Uint8Array(16).fill(9))
    const forged = (await appraise(sign(claims(await nonce(), profile, other)), ct)).submods.get('EAT')!
    assert.equal(forged.status, 'contraindicated')
    assert.equal(forged.vector?.['instance-identity'], 96)
    assert.ok(forged.reasons?.some((r) => r.code === 'EAT_UEID_NOT_BOUND'))

    const { id, claims: ear } = await appraiseWithId(sign(claims(await nonce(), profile)), ct)
    const eat = ear.submods.get('EAT')!
    assert.equal(eat.status, 'affirming')
    const expected = {
      keySource: 'kid',
      ueid: DEVICE_UEID,
      kid: 'sensor-7',
      spkiS256: new Uint8Array(Buffer.from(kidKey.publicKey.spkiSha256, 'hex')),
    }
    assert.deepEqual(eat.attester, expected)
    // The same attester in the CWT rendering, and in Veraison's naming.
    const cwt = await fetch(`${running.url}/v1/appraisals/${id}`, { headers: { accept: 'application/eat+cwt' } })
    assert.equal(cwt.status, 200)
    const cwtEar = verifyEarCwt(new Uint8Array(await cwt.arrayBuffer()), jwks, { clock: systemClock }).claims
    assert.deepEqual(cwtEar.submods.get('EAT')!.attester, expected)
    const veraison = await fetch(`${running.url}/v1/appraisals/${id}`, {
      headers: { accept: 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"' },
    })
    assert.equal(veraison.status, 200)
    const vEar = verifyEarJwt(await veraison.text(), jwks, { clock: systemClock }).claims
    assert.equal(vEar.naming, 'veraison')
    assert.deepEqual(vEar.submods.get('EAT')!.attester, expected)
  })

  it('gives a chain to an unknown root a contraindicated result', async () => {
    const stranger = await buildPki({ leaf: { notBefore: now - 3600, notAfter: now + YEAR } })
    const device: TestKeyPair = {
      privateKey: stranger.leaf.privateKey,
      publicKey: importSpki(createPublicKey(stranger.leaf.privateKey).export({ type: 'spki', format: 'der' })),
      coseAlg: -7,
      hash: 'sha256',
    }
    const token = signSign1(device, {
      protectedHeader: new Map<number, EncodableValue>([[1, -7], [33, stranger.chain]]),
      payload: claims(await nonce()),
      tag: 'cwt',
    })
    const eat = (await appraise(token, 'application/eat+cwt')).submods.get('EAT')!
    assert.equal(eat.status, 'contraindicated')
    assert.equal(eat.vector?.['instance-identity'], 97)
    assert.equal(eat.reasons?.[0]?.code, 'ERR_X509_UNKNOWN_ANCHOR')
  })

  function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    return `${input}.${signature.toString('base64url')}`
  }

  function jsonClaims(n: Uint8Array): Record<string, unknown> {
    return {
      eat_nonce: Buffer.from(n).toString('base64url'),
      ueid: Buffer.from(Uint8Array.of(1, ...new Uint8Array(16).fill(8))).toString('base64url'),
      oemid: 64242,
      hwmodel: Buffer.from(HWMODEL, 'hex').toString('base64url'),
      swname: 'fw',
      swversion: ['1.2'],
      iat: now,
    }
  }

  it('affirms a JWT EAT keyed by kid, and one whose key comes from an x5c chain', async () => {
    const byKid = jwt({ alg: 'ES256', typ: 'eat+jwt', kid: 'sensor-7' }, jsonClaims(await nonce()), kidKey.privateKey)
    const a = (await appraise(new TextEncoder().encode(byKid), 'application/eat+jwt')).submods.get('EAT')!
    assert.equal(a.status, 'affirming')
    const x5c = pki.chain.map((der) => Buffer.from(der).toString('base64'))
    const byChain = jwt({ alg: 'ES256', x5c }, jsonClaims(await nonce()), pki.leaf.privateKey)
    const b = (await appraise(new TextEncoder().encode(byChain), 'application/eat+jwt')).submods.get('EAT')!
    assert.equal(b.status, 'affirming')
    assert.equal(b.vector?.['instance-identity'], 2)
  })

  it('refuses a JWT EAT with alg none or an HMAC algorithm, as a signed contraindicated result', async () => {
    const claims = jsonClaims(await nonce())
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'sensor-7' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
    const n = (await appraise(new TextEncoder().encode(none), 'application/eat+jwt')).submods.get('EAT')!
    assert.equal(n.status, 'contraindicated')
    assert.match(n.reasons?.[0]?.code ?? '', /^ERR_JOSE_/)
  })
})
