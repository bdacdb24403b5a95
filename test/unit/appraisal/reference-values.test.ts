import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import { MemoryEndorsements } from '../../../src/appraisal/endorsements.js'
import { PUBLISHED_PUBLIC_KEYS, PUBLISHED_SECRET_KEYS } from '../../../src/appraisal/published-keys.js'
import { addReferenceValueDocument, loadReferenceValueDir, type LoadOptions } from '../../../src/appraisal/reference-values.js'
import { importJwk, importSpki } from '../../../src/crypto/keys.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { buildPki } from '../../helpers/pki.js'
import { VECTOR_DIR } from '../../helpers/vectors.js'

const SAMPLE_DIR = new URL('../../../examples/reference-values/', import.meta.url).pathname
const VECTORS = VECTOR_DIR
const TEST_MODE: LoadOptions = { allowPublishedKeys: true }
interface SampleDoc {
  tenant?: string
  psa: {
    trustAnchors: { key: Record<string, string> | string; instanceId: string; implementationId?: string }[]
    referenceValues: { implementationId: string; softwareComponents: Record<string, string>[] }[]
  }
}
const sample = () => JSON.parse(readFileSync(join(SAMPLE_DIR, 'psa-rfc9783-example.json'), 'utf8')) as SampleDoc
const INSTANCE = '01' + '02'.repeat(32)
const IMPL = '00'.repeat(32)

function freshPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
}
const freshJwk = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>

function rejects(doc: unknown, pattern: RegExp, options: LoadOptions = TEST_MODE): void {
  assert.throws(
    () => addReferenceValueDocument(new MemoryEndorsements(), doc, 'file.json', options),
    (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CONFIG_INVALID' && pattern.test(e.message),
  )
}

describe('reference values (JSON form)', () => {
  const dirs: string[] = []
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('loads the shipped sample in test mode: the RFC 9783 IAK and its PRoT component', () => {
    const e = loadReferenceValueDir(SAMPLE_DIR, TEST_MODE)
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
      () => loadReferenceValueDir(dir, TEST_MODE),
      (e: unknown) => e instanceof VerifierError && /b\.json: psa\.trustAnchors\.0\.instanceId: .* provisioned twice/.test(e.message),
    )
    const other = { ...sample(), tenant: 'acme' }
    writeFileSync(join(dir, 'b.json'), JSON.stringify(other))
    assert.equal(loadReferenceValueDir(dir, TEST_MODE).size.trustAnchors, 2)
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
      { instanceId: '01' + '03'.repeat(32), key: freshPem(), implementationId: IMPL },
      { instanceId: '01' + '04'.repeat(32), key: { kty: 'oct', k: 'a'.repeat(86) }, implementationId: IMPL },
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
      {
        eat: {
          pinnedCertificates: [{ certificate: pem(pki.leaf.der), speaksFor: { ueids: ['01' + '02'.repeat(16)], classes: 'any' } }],
          x509Anchors: [{ certificate: pem(pki.root.der), speaksFor: 'any' }],
        },
      },
      'eat.json',
    )
    const keys = e.eatKeys('default')
    assert.ok(keys.x509 !== undefined)
    assert.ok(keys.byX5t?.(-16, new Uint8Array(createHash('sha256').update(pki.leaf.der).digest())))
    assert.throws(
      () =>
        addReferenceValueDocument(
          new MemoryEndorsements(),
          { eat: { pinnedCertificates: [{ certificate: pem(new Uint8Array([1, 2, 3])), speaksFor: 'any' }] } },
          'bad.json',
        ),
      (err: unknown) => err instanceof VerifierError && /bad\.json: eat\.pinnedCertificates\.0: /.test(err.message),
    )
    assert.throws(
      () =>
        addReferenceValueDocument(
          new MemoryEndorsements(),
          { eat: { x509Anchors: [{ certificate: pem(new Uint8Array([1, 2, 3])), speaksFor: 'any' }] } },
          'bad.json',
        ),
      (err: unknown) => err instanceof VerifierError && /bad\.json: eat\.x509Anchors\.0: /.test(err.message),
    )
  })

  describe('published keys (test mode only)', () => {
    it('refuses the RFC 9783 example IAK by default, naming the file, the field and the source', () => {
      assert.throws(
        () => loadReferenceValueDir(SAMPLE_DIR),
        (e: unknown) =>
          e instanceof VerifierError &&
          e.code === 'ERR_CONFIG_INVALID' &&
          /psa-rfc9783-example\.json: psa\.trustAnchors\.0\.key: .*published \(RFC 9783 Appendix A\.1/.test(e.message) &&
          /ASSAY_ALLOW_PUBLISHED_KEYS/.test(e.message),
      )
    })

    it('in test mode loads it with a warning', () => {
      const warnings: string[] = []
      loadReferenceValueDir(SAMPLE_DIR, { allowPublishedKeys: true, warn: (m) => warnings.push(m) })
      assert.equal(warnings.length, 1)
      assert.match(warnings[0]!, /psa\.trustAnchors\.0\.key is a published key \(RFC 9783/)
    })

    it('refuses published keys in every section: EAT kid and UEID keys, PEM, symmetric, anchors', () => {
      const coseWg = { kty: 'EC', crv: 'P-256', x: 'usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8', y: 'IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4' }
      rejects({ eat: { keys: [{ kid: '11', key: coseWg, speaksFor: 'any' }] } }, /eat\.keys\.0\.key: .*COSE WG/, {})
      rejects({ eat: { ueidKeys: [{ ueid: '01' + '02'.repeat(16), key: coseWg, speaksFor: 'any' }] } }, /eat\.ueidKeys\.0\.key: .*published/, {})
      const pem = importJwk(coseWg).keyObject.export({ type: 'spki', format: 'pem' }).toString()
      rejects({ eat: { keys: [{ kid: '11', key: pem, speaksFor: 'any' }] } }, /eat\.keys\.0\.key: .*published/, {})
      const mac = { kty: 'oct', k: '3gOLNKyhJXaMXjNXq40Gs2e5qw1-i-Ek7cpH_gM6W7epPTB_8imqNv8kbBKVlk-s9xq3qm7E_WECt7OYMlWtkg' }
      rejects({ psa: { trustAnchors: [{ instanceId: INSTANCE, key: mac, implementationId: IMPL }] } }, /psa\.trustAnchors\.0\.key: .*RFC 9783 Appendix A\.2/, {})
    })

    it('lists every key the published conformance vectors carry', () => {
      let checked = 0
      for (const file of readdirSync(VECTORS).filter((f) => f.endsWith('.json'))) {
        const key = (JSON.parse(readFileSync(join(VECTORS, file), 'utf8')) as { key?: Record<string, string> | null }).key
        if (key === null || key === undefined || typeof key.kty !== 'string') continue
        checked++
        if (key.kty === 'oct') {
          const digest = createHash('sha256').update(Buffer.from(key.k!, 'base64url')).digest('hex')
          assert.ok(PUBLISHED_SECRET_KEYS.has(digest), `${file}: symmetric key not on the list`)
        } else {
          const { d: _d, kid: _kid, alg: _alg, use: _use, ...pub } = key
          assert.ok(PUBLISHED_PUBLIC_KEYS.has(importJwk(pub).spkiSha256), `${file}: key not on the list`)
        }
      }
      assert.ok(checked >= 40, `only ${checked} vectors carried a key`)
      // The Veraison CoRIM examples carry their endorsed keys as SPKI PEM.
      const corim = readFileSync(join(VECTORS, 'veraison-services-corim-psa-valid.json'), 'utf8')
      for (const pem of corim.match(/-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/g) ?? []) {
        assert.ok(PUBLISHED_PUBLIC_KEYS.has(importSpki(pem.replace(/(\\)+n/g, '\n')).spkiSha256))
      }
    })
  })

  describe('what each key may speak for', () => {
    it('a kid key, pinned certificate or anchor without speaksFor stops the start', async () => {
      rejects({ eat: { keys: [{ kid: 'k', key: freshJwk() }] } }, /eat\.keys\.0\.speaksFor: speaksFor is required/)
      rejects({ eat: { ueidKeys: [{ ueid: '01' + '02'.repeat(16), key: freshJwk() }] } }, /eat\.ueidKeys\.0\.speaksFor: speaksFor is required/)
      const pki = await buildPki()
      const cert = `-----BEGIN CERTIFICATE-----\n${Buffer.from(pki.root.der).toString('base64')}\n-----END CERTIFICATE-----\n`
      rejects({ eat: { x509Anchors: [{ certificate: cert }] } }, /eat\.x509Anchors\.0\.speaksFor: speaksFor is required/)
      rejects({ eat: { pinnedCertificates: [{ certificate: cert }] } }, /eat\.pinnedCertificates\.0\.speaksFor: speaksFor is required/)
      rejects({ eat: { keys: [{ kid: 'k', key: freshJwk(), speaksFor: { ueids: [] , classes: 'any' } }] } }, /eat\.keys\.0\.speaksFor/)
      rejects({ eat: { keys: [{ kid: 'k', key: freshJwk(), speaksFor: { ueids: ['0102'], classes: 'any' } }] } }, /ueid must be 7 to 33 bytes/)
      rejects({ eat: { keys: [{ kid: 'k', key: freshJwk(), speaksFor: { ueids: 'any' } }] } }, /eat\.keys\.0\.speaksFor/)
    })

    it('a PSA trust anchor without an Implementation ID stops the start; "any" is a warning', () => {
      rejects({ psa: { trustAnchors: [{ instanceId: INSTANCE, key: freshJwk() }] } }, /psa\.trustAnchors\.0\.implementationId: implementationId is required/)
      const warnings: string[] = []
      const e = new MemoryEndorsements()
      addReferenceValueDocument(e, { psa: { trustAnchors: [{ instanceId: INSTANCE, key: freshJwk(), implementationId: 'any' }] } }, 'a.json', {
        warn: (m) => warnings.push(m),
      })
      assert.equal(e.psaTrustAnchor('default', INSTANCE)?.implementationId, 'any')
      assert.match(warnings.join('\n'), /a\.json: psa\.trustAnchors\.0 may speak for any Implementation ID/)
    })

    it('"any" loads with one warning per open dimension; lists bind', () => {
      const warnings: string[] = []
      const e = new MemoryEndorsements()
      const ueid = '01' + 'AB'.repeat(16)
      addReferenceValueDocument(
        e,
        {
          eat: {
            keys: [
              { kid: 'open', key: freshJwk(), speaksFor: 'any' },
              { kid: 'bound', key: freshJwk(), speaksFor: { ueids: [ueid], classes: [{ oemid: 64242, hwmodel: 'ABCD' }, { oemid: '0a0b0c', hwmodel: '01' }] } },
            ],
          },
        },
        'k.json',
        { warn: (m) => warnings.push(m) },
      )
      assert.deepEqual(warnings, [
        'k.json: eat.keys.0 (kid open) may speak for any UEID: Evidence it verifies may claim to be any device',
        'k.json: eat.keys.0 (kid open) may speak for any class: Evidence it verifies may claim any (oemid, hwmodel)',
      ])
      const bound = e.eatKeys('default').byKid(new TextEncoder().encode('bound'))!
      assert.deepEqual(bound.speaksFor, { ueids: new Set([ueid.toLowerCase()]), classes: new Set(['pen:64242/abcd', 'hex:0a0b0c/01']) })
      assert.deepEqual(e.eatKeys('default').byKid(new TextEncoder().encode('open'))!.speaksFor, { ueids: 'any', classes: 'any' })
    })

    it('refuses the same anchor twice in a tenant', async () => {
      const pki = await buildPki()
      const cert = `-----BEGIN CERTIFICATE-----\n${Buffer.from(pki.root.der).toString('base64')}\n-----END CERTIFICATE-----\n`
      rejects({ eat: { x509Anchors: [{ certificate: cert, speaksFor: 'any' }, { certificate: cert, speaksFor: 'any' }] } }, /eat\.x509Anchors\.1: provisioned twice/)
    })
  })

  it('loads operator EAT profiles (eat.profiles), refusing built-in ids, bad algorithms and the same id twice', () => {
    const profile = { id: 'tag:vendor.example,2026:sensor', envelopes: ['cwt'], coseAlgorithms: ['ES256'], keySources: ['kid'], freshness: 'nonce' }
    const into = new MemoryEndorsements()
    addReferenceValueDocument(into, { eat: { profiles: [profile] } }, 'file.json')
    assert.equal(into.eatProfile('default', 'TAG:VENDOR.EXAMPLE,2026:SENSOR')?.id, profile.id)
    assert.equal(into.eatProfile('acme', profile.id), undefined)
    rejects({ eat: { profiles: [{ ...profile, id: 'urn:ietf:rfc:rfc9711' }] } }, /^file\.json: eat\.profiles\.0\.id: is a built-in profile/)
    rejects({ eat: { profiles: [{ ...profile, coseAlgorithms: ['HMAC 256/256'] }] } }, /^file\.json: eat\.profiles\.0\.coseAlgorithms\.0:/)
    rejects({ eat: { profiles: [{ ...profile, extra: 1 }] } }, /^file\.json: eat\.profiles\.0:/)
    rejects({ eat: { profiles: [profile, { ...profile, id: profile.id.toUpperCase() }] } }, /eat\.profiles\.1\.id: .* is provisioned twice/)
  })

  it('with no folder, nothing is provisioned', () => {
    const e = loadReferenceValueDir(undefined)
    assert.deepEqual(e.size, { trustAnchors: 0, referenceValues: 0 })
    assert.equal(e.eatKeys('default').x509, undefined)
  })
})
