/**
 * The to-be-signed and to-be-MACed structures (RFC 9052 §4.4 and §6.3), encoded by hand: a fixed
 * 4-array with definite, shortest-form lengths, around the protected bytes exactly as received.
 */
import { utf8 } from '../util/bytes.js'
import { encodeHead } from './cbor.js'

const SIGNATURE1 = concatHead(utf8('Signature1'))
const MAC0 = concatHead(utf8('MAC0'))

function concatHead(text: Uint8Array): Uint8Array {
  const head = encodeHead(3, text.length)
  const out = new Uint8Array(head.length + text.length)
  out.set(head)
  out.set(text, head.length)
  return out
}

function build(context: Uint8Array, bodyProtected: Uint8Array, externalAad: Uint8Array, payload: Uint8Array) {
  const h1 = encodeHead(2, bodyProtected.length)
  const h2 = encodeHead(2, externalAad.length)
  const h3 = encodeHead(2, payload.length)
  const out = new Uint8Array(
    1 + context.length + h1.length + bodyProtected.length + h2.length + externalAad.length + h3.length + payload.length,
  )
  let o = 0
  out[o++] = 0x84
  for (const part of [context, h1, bodyProtected, h2, externalAad, h3, payload]) {
    out.set(part, o)
    o += part.length
  }
  return out
}

/** `Sig_structure` for COSE_Sign1: `["Signature1", body_protected, external_aad, payload]`. */
export function sigStructure1(bodyProtected: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return build(SIGNATURE1, bodyProtected, externalAad, payload)
}

/** `MAC_structure` for COSE_Mac0: `["MAC0", protected, external_aad, payload]`. */
export function macStructure0(bodyProtected: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return build(MAC0, bodyProtected, externalAad, payload)
}
