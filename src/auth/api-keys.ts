/**
 * API keys: bearer secrets Assay makes itself (or a deployer makes in the same format), of the form
 *
 *     assay_<key id>_<secret>
 *
 * - `assay_`: says what the string is, so a key pasted into a log, a ticket or a repository is
 *   recognised (secret scanners match the prefix) and never mistaken for a JWT;
 * - key id: 24 lower-case hex digits (96 random bits), not secret, the record's name in the store and
 *   in listings and audit entries;
 * - secret: 32 random bytes (256 bits) in unpadded base64url, exactly 43 characters.
 *
 * A key is 74 characters; `parseApiKey` accepts exactly that shape and nothing near it (the secret's
 * last character must leave its unused bits zero, so one key has one spelling).
 *
 * Only the SHA-256 of the whole key is stored (`keyHash`). A fast hash is right here, where a slow
 * one (bcrypt, scrypt, Argon2) is right for passwords: a slow hash makes guessing a *low-entropy*
 * secret from its hash expensive, but a 256-bit random secret cannot be guessed at any hash speed
 * (2^256 tries), so a leaked hash gives nothing away either way, while a slow hash would cost tens
 * of milliseconds of CPU on every request and hand any client a cheap way to burn the verifier's CPU.
 * The key id is part of what is hashed, so a stored hash is bound to its record.
 */
import { createHash, randomBytes } from 'node:crypto'
import { constantTimeEqual } from '../crypto/compare.js'

/** The fixed first part of every key. */
export const API_KEY_PREFIX = 'assay_'

/** Length of a key id: 24 hex digits (12 random bytes). */
export const KEY_ID_LENGTH = 24

/** Bytes of a key's secret. */
export const SECRET_BYTES = 32

/** Length of a whole key: prefix, key id, `_`, 43 base64url characters. */
export const API_KEY_LENGTH = API_KEY_PREFIX.length + KEY_ID_LENGTH + 1 + 43

const API_KEY = /^assay_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/
const KEY_ID = /^[0-9a-f]{24}$/
const HASH_HEX = /^[0-9a-f]{64}$/

/** A key in its parts. */
export interface ApiKeyParts {
  readonly keyId: string
  readonly secret: string
}

/** Whether `value` is a key id: 24 lower-case hex digits. */
export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value)
}

/** Whether `value` is the hex SHA-256 of a key, as stored. */
export function isKeyHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_HEX.test(value)
}

/** Whether `token` looks like an API key at all (its prefix): then it is judged as one only. */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX)
}

/**
 * The parts of `text` when it is a well-formed key, else undefined. Bounded before any work: a text
 * of another length is refused on its length alone.
 */
export function parseApiKey(text: unknown): ApiKeyParts | undefined {
  if (typeof text !== 'string' || text.length !== API_KEY_LENGTH) return undefined
  const match = API_KEY.exec(text)
  if (match === null) return undefined
  const secret = match[2]!
  // One spelling per key: 43 characters carry 258 bits, and the last 2 must be zero.
  if (Buffer.from(secret, 'base64url').toString('base64url') !== secret) return undefined
  return { keyId: match[1]!, secret }
}

/** A new key: 96-bit key id and 256-bit secret from the system's CSPRNG. */
export function generateApiKey(): { readonly key: string; readonly keyId: string; readonly hash: string } {
  const keyId = randomBytes(KEY_ID_LENGTH / 2).toString('hex')
  const key = `${API_KEY_PREFIX}${keyId}_${randomBytes(SECRET_BYTES).toString('base64url')}`
  return { key, keyId, hash: keyHash(key) }
}

/** The stored form of a key: hex SHA-256 of the whole key text (key id and secret). */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/**
 * Whether `key` hashes to `storedHash`, compared in constant time (the hash of the presented key is
 * computed, then the two 32-byte digests compared without data-dependent branches).
 */
export function keyMatches(key: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(key, 'utf8').digest()
  const stored = Buffer.from(isKeyHash(storedHash) ? storedHash : '', 'hex')
  // A malformed stored hash still costs one comparison (against zeros), then fails.
  if (stored.length !== presented.length) return constantTimeEqual(presented, Buffer.alloc(presented.length)) && false
  return constantTimeEqual(presented, stored)
}
