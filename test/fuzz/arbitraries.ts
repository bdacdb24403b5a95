/**
 * fast-check arbitraries for the fuzz properties: hostile byte strings (mutated seeds, random
 * bytes, deep nesting, huge length heads), CBOR values, and claims-sets that look nearly right
 * (the claim keys and rough types Evidence uses) so the claims decoders are reached past their
 * first type check.
 */
import fc from 'fast-check'
import { CborFloat, CborTag, type CborKey, type CborValue } from '../../src/cose/cbor.js'
import { applyMutations, hugeHead, mutationsArb, nested, type Mutation } from './mutate.js'
import { NOW } from './corpus.js'

/** A seed chosen by index, mutated. The index and mutations are kept so a failure prints them. */
export interface MutatedInput {
  readonly seed: number
  readonly mutations: readonly Mutation[]
  readonly bytes: Uint8Array
}

export function mutatedArb(seeds: readonly Uint8Array[]): fc.Arbitrary<MutatedInput> {
  return fc
    .record({ seed: fc.integer({ min: 0, max: seeds.length - 1 }), mutations: mutationsArb })
    .map(({ seed, mutations }) => ({ seed, mutations, bytes: applyMutations(seeds[seed]!, mutations) }))
}

/** Bytes no seed produced: random, deeply nested, or a huge length head with little behind it. */
export const hostileBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc
    .record({
      depth: fc.integer({ min: 1, max: 20_000 }),
      as: fc.constantFrom('array' as const, 'map' as const, 'tag' as const),
      inner: fc.uint8Array({ maxLength: 8 }),
    })
    .map(({ depth, as, inner }) => nested(depth, as, inner)),
  fc
    .record({
      major: fc.integer({ min: 0, max: 7 }),
      ai: fc.constantFrom(24, 25, 26, 27, 31),
      fill: fc.constantFrom(0xff, 0x7f, 0x80, 0x01),
      tail: fc.uint8Array({ maxLength: 16 }),
    })
    .map(({ major, ai, fill, tail }) => {
      const head = hugeHead(major, ai, fill)
      const out = new Uint8Array(head.length + tail.length)
      out.set(head)
      out.set(tail, head.length)
      return out
    }),
)

// Bigints stop at -2^64 + 1: values are also encoded (signed as claims), and encodeCbor refuses
// -2^64 rather than let cbor-x write it as a bignum (decoding -2^64 is a unit test of cbor.ts).
const cborKeyArb: fc.Arbitrary<CborKey> = fc.oneof(
  fc.integer({ min: -300, max: 3000 }),
  fc.string({ maxLength: 12 }),
  fc.bigInt({ min: 1n - 2n ** 64n, max: 2n ** 64n - 1n }).filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < -BigInt(Number.MAX_SAFE_INTEGER)),
)

const cborLeafArb: fc.Arbitrary<CborValue> = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, 1, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.bigInt({ min: 1n - 2n ** 64n, max: 2n ** 64n - 1n }).filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < -BigInt(Number.MAX_SAFE_INTEGER)),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.uint8Array({ maxLength: 80 }),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noInteger: true }).map((d) => new CborFloat(d)),
)

/** Any decoded CBOR value (tags drawn from `tags`), nested up to `depth`. */
export function cborValueArb(tags: readonly number[] = [1, 2, 4, 18, 32, 61], depth = 4): fc.Arbitrary<CborValue> {
  const { value } = fc.letrec<{ value: CborValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: depth },
      cborLeafArb,
      fc.array(tie('value'), { maxLength: 5 }),
      fc.uniqueArray(fc.tuple(cborKeyArb, tie('value')), { maxLength: 5, selector: ([k]) => k }).map((entries) => new Map(entries)),
      fc.tuple(fc.constantFrom(...tags), tie('value')).map(([t, v]) => new CborTag(t, v)),
    ),
  }))
  return value
}

const bytesArb = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
const timeArb: fc.Arbitrary<CborValue> = fc.oneof(
  fc.integer({ min: NOW - 100_000, max: NOW + 100_000 }),
  fc.constantFrom(0, -1, 2 ** 53 - 1, -(2 ** 53)),
  fc.double({ noInteger: true }).map((d) => new CborFloat(d)),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
)
const ueidArb: fc.Arbitrary<CborValue> = fc
  .tuple(fc.constantFrom(0, 1, 2, 3, 0xff), bytesArb(0, 40))
  .map(([t, rest]) => Uint8Array.of(t, ...rest))
const nonceArb: fc.Arbitrary<CborValue> = fc.oneof(bytesArb(0, 72), fc.array(bytesArb(0, 72), { maxLength: 4 }))
const textOrBytes: fc.Arbitrary<CborValue> = fc.oneof(fc.string({ maxLength: 20 }), bytesArb(0, 40))
const measuredArb: fc.Arbitrary<CborValue> = fc.array(fc.tuple(fc.integer({ min: -5, max: 70000 }), bytesArb(0, 40)), { maxLength: 3 })

/** Plausible values of each EAT claim key (RFC 8392, RFC 9711): right shape often, wrong sometimes. */
export function eatClaimValueArb(key: number, depth: number): fc.Arbitrary<CborValue> {
  const any = cborValueArb([1, 4, 32, 111], 2)
  const plausible: Record<number, fc.Arbitrary<CborValue>> = {
    1: fc.string(),
    2: fc.string(),
    3: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })),
    4: timeArb,
    5: timeArb,
    6: timeArb,
    7: bytesArb(0, 20),
    10: nonceArb,
    256: ueidArb,
    257: fc.array(fc.tuple(fc.string({ maxLength: 6 }), ueidArb), { maxLength: 3 }).map((e) => new Map(e)),
    258: fc.oneof(fc.integer(), bytesArb(0, 20), fc.constant(64242)),
    259: bytesArb(0, 40),
    260: fc.tuple(fc.string({ maxLength: 8 }), fc.integer({ min: -2, max: 20 })).map((t) => [...t]),
    261: fc.oneof(fc.nat(), fc.integer()),
    262: fc.boolean(),
    263: fc.integer({ min: -2, max: 8 }),
    264: fc
      .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.oneof(fc.double({ noInteger: true }).map((d) => new CborFloat(d)), fc.integer())), { selector: ([k]) => k, maxLength: 5 })
      .map((e) => new Map<CborKey, CborValue>(e)),
    265: fc.oneof(fc.constantFrom('urn:ietf:rfc:rfc9711', 'tag:psacertified.org,2023:psa#tfm'), fc.string(), bytesArb(0, 12)),
    267: fc.integer(),
    268: bytesArb(0, 40),
    269: fc.array(fc.array(textOrBytes, { maxLength: 3 }), { maxLength: 2 }),
    270: fc.string({ maxLength: 10 }),
    271: fc.oneof(fc.tuple(fc.string({ maxLength: 6 }), fc.integer({ min: -2, max: 20 })).map((t) => [...t]), fc.array(fc.string(), { maxLength: 3 })),
    272: measuredArb,
    273: measuredArb,
    274: fc.array(
      fc.tuple(fc.string({ maxLength: 6 }), fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.integer({ min: -1, max: 5 })).map((t) => [...t]), { maxLength: 3 })).map((t) => [...t]),
      { maxLength: 2 },
    ),
    275: fc.integer({ min: -1, max: 8 }),
  }
  if (key === 266) {
    return depth <= 0
      ? any
      : fc
          .uniqueArray(
            fc.tuple(
              fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
              fc.oneof(eatClaimsMapArb(depth - 1), bytesArb(0, 64), fc.tuple(fc.constantFrom(-16, -43, 1, 'SHA-256'), bytesArb(0, 64)).map((t) => [...t] as CborValue)),
            ),
            { selector: ([k]) => k, maxLength: 3 },
          )
          .map((e) => new Map<CborKey, CborValue>(e))
  }
  const p = plausible[key]
  return p === undefined ? any : fc.oneof({ weight: 4, arbitrary: p }, { weight: 1, arbitrary: any })
}

const EAT_KEYS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271, 272, 273, 274, 275, -7, 999]

/** An EAT claims-set map: a random subset of the claim keys, each with a plausible value. */
export function eatClaimsMapArb(depth = 2): fc.Arbitrary<Map<CborKey, CborValue>> {
  return fc
    .uniqueArray(fc.constantFrom(...EAT_KEYS), { maxLength: 12 })
    .chain((ks) => fc.tuple(...ks.map((k) => eatClaimValueArb(k, depth).map((v) => [k, v] as [CborKey, CborValue]))))
    .map((entries) => new Map<CborKey, CborValue>(entries))
}

const PSA_KEYS = [10, 256, 265, 268, 2394, 2395, 2396, 2397, 2398, 2399, 2400, -75000, -75001, -75002, -75003, -75004, -75005, -75006, -75007, -75008, -75009, -75010]

function psaValueArb(key: number): fc.Arbitrary<CborValue> {
  const any = cborValueArb([1], 2)
  const swComponent = fc
    .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.oneof(fc.string({ maxLength: 8 }), bytesArb(0, 72))), { selector: ([k]) => k, maxLength: 6 })
    .map((e) => new Map<CborKey, CborValue>(e))
  const plausible: Record<number, fc.Arbitrary<CborValue>> = {
    10: bytesArb(0, 72),
    256: fc.tuple(fc.constantFrom(1, 2, 0), bytesArb(0, 40)).map(([t, r]) => Uint8Array.of(t, ...r)),
    265: fc.constantFrom('tag:psacertified.org,2023:psa#tfm', 'http://arm.com/psa/2.0.0', 'x'),
    268: bytesArb(0, 40),
    2394: fc.integer(),
    2395: fc.oneof(fc.integer({ min: 0, max: 0x7000 }), fc.constantFrom(0x3000, 0x4000, 0x10000)),
    2396: bytesArb(0, 40),
    2397: bytesArb(0, 40),
    2398: fc.oneof(fc.constant('1234567890123-12345'), fc.string({ maxLength: 24 })),
    2399: fc.array(swComponent, { maxLength: 3 }),
    2400: fc.string({ maxLength: 20 }),
    [-75000]: fc.constantFrom('PSA_IOT_PROFILE_1', 'x'),
    [-75002]: fc.integer({ min: 0, max: 0x7000 }),
    [-75003]: bytesArb(0, 40),
    [-75006]: fc.array(swComponent, { maxLength: 3 }),
    [-75007]: fc.integer({ min: -1, max: 2 }),
    [-75008]: bytesArb(0, 72),
    [-75009]: fc.tuple(fc.constantFrom(1, 2), bytesArb(0, 40)).map(([t, r]) => Uint8Array.of(t, ...r)),
  }
  const p = plausible[key]
  return p === undefined ? any : fc.oneof({ weight: 4, arbitrary: p }, { weight: 1, arbitrary: any })
}

export const psaClaimsMapArb: fc.Arbitrary<Map<CborKey, CborValue>> = fc
  .uniqueArray(fc.constantFrom(...PSA_KEYS), { maxLength: 12 })
  .chain((ks) => fc.tuple(...ks.map((k) => psaValueArb(k).map((v) => [k, v] as [CborKey, CborValue]))))
  .map((entries) => new Map<CborKey, CborValue>(entries))

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64url')
const B64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
/** Text in the base64url alphabet, any length up to `max`: JSON nonces are often written this way. */
export const base64urlTextArb = (max: number): fc.Arbitrary<string> =>
  fc.integer({ min: 0, max }).chain((length) => fc.string({ unit: fc.constantFrom(...B64URL), minLength: length, maxLength: length }))
/** A JSON eat_nonce: one text or an array of them, in and around every length RFC 9711 allows. */
export const jsonNonceArb: fc.Arbitrary<unknown> = fc.oneof(
  base64urlTextArb(100),
  fc.string({ maxLength: 100 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.array(fc.oneof(base64urlTextArb(100), fc.string({ maxLength: 100 })), { maxLength: 4 }),
)
const jsonTimeArb = fc.oneof(fc.integer({ min: NOW - 100_000, max: NOW + 100_000 }), fc.double(), fc.string({ maxLength: 5 }))
const JSON_CLAIMS: Record<string, fc.Arbitrary<unknown>> = {
  iss: fc.string(),
  exp: jsonTimeArb,
  nbf: jsonTimeArb,
  iat: jsonTimeArb,
  eat_nonce: jsonNonceArb,
  ueid: fc.oneof(ueidArb.map((u) => b64(u as Uint8Array)), fc.string()),
  oemid: fc.oneof(fc.integer(), bytesArb(0, 20).map(b64), fc.string()),
  hwmodel: fc.oneof(bytesArb(0, 40).map(b64), fc.string()),
  hwversion: fc.tuple(fc.string({ maxLength: 8 }), fc.integer({ min: -2, max: 20 })),
  oemboot: fc.oneof(fc.boolean(), fc.string({ maxLength: 3 })),
  dbgstat: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.constantFrom('enabled', 'disabled', 'disabled-since-boot', 'x')),
  eat_profile: fc.oneof(fc.constant('urn:ietf:rfc:rfc9711'), fc.string()),
  swname: fc.string({ maxLength: 10 }),
  swversion: fc.tuple(fc.string({ maxLength: 6 }), fc.integer({ min: -2, max: 20 })),
  measurements: fc.array(fc.tuple(fc.integer({ min: -5, max: 70000 }), bytesArb(0, 40).map(b64)), { maxLength: 3 }),
  manifests: fc.array(fc.tuple(fc.integer({ min: -5, max: 70000 }), bytesArb(0, 40).map(b64)), { maxLength: 3 }),
  measres: fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom('success', 'fail', 'x', 1)), { maxLength: 2 })), { maxLength: 2 }),
  submods: fc.dictionary(
    fc.string({ maxLength: 8 }),
    fc.oneof(
      fc.dictionary(fc.constantFrom('swname', 'oemid', 'ueid', 'eat_nonce'), fc.oneof(fc.string(), fc.integer())),
      fc.tuple(fc.constantFrom('JWT', 'CBOR', 'BUNDLE', 'DIGEST', 'X'), fc.oneof(fc.string(), fc.tuple(fc.constantFrom('SHA-256', -16, 'x'), fc.string()))),
    ),
    { maxKeys: 3 },
  ),
  intuse: fc.oneof(fc.string(), fc.integer()),
  location: fc.dictionary(fc.constantFrom('latitude', 'longitude', 'altitude', 'accuracy', 'x'), fc.oneof(fc.double(), fc.integer(), fc.string())),
  dloas: fc.array(fc.array(fc.string(), { maxLength: 3 }), { maxLength: 2 }),
  bootcount: fc.integer(),
  uptime: fc.integer(),
  bootseed: bytesArb(0, 40).map(b64),
}

/** A JWT EAT claims-set as JSON text: plausible claims, sometimes anything JSON allows. */
export const eatJsonClaimsArb: fc.Arbitrary<string> = fc
  .record(
    Object.fromEntries(Object.entries(JSON_CLAIMS).map(([k, v]) => [k, fc.oneof({ weight: 5, arbitrary: v }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) })])),
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o))
