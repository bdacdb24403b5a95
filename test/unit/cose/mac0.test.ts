import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { ALG } from '../../../src/cose/algorithms.js'
import { CborTag, encodeCbor, type EncodableValue } from '../../../src/cose/cbor.js'
import { parseMac0, verifyMac0 } from '../../../src/cose/mac0.js'
import type { MessagePolicy } from '../../../src/cose/message.js'
import { macStructure0 } from '../../../src/cose/structure.js'
import { importSecret, type SecretKey } from '../../../src/crypto/keys.js'
import type { ErrorCode } from '../../../src/errors/codes.js'
import { VerifierError } from '../../../src/errors/errors.js'
import { fromHex, utf8 } from '../../../src/util/bytes.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof VerifierError)) return false
    assert.equal(e.code, code, e.message)
    return true
  })
}

const MAC_ALGS = new Set([ALG.HMAC_256_64, ALG.HMAC_256_256, ALG.HMAC_384_384, ALG.HMAC_512_512])
const POLICY: MessagePolicy = { algorithms: MAC_ALGS }
const payload = utf8('{"claims":"maced"}')

const HASH: Readonly<Record<number, { hash: string; tagLength: number }>> = {
  4: { hash: 'sha256', tagLength: 8 },
  5: { hash: 'sha256', tagLength: 32 },
  6: { hash: 'sha384', tagLength: 48 },
  7: { hash: 'sha512', tagLength: 64 },
}

interface Mac0Parts {
  readonly alg: number
  readonly key: Uint8Array
  readonly payload: Uint8Array | null
  /** The content the tag covers when `payload` is null (detached). */
  readonly content?: Uint8Array
  readonly externalAad?: Uint8Array
  /** 17 by default; 'none' for an untagged message. */
  readonly tag?: number | 'none'
  /** Replace the computed tag. */
  readonly macTag?: (computed: Uint8Array) => Uint8Array
}

/** Builds a COSE_Mac0 the way an Attester would: protected `{1: alg}`, HMAC over MAC_structure. */
function macMac0(parts: Mac0Parts): Uint8Array {
  const protectedBytes = encodeCbor(new Map([[1, parts.alg]]))
  const covered = parts.payload ?? parts.content ?? new Uint8Array(0)
  const toBeMaced = macStructure0(protectedBytes, parts.externalAad ?? new Uint8Array(0), covered)
  // An alg the table does not list as a MAC still needs some tag; sha256 stands in.
  const { hash, tagLength } = HASH[parts.alg] ?? { hash: 'sha256', tagLength: 32 }
  const full = createHmac(hash, parts.key).update(toBeMaced).digest()
  let macTag: Uint8Array = new Uint8Array(full.subarray(0, tagLength))
  if (parts.macTag !== undefined) macTag = parts.macTag(macTag)
  const body: EncodableValue = [protectedBytes, new Map(), parts.payload, macTag]
  const tag = parts.tag ?? 17
  return tag === 'none' ? encodeCbor(body) : encodeCbor(new CborTag(tag, body as never))
}

function verify(token: Uint8Array, key: SecretKey, policy: MessagePolicy = POLICY, options = {}) {
  return verifyMac0(parseMac0(token, policy), key, options)
}

const keyBytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

describe('COSE_Mac0: algorithms that verify', () => {
  const cases: [string, number, number][] = [
    ['HMAC 256/64 (4)', ALG.HMAC_256_64, 32],
    ['HMAC 256/256 (5)', ALG.HMAC_256_256, 32],
    ['HMAC 384/384 (6)', ALG.HMAC_384_384, 48],
    ['HMAC 512/512 (7)', ALG.HMAC_512_512, 64],
  ]
  for (const [name, alg, keyLength] of cases) {
    it(`${name} with a ${keyLength}-byte key`, () => {
      const k = keyBytes(keyLength)
      const token = macMac0({ alg, key: k, payload })
      const parsed = parseMac0(token, POLICY)
      assert.equal(parsed.signature.length, HASH[alg]!.tagLength)
      const verified = verifyMac0(parsed, importSecret(k))
      assert.deepEqual(verified.payload, payload)
      assert.equal(verified.algorithm.id, alg)
      assert.equal(verified.algorithm.kind, 'mac')
      assert.equal(verified.cwtTagged, false)
      assert.equal(verified.protectedHeader.get(1), alg)
    })
  }

  it('accepts a key longer than the hash output', () => {
    const k = keyBytes(100)
    assert.doesNotThrow(() => verify(macMac0({ alg: ALG.HMAC_256_256, key: k, payload }), importSecret(k)))
  })

  it('accepts a key bound to the same algorithm by COSE id or JOSE name', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload })
    assert.doesNotThrow(() => verify(token, importSecret(k, { alg: 5 })))
    assert.doesNotThrow(() => verify(token, importSecret(k, { alg: 'HS256' })))
  })

  it('verifies external AAD and fails without it or with other AAD', () => {
    const k = keyBytes(32)
    const aad = fromHex('0102030405060708090a')
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload, externalAad: aad })
    assert.doesNotThrow(() => verify(token, importSecret(k), POLICY, { externalAad: aad }))
    rejects(() => verify(token, importSecret(k)), 'ERR_COSE_MAC_INVALID')
    rejects(() => verify(token, importSecret(k), POLICY, { externalAad: fromHex('0102') }), 'ERR_COSE_MAC_INVALID')
  })

  it('verifies a detached payload supplied by the caller', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload: null, content: payload })
    const verified = verify(token, importSecret(k), POLICY, { detachedPayload: payload })
    assert.deepEqual(verified.payload, payload)
  })

  it('accepts an untagged or CWT-tagged message only where the policy says so', () => {
    const k = keyBytes(32)
    const untagged = macMac0({ alg: ALG.HMAC_256_256, key: k, payload, tag: 'none' })
    rejects(() => parseMac0(untagged, POLICY), 'ERR_COSE_UNTAGGED')
    assert.doesNotThrow(() => verify(untagged, importSecret(k), { ...POLICY, untagged: true }))
    const inner = macMac0({ alg: ALG.HMAC_256_256, key: k, payload })
    const cwt = new Uint8Array([0xd8, 0x3d, ...inner])
    rejects(() => parseMac0(cwt, POLICY), 'ERR_COSE_WRONG_TAG')
    assert.equal(verify(cwt, importSecret(k), { ...POLICY, cwtTag: true }).cwtTagged, true)
  })
})

describe('COSE_Mac0: rejections', () => {
  it('wrong key', () => {
    const token = macMac0({ alg: ALG.HMAC_256_256, key: keyBytes(32), payload })
    rejects(() => verify(token, importSecret(keyBytes(32))), 'ERR_COSE_MAC_INVALID')
    const short = macMac0({ alg: ALG.HMAC_256_64, key: keyBytes(32), payload })
    rejects(() => verify(short, importSecret(keyBytes(32))), 'ERR_COSE_MAC_INVALID')
  })

  it('tampered payload', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload })
    const tampered = new Uint8Array(token)
    const at = token.indexOf(payload[3]!, 6)
    tampered[at] = tampered[at]! ^ 1
    assert.notDeepEqual(tampered, token)
    rejects(() => verify(tampered, importSecret(k)), 'ERR_COSE_MAC_INVALID')
  })

  it('tampered tag', () => {
    const k = keyBytes(48)
    const token = macMac0({ alg: ALG.HMAC_384_384, key: k, payload })
    const tampered = new Uint8Array(token)
    tampered[token.length - 1] = tampered[token.length - 1]! ^ 0x80
    rejects(() => verify(tampered, importSecret(k)), 'ERR_COSE_MAC_INVALID')
  })

  it('tag of the wrong length', () => {
    const k = keyBytes(32)
    const truncated = macMac0({ alg: ALG.HMAC_256_256, key: k, payload, macTag: (t) => t.subarray(0, 31) })
    rejects(() => verify(truncated, importSecret(k)), 'ERR_COSE_SIGNATURE_LENGTH')
    // A full HMAC-SHA256 under alg 4 is not the 8-byte truncation the algorithm names.
    const full = macMac0({ alg: ALG.HMAC_256_64, key: k, payload, macTag: () => new Uint8Array(32) })
    rejects(() => verify(full, importSecret(k)), 'ERR_COSE_SIGNATURE_LENGTH')
    const empty = macMac0({ alg: ALG.HMAC_256_256, key: k, payload, macTag: () => new Uint8Array(0) })
    rejects(() => verify(empty, importSecret(k)), 'ERR_COSE_SIGNATURE_LENGTH')
  })

  it('key shorter than the hash output', () => {
    const cases: [number, number][] = [
      [ALG.HMAC_384_384, 32],
      [ALG.HMAC_256_256, 16],
      [ALG.HMAC_256_64, 16],
      [ALG.HMAC_512_512, 48],
    ]
    for (const [alg, length] of cases) {
      const k = keyBytes(length)
      rejects(() => verify(macMac0({ alg, key: k, payload }), importSecret(k)), 'ERR_KEY_UNSUPPORTED')
    }
  })

  it('key bound to another algorithm', () => {
    const k = keyBytes(48)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload })
    rejects(() => verify(token, importSecret(k, { alg: 6 })), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(token, importSecret(k, { alg: 'HS384' })), 'ERR_COSE_KEY_ALG_MISMATCH')
    const truncated = macMac0({ alg: ALG.HMAC_256_64, key: k, payload })
    rejects(() => verify(truncated, importSecret(k, { alg: 'HS256' })), 'ERR_COSE_KEY_ALG_MISMATCH')
    rejects(() => verify(truncated, importSecret(k, { alg: 5 })), 'ERR_COSE_KEY_ALG_MISMATCH')
  })

  it('algorithm outside the allow-list', () => {
    const k = keyBytes(64)
    const token = macMac0({ alg: ALG.HMAC_512_512, key: k, payload })
    rejects(() => parseMac0(token, { algorithms: new Set([ALG.HMAC_256_256]) }), 'ERR_COSE_ALG_NOT_ALLOWED')
  })

  it('signature algorithm in a COSE_Mac0', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.ES256, key: k, payload })
    const policy = { algorithms: new Set([ALG.ES256, ALG.HMAC_256_256]) }
    rejects(() => parseMac0(token, policy), 'ERR_COSE_ALG_NOT_ALLOWED')
  })

  it('unknown algorithm', () => {
    const token = macMac0({ alg: 999, key: keyBytes(32), payload })
    rejects(() => parseMac0(token, POLICY), 'ERR_COSE_ALG_UNKNOWN')
  })

  it('COSE_Sign1 tag given to parseMac0', () => {
    const token = macMac0({ alg: ALG.HMAC_256_256, key: keyBytes(32), payload, tag: 18 })
    rejects(() => parseMac0(token, POLICY), 'ERR_COSE_WRONG_TAG')
    const coseMac = macMac0({ alg: ALG.HMAC_256_256, key: keyBytes(32), payload, tag: 97 })
    rejects(() => parseMac0(coseMac, POLICY), 'ERR_COSE_WRONG_TAG')
  })

  it('detached payload without content', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload: null, content: payload })
    rejects(() => verify(token, importSecret(k)), 'ERR_COSE_PAYLOAD_DETACHED')
  })

  it('detached payload with other content', () => {
    const k = keyBytes(32)
    const token = macMac0({ alg: ALG.HMAC_256_256, key: k, payload: null, content: payload })
    const options = { detachedPayload: utf8('other') }
    rejects(() => verify(token, importSecret(k), POLICY, options), 'ERR_COSE_MAC_INVALID')
  })
})
