/**
 * The CoRIM/CoMID vectors of `test/vectors/` and the refusal each `invalid` one must produce: one
 * table read by the decoder's conformance runner (test/conformance/corim.test.ts) and by the
 * provisioning routes' tests (test/integration/service/corim.test.ts).
 */
import type { JsonWebKey } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import type { ErrorCode } from '../../src/errors/codes.js'
import { VECTOR_DIR } from './vectors.js'

export interface CorimVector {
  readonly id: string
  readonly format: string
  readonly token_hex: string
  readonly key: JsonWebKey | null
  readonly verifier_inputs?: { readonly known_profiles?: readonly string[] }
  readonly expected: { readonly outcome: string; readonly reason: string }
  readonly decoded?: { readonly comid?: { readonly '1'?: { readonly '0'?: { readonly hex?: string } } } }
}

/** Every vector whose format is corim-* or comid, by file name: a new CoRIM vector, whatever its name, is included. */
export function corimVectors(): CorimVector[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(VECTOR_DIR + f, 'utf8')) as CorimVector)
    .filter((v) => /^(corim|comid)\b/.test(v.format))
}

/** The refusal each `invalid` vector must produce: code and a part of the message. */
export const NEGATIVE: Readonly<Record<string, { code: ErrorCode; includes: string }>> = {
  'veraison-corim-psa-profile-bad-impl-id': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: 'exactly 32 bytes, got 31' },
  'veraison-corim-psa-profile-two-keys': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: 'exactly one verification key is required, got 2' },
  'veraison-corim-signed-unknown-profile': { code: 'ERR_CORIM_PROFILE_UNKNOWN', includes: 'http://example.com/example-profile' },
  'veraison-services-corim-psa-bad-class': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: "implementation-id must be of type 'bytes', got 'uuid'" },
  'veraison-services-corim-psa-bad-instance': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: "instance-id must be of type 'ueid', got 'uuid'" },
  'veraison-services-corim-psa-bad-refval-mkey': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: "mkey must be of type 'string', got 'uint'" },
  'veraison-services-corim-psa-bad-ta-cert': {
    code: 'ERR_CORIM_PROFILE_VIOLATION',
    includes: "verification-key must be of type 'pkix-base64-key', got 'pkix-base64-cert'",
  },
  'veraison-services-corim-psa-bad-ta-no-instance': { code: 'ERR_CORIM_PROFILE_VIOLATION', includes: 'environment.instance (instance-id) is required' },
}

/** Signature validity of the Veraison signed CoRIMs: 2021-12-31 .. 2025-12-31; a time inside it. */
export const SIGNED_VECTORS_INSIDE = Date.UTC(2023, 5, 1) / 1000
