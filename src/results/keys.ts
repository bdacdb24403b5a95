/**
 * The EAR signing key manager. Keys come from one of two places:
 *
 * - `keyFile`: a P-256 private key the operator provides (PEM or JWK). Assay never writes it, so
 *   rotation is the operator's job (replace the file, restart).
 * - `dataDir/ear-keys.json`: keys Assay generates and rotates itself. The first start generates a
 *   P-256 key; `rotate()` makes a new current key and retires the old one. The file is written
 *   atomically (temporary file, fsync, rename) with mode 0600, and refused on load when group or
 *   others may read it.
 *
 * A retired key stays in the JWKS while a result it signed may still be live: until
 * `retiredAt + lifetimeSeconds`. After that it is left out of `jwks()` and dropped from the file at
 * the next save. Every `kid` is the key's RFC 7638 thumbprint, so it is stable across restarts and
 * the same in JWT and CWT results.
 *
 * File format (version 1):
 * `{ "version": 1, "keys": [{ "kid", "createdAt", "retiredAt"?, "jwk": { kty, crv, x, y, d } }] }`,
 * exactly one key without `retiredAt` (the current one).
 */
import { randomBytes, type JsonWebKey } from 'node:crypto'
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import {
  exportPrivateJwk,
  generateEs256Key,
  importEs256PrivateKey,
  type Es256SigningKey,
  type P256PublicJwk,
} from '../crypto/sign.js'
import { EAR_KEY_RELOAD_SECONDS } from '../config/schema.js'
import { VerifierError, isVerifierError } from '../errors/errors.js'
import type { Clock } from '../util/clock.js'
import { createEarSigner, type EarSigner } from './sign.js'

/** Name of the key store inside `dataDir`. */
export const EAR_KEYS_FILE = 'ear-keys.json'

export interface SigningKeyOptions {
  /** A P-256 private key file (PEM or JWK) provided by the operator. Wins over `dataDir`. */
  readonly keyFile?: string
  /** Directory where Assay keeps the keys it generates (`ear-keys.json`). */
  readonly dataDir?: string
  /** How long a signed result stays usable; retired keys are published this long after retirement. */
  readonly lifetimeSeconds: number
  readonly clock: Clock
  /**
   * How long a rotated-in key is published in the JWKS before it signs anything, so every process
   * (and every relying party's cached JWKS) knows it first. Its `createdAt` is its activation time.
   * @defaultValue 0
   */
  readonly publishAheadSeconds?: number
  /**
   * How often processes re-read the key store. A process that has not yet seen a rotation still
   * signs with the previous key for up to this long after the new one activates, so a retired key
   * stays published this much longer than `lifetimeSeconds`.
   * @defaultValue EAR_KEY_RELOAD_SECONDS (5), the interval `main/` re-reads the store at
   */
  readonly reloadIntervalSeconds?: number
}

/** A public EAR verification key as published in the JWKS (a type alias: assignable to `JsonWebKey`). */
export type EarPublicJwk = P256PublicJwk & {
  readonly kid: string
  readonly alg: 'ES256'
  readonly use: 'sig'
}

export interface EarKeyManager {
  /** Where the keys come from. */
  readonly source: 'key-file' | 'data-dir'
  /** The signer for new results. */
  readonly current: EarSigner
  /**
   * Makes a new current key, retires the previous one (kept in the JWKS for `lifetimeSeconds`),
   * drops expired retired keys and persists the result before using it. Only for `dataDir` keys;
   * throws `TypeError` with a `keyFile`.
   */
  rotate(): Promise<EarSigner>
  /** Every public key that may still verify a live result, or will soon sign: newest first. */
  jwks(): { readonly keys: readonly EarPublicJwk[] }
  /**
   * Re-reads the key store when another process changed it (a rotation by `assay rotate-key`);
   * cheap when nothing changed (one `stat`). No-op for a `keyFile`.
   */
  reload(): Promise<void>
}

interface KeyEntry {
  readonly signer: EarSigner
  readonly createdAt: number
  readonly retiredAt?: number
}

function keyError(message: string, cause?: unknown): VerifierError {
  return new VerifierError('ERR_EAR_SIGNING_KEY_INVALID', message, cause === undefined ? {} : { cause })
}

function checkOptions(options: SigningKeyOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options are required')
  if (!Number.isSafeInteger(options.lifetimeSeconds) || options.lifetimeSeconds <= 0) {
    throw new TypeError('lifetimeSeconds must be a positive integer')
  }
  if (typeof options.clock?.nowSeconds !== 'function') throw new TypeError('clock is required')
  if (options.keyFile === undefined && options.dataDir === undefined) {
    throw new TypeError('keyFile or dataDir is required')
  }
}

/**
 * Loads the EAR signing keys: from `keyFile` when set, else from `dataDir/ear-keys.json`, generating and
 * persisting a first key when the file does not exist. Throws `VerifierError`
 * (`ERR_EAR_SIGNING_KEY_INVALID`, a fault: Assay cannot sign) when a key or the store is unreadable,
 * not P-256, or too widely readable; `TypeError` on bad options.
 */
export async function loadSigningKeys(options: SigningKeyOptions): Promise<EarKeyManager> {
  checkOptions(options)
  if (options.keyFile !== undefined) {
    const key = await readKeyFile(options.keyFile)
    const entry = { signer: createEarSigner(key), createdAt: options.clock.nowSeconds() }
    return new KeyRing('key-file', [entry], options)
  }
  const file = path.join(options.dataDir!, EAR_KEYS_FILE)
  await mkdir(options.dataDir!, { recursive: true, mode: 0o700 })
  let entries = await readStore(file)
  if (entries === undefined) {
    const first = [{ signer: createEarSigner(generateEs256Key()), createdAt: options.clock.nowSeconds() }]
    // Two processes starting on an empty dataDir must not end up with two different keys: the first
    // to link its file wins and the other one reads that file.
    entries = (await writeStore(file, first, 'create')) ? first : await readStore(file)
    if (entries === undefined) throw keyError(`${file} vanished while being created`)
  }
  return new KeyRing('data-dir', entries, options, file)
}

class KeyRing implements EarKeyManager {
  private entries: readonly KeyEntry[]
  /** The last rotation; the next one starts after it, so two calls never race on the file. */
  private rotation: Promise<unknown> = Promise.resolve()

  constructor(
    readonly source: 'key-file' | 'data-dir',
    entries: readonly KeyEntry[],
    private readonly options: SigningKeyOptions,
    private readonly file?: string,
  ) {
    this.entries = entries
  }

  /** The newest key whose activation time (`createdAt`) has come. */
  get current(): EarSigner {
    const now = this.options.clock.nowSeconds()
    let best: KeyEntry | undefined
    for (const e of this.entries) if (e.createdAt <= now && (best === undefined || e.createdAt > best.createdAt)) best = e
    return (best ?? this.entries.find((e) => e.retiredAt === undefined)!).signer
  }

  private loadedMtimeMs: number | undefined

  async reload(): Promise<void> {
    if (this.file === undefined) return
    const mtimeMs = (await stat(this.file)).mtimeMs
    if (mtimeMs === this.loadedMtimeMs) return
    const entries = await readStore(this.file)
    if (entries !== undefined) this.entries = entries
    this.loadedMtimeMs = mtimeMs
  }

  rotate(): Promise<EarSigner> {
    const file = this.file
    if (file === undefined) {
      const message = 'keys from keyFile are rotated by the operator: replace the file and restart'
      return Promise.reject(new TypeError(message))
    }
    const next = this.rotation.then(
      () => this.rotateNow(file),
      () => this.rotateNow(file),
    )
    this.rotation = next
    return next
  }

  private async rotateNow(file: string): Promise<EarSigner> {
    const now = this.options.clock.nowSeconds()
    const activatesAt = now + (this.options.publishAheadSeconds ?? 0)
    const next: KeyEntry = { signer: createEarSigner(generateEs256Key()), createdAt: activatesAt }
    const kept = this.entries
      .map((e) => (e.retiredAt === undefined ? { ...e, retiredAt: activatesAt } : e))
      .filter((e) => this.live(e, now))
    const entries = [next, ...kept]
    await writeStore(file, entries, 'replace')
    this.entries = entries
    return next.signer
  }

  jwks(): { readonly keys: readonly EarPublicJwk[] } {
    const now = this.options.clock.nowSeconds()
    const live = this.entries.filter((e) => this.live(e, now))
    const retired = (e: KeyEntry) => e.retiredAt ?? Number.POSITIVE_INFINITY
    live.sort((a, b) => retired(b) - retired(a))
    return { keys: live.map((e) => publicJwk(e.signer)) }
  }

  private live(entry: KeyEntry, now: number): boolean {
    const grace = this.options.reloadIntervalSeconds ?? EAR_KEY_RELOAD_SECONDS
    return entry.retiredAt === undefined || entry.retiredAt + this.options.lifetimeSeconds + grace > now
  }
}

function publicJwk(signer: EarSigner): EarPublicJwk {
  const { kty, crv, x, y } = signer.key.publicJwk
  return Object.freeze({ kty, crv, x, y, kid: signer.kid, alg: 'ES256', use: 'sig' })
}

async function readKeyFile(file: string): Promise<Es256SigningKey> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    throw keyError(`cannot read the EAR signing key file ${file}`, cause)
  }
  try {
    if (text.trimStart().startsWith('{')) {
      let jwk: unknown
      try {
        jwk = JSON.parse(text)
      } catch (cause) {
        throw keyError(`${file} is neither PEM nor a JSON JWK`, cause)
      }
      if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
        throw keyError(`${file} is not a JWK object`)
      }
      return importEs256PrivateKey(jwk as JsonWebKey)
    }
    return importEs256PrivateKey(text)
  } catch (cause) {
    if (isVerifierError(cause, 'ERR_EAR_SIGNING_KEY_INVALID')) throw cause
    const why = isVerifierError(cause) ? cause.message : 'cannot be imported'
    const rule = 'the EAR signing key must be an unencrypted P-256 private key (PEM or JWK)'
    throw keyError(`${file}: ${why}; ${rule}`, cause)
  }
}

/** Reads the key store; undefined when it does not exist. */
async function readStore(file: string): Promise<KeyEntry[] | undefined> {
  let text: string
  try {
    if (process.platform !== 'win32') {
      const { mode } = await stat(file)
      if ((mode & 0o077) !== 0) {
        const octal = (mode & 0o777).toString(8)
        throw keyError(`${file} has mode 0${octal}; private keys need 0600 (chmod 600 ${file})`)
      }
    }
    text = await readFile(file, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (isVerifierError(cause)) throw cause
    throw keyError(`cannot read ${file}`, cause)
  }
  try {
    return parseStore(JSON.parse(text))
  } catch (cause) {
    if (isVerifierError(cause, 'ERR_EAR_SIGNING_KEY_INVALID')) throw keyError(`${file}: ${cause.message}`, cause)
    throw keyError(`${file} is not a valid EAR key store`, cause)
  }
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function parseStore(doc: unknown): KeyEntry[] {
  const d = doc as { version?: unknown; keys?: unknown }
  if (typeof doc !== 'object' || doc === null || d.version !== 1 || !Array.isArray(d.keys)) {
    throw keyError('expected { "version": 1, "keys": [...] }')
  }
  const entries = d.keys.map((raw: unknown, i: number): KeyEntry => {
    const r = raw as { kid?: unknown; createdAt?: unknown; retiredAt?: unknown; jwk?: unknown }
    const times = isTime(r.createdAt) && (r.retiredAt === undefined || isTime(r.retiredAt))
    if (typeof raw !== 'object' || raw === null || !times) {
      throw keyError(`key ${i} needs createdAt and an optional retiredAt (NumericDate)`)
    }
    if (typeof r.jwk !== 'object' || r.jwk === null) throw keyError(`key ${i} has no jwk`)
    let key: Es256SigningKey
    try {
      key = importEs256PrivateKey(r.jwk as JsonWebKey)
    } catch (cause) {
      throw keyError(`key ${i}: ${isVerifierError(cause) ? cause.message : 'cannot be imported'}`, cause)
    }
    if (r.kid !== key.thumbprint) throw keyError(`key ${i}: kid ${String(r.kid)} is not the key's RFC 7638 thumbprint`)
    const retiredAt = r.retiredAt === undefined ? {} : { retiredAt: r.retiredAt as number }
    return { signer: createEarSigner(key), createdAt: r.createdAt as number, ...retiredAt }
  })
  if (entries.filter((e) => e.retiredAt === undefined).length !== 1) {
    throw keyError('exactly one key must be current (without retiredAt)')
  }
  return entries
}

function serializeStore(entries: readonly KeyEntry[]): string {
  const keys = entries.map((e) => ({
    kid: e.signer.kid,
    createdAt: e.createdAt,
    ...(e.retiredAt === undefined ? {} : { retiredAt: e.retiredAt }),
    jwk: exportPrivateJwk(e.signer.key),
  }))
  return `${JSON.stringify({ version: 1, keys }, null, 2)}\n`
}

/**
 * Writes the store atomically with mode 0600: a temporary file in the same directory, fsynced, then
 * renamed over the store (`replace`) or linked to it only if it does not exist yet (`create`, which
 * returns false when another process created it first).
 */
async function writeStore(
  file: string,
  entries: readonly KeyEntry[],
  how: 'create' | 'replace',
): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const handle = await open(tmp, 'wx', 0o600)
    try {
      // The umask may have narrowed the mode further, never widened it; chmod states it exactly.
      await handle.chmod(0o600)
      await handle.writeFile(serializeStore(entries), 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (how === 'replace') {
      await rename(tmp, file)
    } else {
      try {
        await link(tmp, file)
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw cause
      }
    }
    await syncDirectory(path.dirname(file))
    return true
  } catch (cause) {
    throw keyError(`cannot write ${file}`, cause)
  } finally {
    await rm(tmp, { force: true })
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Not every platform can fsync a directory; the rename itself is still atomic there.
  }
}
