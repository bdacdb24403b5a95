/**
 * Operator-defined EAT profiles (issue 9): a profile as a JSON document, validated with zod, and the
 * `EatProfile` it becomes. An operator provisions one through `/v1/profiles` or a reference-values
 * file (`eat.profiles`); Evidence that names it (`eat_profile` claim or media-type parameter) is then
 * appraised under it.
 *
 * Everything is an allow-list of what Assay implements: signature algorithms from the COSE and JOSE
 * tables (never `none`, never a MAC: a profile describes signed Evidence), claims from the EAT claim
 * table, key sources the verifier knows. A document naming anything else is refused, so a profile
 * can narrow what Assay accepts but never widen it. The ids of built-in profiles (RFC 9711's
 * constrained profile, every PSA profile) are refused: an operator cannot redefine them.
 *
 * ```json
 * { "id": "tag:vendor.example,2026:sensor",
 *   "envelopes": ["cwt"], "coseAlgorithms": ["ES256"],
 *   "keySources": ["kid"], "mandatoryClaims": ["eat_nonce", "ueid", "oemid", "hwmodel"],
 *   "freshness": "nonce" }
 * ```
 */
import { z } from 'zod'
import { ALGORITHMS } from '../../cose/algorithms.js'
import { JOSE_ALGORITHMS } from '../../jose/algorithms.js'
import {
  PSA_PROFILE_2_0_0,
  PSA_PROFILE_BASE,
  PSA_PROFILE_LEGACY,
  PSA_PROFILE_LEGACY_URI,
  PSA_PROFILE_TFM,
} from '../psa/descriptor.js'
import { CLAIMS, EAT_PROFILE_RFC9711, type ClaimField } from './descriptor.js'
import type { EatProfile, Envelope, KeySource } from './profiles.js'

/** Profile ids built into Assay, lower-case: no operator profile may take one of them. */
export const BUILT_IN_PROFILE_IDS: ReadonlySet<string> = new Set(
  [EAT_PROFILE_RFC9711, PSA_PROFILE_TFM, PSA_PROFILE_BASE, PSA_PROFILE_LEGACY, PSA_PROFILE_LEGACY_URI, PSA_PROFILE_2_0_0].map((id) =>
    id.toLowerCase(),
  ),
)

/** Longest profile id: an `eat_profile` URI or OID text. */
export const MAX_PROFILE_ID_LENGTH = 256
/** Bounds of `maxAgeSeconds`, the oldest `iat` time-based freshness accepts. */
export const MAX_AGE_SECONDS_BOUNDS = Object.freeze({ min: 1, max: 86_400 })

/** COSE signature algorithms by name (ES256, ESP256, EdDSA, PS256…); MACs are not signatures. */
const COSE_SIGNATURES: ReadonlyMap<string, number> = new Map(
  [...ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => [a.name, a.id]),
)
/** JOSE signature algorithms by `alg` name; `none` and HS* are not in it. */
const JOSE_SIGNATURES: readonly string[] = [...JOSE_ALGORITHMS.values()].filter((a) => a.kind === 'signature').map((a) => a.name)

/** Claim fields by the claim name a profile document uses (the JWT name: `eat_nonce`, `ueid`…). */
const CLAIM_BY_NAME: ReadonlyMap<string, ClaimField> = new Map(CLAIMS.map((r) => [r.name, r.field]))

/** Key sources by the name a profile document uses; `pinned` is a certificate found by its x5t. */
const KEY_SOURCE: Readonly<Record<string, KeySource>> = { x5chain: 'x5chain', pinned: 'x5t', kid: 'kid', ueid: 'ueid' }

const ENVELOPES = ['cwt', 'jwt', 'cbor-bundle', 'json-bundle'] as const

/** The names each list of a profile document may hold (openapi.yaml lists the same; a test checks). */
export const PROFILE_DOCUMENT_NAMES = Object.freeze({
  envelopes: [...ENVELOPES] as readonly string[],
  coseAlgorithms: [...COSE_SIGNATURES.keys()] as readonly string[],
  joseAlgorithms: JOSE_SIGNATURES,
  keySources: Object.keys(KEY_SOURCE) as readonly string[],
  mandatoryClaims: [...CLAIM_BY_NAME.keys()] as readonly string[],
})
const COSE_ENVELOPES: ReadonlySet<Envelope> = new Set(['cwt', 'cbor-bundle'])
const JOSE_ENVELOPES: ReadonlySet<Envelope> = new Set(['jwt', 'json-bundle'])

/** A list of distinct values from `values`, at most as long as there are values. */
function distinct<T extends string>(values: readonly [T, ...T[]], what: string) {
  return z
    .array(z.enum(values, { message: `${what} must be one of ${values.join(', ')}` }))
    .max(values.length)
    .refine((list) => new Set(list).size === list.length, `${what} lists a value twice`)
}

const nonEmpty = <T>(values: readonly T[]): [T, ...T[]] => values as [T, ...T[]]

const profileId = z
  .string()
  .min(1)
  .max(MAX_PROFILE_ID_LENGTH)
  // A URI (RFC 3986) or an OID in dotted text: printable ASCII, no spaces or quotes.
  .regex(/^[\x21\x23-\x7e]+$/, 'must be a URI or OID text: printable ASCII, no spaces or quotes')
  .refine((id) => !BUILT_IN_PROFILE_IDS.has(id.toLowerCase()), 'is a built-in profile; an operator profile cannot redefine it')

/** The JSON form of an operator-defined EAT profile. */
export const eatProfileDocumentSchema = z
  .object({
    id: profileId,
    comment: z.string().max(1024).optional(),
    envelopes: distinct(ENVELOPES, 'envelopes').min(1),
    coseAlgorithms: distinct(nonEmpty([...COSE_SIGNATURES.keys()]), 'coseAlgorithms').default([]),
    joseAlgorithms: distinct(nonEmpty(JOSE_SIGNATURES), 'joseAlgorithms').default([]),
    keySources: distinct(nonEmpty(Object.keys(KEY_SOURCE)), 'keySources').min(1),
    mandatoryClaims: distinct(nonEmpty([...CLAIM_BY_NAME.keys()]), 'mandatoryClaims').default([]),
    freshness: z.enum(['nonce', 'time', 'either']),
    maxAgeSeconds: z.number().int().min(MAX_AGE_SECONDS_BOUNDS.min).max(MAX_AGE_SECONDS_BOUNDS.max).default(300),
    allowIndefinite: z.boolean().default(false),
    debugEnabled: z.enum(['warning', 'contraindicated']).default('contraindicated'),
    claimDependencies: z.boolean().default(true),
    referenceValues: z.enum(['eat-class', 'none']).default('eat-class'),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const envelopes = new Set<Envelope>(doc.envelopes)
    if ([...COSE_ENVELOPES].some((e) => envelopes.has(e)) && doc.coseAlgorithms.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['coseAlgorithms'], message: 'a profile with CBOR envelopes (cwt, cbor-bundle) needs at least one COSE algorithm' })
    }
    if ([...JOSE_ENVELOPES].some((e) => envelopes.has(e)) && doc.joseAlgorithms.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['joseAlgorithms'], message: 'a profile with JSON envelopes (jwt, json-bundle) needs at least one JOSE algorithm' })
    }
    if (envelopes.has('cbor-bundle') && !envelopes.has('cwt')) {
      ctx.addIssue({ code: 'custom', path: ['envelopes'], message: 'cbor-bundle needs cwt: a bundle\'s main token is a CWT' })
    }
    if (envelopes.has('json-bundle') && !envelopes.has('jwt') && !envelopes.has('cwt')) {
      ctx.addIssue({ code: 'custom', path: ['envelopes'], message: 'json-bundle needs jwt or cwt for its main token' })
    }
  })

/** An operator profile as written (defaults applied). */
export type EatProfileDocument = z.infer<typeof eatProfileDocumentSchema>

/** The profile a validated document describes. */
export function eatProfileFromDocument(doc: EatProfileDocument): EatProfile {
  return Object.freeze<EatProfile>({
    id: doc.id,
    envelopes: new Set<Envelope>(doc.envelopes),
    coseAlgorithms: new Set(doc.coseAlgorithms.map((name) => COSE_SIGNATURES.get(name)!)),
    joseAlgorithms: new Set(doc.joseAlgorithms),
    keySources: doc.keySources.map((s) => KEY_SOURCE[s]!),
    mandatoryClaims: doc.mandatoryClaims.map((name) => CLAIM_BY_NAME.get(name)!),
    freshness: doc.freshness,
    maxAgeSeconds: doc.maxAgeSeconds,
    allowIndefinite: doc.allowIndefinite,
    debugEnabled: doc.debugEnabled,
    claimDependencies: doc.claimDependencies,
    referenceValues: doc.referenceValues,
    operatorDefined: true,
  })
}
