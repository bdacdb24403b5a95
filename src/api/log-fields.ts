/**
 * What a route adds to its request's log line (written by `main/request-log.ts` when the response
 * ends): the appraisal it accepted or read, the session, the tenant and the Evidence media type;
 * for provisioning, the operator, the document and the version a change made.
 * Never Evidence, nonces or anything from a header beyond the media type.
 */
import type { ServerResponse } from 'node:http'

export interface RequestLogFields {
  appraisalId?: string
  sessionId?: string
  tenant?: string
  /** The media type the Evidence was submitted with, as checked at intake. */
  mediaType?: string
  /** The principal id of the request's credential (`api-key:<key id>`, `oidc:<issuer>#<sub>`, `operator-token:<8 hex>`); never a secret. */
  principal?: string
  /** The principal who made a provisioning change (the same id as `principal`). */
  operator?: string
  /** The provisioned document a request changed or read (an id Assay derived), and the version made. */
  endorsementId?: string
  endorsementVersion?: number
}

const FIELDS = Symbol('assay.requestLogFields')

type WithFields = ServerResponse & { [FIELDS]?: RequestLogFields }

/** Adds `fields` to the log line of the request `res` answers. */
export function addLogFields(res: ServerResponse, fields: RequestLogFields): void {
  const target = res as WithFields
  target[FIELDS] = { ...target[FIELDS], ...fields }
}

/** The fields routes added for this response, if any. */
export function logFieldsOf(res: ServerResponse): Readonly<RequestLogFields> | undefined {
  return (res as WithFields)[FIELDS]
}
