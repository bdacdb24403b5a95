import { timingSafeEqual } from 'node:crypto'

/**
 * Constant-time equality for secrets, nonces and MAC tags. The length is not secret (nonce and
 * tag sizes are public), so a length mismatch returns false at once; equal-length inputs are
 * compared without data-dependent branches.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}
