/**
 * The test attester's device key: generated once, kept in a file (a private JWK with its `alg`,
 * mode 0600 in a folder of mode 0700), and the device identities derived from it. The device's
 * 32-byte identifier is the SHA-256 of the key's SubjectPublicKeyInfo; its UEID (RFC 9711 §4.2.1,
 * type RAND) and PSA Instance ID (RFC 9783 §4.2.1) are 0x01 followed by that identifier.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { EvidenceSigningAlg } from '../crypto/sign.js'
import { toHex } from '../util/bytes.js'

export type DeviceAlg = EvidenceSigningAlg
export const DEVICE_ALGS: readonly DeviceAlg[] = ['ES256', 'ES384', 'EdDSA']

/** The curve behind each algorithm. */
export const DEVICE_CURVE: Readonly<Record<DeviceAlg, 'P-256' | 'P-384' | 'Ed25519'>> = {
  ES256: 'P-256',
  ES384: 'P-384',
  EdDSA: 'Ed25519',
}

export interface DeviceKey {
  readonly alg: DeviceAlg
  readonly privateKey: KeyObject
  /** The public JWK (`kty`, `crv`, `x`, and `y` for EC), as reference values provision it. */
  readonly publicJwk: JsonWebKey
  /** SHA-256 of the SubjectPublicKeyInfo: the device's 32-byte identifier. */
  readonly deviceId: Uint8Array
  /** UEID of type RAND (0x01 ‖ deviceId); also the PSA Instance ID. */
  readonly ueid: Uint8Array
  /** Key id the EAT envelopes carry and the reference values provision the key under. */
  readonly kid: string
}

/**
 * Where the key for `alg` is kept unless `--key` says otherwise:
 * `$XDG_CONFIG_HOME/assay/attester/<alg>.jwk`, or `~/.config/assay/attester/<alg>.jwk`.
 */
export function defaultKeyFile(alg: DeviceAlg, env: Readonly<Record<string, string | undefined>>): string {
  const base = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(homedir(), '.config')
  return join(base, 'assay', 'attester', `${alg.toLowerCase()}.jwk`)
}

function describe(alg: DeviceAlg, privateKey: KeyObject): DeviceKey {
  const publicKey = createPublicKey(privateKey)
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const deviceId = new Uint8Array(createHash('sha256').update(spki).digest())
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
  const publicJwk: JsonWebKey = y === undefined ? { kty, crv, x } : { kty, crv, x, y }
  const ueid = new Uint8Array(33)
  ueid[0] = 0x01
  ueid.set(deviceId, 1)
  return { alg, privateKey, publicJwk, deviceId, ueid, kid: `assay-attest-${toHex(deviceId).slice(0, 16)}` }
}

/** A fresh key for `alg`. */
export function generateDeviceKey(alg: DeviceAlg): DeviceKey {
  const pair = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: DEVICE_CURVE[alg] })
  return describe(alg, pair.privateKey)
}

/** The algorithm a private JWK is for, from its curve. */
function algOfJwk(jwk: JsonWebKey): DeviceAlg | undefined {
  for (const alg of DEVICE_ALGS) if (DEVICE_CURVE[alg] === jwk.crv) return alg
  return undefined
}

/** Reads a key file written by `saveDeviceKey` (or any private P-256, P-384 or Ed25519 JWK). */
export function readDeviceKey(file: string): DeviceKey {
  let jwk: JsonWebKey
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey
  } catch (err) {
    throw new Error(`${file}: not a readable JSON key file (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
  const alg = typeof jwk === 'object' && jwk !== null ? algOfJwk(jwk) : undefined
  if (alg === undefined || typeof jwk.d !== 'string') {
    throw new Error(`${file}: not a private P-256, P-384 or Ed25519 JWK`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' })
  } catch (err) {
    throw new Error(`${file}: the private key cannot be imported`, { cause: err })
  }
  return describe(alg, privateKey)
}

/** Writes the private JWK to `file` (mode 0600; its folder is made with mode 0700); never overwrites. */
export function saveDeviceKey(file: string, key: DeviceKey): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const jwk = { ...key.privateKey.export({ format: 'jwk' }), alg: key.alg, kid: key.kid }
  writeFileSync(file, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  // The mode given to open() is masked by the umask; make sure it is exactly 0600.
  chmodSync(file, 0o600)
}

/** Whether group or others may read `file` (a key file should be the owner's alone). */
export function isReadableByOthers(file: string): boolean {
  return (statSync(file).mode & 0o077) !== 0
}

export interface LoadedDeviceKey {
  readonly key: DeviceKey
  readonly file: string
  /** The key was generated now (no file existed). */
  readonly created: boolean
}

/**
 * The key in `file`, or a new key for `alg` saved there when the file does not exist. A key of
 * another algorithm than the one asked for is an error (ask for its algorithm, or another file).
 */
export function loadOrCreateDeviceKey(file: string, alg: DeviceAlg | undefined): LoadedDeviceKey {
  let exists = true
  try {
    statSync(file)
  } catch {
    exists = false
  }
  if (exists) {
    const key = readDeviceKey(file)
    if (alg !== undefined && key.alg !== alg) {
      throw new Error(`${file} holds an ${key.alg} key, not ${alg}: drop --alg, or choose another --key file`)
    }
    return { key, file, created: false }
  }
  const key = generateDeviceKey(alg ?? 'ES256')
  saveDeviceKey(file, key)
  return { key, file, created: true }
}
