/**
 * Signed checkpoints of an audit chain: a compact JWS (ES256, the verifier's EAR signing key, `kid`
 * in the header, so a relying party verifies it with the JWKS Assay publishes) over
 *
 *     {"typ":"assay-audit-checkpoint","tenant":…,"seq":…,"hash":…,"time":…}
 *
 * stating that entry `seq` of `tenant`'s chain had hash `hash` at `time` (ms). The hash commits to
 * every entry up to `seq`. `typ` in the payload keeps a checkpoint from ever being read as an EAR
 * (it has none of an EAR's claims) and an EAR from being read as a checkpoint.
 *
 * Signing and verifying reuse src/results (`signJwtClaims`, `verifyJwsCompact`): ES256 pinned before
 * any key is touched, the key chosen from the caller's JWKS by `kid`, never from the token.
 */
import { isVerifierError } from '../errors/errors.js'
import { isJsonObject, parseStrictJsonUtf8, type JsonValue } from '../jose/json.js'
import { signJwtClaims, type EarSigner } from '../results/sign.js'
import { verifyJwsCompact, type EarJwks } from '../results/verify.js'
import { AUDIT_LIMITS, isHashHex } from './entry.js'

/** The `typ` member of a checkpoint's payload. */
export const CHECKPOINT_TYP = 'assay-audit-checkpoint'

/** What a checkpoint states. */
export interface CheckpointClaims {
  readonly tenant: string
  readonly seq: number
  readonly hash: string
  /** Milliseconds since the epoch, when it was signed. */
  readonly time: number
}

/** Signs a checkpoint with the EAR signer (its `kid` goes in the header). */
export function signCheckpoint(claims: CheckpointClaims, signer: EarSigner): string {
  if (!Number.isSafeInteger(claims.seq) || claims.seq < 1) throw new TypeError('checkpoint seq must be a positive integer')
  if (!isHashHex(claims.hash)) throw new TypeError('checkpoint hash must be 64 lower-case hex digits')
  if (!Number.isSafeInteger(claims.time) || claims.time < 0) throw new TypeError('checkpoint time must be an integer (ms)')
  return signJwtClaims({ typ: CHECKPOINT_TYP, tenant: claims.tenant, seq: claims.seq, hash: claims.hash, time: claims.time }, signer)
}

/** Why a checkpoint does not verify. */
export type CheckpointFailure =
  /** No key of the JWKS has the checkpoint's `kid` (or no ES256 key at all). */
  | 'checkpoint-key-unknown'
  /** A key was found, and the signature is not its. */
  | 'checkpoint-signature'
  /** Not a JWS, not ES256, or a payload that is not a checkpoint's. */
  | 'checkpoint-invalid'

/** The outcome of {@link verifyCheckpoint}. */
export type CheckpointVerification =
  | { readonly ok: true; readonly claims: CheckpointClaims; readonly kid: string | undefined }
  | { readonly ok: false; readonly failure: CheckpointFailure; readonly message: string }

const PAYLOAD_KEYS = ['hash', 'seq', 'tenant', 'time', 'typ']

/**
 * Verifies a checkpoint's signature with a key of `jwks` and reads its claims. Never throws for a
 * bad checkpoint.
 * @throws TypeError for a JWKS that is not one (not `{keys: [...]}`, a private key in it, an entry
 *   that cannot be imported)
 */
export function verifyCheckpoint(jws: string, jwks: EarJwks): CheckpointVerification {
  if (typeof jws !== 'string' || jws.length > AUDIT_LIMITS.maxCheckpointChars) {
    return { ok: false, failure: 'checkpoint-invalid', message: 'not a compact JWS of a checkpoint' }
  }
  let payload: Uint8Array
  let kid: string | undefined
  try {
    ;({ payload, kid } = verifyJwsCompact(jws, jwks, { maxBytes: AUDIT_LIMITS.maxCheckpointChars }))
  } catch (err) {
    // A JWKS that is not one is the caller's mistake, not the checkpoint's.
    if (err instanceof TypeError) throw err
    const message = err instanceof Error ? err.message : String(err)
    if (isVerifierError(err, 'ERR_EAR_KEY_UNKNOWN')) return { ok: false, failure: 'checkpoint-key-unknown', message }
    if (isVerifierError(err, 'ERR_EAR_SIGNATURE_INVALID')) return { ok: false, failure: 'checkpoint-signature', message }
    return { ok: false, failure: 'checkpoint-invalid', message }
  }
  let value: JsonValue
  try {
    value = parseStrictJsonUtf8(payload, 'the checkpoint payload')
  } catch (err) {
    return { ok: false, failure: 'checkpoint-invalid', message: err instanceof Error ? err.message : String(err) }
  }
  const claims = isJsonObject(value) ? value : undefined
  const keys = claims === undefined ? [] : Object.keys(claims).sort()
  const ok =
    claims !== undefined &&
    keys.length === PAYLOAD_KEYS.length &&
    keys.every((key, i) => key === PAYLOAD_KEYS[i]) &&
    claims['typ'] === CHECKPOINT_TYP &&
    typeof claims['tenant'] === 'string' &&
    Number.isSafeInteger(claims['seq']) &&
    (claims['seq'] as number) >= 1 &&
    isHashHex(claims['hash']) &&
    Number.isSafeInteger(claims['time'])
  if (!ok) return { ok: false, failure: 'checkpoint-invalid', message: `the payload is not {typ: "${CHECKPOINT_TYP}", tenant, seq, hash, time}` }
  return {
    ok: true,
    kid,
    claims: { tenant: claims['tenant'] as string, seq: claims['seq'] as number, hash: claims['hash'] as string, time: claims['time'] as number },
  }
}
