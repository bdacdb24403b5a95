/**
 * The fuzz properties, one per parser. `test/property/*.test.ts` runs each with a small budget
 * in `npm test`; `npm run fuzz -- parsers` runs them with a large one (scripts/fuzz.ts).
 *
 * Every property says the same thing about its parser: for any input, it returns or throws a
 * `VerifierError` of the `evidence` family, never anything else (a `TypeError`, a `RangeError`, a
 * stack overflow, a fault). Where the parser checks a signature or MAC, a mutated token that still
 * verifies must carry exactly the signed bytes of its seed (only unsigned envelope parts such as
 * tags and the unprotected header may differ). The CBOR decoder also round-trips what it accepts.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { appraise, type AppraisalDeps } from '../../src/appraisal/pipeline.js'
import { ALGORITHMS } from '../../src/cose/algorithms.js'
import { CborFloat, CborTag, decodeCbor, encodeCbor, type CborMap, type CborValue, type DecodeOptions, type EncodableValue } from '../../src/cose/cbor.js'
import { parseMac0, verifyMac0 } from '../../src/cose/mac0.js'
import type { MessagePolicy } from '../../src/cose/message.js'
import { parseSign1, verifySign1 } from '../../src/cose/sign1.js'
import { VerifierError } from '../../src/errors/errors.js'
import { bindDetachedClaims, bindDetachedJsonClaims, parseCborBundle, parseJsonBundle } from '../../src/evidence/eat/bundle.js'
import { checkClaimDependencies, checkNonce, checkTimeClaims, decodeEatClaims } from '../../src/evidence/eat/claims.js'
import { decodeEatJsonClaims } from '../../src/evidence/eat/json-claims.js'
import { createDefaultProfiles } from '../../src/evidence/eat/profiles.js'
import { verifyEatCwt, verifyEatJws, type EatVerifyOptions } from '../../src/evidence/eat/verify-eat.js'
import { decodePsaClaims, type PsaProfile } from '../../src/evidence/psa/claims.js'
import { verifyPsaToken } from '../../src/evidence/psa/verify.js'
import { isJsonObject, parseStrictJsonUtf8 } from '../../src/jose/json.js'
import { parseJwsCompact, verifyJws } from '../../src/jose/jws.js'
import { TRUST_CLAIMS } from '../../src/results/trust-vector.js'
import { toHex, utf8 } from '../../src/util/bytes.js'
import { fixedClock } from '../../src/util/clock.js'
import { signSign1 } from '../helpers/cose.js'
import {
  cborValueArb,
  eatClaimsMapArb,
  eatJsonClaimsArb,
  hostileBytesArb,
  jsonNonceArb,
  mutatedArb,
  psaClaimsMapArb,
  type MutatedInput,
} from './arbitraries.js'
import {
  cborBundleSeeds,
  cwtSeeds,
  fuzzEndorsements,
  jsonBundleSeeds,
  jwtSeeds,
  keys,
  mac0Seeds,
  MEDIA,
  NONCE,
  NOW,
  pipelineDeps,
  pipelineSeeds,
  PSA_INSTANCE_ID,
  psaSeeds,
  sign1Seeds,
  signJwt,
  TENANT,
  vectorTokens,
} from './corpus.js'
import { mutationsArb, applyMutations } from './mutate.js'

/** Fails unless `err` is a `VerifierError` of the evidence family: what bad Evidence may raise. */
export function assertEvidenceError(err: unknown): void {
  if (err instanceof VerifierError && err.family === 'evidence') return
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw new Error(`a hostile input raised something other than an evidence VerifierError: ${what}`, { cause: err })
}

/** Runs `fn`; returns its value, or undefined after checking that what it threw is allowed. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch (err) {
    assertEvidenceError(err)
    return undefined
  }
}

/**
 * Whether `encodeCbor` writes `v` back as the same item. Not so for an integral float and for -2^64
 * (both refused on purpose: cbor-x would change their type).
 */
function encodable(v: CborValue): boolean {
  if (v instanceof CborFloat) return !Number.isInteger(v.value) && !Object.is(v.value, -0)
  if (typeof v === 'bigint') return v !== -(2n ** 64n)
  if (v instanceof CborTag) return encodable(v.value)
  if (v instanceof Map) return [...v].every(([k, x]) => encodable(k) && encodable(x))
  if (Array.isArray(v)) return v.every(encodable)
  return true
}

const ALL_TAGS = [0, 1, 2, 3, 4, 16, 17, 18, 32, 61, 96, 97, 98, 111, 601, 602, 55799]
const LAX_CBOR: DecodeOptions = { allowIndefinite: true, allowedTags: new Set(ALL_TAGS) }
const SIGNATURE_ALGS = new Set([...ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => a.id))
const MAC_ALGS = new Set([...ALGORITHMS.values()].filter((a) => a.kind === 'mac').map((a) => a.id))
const SIGN1_POLICY: MessagePolicy = { algorithms: SIGNATURE_ALGS, cwtTag: true, untagged: true }
const MAC0_POLICY: MessagePolicy = { algorithms: MAC_ALGS, cwtTag: true, untagged: true }

function payloadOf(token: Uint8Array): Uint8Array {
  return parseSign1(token, SIGN1_POLICY).payload!
}

/** Every CBOR seed: the tokens, their payloads and the CBOR vectors. */
function cborSeeds(): Uint8Array[] {
  const tokens = [...sign1Seeds.map((s) => s.bytes), ...mac0Seeds.map((s) => s.bytes), ...cwtSeeds, ...psaSeeds, ...cborBundleSeeds]
  const payloads = [...sign1Seeds.map((s) => s.bytes), ...cwtSeeds, ...psaSeeds].map(payloadOf)
  const vectors = [...vectorTokens().values()].filter((b) => b[0] !== undefined && b[0] >= 0x80)
  return [...tokens, ...payloads, ...vectors]
}

export interface FuzzTarget {
  readonly name: string
  readonly what: string
  /** A fresh property (sync or async); fast-check runs it. */
  property(): fc.IRawProperty<unknown[]>
}

const eatOptions = (): EatVerifyOptions => ({
  profiles: createDefaultProfiles(),
  keys: fuzzEndorsements().eatKeys(TENANT),
  clock: fixedClock(NOW),
})

/** A payload signed with the trusted kid key as a CWT: whatever it holds reaches the claims decoder. */
function resign(payload: Uint8Array): Uint8Array {
  return signSign1(keys.es256, { payload, protectedHeader: new Map<number, EncodableValue>([[1, -7], [4, utf8('device-1')]]), tag: 'cwt' })
}

/** Mutations of one base64url segment of a compact JWS, re-encoded: reaches the JSON parsers. */
function jwsSegmentArb(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc
    .record({ seed: fc.integer({ min: 0, max: seeds.length - 1 }), segment: fc.integer({ min: 0, max: 2 }), mutations: mutationsArb })
    .map(({ seed, segment, mutations }) => {
      const parts = seeds[seed]!.split('.')
      parts[segment] = Buffer.from(applyMutations(new Uint8Array(Buffer.from(parts[segment]!, 'base64url')), mutations)).toString('base64url')
      return parts.join('.')
    })
}

const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1')

function psaResolver() {
  const endorsements = fuzzEndorsements()
  return ({ instanceId }: { instanceId: Uint8Array }) => endorsements.psaTrustAnchor(TENANT, toHex(instanceId))?.key
}

/** Every value a pipeline result may hold for a trust claim (AR4SI tiers, RFC 9334 EAR). */
function checkAppraisal(result: Awaited<ReturnType<typeof appraise>>): void {
  const names = Object.keys(result.submods)
  assert.ok(names.length > 0, 'an appraisal names at least one submodule')
  for (const [name, submod] of Object.entries(result.submods)) {
    for (const [claim, value] of Object.entries(submod.vector)) {
      assert.ok((TRUST_CLAIMS as readonly string[]).includes(claim), `${name}: unknown trust claim ${claim}`)
      assert.ok(Number.isInteger(value) && value >= -128 && value <= 127, `${name}.${claim} = ${value}`)
    }
  }
}

async function appraiseOnce(deps: AppraisalDeps, mediaType: string, evidence: Uint8Array): Promise<void> {
  await deps.nonces.issue(TENANT, NONCE, 60).catch(() => undefined)
  checkAppraisal(await appraise({ tenant: TENANT, mediaType, evidence }, deps))
}

const ALL_MEDIA = Object.values(MEDIA)

/**
 * JSON claims whose eat_nonce, if any, is base64url text of 11..85 characters (8..63 bytes once decoded),
 * so the general pipeline property steps around the known JWT nonce defect (`pipeline-jwt-nonce`).
 */
const boundedNonceJsonArb = eatJsonClaimsArb.chain((text) =>
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'), minLength: 11, maxLength: 85 }).map((nonce) => {
    const o = JSON.parse(text) as Record<string, unknown>
    if ('eat_nonce' in o) o['eat_nonce'] = nonce
    return JSON.stringify(o)
  }),
)

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'cbor',
    what: 'decodeCbor (strict and lax options) on mutated tokens, payloads and vectors, random bytes, deep nesting, huge heads; accepted values round-trip',
    property: () =>
      fc.property(fc.oneof(mutatedArb(cborSeeds()).map((m) => m.bytes), hostileBytesArb), fc.boolean(), (bytes, lax) => {
        const options = lax ? LAX_CBOR : {}
        const value = attempt(() => decodeCbor(bytes, options))
        if (value === undefined || !encodable(value)) return
        assert.deepStrictEqual(decodeCbor(encodeCbor(value), options), value)
      }),
  },
  {
    name: 'cbor-roundtrip',
    what: 'any CBOR value encodeCbor writes decodes to itself',
    property: () =>
      fc.property(cborValueArb(ALL_TAGS, 5), (value) => {
        if (!encodable(value)) return
        assert.deepStrictEqual(decodeCbor(encodeCbor(value), { allowedTags: new Set(ALL_TAGS) }), value)
      }),
  },
  {
    name: 'encoder-integers',
    what: 'encodeCbor writes every safe integer as a CBOR integer, which decodes to the same number',
    property: () =>
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.constantFrom(2 ** 32, -(2 ** 32) - 1, 2 ** 53 - 1, -(2 ** 53 - 1))), (n) => {
        assert.strictEqual(decodeCbor(encodeCbor(n)), n)
      }),
  },
  {
    name: 'cose-sign1',
    what: 'parseSign1 + verifySign1 (ES256, ES384, EdDSA, PS256) on mutated signed messages',
    property: () => {
      const originals = sign1Seeds.map((s) => parseSign1(s.bytes, SIGN1_POLICY))
      return fc.property(mutatedArb(sign1Seeds.map((s) => s.bytes)), (m: MutatedInput) => {
        const message = attempt(() => parseSign1(m.bytes, SIGN1_POLICY))
        if (message === undefined || attempt(() => verifySign1(message, sign1Seeds[m.seed]!.key)) === undefined) return
        const original = originals[m.seed]!
        assert.deepEqual(message.protectedBytes, original.protectedBytes, 'a mutated token verified with other protected bytes')
        assert.deepEqual(message.payload, original.payload, 'a mutated token verified with another payload')
        assert.deepEqual(message.signature, original.signature, 'a mutated token verified with another signature')
      })
    },
  },
  {
    name: 'cose-mac0',
    what: 'parseMac0 + verifyMac0 (HMAC 256/256) on mutated MACed messages',
    property: () => {
      const originals = mac0Seeds.map((s) => parseMac0(s.bytes, MAC0_POLICY))
      return fc.property(mutatedArb(mac0Seeds.map((s) => s.bytes)), (m: MutatedInput) => {
        const message = attempt(() => parseMac0(m.bytes, MAC0_POLICY))
        const key = mac0Seeds[m.seed]!.key
        if (message === undefined || attempt(() => verifyMac0(message, key)) === undefined) return
        const original = originals[m.seed]!
        assert.deepEqual(message.protectedBytes, original.protectedBytes, 'a mutated token verified with other protected bytes')
        assert.deepEqual(message.payload, original.payload, 'a mutated token verified with another payload')
        assert.deepEqual(message.signature, original.signature, 'a mutated token verified with another tag')
      })
    },
  },
  {
    name: 'jws',
    what: 'parseJwsCompact + verifyJws (ES256) on mutated compact JWS, as text and per segment',
    property: () => {
      const originals = jwtSeeds.map((t) => parseJwsCompact(t))
      const textArb = fc.oneof(
        mutatedArb(jwtSeeds.map(utf8)).map((m) => ({ seed: m.seed, text: latin1(m.bytes) })),
        fc.integer({ min: 0, max: jwtSeeds.length - 1 }).chain((seed) => jwsSegmentArb([jwtSeeds[seed]!]).map((text) => ({ seed, text }))),
      )
      return fc.property(textArb, ({ seed, text }) => {
        const jws = attempt(() => parseJwsCompact(text))
        if (jws === undefined || attempt(() => verifyJws(jws, keys.es256.publicKey, { algorithms: new Set(['ES256']) })) === undefined) return
        const original = originals[seed]!
        assert.equal(jws.protectedB64, original.protectedB64, 'a mutated JWS verified with another header')
        assert.equal(jws.payloadB64, original.payloadB64, 'a mutated JWS verified with another payload')
        assert.deepEqual(jws.signature, original.signature, 'a mutated JWS verified with another signature')
      })
    },
  },
  {
    name: 'eat-cwt',
    what: 'verifyEatCwt on mutated CWT EAT, and on mutated or random claims-sets signed with the trusted key',
    property: () => {
      const options = eatOptions()
      const input = fc.oneof(
        mutatedArb(cwtSeeds).map((m) => m.bytes),
        mutatedArb(cwtSeeds.map(payloadOf)).map((m) => resign(m.bytes)),
        eatClaimsMapArb().map((claims) => resign(encodeCbor(claims))),
      )
      return fc.property(input, (bytes) => {
        attempt(() => verifyEatCwt(bytes, options))
      })
    },
  },
  {
    name: 'eat-jwt',
    what: 'verifyEatJws on mutated JWT EAT, and on mutated or random JSON claims-sets signed with the trusted key',
    property: () => {
      const options = eatOptions()
      const claimsText = jwtSeeds.map((t) => Buffer.from(t.split('.')[1]!, 'base64url'))
      const input = fc.oneof(
        mutatedArb(jwtSeeds.map(utf8)).map((m) => latin1(m.bytes)),
        jwsSegmentArb(jwtSeeds),
        mutatedArb(claimsText.map((b) => new Uint8Array(b))).map((m) => signJwt(Buffer.from(m.bytes).toString('utf8'))),
        eatJsonClaimsArb.map((json) => signJwt(json)),
      )
      return fc.property(input, (text) => {
        attempt(() => verifyEatJws(text, options))
      })
    },
  },
  {
    name: 'psa',
    what: 'verifyPsaToken on mutated PSA Sign1/Mac0 tokens, and on mutated or random PSA claims-sets signed with the provisioned IAK',
    property: () => {
      const resolveKey = psaResolver()
      const input = fc.oneof(
        mutatedArb([...psaSeeds, mac0Seeds[1]!.bytes]).map((m) => m.bytes),
        mutatedArb(psaSeeds.map(payloadOf)).map((m) => signSign1(keys.es256, { payload: m.bytes })),
        fc.tuple(psaClaimsMapArb, fc.boolean()).map(([claims, ours]) => {
          if (ours) claims.set(256, PSA_INSTANCE_ID)
          return signSign1(keys.es256, { payload: encodeCbor(claims) })
        }),
      )
      const profiles = [undefined, 'tag:psacertified.org,2023:psa#tfm', 'tag:psacertified.org,2019:psa#legacy', 'http://arm.com/psa/2.0.0', 'x']
      return fc.property(input, fc.constantFrom(...profiles), (bytes, expectedProfile) => {
        attempt(() => verifyPsaToken(bytes, { resolveKey, expectedProfile, expectedNonce: new Uint8Array(32).fill(1) }))
      })
    },
  },
  {
    name: 'eat-claims',
    what: 'decodeEatClaims, checkClaimDependencies, checkTimeClaims and checkNonce on random claims-set maps',
    property: () =>
      fc.property(eatClaimsMapArb(3), (claims) => {
        const decoded = attempt(() => decodeEatClaims(claims as CborMap))
        if (decoded === undefined) return
        for (const err of checkClaimDependencies(decoded)) assertEvidenceError(err)
        attempt(() => checkTimeClaims(decoded, fixedClock(NOW), { skewSeconds: 30 }))
        attempt(() => checkNonce(decoded, NONCE))
      }),
  },
  {
    name: 'eat-json-claims',
    what: 'strict JSON + decodeEatJsonClaims on random JSON claims-sets',
    property: () =>
      fc.property(eatJsonClaimsArb, (json) => {
        const value = attempt(() => parseStrictJsonUtf8(utf8(json), 'claims'))
        if (value === undefined || !isJsonObject(value)) return
        attempt(() => decodeEatJsonClaims(value))
      }),
  },
  {
    name: 'psa-claims',
    what: 'decodePsaClaims under every profile on random PSA claims-set maps',
    property: () =>
      fc.property(psaClaimsMapArb, fc.constantFrom<PsaProfile | undefined>(undefined, 'tfm', 'legacy', 'psa-2.0.0'), (claims, profile) => {
        attempt(() => decodePsaClaims(claims as CborMap, profile))
      }),
  },
  {
    name: 'bundle-cbor',
    what: 'parseCborBundle, the main token and bindDetachedClaims on mutated CBOR detached bundles',
    property: () => {
      const options = eatOptions()
      return fc.property(fc.oneof(mutatedArb(cborBundleSeeds).map((m) => m.bytes), hostileBytesArb), (bytes) => {
        const bundle = attempt(() => parseCborBundle(bytes))
        if (bundle === undefined) return
        const main = attempt(() => verifyEatCwt(bundle.mainToken, options))
        if (main !== undefined) attempt(() => bindDetachedClaims(main.claims, bundle))
      })
    },
  },
  {
    name: 'bundle-json',
    what: 'strict JSON, parseJsonBundle, the main token and bindDetachedJsonClaims on mutated JSON detached bundles',
    property: () => {
      const options = eatOptions()
      return fc.property(mutatedArb(jsonBundleSeeds).map((m) => m.bytes), (bytes) => {
        const value = attempt(() => parseStrictJsonUtf8(bytes, 'bundle'))
        const bundle = value === undefined ? undefined : attempt(() => parseJsonBundle(value))
        if (bundle === undefined) return
        const main = attempt(() => (bundle.main.type === 'JWT' ? verifyEatJws(bundle.main.token, options) : verifyEatCwt(bundle.main.bytes, options)))
        if (main !== undefined) attempt(() => bindDetachedJsonClaims(main.claims, bundle))
      })
    },
  },
  {
    name: 'pipeline',
    what: 'the whole appraisal (format selection, every verifier, freshness, reference values) never throws on mutated Evidence of any media type, or on random claims signed with the trusted keys',
    property: () => {
      const deps = pipelineDeps()
      const seeds = pipelineSeeds()
      const vectors = [...vectorTokens().values()]
      const input = fc.oneof(
        mutatedArb(seeds.map((s) => s.bytes)).map((m) => ({ mediaType: seeds[m.seed]!.mediaType, bytes: m.bytes })),
        fc.tuple(mutatedArb([...seeds.map((s) => s.bytes), ...vectors]), fc.constantFrom(...ALL_MEDIA)).map(([m, mediaType]) => ({ mediaType, bytes: m.bytes })),
        eatClaimsMapArb().map((claims) => ({ mediaType: MEDIA.cwt, bytes: resign(encodeCbor(claims)) })),
        boundedNonceJsonArb.map((json) => ({ mediaType: MEDIA.jwt, bytes: utf8(signJwt(json)) })),
        mutatedArb(cwtSeeds.map(payloadOf)).map((m) => ({ mediaType: MEDIA.cwt, bytes: resign(m.bytes) })),
      )
      return fc.asyncProperty(input, async ({ mediaType, bytes }) => {
        await appraiseOnce(deps, mediaType, bytes)
      })
    },
  },
  {
    name: 'pipeline-jwt-nonce',
    what: 'the appraisal of a JWT EAT signed with the trusted key whose eat_nonce is any text RFC 9711 allows or refuses',
    property: () => {
      const deps = pipelineDeps()
      return fc.asyncProperty(jsonNonceArb, async (eatNonce) => {
        const claims = JSON.stringify({ eat_nonce: eatNonce, oemid: 64242, iat: NOW, swname: 'fw', swversion: ['1.2'] })
        await appraiseOnce(deps, MEDIA.jwt, utf8(signJwt(claims)))
      })
    },
  },
]
