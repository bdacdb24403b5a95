/**
 * `eat_nonce` forms (RFC 9711 §4.1; specs.md §3.2 and Corrections 8). In CBOR a nonce is a byte
 * string of 8..64 bytes; in JSON it is text of 8..88 bytes whose alphabet is not fixed. Nonces this
 * verifier issues are bytes of that CBOR size, handed out as base64url (Veraison sessions: base64).
 */
import { base64urlDecode } from '../../util/base64url.js'

/** Smallest and largest nonce in bytes (RFC 9711 §4.1, CBOR `bstr .size (8..64)`). */
export const NONCE_MIN_BYTES = 8
export const NONCE_MAX_BYTES = 64

const BASE64URL = /^[A-Za-z0-9_-]+$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Whether `bytes` has a size a CBOR nonce, and so a nonce this verifier issued, can have. */
export function isNonceSize(bytes: Uint8Array): boolean {
  return bytes.length >= NONCE_MIN_BYTES && bytes.length <= NONCE_MAX_BYTES
}

/**
 * The bytes a JSON `eat_nonce` (the UTF-8 bytes of its text) stands for. Text in the base64url or
 * base64 alphabet that decodes to a nonce of 8..64 bytes is read back as those bytes, so a nonce
 * this verifier issued matches however it was encoded; any other text (shorter or longer once
 * decoded, or in another alphabet) stands for its own UTF-8 bytes. Never throws: every text of the
 * allowed 8..88 bytes, and any other, yields a value.
 */
export function nonceFromJson(textBytes: Uint8Array): Uint8Array {
  const text = Buffer.from(textBytes).toString('utf8')
  let decoded: Uint8Array | undefined
  if (BASE64URL.test(text) && text.length % 4 !== 1) decoded = base64urlDecode(text)
  else if (BASE64.test(text) && text.length % 4 === 0) decoded = new Uint8Array(Buffer.from(text, 'base64'))
  return decoded !== undefined && isNonceSize(decoded) ? decoded : textBytes
}
