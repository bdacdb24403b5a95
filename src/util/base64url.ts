/** Unpadded base64url (RFC 4648 §5), as JOSE and EAT JSON use it. */

const BASE64URL = /^[A-Za-z0-9_-]*$/

export function base64urlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** Strict decode: rejects padding, the standard alphabet, whitespace and impossible lengths. */
export function base64urlDecode(text: string): Uint8Array {
  if (!BASE64URL.test(text) || text.length % 4 === 1) throw new TypeError('invalid base64url')
  const buf = Buffer.from(text, 'base64url')
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

/** Why {@link decodeBase64Lenient} refused a text. */
export type Base64Refusal = 'space' | 'alphabet' | 'mixed-alphabets' | 'padding' | 'length' | 'trailing-bits'

/**
 * Decodes base64url or base64 (RFC 4648 §5 or §4), with or without `=` padding, as clients of the
 * Veraison API send nonces. Still one-to-one: the two alphabets may not be mixed, padding must be
 * complete when present, and the unused bits of the last character must be zero. Returns the bytes
 * or why the text was refused (a space is a `+` that was not URL-encoded).
 */
export function decodeBase64Lenient(text: string): Uint8Array | Base64Refusal {
  if (text.includes(' ')) return 'space'
  const body = text.replace(/={1,2}$/, '')
  if (!/^[A-Za-z0-9+/_-]*$/.test(body)) return 'alphabet'
  if (/[+/]/.test(body) && /[-_]/.test(body)) return 'mixed-alphabets'
  if (body.length % 4 === 1) return 'length'
  if (body.length !== text.length && text.length % 4 !== 0) return 'padding'
  const buf = Buffer.from(body.replaceAll('+', '-').replaceAll('/', '_'), 'base64url')
  if (buf.toString('base64url') !== body.replaceAll('+', '-').replaceAll('/', '_')) return 'trailing-bits'
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}
