/**
 * The decoded form of a CoRIM and its CoMID tags (draft-ietf-rats-corim, specs.md §7). Only what
 * the decoder accepts has a type here: anything else is refused when decoding, by name, never
 * dropped. Byte strings stay `Uint8Array`; big unsigned values (svn) may be `bigint`.
 */
import type { CborValue } from '../cose/cbor.js'

/** A tagged identifier: 560 tagged-bytes, 37 UUID (16 bytes), 111 OID (BER contents), 550 UEID. */
export type TaggedId =
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }
  | { readonly type: 'uuid'; readonly bytes: Uint8Array }
  | { readonly type: 'oid'; readonly bytes: Uint8Array }
  | { readonly type: 'ueid'; readonly bytes: Uint8Array }

/** A verification key or key identifier (CoRIM `$crypto-key-type-choice`) the decoder accepts. */
export type CryptoKey =
  /** 554: PEM SubjectPublicKeyInfo. */
  | { readonly type: 'pkix-base64-key'; readonly pem: string }
  /** 555: PEM certificate. */
  | { readonly type: 'pkix-base64-cert'; readonly pem: string }
  /** 556: PEM certificate path. */
  | { readonly type: 'pkix-base64-cert-path'; readonly pem: string }
  /** 562: DER certificate. */
  | { readonly type: 'pkix-asn1der-cert'; readonly der: Uint8Array }
  /** 560: opaque bytes (PSA signer-id, a key id). */
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }

export interface ClassMap {
  readonly classId?: Exclude<TaggedId, { type: 'ueid' }>
  readonly vendor?: string
  readonly model?: string
  readonly layer?: number
  readonly index?: number
}

export type Instance = TaggedId | { readonly type: 'key'; readonly key: CryptoKey }

export interface Environment {
  readonly class?: ClassMap
  readonly instance?: Instance
  readonly group?: Extract<TaggedId, { type: 'uuid' | 'bytes' }>
}

export type Mkey =
  | { readonly type: 'uint'; readonly value: number }
  | { readonly type: 'text'; readonly value: string }
  | { readonly type: 'uuid'; readonly bytes: Uint8Array }
  | { readonly type: 'oid'; readonly bytes: Uint8Array }

/** Named Information hash algorithms (IANA), by their CoRIM id; `unknown` keeps what was written. */
export type DigestAlgorithm =
  | 'sha-256'
  | 'sha-256-128'
  | 'sha-256-120'
  | 'sha-256-96'
  | 'sha-256-64'
  | 'sha-256-32'
  | 'sha-384'
  | 'sha-512'
  | 'sha3-224'
  | 'sha3-256'
  | 'sha3-384'
  | 'sha3-512'

export type Digest =
  | { readonly alg: DigestAlgorithm; readonly value: Uint8Array }
  /** An algorithm outside the registry (a private text name or id): kept, never compared. */
  | { readonly alg: 'unknown'; readonly id: number | string; readonly value: Uint8Array }

export type Svn = { readonly type: 'exact' | 'min'; readonly value: number | bigint }

export const FLAG_NAMES = [
  'is-configured',
  'is-secure',
  'is-recovery',
  'is-debug',
  'is-replay-protected',
  'is-integrity-protected',
  'is-runtime-meas',
  'is-immutable',
  'is-tcb',
  'is-confidentiality-protected',
  'is-runtime-updatable',
] as const
export type FlagName = (typeof FLAG_NAMES)[number]

export interface MeasurementValues {
  readonly version?: { readonly version: string; readonly scheme?: number }
  readonly svn?: Svn
  readonly digests?: readonly Digest[]
  readonly flags?: ReadonlyMap<FlagName, boolean>
  /** 560(bytes), or 563([value, mask]), or 560(bytes) with the deprecated mask key 5. */
  readonly rawValue?: { readonly value: Uint8Array; readonly mask?: Uint8Array }
  readonly macAddr?: Uint8Array
  readonly ipAddr?: Uint8Array
  readonly serialNumber?: string
  readonly ueid?: Uint8Array
  readonly uuid?: Uint8Array
  readonly name?: string
  readonly cryptokeys?: readonly CryptoKey[]
  /** Register id (uint or text) → digests. */
  readonly integrityRegisters?: ReadonlyMap<number | string, readonly Digest[]>
  /** Private-use keys the CoRIM's profile defines, with their values as decoded. */
  readonly extensions: ReadonlyMap<number, CborValue>
}

export interface Measurement {
  readonly mkey?: Mkey
  readonly mval: MeasurementValues
  readonly authorizedBy?: readonly CryptoKey[]
}

export interface ReferenceTriple {
  readonly environment: Environment
  readonly measurements: readonly Measurement[]
}

/** Endorsed-values triple: the same shape, read as "this environment has these values". */
export type EndorsedTriple = ReferenceTriple

/** Attest-key and identity triples: keys bound to an environment. */
export interface KeyTriple {
  readonly environment: Environment
  readonly keys: readonly CryptoKey[]
  readonly mkey?: Mkey
  readonly authorizedBy?: readonly CryptoKey[]
}

export interface Entity {
  readonly name: string
  readonly regId?: string
  readonly roles: readonly number[]
  readonly extensions: ReadonlyMap<number, CborValue>
}

export interface LinkedTag {
  /** Text, or a 16-byte UUID. */
  readonly tagId: string | Uint8Array
  /** 0 supplements, 1 replaces. */
  readonly rel: number
}

export interface Comid {
  readonly language?: string
  /** Text, or a 16-byte UUID. */
  readonly tagId: string | Uint8Array
  readonly tagVersion: number
  readonly entities: readonly Entity[]
  readonly linkedTags: readonly LinkedTag[]
  readonly referenceTriples: readonly ReferenceTriple[]
  readonly endorsedTriples: readonly EndorsedTriple[]
  readonly identityTriples: readonly KeyTriple[]
  readonly attestKeyTriples: readonly KeyTriple[]
  /** SHA-256 of the CoMID bytes as received: with `tagId` and `tagVersion`, what makes a re-submission idempotent. */
  readonly digest: Uint8Array
}

export interface DependentRim {
  readonly href: readonly string[]
  readonly thumbprints: readonly Digest[]
}

export interface Validity {
  readonly notBefore?: number
  readonly notAfter: number
}

export interface CorimProfileId {
  readonly type: 'uri' | 'oid'
  /** The URI, or the OID in dotted form. */
  readonly value: string
}

/** Who signed a signed CoRIM (corim-meta signer, or the CWT `iss`), as the CoRIM says. */
export interface CorimSigner {
  readonly name: string
  readonly uri?: string
}

export interface Corim {
  /** Text, or a 16-byte UUID. */
  readonly id: string | Uint8Array
  readonly comids: readonly Comid[]
  readonly dependentRims: readonly DependentRim[]
  readonly profile?: CorimProfileId
  readonly validity?: Validity
  readonly entities: readonly Entity[]
  readonly extensions: ReadonlyMap<number, CborValue>
  /** SHA-256 of the unsigned CoRIM (tagged 501) bytes as received. */
  readonly digest: Uint8Array
  /** Present when the CoRIM was signed and verified. */
  readonly signature?: {
    readonly signer: CorimSigner
    readonly validity?: Validity
    /** SPKI SHA-256 (hex) of the caller's key that verified it. */
    readonly keySpkiSha256: string
  }
}
