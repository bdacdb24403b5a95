/** The error that names why a nonce in Evidence gave it no freshness (`NonceStore.consume`'s answer). */
import { VerifierError } from '../errors/errors.js'
import type { NonceUse } from '../store/types.js'

export function nonceRefusal(use: Exclude<NonceUse, 'consumed'>): VerifierError {
  switch (use) {
    case 'used':
      return new VerifierError('ERR_CLAIMS_NONCE_REPLAYED', 'eat_nonce was already used by another appraisal: this Evidence is a replay')
    case 'expired':
      return new VerifierError('ERR_CLAIMS_NONCE_EXPIRED', 'eat_nonce was issued by this verifier but expired before it was used: get a new nonce')
    case 'unknown':
      return new VerifierError(
        'ERR_CLAIMS_NONCE_UNKNOWN',
        'eat_nonce is not known to this verifier: never issued to this tenant, or expired or used so long ago that it is forgotten',
      )
  }
}
