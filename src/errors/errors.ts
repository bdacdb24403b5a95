import { ERROR_CATALOGUE, type ErrorCode, type ErrorFamily } from './codes.js'

export interface VerifierErrorOptions {
  readonly cause?: unknown
  /** Where in the input the problem was found, e.g. `$[1]{4}` for a CBOR path. */
  readonly path?: string
  /** Id of a logged fault, sent in the problem so the client can quote it (`faultId`). */
  readonly faultId?: string
}

/**
 * The one error type Assay throws on purpose. Its `code` is stable and names a catalogue row;
 * `family` and `status` come from that row, never from the throw site.
 */
export class VerifierError extends Error {
  readonly code: ErrorCode
  readonly family: ErrorFamily
  readonly status: number
  readonly path: string | undefined
  readonly faultId: string | undefined

  constructor(code: ErrorCode, message?: string, options: VerifierErrorOptions = {}) {
    const entry = ERROR_CATALOGUE[code]
    super(message ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VerifierError'
    this.code = code
    this.family = entry.family
    this.status = entry.status
    this.path = options.path
    this.faultId = options.faultId
  }

  /** The catalogue title of this error's code. */
  get title(): string {
    return ERROR_CATALOGUE[this.code].title
  }

  /** Whether `detail` may be shown to the caller; faults are described only in logs. */
  get expose(): boolean {
    return this.family !== 'fault'
  }
}

export function isVerifierError(err: unknown, code?: ErrorCode): err is VerifierError {
  return err instanceof VerifierError && (code === undefined || err.code === code)
}
