/**
 * Conformance runner over the published vectors, read from the repository's copy in `test/vectors/`
 * (`test/unit/vectors.test.ts` checks that copy against `../shared/vectors` where that exists).
 *
 * Every vector is dispatched on its `format` and `expected.outcome`. A vector whose format is
 * covered checks its outcome: positives verify; negatives fail with the exact error code listed
 * in NEGATIVE_CODES below. A format not yet implemented is reported as a skip naming the issue
 * that brings it; an unknown format or outcome, or a negative vector without an expected code,
 * fails the run.
 */
import assert from 'node:assert/strict'
import type { JsonWebKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ALGORITHMS } from '../../src/cose/algorithms.js'
import { decodeCbor, type CborMap } from '../../src/cose/cbor.js'
import { parseMac0, verifyMac0 } from '../../src/cose/mac0.js'
import type { MessagePolicy } from '../../src/cose/message.js'
import { parseSign1, verifySign1 } from '../../src/cose/sign1.js'
import { importJwk, importSecret, type PublicKey, type SecretKey } from '../../src/crypto/keys.js'
import type { ErrorCode } from '../../src/errors/codes.js'
import { VerifierError } from '../../src/errors/errors.js'
import { checkTimeClaims, decodeEatClaims } from '../../src/evidence/eat/claims.js'
import { EAT_ALGORITHMS, verifyCwt } from '../../src/evidence/eat/verify-cwt.js'
import { verifyPsaToken } from '../../src/evidence/psa/verify.js'
import { bindDetachedClaims, bindDetachedJsonClaims, parseCborBundle, parseJsonBundle } from '../../src/evidence/eat/bundle.js'
import { verifyEatJwt } from '../../src/evidence/eat/verify-jwt.js'
import type { JsonValue } from '../../src/jose/json.js'
import { parseEarClaimsCbor, parseEarClaimsJson, type EarClaims } from '../../src/results/claims.js'
import { verifyEarJwt, verifyJwsCompact } from '../../src/results/verify.js'
import { base64urlDecode } from '../../src/util/base64url.js'
import { bytesEqual, fromHex, toHex } from '../../src/util/bytes.js'
import { fixedClock, systemClock } from '../../src/util/clock.js'
import { VECTOR_DIR, vectorFiles } from '../helpers/vectors.js'


interface Vector {
  readonly id: string
  readonly format: string
  readonly token_hex?: string
  readonly token_b64?: string
  readonly token_json?: {
    readonly eat_profile?: string
    readonly iat?: number
    readonly submods?: Record<string, { readonly ear_status?: string }>
  }
  readonly key: (JsonWebKey & { k?: string; kid?: string; alg?: string }) | null
  readonly verifier_inputs?: {
    readonly external_aad_hex?: string
    readonly assume_type?: string
    readonly expected_nonce_hex?: string
    readonly instance_id_hex?: string
    readonly implementation_id_hex?: string
    readonly expected_alg?: string
  }
  readonly expected: { readonly outcome: string; readonly reason?: string }
  readonly decoded?: { readonly payload?: Record<string, unknown>; readonly claims?: Record<string, unknown> | null }
}

const KNOWN_OUTCOMES = new Set([
  'valid',
  'invalid',
  'valid-signature',
  'valid-mac',
  'parse-only',
  'parse-only + digest-match',
  'schema-valid',
  'decodable',
])

/** The error code each negative vector must produce, and why. */
const NEGATIVE_CODES: Readonly<Record<string, ErrorCode>> = {
  // Tag 998 around a signature that would verify: rejected on the tag alone.
  'cose-wg-sign1-fail-01-wrong-tag': 'ERR_COSE_WRONG_TAG',
  'cose-wg-sign1-fail-02-modified-payload': 'ERR_COSE_SIGNATURE_INVALID',
  'cose-wg-sign1-fail-03-unknown-alg-int': 'ERR_COSE_ALG_UNKNOWN',
  'cose-wg-sign1-fail-04-unknown-alg-text': 'ERR_COSE_ALG_UNKNOWN',
  'cose-wg-sign1-fail-06-added-protected': 'ERR_COSE_SIGNATURE_INVALID',
  'cose-wg-sign1-fail-07-removed-protected': 'ERR_COSE_SIGNATURE_INVALID',
  'go-cose-sign1-verify-negative-0000': 'ERR_COSE_PROTECTED_NOT_MAP',
  'go-cose-sign1-verify-negative-0001': 'ERR_COSE_PROTECTED_NOT_MAP',
  'go-cose-sign1-verify-negative-0002': 'ERR_COSE_HEADER_DUPLICATE_LABEL',
  'go-cose-sign1-verify-negative-0003': 'ERR_COSE_HEADER_DUPLICATE_LABEL',
  // COSE_Sign (98) is not a message type Assay accepts for Evidence.
  'rfc9052-c1-4-cose-sign-crit-unknown': 'ERR_COSE_WRONG_TAG',
  // The JSON bundle as printed in RFC 9711 A.2.3: its main JWT's HMAC does not verify (stale).
  'rfc9711-a2-3-json-deb-as-included': 'ERR_JOSE_SIGNATURE_INVALID',
  // Unsecured JWS: refused by the ES256 allow-list before any key is looked at.
  'veraison-ear-fail-alg-none': 'ERR_EAR_ALG_NOT_ALLOWED',
  // Algorithm confusion: HS256 is not on the allow-list, so the EC public key is never used as an HMAC secret.
  'veraison-ear-fail-hs256-vs-es256-key': 'ERR_EAR_ALG_NOT_ALLOWED',
  // A leading '.' makes four segments; compact JWS has exactly three.
  'veraison-ear-fail-leading-dot': 'ERR_EAR_MALFORMED',
  // '.trailing-rubbish' makes a fourth segment (its float iat is never reached).
  'veraison-ear-fail-trailing-rubbish': 'ERR_EAR_MALFORMED',
  // The signature verifies, but {} has none of eat_profile, iat, verifier id and submods.
  'veraison-ear-fail-empty-claims': 'ERR_EAR_CLAIMS_INVALID',
  // Signed by the key in its own `jwk` header, not by the configured key; header keys are never used,
  // so the signature fails before its expiry (exp 2025-07-09) is looked at.
  'veraison-ear-trustee-expired-embedded-jwk': 'ERR_EAR_SIGNATURE_INVALID',
}

/**
 * Vectors whose signature verifies (`valid-signature`) but which strict verification rejects, with the
 * exact code and why.
 */
const STRICT_REJECTION_CODES: Readonly<Record<string, ErrorCode>> = {
  // iat is written 1.666529184e+09: RFC 9711 forbids a floating-point iat (specs.md §9 finding 6).
  'ear-draft-opa-example-jwt': 'ERR_EAR_FLOAT_TIME',
}

/** Formats whose vectors another conformance file runs, each with its expected outcome. */
const ELSEWHERE: Readonly<Record<string, string>> = {
  'corim-unsigned (tag 501)': 'test/conformance/corim.test.ts',
  'corim-signed (cose-sign1)': 'test/conformance/corim.test.ts',
  'comid (untagged concise-mid-tag)': 'test/conformance/corim.test.ts',
}

/** A general COSE verifier: every signature algorithm, untagged when the vector says so. */
const GENERIC_COSE: MessagePolicy = {
  algorithms: new Set([...ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => a.id)),
  requireProtectedAlg: false,
}

function loadVectors(): Vector[] {
  return vectorFiles().map((f) => JSON.parse(readFileSync(join(VECTOR_DIR, f), 'utf8')) as Vector)
}

function tokenOf(v: Vector): Uint8Array {
  assert.ok(v.token_hex, `${v.id} has no token_hex`)
  return fromHex(v.token_hex)
}

function publicKeyOf(v: Vector): PublicKey {
  assert.ok(v.key && v.key.kty !== 'oct', `${v.id} needs a public key`)
  return importJwk(v.key)
}

function secretKeyOf(v: Vector): SecretKey {
  assert.ok(v.key?.kty === 'oct' && typeof v.key.k === 'string', `${v.id} needs a symmetric key`)
  // Vector keys spell the algorithm in prose ("HMAC 256/64 (COSE alg 4)"), so no binding is taken.
  return importSecret(base64urlDecode(v.key.k))
}

function aadOf(v: Vector): Uint8Array {
  return fromHex(v.verifier_inputs?.external_aad_hex ?? '')
}

function expectCode(v: Vector, run: () => unknown, codes: Readonly<Record<string, ErrorCode>> = NEGATIVE_CODES): void {
  const code = codes[v.id]
  const table = codes === NEGATIVE_CODES ? 'NEGATIVE_CODES' : 'STRICT_REJECTION_CODES'
  assert.ok(code, `vector ${v.id} has no expected error code in ${table}`)
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof VerifierError, `expected a VerifierError, got ${String(e)}`)
    assert.equal(e.code, code, `${v.id}: ${e.message}`)
    return true
  })
}

function payloadOf(token: Uint8Array, policy: MessagePolicy): CborMap {
  const message = parseSign1(token, policy)
  const payload = decodeCbor(message.payload!)
  assert.ok(payload instanceof Map)
  return payload
}

/** Handlers by vector format: each checks the vector's expected outcome. */
const HANDLERS: Readonly<Record<string, (v: Vector) => void>> = {
  'eat-bundle-json': (v) => {
    assert.ok(v.key?.kty === 'oct' && typeof v.key.k === 'string')
    // RFC 9711 A.2.3 signs with the 6-byte key "xxxxxx", shorter than RFC 7518 §3.2 allows for
    // HS256; Assay refuses such keys unless the operator accepts one explicitly, as this check does.
    const k = base64urlDecode(v.key.k)
    const key = importSecret(k, { acceptShortKey: true })
    const run = () => {
      const bundle = parseJsonBundle((v as unknown as { token_json: JsonValue }).token_json)
      assert.equal(bundle.main.type, 'JWT')
      const { claims } = verifyEatJwt((bundle.main as { token: string }).token, {
        key,
        algorithms: new Set(['HS256']),
        clock: systemClock,
      })
      return bindDetachedJsonClaims(claims, bundle)
    }
    if (v.expected.outcome === 'invalid') {
      expectCode(v, run)
      return
    }
    assert.equal(v.expected.outcome, 'valid')
    const bound = run()
    assert.deepEqual([...bound.keys()].sort(), ['Audio Subsystem', 'Graphics Subsystem'])
    assert.equal(bound.get('Graphics Subsystem')!.swname, 'Graphics OS')
    assert.throws(
      () => verifyEatJwt((parseJsonBundle((v as unknown as { token_json: JsonValue }).token_json).main as { token: string }).token, {
        key: importSecret(k),
        algorithms: new Set(['HS256']),
        clock: systemClock,
      }),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_KEY_UNSUPPORTED',
      'without the explicit acceptance the short key is refused',
    )
  },
  'eat-bundle-cbor (tag 602)': (v) => {
    assert.equal(v.expected.outcome, 'parse-only + digest-match')
    const token = tokenOf(v)
    const bundle = parseCborBundle(token)
    const main = decodeEatClaims(payloadOf(bundle.mainToken, { algorithms: EAT_ALGORITHMS, cwtTag: true }))
    const bound = bindDetachedClaims(main, bundle)
    const tee = decodeEatClaims(bound.get('TEE')!)
    const expected = (v.decoded as unknown as { detached_TEE_claims: { '10': { hex: string } } }).detached_TEE_claims['10'].hex
    assert.equal(toHex(tee.nonces![0]!), expected)
    // One flipped byte in the detached claims-set breaks the binding.
    const at = toHex(token).lastIndexOf(expected) / 2
    const tampered = new Uint8Array(token)
    tampered[at] = tampered[at]! ^ 1
    assert.throws(
      () => bindDetachedClaims(main, parseCborBundle(tampered)),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_BUNDLE_DIGEST_MISMATCH',
    )
  },

  'cose-sign1': (v) => {
    const policy = { ...GENERIC_COSE, untagged: v.verifier_inputs?.assume_type !== undefined }
    const run = () => verifySign1(parseSign1(tokenOf(v), policy), publicKeyOf(v), {
      externalAad: aadOf(v),
      strictCurvePairing: false,
    })
    if (v.expected.outcome === 'valid') run()
    else if (v.expected.outcome === 'invalid') expectCode(v, run)
    else assert.fail(`${v.id}: outcome ${v.expected.outcome} is not handled for ${v.format}`)
  },

  'cose-sign': (v) => {
    assert.equal(v.expected.outcome, 'invalid')
    expectCode(v, () => parseSign1(tokenOf(v), GENERIC_COSE))
  },

  'cwt (cose-sign1)': (v) => {
    assert.equal(v.expected.outcome, 'valid-signature')
    const token = tokenOf(v)
    const key = publicKeyOf(v)
    const policy = { key, algorithms: EAT_ALGORITHMS, requireProtectedAlg: true }
    const iat = Number(v.decoded?.payload?.['6'])
    const { claims } = verifyCwt(token, { ...policy, clock: fixedClock(iat) })
    assert.equal(claims.iat, iat)
    assert.equal(claims.iss, v.decoded?.payload?.['1'])
    assert.throws(
      () => verifyCwt(token, { ...policy, clock: systemClock }),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CLAIMS_EXPIRED',
    )
  },

  'cwt (tag 61 + cose-mac0)': (v) => {
    assert.equal(v.expected.outcome, 'valid-mac')
    const token = tokenOf(v)
    const message = parseMac0(token, { algorithms: new Set([4, 5, 6, 7]), cwtTag: true })
    assert.equal(message.cwtTagged, true)
    const verified = verifyMac0(message, secretKeyOf(v))
    const claims = decodeEatClaims(decodeCbor(verified.payload) as CborMap)
    checkTimeClaims(claims, fixedClock(Number(claims.iat)))
    const tampered = new Uint8Array(token)
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1
    assert.throws(
      () => verifyMac0(parseMac0(tampered, { algorithms: new Set([4]), cwtTag: true }), secretKeyOf(v)),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_COSE_MAC_INVALID',
    )
  },

  'cwt (tag 61 + cose-sign1)': (v) => {
    assert.equal(v.expected.outcome, 'parse-only')
    const payload = payloadOf(tokenOf(v), { algorithms: EAT_ALGORITHMS, cwtTag: true })
    const claims = decodeEatClaims(payload)
    assert.equal(claims.nonces?.length, 1)
    assert.equal(toHex(claims.nonces![0]!), (v.decoded?.payload?.['10'] as { hex: string }).hex)
  },

  'cose-sign1 (PSA token; no CWT tag 61)': (v) => checkPsa(v),
  'cose-sign1 (PSA token)': (v) => checkPsa(v),
  'cose-mac0 (PSA token)': (v) => checkPsa(v),

  'jwt (EAR)': (v) => {
    assert.ok(v.token_b64 && v.key && v.key.kty !== 'oct', `${v.id} needs a JWS and a public key`)
    // The vector's key is the relying party's whole trust store: a one-key JWKS.
    const jwks = { keys: [v.key] }
    assert.ok(v.verifier_inputs?.expected_alg === undefined || v.verifier_inputs.expected_alg === 'ES256')
    const claims = v.decoded?.claims ?? undefined
    const clock = fixedClock(Math.floor(Number(claims?.['iat'] ?? 0)))
    const run = () => verifyEarJwt(v.token_b64!, jwks, { clock, expectedAlg: 'ES256' })
    if (v.expected.outcome === 'valid') {
      const verified = run()
      assert.equal(verified.claims.iat, claims?.['iat'])
      assert.equal(verified.claims.profile, claims?.['eat_profile'])
      checkSubmodStatuses(verified.claims, claims?.['submods'] as Submods, 'ear.status')
    } else if (v.expected.outcome === 'valid-signature') {
      const { payload } = verifyJwsCompact(v.token_b64, jwks, { expectedAlg: 'ES256' })
      assert.deepEqual(JSON.parse(Buffer.from(payload).toString('utf8')), claims)
      expectCode(v, run, STRICT_REJECTION_CODES)
    } else if (v.expected.outcome === 'invalid') {
      expectCode(v, run)
    } else {
      assert.fail(`${v.id}: outcome ${v.expected.outcome} is not handled for ${v.format}`)
    }
  },

  'ear-claims-json (unsigned)': (v) => {
    assert.equal(v.expected.outcome, 'schema-valid')
    assert.ok(v.token_b64 && v.token_json, `${v.id} needs token_b64 and token_json`)
    // token_b64 is standard base64 of the compact UTF-8 text: the strict parser reads those exact bytes.
    const claims = parseEarClaimsJson(new Uint8Array(Buffer.from(v.token_b64, 'base64')))
    assert.equal(claims.profile, v.token_json.eat_profile)
    assert.equal(claims.iat, v.token_json.iat)
    checkSubmodStatuses(claims, v.token_json.submods, 'ear_status')
  },

  'ear-claims-cbor (unsigned)': (v) => {
    assert.ok(v.expected.outcome === 'schema-valid' || v.expected.outcome === 'decodable', v.expected.outcome)
    const bytes = tokenOf(v)
    const claims = parseEarClaimsCbor(decodeCbor(bytes, { allowIndefinite: true }) as CborMap)
    assert.deepEqual(parseEarClaimsCbor(bytes), claims)
    const expectedStatus = v.expected.outcome === 'decodable' ? 'none' : 'contraindicated'
    for (const submod of claims.submods.values()) assert.equal(submod.status, expectedStatus)
    if (v.expected.outcome === 'decodable') {
      // rust-ear writes indefinite-length maps: a definite-only decoder must refuse them.
      assert.throws(
        () => decodeCbor(bytes),
        (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CBOR_INDEFINITE_LENGTH',
      )
    }
  },
}

/** Every submodule the vector lists has the status it lists, and no other submodule exists. */
type Submods = Readonly<Record<string, Readonly<Record<string, unknown>>>>

function checkSubmodStatuses(claims: EarClaims, submods: Submods | undefined, statusName: string): void {
  assert.ok(submods, 'the vector lists no submods')
  assert.deepEqual([...claims.submods.keys()].sort(), Object.keys(submods).sort())
  for (const [label, appraisal] of Object.entries(submods)) {
    assert.equal(claims.submods.get(label)?.status, appraisal[statusName])
  }
}

function checkPsa(v: Vector): void {
  assert.ok(v.expected.outcome === 'valid' || v.expected.outcome === 'valid-signature', v.expected.outcome)
  const token = tokenOf(v)
  const key = v.key?.kty === 'oct' ? secretKeyOf(v) : publicKeyOf(v)
  const expectedInstanceId = v.verifier_inputs?.instance_id_hex
  const expectedNonce = v.verifier_inputs?.expected_nonce_hex
  const resolveKey = (hint: { instanceId: Uint8Array }) =>
    expectedInstanceId === undefined || toHex(hint.instanceId) === expectedInstanceId ? key : undefined
  const verified = verifyPsaToken(token, {
    resolveKey,
    ...(expectedNonce === undefined ? {} : { expectedNonce: fromHex(expectedNonce) }),
  })
  if (expectedInstanceId !== undefined) assert.equal(toHex(verified.claims.instanceId), expectedInstanceId)
  const implementationId = v.verifier_inputs?.implementation_id_hex
  if (implementationId !== undefined) assert.equal(toHex(verified.claims.implementationId), implementationId)
  if (expectedNonce !== undefined) {
    const other = fromHex(expectedNonce)
    other[0] = other[0]! ^ 0xff
    assert.ok(!bytesEqual(other, verified.claims.nonce))
    assert.throws(
      () => verifyPsaToken(token, { resolveKey, expectedNonce: other }),
      (e: unknown) => e instanceof VerifierError && e.code === 'ERR_CLAIMS_NONCE_MISMATCH',
    )
  }
}

describe('conformance vectors (test/vectors)', () => {
  const vectors = loadVectors()

  it('finds the published vectors, each in the file named after its id', () => {
    assert.ok(vectors.length >= 75, `only ${vectors.length} vectors found in ${VECTOR_DIR}`)
    assert.deepEqual(
      vectors.map((v) => `${v.id}.json`),
      vectorFiles(),
    )
  })

  it('leaves only the CoRIM and CoMID vectors to corim.test.ts; every other vector runs here', () => {
    const elsewhere = vectors.filter((v) => ELSEWHERE[v.format] !== undefined)
    for (const v of elsewhere) assert.match(v.format, /^(corim|comid)\b/, `${v.id}: only CoRIM and CoMID run elsewhere`)
    const run = vectors.filter((v) => ELSEWHERE[v.format] === undefined)
    for (const v of run) assert.ok(HANDLERS[v.format], `${v.id}: format ${v.format} has no handler`)
    assert.equal(run.length + elsewhere.length, vectors.length)
  })

  it('knows the expected outcome of every vector, CoRIM and CoMID included', () => {
    for (const v of vectors) assert.ok(KNOWN_OUTCOMES.has(v.expected.outcome), `${v.id}: unknown outcome ${v.expected.outcome}`)
    for (const v of vectors) {
      assert.ok(HANDLERS[v.format] ?? ELSEWHERE[v.format], `${v.id}: format ${v.format} is handled nowhere`)
    }
  })

  it('lists an expected error code only for vectors that exist', () => {
    const ids = new Set(vectors.map((v) => v.id))
    for (const id of Object.keys(NEGATIVE_CODES)) assert.ok(ids.has(id), `NEGATIVE_CODES names missing vector ${id}`)
    for (const id of Object.keys(STRICT_REJECTION_CODES)) {
      assert.ok(ids.has(id), `STRICT_REJECTION_CODES names missing vector ${id}`)
    }
  })

  for (const v of vectors.filter((x) => ELSEWHERE[x.format] === undefined)) {
    it(v.id, () => {
      assert.ok(KNOWN_OUTCOMES.has(v.expected.outcome), `${v.id}: unknown outcome ${v.expected.outcome}`)
      const handler = HANDLERS[v.format]
      assert.ok(handler, `${v.id}: no handler for format ${v.format}`)
      handler(v)
    })
  }
})
