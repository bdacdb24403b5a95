#!/usr/bin/env node
/**
 * A relying party's check of an Assay attestation result (EAR), offline: the only trust input is
 * Assay's key set, fetched once from `/.well-known/jwks.json` (or read from a file you keep).
 *
 *   node examples/relying-party/verify-ear.mjs --jwks http://127.0.0.1:8080/.well-known/jwks.json ear.jwt
 *   node examples/relying-party/verify-ear.mjs --jwks jwks.json --nonce <base64url> ear.cwt
 *   curl -s … | node examples/relying-party/verify-ear.mjs --jwks … -
 *
 * The EAR may be a JWT (text) or a CWT (COSE_Sign1 bytes); the form is told from its first bytes.
 * Options:
 *   --jwks <url|file>    Assay's JWKS (required)
 *   --nonce <b64url>     the nonce you sent; the EAR's eat_nonce must equal it
 *   --max-age <seconds>  refuse a result issued longer ago than this
 *   --allow-test-mode    accept results of a verifier in test mode (published keys accepted)
 *
 * On success it prints one JSON object (form, key id, verifier, overall status and, per submodule,
 * status, trust vector, reasons and attester) and exits 0; the result's status is for you to act on.
 * When the EAR does not verify it prints why on stderr and exits 1; usage errors exit 2.
 *
 * Needs `jose` (JWT) and `cbor-x` (CWT): `npm install jose cbor-x` outside this repository.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Decoder } from 'cbor-x'
import { createLocalJWKSet, jwtVerify } from 'jose'

/** EAR profiles and the claim names each uses in JSON. CWTs always use the integer keys below. */
const JSON_NAMING = {
  'tag:ietf.org,2026:rats/ear#03': {
    verifierId: 'ear_verifier_id', status: 'ear_status', vector: 'ear_trustworthiness_vector',
    policyIds: 'ear_appraisal_policy_ids', rawEvidence: 'ear_raw_evidence',
    reasons: 'ear_assay_reasons', attester: 'ear_assay_attester',
  },
  'tag:github.com,2023:veraison/ear': {
    verifierId: 'ear.verifier-id', status: 'ear.status', vector: 'ear.trustworthiness-vector',
    policyIds: 'ear.appraisal-policy-id', rawEvidence: 'ear.raw-evidence',
    reasons: 'ear.assay.reasons', attester: 'ear.assay.attester',
  },
}
const CBOR_KEY = {
  profile: 265, iat: 6, exp: 4, nbf: 5, nonce: 10, verifierId: 1004, status: 1000, vector: 1001,
  rawEvidence: 1002, policyIds: 1003, submods: 266, reasons: -70100, attester: -70101,
}
const CWT_PROFILE = 'tag:ietf.org,2026:rats/ear#03'
/** AR4SI trustworthiness claims in CBOR key order 0..7. */
const TRUST_CLAIMS = ['instance-identity', 'configuration', 'executables', 'file-system', 'hardware',
  'runtime-opaque', 'storage-opaque', 'sourced-data']
const TIER_OF_CODE = new Map([[0, 'none'], [2, 'affirming'], [32, 'warning'], [96, 'contraindicated']])
const TEST_MODE_MARK = '(test mode: published keys accepted)'
const COSE_ALG_ES256 = -7

class Refused extends Error {}

function refuse(message) {
  throw new Refused(message)
}

async function loadJwks(where) {
  try {
    if (/^https?:\/\//.test(where)) {
      const res = await fetch(where, { headers: { accept: 'application/jwk-set+json, application/json' } })
      if (!res.ok) refuse(`HTTP ${res.status}`)
      return await res.json()
    }
    return JSON.parse(readFileSync(where, 'utf8'))
  } catch (err) {
    refuse(`cannot load the JWKS from ${where}: ${err.message}`)
  }
}

function readInput(file) {
  return file === '-' ? readFileSync(0) : readFileSync(file)
}

/** base64url or base64, padded or not, to bytes. */
function nonceBytes(text) {
  return Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64')
}

function checkTimes({ iat, exp, nbf }, maxAge) {
  const now = Math.floor(Date.now() / 1000)
  if (!Number.isSafeInteger(iat)) refuse('iat is missing or not an integer')
  if (exp !== undefined && (!Number.isSafeInteger(exp) || exp <= now)) refuse(`the result expired at ${exp}`)
  if (nbf !== undefined && (!Number.isSafeInteger(nbf) || nbf > now)) refuse('the result is not valid yet (nbf)')
  if (iat > now + 60) refuse('the result was issued in the future (iat)')
  if (maxAge !== undefined && now - iat > maxAge) refuse(`the result is older than ${maxAge} s`)
}

// JWT: jose checks the signature with the JWKS key named by `kid`, the algorithm (ES256 only) and
// exp/nbf; the EAR's own rules are checked here.

async function verifyJwt(token, jwks, options) {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['ES256'] }).catch((err) =>
    refuse(`the JWT does not verify: ${err.code ?? err.message}`),
  )
  const names = JSON_NAMING[payload.eat_profile]
  if (names === undefined) refuse(`eat_profile ${JSON.stringify(payload.eat_profile)} is not an EAR profile`)
  checkTimes(payload, options.maxAge)
  if (options.nonce !== undefined) {
    if (typeof payload.eat_nonce !== 'string' || !nonceBytes(payload.eat_nonce).equals(options.nonce)) {
      refuse('eat_nonce is not the nonce that was sent')
    }
  }
  const submods = {}
  for (const [label, s] of Object.entries(payload.submods ?? {})) {
    submods[label] = {
      status: s[names.status],
      trustVector: s[names.vector] ?? {},
      ...(s[names.policyIds] === undefined ? {} : { policyIds: [s[names.policyIds]].flat() }),
      reasons: s[names.reasons] ?? [],
      ...(s[names.attester] === undefined ? {} : { attester: s[names.attester] }),
    }
  }
  return summary('jwt', protectedHeader.kid, payload.eat_profile, payload, payload[names.verifierId], payload[names.status], submods)
}

// CWT: a COSE_Sign1 (tag 18) whose protected header is {1: -7 (ES256), 4: kid}. The signature is
// over Sig_structure = ["Signature1", protected, external_aad = h'', payload], 64 bytes r||s.

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false })

/** CBOR head of major type `major` with argument `n` (n < 2^32). */
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n])
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n])
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff])
  const b = Buffer.alloc(5)
  b[0] = (major << 5) | 26
  b.writeUInt32BE(n, 1)
  return b
}

const bstr = (bytes) => Buffer.concat([head(2, bytes.length), bytes])

function sigStructure(protectedBytes, payload) {
  const context = Buffer.from('Signature1')
  return Buffer.concat([head(4, 4), head(3, context.length), context, bstr(protectedBytes), bstr(Buffer.alloc(0)), bstr(payload)])
}

function verifyCwt(bytes, jwks, options) {
  let message
  try {
    message = decoder.decode(bytes)
  } catch (err) {
    refuse(`the CWT is not well-formed CBOR: ${err.message}`)
  }
  if (message?.tag === 61) message = message.value // a CWT tag around the COSE_Sign1
  if (message?.tag !== 18 || !Array.isArray(message.value) || message.value.length !== 4) refuse('not a COSE_Sign1 (tag 18)')
  const [protectedBytes, , payload, signature] = message.value
  if (!Buffer.isBuffer(protectedBytes) || !Buffer.isBuffer(payload) || !Buffer.isBuffer(signature)) refuse('malformed COSE_Sign1')
  const header = protectedBytes.length === 0 ? new Map() : decoder.decode(protectedBytes)
  if (!(header instanceof Map) || header.get(1) !== COSE_ALG_ES256) refuse('the protected alg is not ES256')
  const kidBytes = header.get(4)
  const kid = Buffer.isBuffer(kidBytes) ? kidBytes.toString('utf8') : undefined
  const jwk = jwks.keys.find((k) => k.kid === kid && k.kty === 'EC' && k.crv === 'P-256')
  if (jwk === undefined) refuse(`no key in the JWKS has kid ${JSON.stringify(kid)}`)
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  const ok = signature.length === 64 && verifySignature('sha256', sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' }, signature)
  if (!ok) refuse('the CWT signature does not verify')

  const claims = decoder.decode(payload)
  if (!(claims instanceof Map)) refuse('the CWT payload is not a claims map')
  const K = CBOR_KEY
  if (claims.get(K.profile) !== CWT_PROFILE) refuse(`eat_profile ${JSON.stringify(claims.get(K.profile))} is not an EAR profile`)
  checkTimes({ iat: claims.get(K.iat), exp: claims.get(K.exp), nbf: claims.get(K.nbf) }, options.maxAge)
  if (options.nonce !== undefined) {
    const nonce = claims.get(K.nonce)
    if (!Buffer.isBuffer(nonce) || !nonce.equals(options.nonce)) refuse('eat_nonce is not the nonce that was sent')
  }
  const submods = {}
  for (const [label, s] of claims.get(K.submods) ?? new Map()) {
    const vector = {}
    for (const [k, v] of s.get(K.vector) ?? new Map()) vector[TRUST_CLAIMS[k]] = v
    const reasons = (s.get(K.reasons) ?? []).map((r) => Object.fromEntries(r))
    const attester = s.get(K.attester)
    submods[label] = {
      status: TIER_OF_CODE.get(s.get(K.status)),
      trustVector: vector,
      ...(s.get(K.policyIds) === undefined ? {} : { policyIds: s.get(K.policyIds) }),
      reasons,
      // Byte strings shown as base64url, as the JWT form writes them.
      ...(attester === undefined
        ? {}
        : { attester: Object.fromEntries([...attester].map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('base64url') : v])) }),
    }
  }
  const vid = claims.get(K.verifierId)
  const verifier = { developer: vid?.get(0), build: vid?.get(1) }
  const times = { iat: claims.get(K.iat), exp: claims.get(K.exp) }
  return summary('cwt', kid, CWT_PROFILE, times, verifier, TIER_OF_CODE.get(claims.get(K.status)), submods)
}

function summary(form, kid, profile, times, verifier, status, submods) {
  if (typeof verifier?.build !== 'string') refuse('the verifier id is missing')
  if (Object.keys(submods).length === 0) refuse('the result has no submodules')
  // Veraison's naming has no top-level status: the overall status is the worst submodule's.
  const order = ['contraindicated', 'warning', 'none', 'affirming']
  const overall = status ?? order.find((tier) => Object.values(submods).some((s) => s.status === tier))
  return {
    form,
    kid,
    profile,
    iat: times.iat,
    ...(times.exp === undefined ? {} : { exp: times.exp }),
    verifier,
    testMode: verifier.build.includes(TEST_MODE_MARK),
    status: overall,
    submods,
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      jwks: { type: 'string' },
      nonce: { type: 'string' },
      'max-age': { type: 'string' },
      'allow-test-mode': { type: 'boolean', default: false },
    },
  })
  if (values.jwks === undefined || positionals.length !== 1) {
    console.error('usage: verify-ear.mjs --jwks <url|file> [--nonce <b64url>] [--max-age <s>] [--allow-test-mode] <ear-file | ->')
    return 2
  }
  const options = {
    nonce: values.nonce === undefined ? undefined : nonceBytes(values.nonce),
    maxAge: values['max-age'] === undefined ? undefined : Number(values['max-age']),
  }
  try {
    const jwks = await loadJwks(values.jwks)
    if (!Array.isArray(jwks?.keys)) refuse('the JWKS has no keys array')
    const input = readInput(positionals[0])
    // A CWT starts with tag 18 (0xd2) or tag 61 (0xd8 0x3d); anything else is read as a JWT.
    const isCwt = input[0] === 0xd2 || (input[0] === 0xd8 && input[1] === 0x3d)
    const result = isCwt ? verifyCwt(input, jwks, options) : await verifyJwt(input.toString('utf8').trim(), jwks, options)
    if (result.testMode && !values['allow-test-mode']) {
      refuse(`the verifier ran in test mode ("${result.verifier.build}"): its keys may be forgeable`)
    }
    console.log(JSON.stringify(result, null, 2))
    return 0
  } catch (err) {
    if (!(err instanceof Refused)) throw err
    console.error(`EAR refused: ${err.message}`)
    return 1
  }
}

process.exitCode = await main()
