import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { CborTag, encodeCbor, type EncodableValue } from '../../../../src/cose/cbor.js'
import type { ErrorCode } from '../../../../src/errors/codes.js'
import { VerifierError } from '../../../../src/errors/errors.js'
import { bindDetachedClaims, bindDetachedJsonClaims, parseCborBundle, parseJsonBundle } from '../../../../src/evidence/eat/bundle.js'
import { decodeEatClaims } from '../../../../src/evidence/eat/claims.js'

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof VerifierError && e.code === code)
}

const detachedCbor = encodeCbor(new Map<number, EncodableValue>([[270, 'tee-os'], [263, 2]]))
const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest())
const mainClaims = (digest: Uint8Array, alg: number | string = -16) =>
  decodeEatClaims(new Map<number, EncodableValue>([[266, new Map<string, EncodableValue>([['TEE', [alg, digest]]])]]) as never)
const mainToken = encodeCbor(new CborTag(61, new CborTag(18, [new Uint8Array(0), new Map(), new Uint8Array(0), new Uint8Array(0)])))
const bundle = (detached: Map<string, EncodableValue>, main: EncodableValue = mainToken) =>
  encodeCbor(new CborTag(602, [main, detached] as never))

describe('CBOR detached EAT bundle', () => {
  it('binds a detached claims-set to its digest, over the exact bytes', () => {
    const parsed = parseCborBundle(bundle(new Map([['TEE', detachedCbor]])))
    const bound = bindDetachedClaims(mainClaims(sha256(detachedCbor)), parsed)
    assert.equal(decodeEatClaims(bound.get('TEE')!).swname, 'tee-os')
    assert.ok(bindDetachedClaims(mainClaims(new Uint8Array(createHash('sha512').update(detachedCbor).digest()), 'SHA-512'), parsed))
  })
  it('refuses a wrong digest, a missing digest, an unknown hash', () => {
    const parsed = parseCborBundle(bundle(new Map([['TEE', detachedCbor]])))
    rejects(() => bindDetachedClaims(mainClaims(new Uint8Array(32)), parsed), 'ERR_BUNDLE_DIGEST_MISMATCH')
    rejects(() => bindDetachedClaims(decodeEatClaims(new Map() as never), parsed), 'ERR_BUNDLE_DIGEST_MISMATCH')
    rejects(() => bindDetachedClaims(mainClaims(sha256(detachedCbor), -15), parsed), 'ERR_BUNDLE_DIGEST_MISMATCH')
  })
  it('refuses malformed bundles', () => {
    rejects(() => parseCborBundle(encodeCbor([mainToken, new Map()])), 'ERR_COSE_WRONG_TAG')
    rejects(() => parseCborBundle(encodeCbor(new CborTag(602, [mainToken]))), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseCborBundle(bundle(new Map())), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseCborBundle(bundle(new Map([['TEE', 'text']]))), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseCborBundle(bundle(new Map([['TEE', detachedCbor]]), new Uint8Array([0xa0]))), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseCborBundle(bundle(new Map([['TEE', detachedCbor]]), bundle(new Map([['x', detachedCbor]])))), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseCborBundle(new Uint8Array(300 * 1024)), 'ERR_CBOR_TOO_LARGE')
  })
})

describe('JSON detached EAT bundle', () => {
  const detachedJson = JSON.stringify({ swname: 'tee-os', dbgstat: 'disabled' })
  const b64 = Buffer.from(detachedJson).toString('base64url')
  it('binds a detached JSON claims-set to its digest over the base64url-decoded bytes', () => {
    const parsed = parseJsonBundle([['JWT', 'a.b.c'], { TEE: b64 }])
    const bound = bindDetachedJsonClaims(mainClaims(sha256(detachedJson), 'SHA-256'), parsed)
    assert.equal(bound.get('TEE')!.swname, 'tee-os')
  })
  it('refuses malformed JSON bundles and claims-sets', () => {
    rejects(() => parseJsonBundle([['JWT', 'a.b.c']]), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseJsonBundle([['BUNDLE', 'x'], { TEE: b64 }]), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseJsonBundle([['JWT', 'a.b.c'], {}]), 'ERR_BUNDLE_MALFORMED')
    rejects(() => parseJsonBundle([['JWT', 'a.b.c'], { TEE: 'not base64url!' }]), 'ERR_BUNDLE_MALFORMED')
    const notJson = Buffer.from('{ "swname": ').toString('base64url')
    const parsed = parseJsonBundle([['JWT', 'a.b.c'], { TEE: notJson }])
    rejects(() => bindDetachedJsonClaims(mainClaims(sha256('{ "swname": '), 'SHA-256'), parsed), 'ERR_JOSE_MALFORMED')
  })
})
