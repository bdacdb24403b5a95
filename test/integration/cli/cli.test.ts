/**
 * The `assay` command as a real process: --help and --version, the settings every server command's
 * help lists (each with its environment variable and the schema's default), usage errors (exit 2),
 * and `check-config` on valid and invalid reference-values folders.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { configFromEnv } from '../../../src/config/load.js'
import { settingsHelp } from '../../../src/config/help.js'
import { ROOT, runAssay } from '../../helpers/cli.js'

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

describe('assay command', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-cli-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('--version prints the version of package.json', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runAssay([flag])
      assert.equal(r.code, 0)
      assert.equal(r.stdout.trim(), VERSION)
    }
  })

  it('--help lists every command', async () => {
    const r = await runAssay(['--help'])
    assert.equal(r.code, 0)
    for (const command of ['start', 'serve', 'worker', 'rotate-key', 'attest', 'ear', 'audit', 'check-config']) {
      assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'), command)
    }
    const ear = await runAssay(['ear', '--help'])
    assert.match(ear.stdout, /^ {2}verify \[options\] <file>/m)
  })

  it('each server command lists every setting with its environment variable and the default the schema applies', async () => {
    const applied = configFromEnv({}) as Record<string, unknown>
    for (const command of ['start', 'serve', 'worker', 'rotate-key']) {
      const r = await runAssay([command, '--help'])
      assert.equal(r.code, 0, r.stderr)
      const printed = new Map([...r.stdout.matchAll(/^ {2}([A-Z][A-Z0-9_]+) +default (.+)$/gm)].map((m) => [m[1]!, m[2]!]))
      assert.equal(printed.size, settingsHelp().length, `${command}: one line per setting`)
      for (const s of settingsHelp()) {
        const real = applied[s.key]
        assert.equal(printed.get(s.env), real === undefined ? 'unset' : String(real), `${command} ${s.env}`)
      }
    }
  })

  it('tool commands document their options and exit status', async () => {
    const attest = await runAssay(['attest', '--help'])
    for (const option of ['--format', '--alg', '--key', '--url', '--nonce', '--claims', '--out', '--print-reference-values', '--json']) {
      assert.ok(attest.stdout.includes(option), option)
    }
    assert.match(attest.stdout, /Exit status: 0 affirming/)
    assert.match((await runAssay(['ear', 'verify', '--help'])).stdout, /--jwks <url\|file>/)
    assert.match((await runAssay(['check-config', '--help'])).stdout, /--reference-values <dir>/)
  })

  it('usage errors exit 2 and say what is wrong', async () => {
    const unknown = await runAssay(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command 'frobnicate'/)
    const format = await runAssay(['attest', '--format', 'xml'])
    assert.equal(format.code, 2)
    assert.match(format.stderr, /Allowed choices are psa, cwt, jwt/)
    const noJwks = await runAssay(['ear', 'verify', 'x'])
    assert.equal(noJwks.code, 2)
    assert.match(noJwks.stderr, /required option '-j, --jwks <url\|file>' not specified/)
  })

  describe('check-config', () => {
    const valid = join(dir, 'valid')
    mkdirSync(valid)

    it('a valid folder: what each file provisions, and exit 0', async () => {
      copyFileSync(join(ROOT, 'examples/reference-values/psa-rfc9783-example.json'), join(valid, 'a-psa.json'))
      const device = await runAssay(['attest', '--key', join(dir, 'device.jwk'), '--print-reference-values'])
      writeFileSync(join(valid, 'b-device.json'), device.stdout)
      // The RFC 9783 example key is published: refused outside test mode, a warning in it.
      const refused = await runAssay(['check-config', '--reference-values', valid])
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /a-psa\.json: psa\.trustAnchors\.0\.key: the private key of this key is published/)

      const r = await runAssay(['check-config'], { env: { ASSAY_REFERENCE_VALUES_DIR: valid, ASSAY_ALLOW_PUBLISHED_KEYS: 'true' } })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`^reference values: ${valid}$`, 'm'))
      assert.match(r.stdout, /a-psa\.json \(tenant default\)\n {4}PSA key: Instance ID 01020202…02020202, EC P-256 key, speaks for Implementation ID 00000000…00000000\n {4}PSA reference values: Implementation ID 00000000…00000000, 1 software component\(s\) \(PRoT\)/)
      assert.match(r.stdout, /b-device\.json \(tenant default\)\n {4}PSA key: .*\n {4}PSA reference values: .*\(BL, PRoT\)\n {4}EAT key: kid assay-attest-[0-9a-f]{16}, EC P-256 key, speaks for UEID 01[0-9a-f]{6}…[0-9a-f]{8}; class \(32473, /)
      assert.match(r.stdout, /EAT reference values: class \(32473, [0-9a-f…]+\): software assay-attest-firmware 1\.0\.0/)
      assert.match(r.stdout, /warning: .*a-psa\.json: psa\.trustAnchors\.0\.key is a published key/)
      assert.match(r.stdout, /valid: 2 file\(s\), 0 trust anchor\(s\), 3 key\(s\), 3 reference value set\(s\)/)

      const json = await runAssay(['check-config', '--reference-values', valid, '--allow-published-keys', '--json'])
      assert.equal(json.code, 0, json.stderr)
      const report = JSON.parse(json.stdout) as { valid: boolean; checks: { files: { counts: Record<string, number> }[] }[] }
      assert.equal(report.valid, true)
      assert.deepEqual(report.checks[0]!.files.map((f) => f.counts.keys), [1, 2])
    })

    it('an EAT profile and a CoRIM signer are listed and counted', async () => {
      const folder = mkdtempSync(join(dir, 'profile-'))
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      writeFileSync(
        join(folder, 'vendor.json'),
        JSON.stringify({
          eat: {
            profiles: [
              { id: 'tag:vendor.example,2026:sensor', envelopes: ['cwt'], coseAlgorithms: ['ES256'], keySources: ['kid'], freshness: 'nonce' },
            ],
          },
          provisioning: { keys: [{ key: publicKey.export({ format: 'pem', type: 'spki' }).toString() }] },
        }),
      )
      const r = await runAssay(['check-config', '--reference-values', folder])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /EAT profile: tag:vendor\.example,2026:sensor, cwt, key from kid, freshness nonce/)
      assert.match(r.stdout, /CoRIM signer: EC P-256 key \(PEM\)/)
      assert.match(r.stdout, /valid: 1 file\(s\), 0 trust anchor\(s\), 0 key\(s\), 0 reference value set\(s\), 1 EAT profile\(s\), 1 CoRIM signer\(s\)/)
    })

    it('the repository folders are valid (reference-values/ is empty, examples/ needs test mode)', async () => {
      const repo = await runAssay(['check-config', '--reference-values', join(ROOT, 'reference-values')])
      assert.equal(repo.code, 0, repo.stderr)
      const examples = await runAssay(['check-config', '--reference-values', join(ROOT, 'examples/reference-values'), '--allow-published-keys'])
      assert.equal(examples.code, 0, examples.stderr)
    })

    const invalid = async (name: string, content: string, message: RegExp) => {
      const folder = mkdtempSync(join(dir, 'invalid-'))
      writeFileSync(join(folder, name), content)
      const r = await runAssay(['check-config', '--reference-values', folder])
      assert.equal(r.code, 1, r.stdout)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, message)
    }

    it('an invalid file: exit 1 and a message naming the file and the field', async () => {
      await invalid('bad.json', '{ "psa": { "trustAnchors": [{ "instanceId": "zz" }] } }', /bad\.json: psa\.trustAnchors\.0\.instanceId: instanceId must be hex/)
      await invalid('nojson.json', '{ not json', /nojson\.json: not valid JSON/)
      await invalid(
        'unbound.json',
        JSON.stringify({ eat: { keys: [{ kid: 'k', key: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }] } }),
        /unbound\.json: eat\.keys\.0\.speaksFor: speaksFor is required/,
      )
      await invalid('extra.json', JSON.stringify({ psa: {}, colour: 'red' }), /extra\.json: \(document\): Unrecognized key: "colour"/)
    })

    it('a class provisioned twice across files is an error, as at start', async () => {
      const folder = mkdtempSync(join(dir, 'twice-'))
      const doc = { eat: { referenceValues: [{ oemid: 1, hwmodel: 'ab', software: [{ swname: 'fw' }] }] } }
      writeFileSync(join(folder, 'one.json'), JSON.stringify(doc))
      writeFileSync(join(folder, 'two.json'), JSON.stringify(doc))
      const r = await runAssay(['check-config', '--reference-values', folder])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /two\.json: eat\.referenceValues\.0: \(oemid, hwmodel\) is provisioned twice/)
    })

    it('no folder given, or one that does not exist', async () => {
      const none = await runAssay(['check-config'])
      assert.equal(none.code, 1)
      assert.match(none.stderr, /nothing to check: pass --reference-values <dir> or --policies <dir>, or set ASSAY_REFERENCE_VALUES_DIR or ASSAY_POLICIES_DIR/)
      const missing = await runAssay(['check-config', '--reference-values', join(dir, 'nope')])
      assert.equal(missing.code, 1)
      assert.match(missing.stderr, /nope: the reference-values directory cannot be read/)
    })
  })
})
