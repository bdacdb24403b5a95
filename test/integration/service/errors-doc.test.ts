/**
 * docs/errors.md against the wire: a real embedded Assay answers bad requests and bad Evidence, and
 * what it sends (problem members, problem `type`, the reasons claim in each EAR form and naming, the
 * values a failed appraisal gets) must be what the page says. The page itself is generated from the
 * same constants (test/unit/errors/catalogue.test.ts keeps it equal to `renderErrorsDoc()`), so a
 * change on either side fails one of the two tests.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { DEFAULT_PROBLEM_TYPE_BASE, ERRORS_DOC_PATH, REASONS_CLAIM, problemType } from '../../../scripts/gen-errors-doc.js'
import { PROBLEM_MEMBERS } from '../../../src/api/problem.js'
import { loadConfig } from '../../../src/config/load.js'
import { decodeCbor, type CborMap, type CborTag } from '../../../src/cose/cbor.js'
import { ERROR_CATALOGUE, type ErrorCode } from '../../../src/errors/codes.js'
import { startAssay, type RunningAssay } from '../../../src/main/server.js'
import { CRYPTO_FAILED, INSTANCE_IDENTITY, NO_CLAIM, TRUST_CLAIMS, UNEXPECTED_EVIDENCE } from '../../../src/results/trust-vector.js'

const DOC = readFileSync(ERRORS_DOC_PATH, 'utf8')
const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
const VERAISON_JWT = 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"'
const EXAMPLE_TOKEN = readFileSync(new URL('../../../examples/psa-rfc9783-a1.cbor', import.meta.url))

interface Reason {
  claim: string
  value: number
  code: string
  detail: string
}

function jwtPayload(token: string): Record<string, unknown> {
  const parts = token.split('.')
  assert.equal(parts.length, 3, 'a compact JWS')
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

describe('docs/errors.md says what Assay sends', { timeout: 60_000 }, () => {
  let dataDir: string
  let running: RunningAssay
  let url: string

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-errors-doc-'))
    // The RFC 9783 sample provisions the example token's key (a published key: test mode).
    const referenceValuesDir = fileURLToPath(new URL('../../../examples/reference-values/', import.meta.url))
    const config = loadConfig({ port: 0, dataDir, referenceValuesDir, allowPublishedKeys: true, rateLimitPoints: 0 })
    running = await startAssay(config, { role: 'all' })
    url = running.url!
  })

  after(async () => {
    await running?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  async function problem(res: Response, code: ErrorCode): Promise<Record<string, unknown>> {
    assert.equal(res.status, ERROR_CATALOGUE[code].status)
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/)
    const body = (await res.json()) as Record<string, unknown>
    const documented = new Set(PROBLEM_MEMBERS.map((m) => m.name))
    for (const name of Object.keys(body)) assert.ok(documented.has(name), `member ${name} is not on the page`)
    for (const m of PROBLEM_MEMBERS.filter((m) => m.always)) assert.ok(m.name in body, `member ${m.name} is missing`)
    assert.equal(body['code'], code)
    assert.equal(body['type'], problemType(code))
    assert.ok(String(body['type']).startsWith(DEFAULT_PROBLEM_TYPE_BASE))
    assert.ok(DOC.includes(`\`${DEFAULT_PROBLEM_TYPE_BASE}<slug>\``), 'the page states the type form that is sent')
    assert.ok(DOC.includes(`| \`${code}\` | ${ERROR_CATALOGUE[code].family} | ${ERROR_CATALOGUE[code].status} |`))
    return body
  }

  it('sends an unknown route as the documented problem', async () => {
    const body = await problem(await fetch(`${url}/no/such/route?x=1`), 'ERR_ROUTE_NOT_FOUND')
    assert.equal(body['instance'], '/no/such/route?x=1')
    assert.equal(body['status'], 404)
  })

  it('sends an unsupported media type as the documented problem, with detail and Accept', async () => {
    const res = await fetch(`${url}/v1/appraisals`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })
    assert.ok((res.headers.get('accept') ?? '').includes('application/eat+cwt'))
    const body = await problem(res, 'ERR_MEDIA_TYPE_UNSUPPORTED')
    assert.equal(typeof body['detail'], 'string')
  })

  it('puts a failed verification in the documented reasons claim, in every form and naming', async () => {
    const bad = Uint8Array.from(EXAMPLE_TOKEN)
    bad[bad.length - 1]! ^= 0xff
    const res = await fetch(`${url}/v1/appraisals`, {
      method: 'POST',
      headers: { 'content-type': PSA_TFM, prefer: 'wait=10' },
      body: bad,
    })
    assert.equal(res.status, 200, 'bad Evidence is a result, never an HTTP error')
    const body = (await res.json()) as { id: string; result: { claims: { submods: Record<string, Record<string, unknown>> } } }
    const [submod] = Object.values(body.result.claims.submods)
    const reasons = submod![REASONS_CLAIM.ear03] as Reason[]
    assert.ok(Array.isArray(reasons), `${REASONS_CLAIM.ear03} is an array`)
    assert.equal(reasons.length, 1)
    const [reason] = reasons
    assert.deepEqual(Object.keys(reason!).sort(), ['claim', 'code', 'detail', 'value'])
    assert.equal(reason!.claim, 'status')
    assert.equal(reason!.value, CRYPTO_FAILED)
    assert.equal(ERROR_CATALOGUE[reason!.code as ErrorCode]?.family, 'evidence', `${reason!.code} is an evidence code`)
    assert.ok(DOC.includes(`| \`${reason!.code}\` | evidence | — (a result) |`))
    const vector = submod!['ear_trustworthiness_vector'] as Record<string, number>
    for (const claim of TRUST_CLAIMS) assert.equal(vector[claim], CRYPTO_FAILED, claim)
    assert.ok(DOC.includes(`every claim ${CRYPTO_FAILED}`))

    const veraison = await fetch(`${url}/v1/appraisals/${body.id}`, { headers: { accept: VERAISON_JWT } })
    assert.equal(veraison.status, 200)
    const vClaims = jwtPayload(await veraison.text()) as { submods: Record<string, Record<string, unknown>> }
    const vReasons = Object.values(vClaims.submods)[0]![REASONS_CLAIM.veraison] as Reason[]
    assert.equal(vReasons[0]!.code, reason!.code)

    const cwt = await fetch(`${url}/v1/appraisals/${body.id}`, { headers: { accept: 'application/eat+cwt' } })
    assert.equal(cwt.status, 200)
    const sign1 = decodeCbor(new Uint8Array(await cwt.arrayBuffer()), { allowedTags: new Set([18]) }) as CborTag
    const payload = decodeCbor((sign1.value as Uint8Array[])[2]!) as CborMap
    const cSubmod = [...(payload.get(266) as CborMap).values()][0] as CborMap
    const cReasons = cSubmod.get(REASONS_CLAIM.cbor) as CborMap[]
    assert.equal(cReasons[0]!.get('code'), reason!.code)
    for (const name of [REASONS_CLAIM.ear03, REASONS_CLAIM.veraison, String(REASONS_CLAIM.cbor)]) {
      assert.ok(DOC.includes(`\`${name}\``), `the page names ${name}`)
    }
  })

  it('gives Evidence from an unknown attester the documented value and code', async () => {
    // Another Instance ID (its last byte changed): no provisioned key is found for it.
    const instanceId = Buffer.from('010202020202020202020202020202020202020202020202020202020202020202', 'hex')
    const at = Buffer.from(EXAMPLE_TOKEN).indexOf(instanceId)
    assert.ok(at > 0, 'the example token carries its Instance ID')
    const other = Uint8Array.from(EXAMPLE_TOKEN)
    other[at + instanceId.length - 1] = 0x03
    const res = await fetch(`${url}/v1/appraisals`, {
      method: 'POST',
      headers: { 'content-type': PSA_TFM, prefer: 'wait=10' },
      body: other,
    })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { result: { claims: { submods: Record<string, Record<string, unknown>> } } }
    const submod = Object.values(body.result.claims.submods)[0]!
    const vector = submod['ear_trustworthiness_vector'] as Record<string, number>
    for (const claim of TRUST_CLAIMS) {
      assert.equal(vector[claim], claim === 'instance-identity' ? INSTANCE_IDENTITY.unrecognized : NO_CLAIM, claim)
    }
    const reasons = submod[REASONS_CLAIM.ear03] as Reason[]
    assert.equal(reasons[0]!.code, 'ERR_KEY_NOT_FOUND')
    assert.equal(reasons[0]!.claim, 'instance-identity')
    assert.equal(submod['ear_status'], 'contraindicated')
    assert.ok(DOC.includes(`instance-identity ${INSTANCE_IDENTITY.unrecognized} (unrecognised attester) and every other`))
  })

  it('gives unrecognised Evidence the documented value and code', async () => {
    const res = await fetch(`${url}/v1/appraisals`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor', prefer: 'wait=10' },
      body: new Uint8Array([0xa1, 0x01, 0x02]),
    })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { result: { claims: { submods: Record<string, Record<string, unknown>> } } }
    const submod = Object.values(body.result.claims.submods)[0]!
    const reasons = submod[REASONS_CLAIM.ear03] as Reason[]
    assert.equal(reasons[0]!.code, 'ERR_EVIDENCE_UNRECOGNIZED')
    assert.equal(reasons[0]!.value, UNEXPECTED_EVIDENCE)
    assert.equal(submod['ear_status'], 'none')
    assert.ok(DOC.includes(`(\`ERR_EVIDENCE_UNRECOGNIZED\`): every claim ${UNEXPECTED_EVIDENCE}`))
  })
})
