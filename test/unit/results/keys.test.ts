import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { EAR_KEY_RELOAD_SECONDS } from '../../../src/config/schema.js'
import { jwkThumbprint } from '../../../src/crypto/sign.js'
import { VerifierError } from '../../../src/errors/errors.js'
import type { AppraisalOutcome } from '../../../src/results/ear.js'
import { EAR_KEYS_FILE, loadSigningKeys } from '../../../src/results/keys.js'
import { signEarCwt, signEarJwt } from '../../../src/results/sign.js'
import { verifyEarCwt, verifyEarJwt } from '../../../src/results/verify.js'
import { fixedClock, type Clock } from '../../../src/util/clock.js'

const T0 = 1_767_225_600
const LIFETIME = 3600

/** A clock the test moves by hand. */
function manualClock(start: number): Clock & { set(t: number): void } {
  let now = start
  return { nowSeconds: () => now, set: (t) => void (now = t) }
}

const root = mkdtempSync(path.join(tmpdir(), 'assay-ear-keys-'))
let dirs = 0
const freshDir = () => path.join(root, `d${++dirs}`)
after(() => rmSync(root, { recursive: true, force: true }))

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, 'ERR_EAR_SIGNING_KEY_INVALID', e.message)
    assert.match(e.message, pattern)
    return true
  })
}

const outcome = (iat: number): AppraisalOutcome => ({
  iat,
  exp: iat + LIFETIME,
  verifier: { developer: 'https://assay.example', build: 'test' },
  policyIds: [],
  submods: { PSA: { vector: { hardware: 2 }, reasons: [] } },
})

describe('loadSigningKeys with dataDir', () => {
  it('generates a key on first start, persists it with mode 0600 and reloads the same kid', async () => {
    const dataDir = freshDir()
    const first = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) })
    assert.equal(first.source, 'data-dir')
    const file = path.join(dataDir, EAR_KEYS_FILE)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(dataDir), [EAR_KEYS_FILE])
    const stored = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(stored.version, 1)
    assert.equal(stored.keys.length, 1)
    assert.equal(stored.keys[0].kid, first.current.kid)
    assert.equal(stored.keys[0].createdAt, T0)
    assert.equal(typeof stored.keys[0].jwk.d, 'string')

    const again = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0 + 99) })
    assert.equal(again.current.kid, first.current.kid)
    const { token } = signEarJwt(outcome(T0), first.current)
    assert.equal(verifyEarJwt(token, again.jwks(), { clock: fixedClock(T0) }).kid, first.current.kid)
  })

  it('publishes public keys only, with kid = RFC 7638 thumbprint, alg and use', async () => {
    const keys = await loadSigningKeys({ dataDir: freshDir(), lifetimeSeconds: LIFETIME, clock: fixedClock(T0) })
    const { keys: published } = keys.jwks()
    assert.equal(published.length, 1)
    const jwk = published[0]!
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
    assert.equal(jwk.kid, jwkThumbprint(jwk))
    assert.equal(jwk.alg, 'ES256')
    assert.equal(jwk.use, 'sig')
    assert.ok(!JSON.stringify(keys.jwks()).includes('"d"'))
  })

  it('keeps a retired key in the JWKS until its results can no longer be live', async () => {
    const dataDir = freshDir()
    const clock = manualClock(T0)
    const keys = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock })
    const old = keys.current
    const oldJwt = signEarJwt(outcome(T0), old).token
    const oldCwt = signEarCwt(outcome(T0), old).token

    clock.set(T0 + 100)
    const next = await keys.rotate()
    assert.notEqual(next.kid, old.kid)
    assert.equal(keys.current, next)
    assert.deepEqual(keys.jwks().keys.map((k) => k.kid), [next.kid, old.kid])
    const verifyAt = fixedClock(T0 + 100)
    assert.equal(verifyEarJwt(oldJwt, keys.jwks(), { clock: verifyAt }).kid, old.kid)
    assert.equal(verifyEarCwt(oldCwt, keys.jwks(), { clock: verifyAt }).kid, old.kid)
    const newJwt = signEarJwt(outcome(T0 + 100), next).token
    assert.equal(verifyEarJwt(newJwt, keys.jwks(), { clock: verifyAt }).kid, next.kid)

    const reloaded = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock })
    assert.equal(reloaded.current.kid, next.kid)
    assert.deepEqual(reloaded.jwks().keys.map((k) => k.kid), [next.kid, old.kid])

    // A process that had not yet re-read the store may have signed with the old key for up to
    // EAR_KEY_RELOAD_SECONDS after the rotation: the old key stays that much longer.
    clock.set(T0 + 100 + LIFETIME + EAR_KEY_RELOAD_SECONDS - 1)
    assert.equal(keys.jwks().keys.length, 2)
    clock.set(T0 + 100 + LIFETIME + EAR_KEY_RELOAD_SECONDS)
    assert.deepEqual(keys.jwks().keys.map((k) => k.kid), [next.kid])
    assert.throws(
      () => verifyEarJwt(oldJwt, keys.jwks(), { clock: verifyAt }),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_EAR_KEY_UNKNOWN',
    )

    const file = path.join(dataDir, EAR_KEYS_FILE)
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).keys.length, 2, 'expired keys leave the file only on a save')
    const third = await keys.rotate()
    const kids = JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { kid: string }) => k.kid)
    assert.deepEqual(kids, [third.kid, next.kid])
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(dataDir), [EAR_KEYS_FILE], 'no temporary file is left behind')
  })

  it('runs overlapping rotations one after the other', async () => {
    const dataDir = freshDir()
    const keys = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) })
    const first = keys.current.kid
    const [a, b] = await Promise.all([keys.rotate(), keys.rotate()])
    assert.equal(keys.current.kid, b.kid)
    assert.deepEqual(keys.jwks().keys.map((k) => k.kid), [b.kid, a.kid, first])
    const stored = JSON.parse(readFileSync(path.join(dataDir, EAR_KEYS_FILE), 'utf8')) as { keys: { kid: string }[] }
    assert.deepEqual(stored.keys.map((k) => k.kid), [b.kid, a.kid, first])
  })

  it('lets two processes starting together agree on one key', async () => {
    const dataDir = freshDir()
    const options = { dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) }
    const managers = await Promise.all([1, 2, 3].map(() => loadSigningKeys(options)))
    assert.equal(new Set(managers.map((m) => m.current.kid)).size, 1)
    assert.deepEqual(readdirSync(dataDir), [EAR_KEYS_FILE])
  })

  it('refuses a key store that group or others may read', async () => {
    const dataDir = freshDir()
    await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) })
    chmodSync(path.join(dataDir, EAR_KEYS_FILE), 0o644)
    await rejectsWith(loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) }), /0644.*0600/)
  })

  it('refuses a corrupt or inconsistent key store', async () => {
    interface Store {
      readonly version: number
      readonly keys: ReadonlyArray<{ readonly kid: string; readonly jwk: Record<string, unknown> }>
    }
    const write = (doc: string | ((stored: Store) => unknown)) => {
      const dataDir = freshDir()
      const options = { dataDir, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) }
      return loadSigningKeys(options).then(() => {
        const file = path.join(dataDir, EAR_KEYS_FILE)
        const stored = JSON.parse(readFileSync(file, 'utf8')) as Store
        writeFileSync(file, typeof doc === 'function' ? JSON.stringify(doc(stored)) : doc, { mode: 0o600 })
        return loadSigningKeys(options)
      })
    }
    await rejectsWith(write('not json'), /not a valid EAR key store/)
    const first = (s: Store) => s.keys[0]!
    await rejectsWith(write((s) => ({ ...s, version: 2 })), /version/)
    await rejectsWith(write((s) => ({ ...s, keys: [{ ...first(s), kid: 'other' }] })), /thumbprint/)
    await rejectsWith(write((s) => ({ ...s, keys: [{ ...first(s), retiredAt: T0 }] })), /exactly one key must be/)
    const noD = (s: Store) => ({ ...first(s), jwk: { ...first(s).jwk, d: undefined } })
    await rejectsWith(write((s) => ({ ...s, keys: [noD(s)] })), /key 0/)
  })
})

describe('loadSigningKeys with keyFile', () => {
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const thumbprint = jwkThumbprint(p256.publicKey.export({ format: 'jwk' }) as never)
  const pem = (pair: { privateKey: KeyObject }) => pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  let files = 0
  const keyFile = (name: string, content: string) => {
    const file = path.join(root, `key-${++files}-${name}`)
    writeFileSync(file, content, { mode: 0o600 })
    return file
  }
  const options = (file: string) => ({ keyFile: file, lifetimeSeconds: LIFETIME, clock: fixedClock(T0) })

  it('loads a PKCS #8 PEM, a SEC 1 PEM and a private JWK', async () => {
    for (const content of [
      pem(p256),
      p256.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
      JSON.stringify(p256.privateKey.export({ format: 'jwk' })),
    ]) {
      const keys = await loadSigningKeys(options(keyFile('key', content)))
      assert.equal(keys.source, 'key-file')
      assert.equal(keys.current.kid, thumbprint)
      assert.deepEqual(keys.jwks().keys.map((k) => k.kid), [thumbprint])
      const { token } = signEarJwt(outcome(T0), keys.current)
      assert.equal(verifyEarJwt(token, keys.jwks(), { clock: fixedClock(T0) }).kid, thumbprint)
    }
  })

  it('wins over dataDir and cannot be rotated by Assay', async () => {
    const keys = await loadSigningKeys({ ...options(keyFile('key.pem', pem(p256))), dataDir: freshDir() })
    assert.equal(keys.source, 'key-file')
    await assert.rejects(keys.rotate(), TypeError)
  })

  it('refuses keys that are not P-256 private keys, with a clear error', async () => {
    const load = (name: string, content: string) => loadSigningKeys(options(keyFile(name, content)))
    await rejectsWith(load('p384.pem', pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }))), /secp384r1.*P-256/)
    await rejectsWith(load('ed.pem', pem(generateKeyPairSync('ed25519'))), /ed25519 key.*P-256/)
    await rejectsWith(load('rsa.pem', pem(generateKeyPairSync('rsa', { modulusLength: 2048 }))), /rsa key.*P-256/)
    const p384Jwk = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' })
    await rejectsWith(loadSigningKeys(options(keyFile('p384.jwk', JSON.stringify(p384Jwk)))), /P-256/)
    const publicPem = p256.publicKey.export({ type: 'spki', format: 'pem' }) as string
    await rejectsWith(loadSigningKeys(options(keyFile('pub.pem', publicPem))), /P-256 private key/)
    const publicJwk = p256.publicKey.export({ format: 'jwk' })
    await rejectsWith(loadSigningKeys(options(keyFile('pub.jwk', JSON.stringify(publicJwk)))), /P-256 private key/)
    await rejectsWith(loadSigningKeys(options(keyFile('junk', '{ not json'))), /neither PEM nor a JSON JWK/)
    await rejectsWith(loadSigningKeys(options(path.join(root, 'missing.pem'))), /cannot read/)
  })
})

describe('loadSigningKeys options', () => {
  it('refuses missing sources, lifetimes and clocks with TypeError', async () => {
    const clock = fixedClock(T0)
    await assert.rejects(loadSigningKeys({ lifetimeSeconds: LIFETIME, clock }), TypeError)
    await assert.rejects(loadSigningKeys({ dataDir: freshDir(), lifetimeSeconds: 0, clock }), TypeError)
    await assert.rejects(loadSigningKeys({ dataDir: freshDir(), lifetimeSeconds: 1.5, clock }), TypeError)
    await assert.rejects(loadSigningKeys({ dataDir: freshDir(), lifetimeSeconds: LIFETIME } as never), TypeError)
  })

  it('publishes a rotated-in key ahead of using it, and other processes pick it up on reload', async () => {
    const dataDir = freshDir()
    const clock = manualClock(T0)
    const keys = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock, publishAheadSeconds: 60 })
    const other = await loadSigningKeys({ dataDir, lifetimeSeconds: LIFETIME, clock })
    const old = keys.current
    const next = await keys.rotate()
    assert.equal(keys.current.kid, old.kid, 'the new key does not sign before its time')
    assert.deepEqual(keys.jwks().keys.map((k) => k.kid).sort(), [next.kid, old.kid].sort())

    assert.deepEqual(other.jwks().keys.map((k) => k.kid), [old.kid])
    await other.reload()
    assert.deepEqual(other.jwks().keys.map((k) => k.kid).sort(), [next.kid, old.kid].sort())
    assert.equal(other.current.kid, old.kid)

    clock.set(T0 + 60)
    assert.equal(keys.current.kid, next.kid)
    assert.equal(other.current.kid, next.kid)
    clock.set(T0 + 60 + LIFETIME + EAR_KEY_RELOAD_SECONDS)
    assert.deepEqual(keys.jwks().keys.map((k) => k.kid), [next.kid], 'the old key leaves once its results expired')
  })
})
