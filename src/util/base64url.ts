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
