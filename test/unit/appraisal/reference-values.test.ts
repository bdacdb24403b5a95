import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { addReferenceValueDocument, loadReferenceValueDir } from '../../../src/appraisal/reference-values.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { buildPki } from '../../helpers/pki.js'

const SAMPLE_DIR = new URL('../../../reference-values/', import.meta.url).pathname
interface SampleDoc {
  tenant?: string
  psa: {
    trustAnchors: { key: Record<string, string> | string; instanceId: string }[]
    referenceValues: { implementationId: string; softwareComponents: Record<string, string>[] }[]
  }
}
const sample = () => JSON.parse(readFileSync(join(SAMPLE_DIR, 'psa-rfc9783-example.json'), 'utf8')) as SampleDoc
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = '00'.repeat(32)

function rejects(doc: unknown, pattern: RegExp): void {
  assert.throws(
    () => addReferenceValueDocument(new MemoryEndorsements(), doc, 'file.json'),
    (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CONFIG_INVALID' && pattern.test(e.message),
  )
}

describe('reference values (JSON form)', () => {
  const dirs: string[] = []
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('loads the shipped sample: the RFC 9783 IAK and its PRoT component', () => {
    const e = loadReferenceValueDir(SAMPLE_DIR)
    const anchor = e.psaTrustAnchor('default', INSTANCE)
    assert.ok(anchor && anchor.key.kind === 'public' && anchor.key.crv === 'P-256')
    const refs = e.psaReferenceValues('default', IMPL)
    assert.equal(refs?.softwareComponents.length, 1)
    assert.equal(refs?.softwareComponents[0]?.measurementType, 'PRoT')
    assert.equal(e.psaTrustAnchor('other-tenant', INSTANCE), undefined)
  })

  it('names the file and the field of an invalid entry', () => {
    const doc = sample()
    doc.psa.referenceValues[0]!.softwareComponents[0]!['measurementValue'] = '0303'
    rejects(doc, /^file\.json: psa\.referenceValues\.0\.softwareComponents\.0\.measurementValue: .*32, 48, 64 bytes/)
    const bad = sample()
    bad.psa.trustAnchors[0]!.instanceId = '02' + '02'.repeat(32)
    rejects(bad, /psa\.trustAnchors\.0\.instanceId: .*start with 01/)
  })

  it('rejects unknown fields, bad hex, bad keys and private keys', () => {
    rejects({ ...sample(), extra: 1 }, /Unrecognized key/)
    const hex = sample()
    hex.psa.referenceValues[0]!.implementationId = 'zz'.repeat(32)
    rejects(hex, /implementationId must be hex/)
    const key = sample()
    key.psa.trustAnchors[0]!.key = { ...(key.psa.trustAnchors[0]!.key as Record<string, string>), x: 'AAAA' }
    rejects(key, /psa\.trustAnchors\.0\.key: /)
    const priv = sample()
    priv.psa.trustAnchors[0]!.key = { ...(priv.psa.trustAnchors[0]!.key as Record<string, string>), d: 'Q__-y5X4CFp8QOHT6nkL7063jN131YUDpkwWAPkbM-c' }
    rejects(priv, /Unrecognized key/)
    rejects({ tenant: 'Bad Tenant' }, /tenant/)
  })

  it('refuses the same Instance ID or Implementation ID twice in a tenant, across files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-rv-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'a.json'), JSON.stringify(sample()))
    writeFileSync(join(dir, 'b.json'), JSON.stringify(sample()))
    assert.throws(
      () => loadReferenceValueDir(dir),
      (e: unknown) => e instanceof VerifierError && /b\.json: psa\.trustAnchors\.0\.instanceId: .* provisioned twice/.test(e.message),
    )
    const other = { ...sample(), tenant: 'acme' }
    writeFileSync(join(dir, 'b.json'), JSON.stringify(other))
    assert.equal(loadReferenceValueDir(dir).size.trustAnchors, 2)
  })

  it('reports a file that is not JSON, and a missing directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-rv-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'broken.json'), '{ "psa": ')
    assert.throws(() => loadReferenceValueDir(dir), (e: unknown) => e instanceof VerifierError && /broken\.json: not valid JSON/.test(e.message))
    assert.throws(() => loadReferenceValueDir(join(dir, 'nope')), (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CONFIG_INVALID')
  })

  it('accepts SPKI PEM keys and symmetric keys for COSE_Mac0 attesters', () => {
    const doc = sample()
    doc.psa.trustAnchors = [
      {
        instanceId: '01' + '03'.repeat(32),
        key: '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETl4iCZ47zrRbRG0TVf0dw7VFlHtv\n18HInYhnmMNybo+A1wuECyVqrDSmLt4QQzZPBECV8ANHS5HgGCCSr7E/Lg==\n-----END PUBLIC KEY-----\n',
      },
      { instanceId: '01' + '04'.repeat(32), key: { kty: 'oct', k: 'a'.repeat(86) } },
    ]
    const e = new MemoryEndorsements()
    addReferenceValueDocument(e, doc, 'x.json')
    assert.equal(e.psaTrustAnchor('default', '01' + '03'.repeat(32))?.key.kind, 'public')
    assert.equal(e.psaTrustAnchor('default', '01' + '04'.repeat(32))?.key.kind, 'secret')
  })

  it('loads generic EAT keys, pinned certificates and anchors, naming the field of a bad one', async () => {
    const pki = await buildPki()
    const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`
    const e = new MemoryEndorsements()
    addReferenceValueDocument(
      e,
      { eat: { pinnedCertificates: [{ certificate: pem(pki.leaf.der) }], x509Anchors: [{ certificate: pem(pki.root.der) }] } },
      'eat.json',
    )
    const keys = e.eatKeys('default')
    assert.ok(keys.x509 !== undefined)
    assert.ok(keys.byX5t?.(-16, new Uint8Array(createHash('sha256').update(pki.leaf.der).digest())))
    assert.throws(
      () => addReferenceValueDocument(new MemoryEndorsements(), { eat: { pinnedCertificates: [{ certificate: pem(new Uint8Array([1, 2, 3])) }] } }, 'bad.json'),
      (err: unknown) => err instanceof VerifierError && /bad\.json: eat\.pinnedCertificates\.0: /.test(err.message),
    )
    assert.throws(
      () => addReferenceValueDocument(new MemoryEndorsements(), { eat: { x509Anchors: [{ certificate: pem(new Uint8Array([1, 2, 3])) }] } }, 'bad.json'),
      (err: unknown) => err instanceof VerifierError && /bad\.json: eat\.x509Anchors\.0: /.test(err.message),
    )
  })
})
