/**
 * What every Redis adapter in this folder shares: a client made from a URL, and the mapping of a
 * failed command onto the store error codes.
 */
import { Redis } from 'ioredis'
import { VerifierError } from '../../errors/errors.js'

/**
 * A client for `url` that fails a command after one reconnection attempt (`maxRetriesPerRequest: 1`)
 * instead of queueing it, and hands connection errors to `onClientError` (an unhandled `error`
 * event would end the process).
 */
export function clientFromUrl(url: string, onClientError: ((err: Error) => void) | undefined): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', onClientError ?? (() => {}))
  return client
}

/**
 * A failed command as a store error: a `VerifierError` thrown inside the command as it is;
 * `ERR_STORE_FULL` when Redis refused to grow (`maxmemory` under `noeviction`: `OOM …`, also among a
 * transaction's `previousErrors`); `ERR_STORE_UNAVAILABLE` otherwise.
 */
export function unavailable(cause: unknown): VerifierError {
  if (cause instanceof VerifierError) return cause
  const reason = cause instanceof Error ? cause.message : String(cause)
  const previous = (cause as { previousErrors?: unknown } | null)?.previousErrors
  const reasons = [reason, ...(Array.isArray(previous) ? previous.map((e) => (e instanceof Error ? e.message : String(e))) : [])]
  if (reasons.some((text) => text.startsWith('OOM '))) return new VerifierError('ERR_STORE_FULL', `Redis is full: ${reason}`, { cause })
  return new VerifierError('ERR_STORE_UNAVAILABLE', `Redis command failed: ${reason}`, { cause })
}
