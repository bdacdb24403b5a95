/**
 * Veraison-compatible challenge/response sessions, so existing RATS clients work unchanged:
 * `POST newSession?nonceSize=N|nonce=<base64url>`, then `POST session/{id}` with the Evidence,
 * `GET` and `DELETE session/{id}`. Results use Veraison's EAR naming.
 *
 * Wire details follow Veraison's Go client (github.com/veraison/apiclient, `verification/`), which
 * sends `nonce` as unpadded base64url, asks for `Accept: application/vnd.veraison.challenge-response-session+json`,
 * decodes the session's `nonce` as unpadded base64url (strictly: padding or `+`/`/` fail it), takes
 * 200 as final (it must read `complete`) and polls on 202. So the session document carries the
 * nonce in unpadded base64url, as the native API and EARs do, and a submission whose appraisal is
 * still running answers 202. On input both alphabets and both paddings are accepted, as older
 * clients and Veraison's own server use padded base64url or base64.
 *
 * Credentials (`../auth.ts`): with `ASSAY_EVIDENCE_AUTH=open` none, in the default tenant; with
 * `attester`, opening a session needs `attester` and the session is of its tenant; submitting to it
 * needs the credential that opened it; reading or deleting it needs that credential or a
 * `relying-party` of the tenant.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { Router, type Request, type Response } from 'express'
import { VerifierError } from '../../errors/errors.js'
import type { Session } from '../../store/types.js'
import { evidence as evidenceCredential, mayRead, recordSubmitter, resultReader, tenantOf } from '../auth.js'
import type { ApiDeps } from '../deps.js'
import { tryParseMediaType } from '../../evidence/media-type.js'
import { base64urlEncode, decodeBase64Lenient, type Base64Refusal } from '../../util/base64url.js'
import { addLogFields } from '../log-fields.js'
import { admit, bodyBytes, boundedList, checkEvidenceMediaType, rawBody, refuseOtherMethods, submit } from '../http.js'
import { countResult, nonceSize, withReservedResult } from './appraisals.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The session document's media type, as Veraison's clients ask for it and its server answers. */
export const SESSION_MEDIA_TYPE = 'application/vnd.veraison.challenge-response-session+json'
/** The name in Veraison's API documents (`veraison/docs`), answered too. */
const SESSION_MEDIA_TYPE_RATS = 'application/rats-challenge-response-session+json'
const SESSION_MEDIA_TYPES = [SESSION_MEDIA_TYPE, SESSION_MEDIA_TYPE_RATS, 'application/json'] as const

const NONCE_RULE =
  'nonce must be 8 to 64 bytes in unpadded base64url (RFC 4648 §5), as Veraison clients send it; padded base64url and base64 are accepted too'
const URL_ENCODE = "in the query string URL-encode '+' as %2B, '/' as %2F and '=' as %3D"
const NONCE_REFUSALS: Readonly<Record<Base64Refusal, string>> = {
  space: `nonce holds a space: a '+' that was not URL-encoded arrives as one; ${URL_ENCODE}, or send unpadded base64url`,
  alphabet: `nonce holds a character that is neither base64url nor base64; ${URL_ENCODE}`,
  'mixed-alphabets': "nonce mixes base64url ('-', '_') and base64 ('+', '/') characters",
  padding: `nonce has incomplete padding; leave '=' out, or ${URL_ENCODE}`,
  length: 'nonce has a length no base64 text has',
  'trailing-bits': 'nonce is not canonical base64: the unused bits of its last character are not zero',
}

function clientNonce(raw: unknown): Uint8Array | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string') throw new VerifierError('ERR_REQUEST_MALFORMED', `give one nonce; ${NONCE_RULE}`)
  const bytes = decodeBase64Lenient(raw)
  if (typeof bytes === 'string') throw new VerifierError('ERR_REQUEST_MALFORMED', `${NONCE_REFUSALS[bytes]} (${NONCE_RULE})`)
  if (bytes.length < 8 || bytes.length > 64) {
    throw new VerifierError('ERR_REQUEST_MALFORMED', `nonce is ${bytes.length} bytes; ${NONCE_RULE}`)
  }
  return bytes
}

/**
 * The session document's media type for `Accept`: Veraison's by default (no `Accept`, or any
 * type), or one of the others when asked for; 406 when none is acceptable.
 */
function sessionMediaType(accept: string | undefined): string {
  if (accept === undefined || accept.trim() === '') return SESSION_MEDIA_TYPE
  const offers = boundedList('Accept', accept)
    .map((part, index) => {
      const m = tryParseMediaType(part)
      const q = Number(m?.parameters.get('q') ?? '1')
      return m === undefined ? undefined : { essence: m.essence, q: Number.isFinite(q) ? q : 0, index }
    })
    .filter((o): o is NonNullable<typeof o> => o !== undefined && o.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
  for (const { essence } of offers) {
    if (essence === '*/*' || essence === 'application/*') return SESSION_MEDIA_TYPE
    const known = SESSION_MEDIA_TYPES.find((t) => t === essence)
    if (known !== undefined) return known
  }
  throw new VerifierError('ERR_REQUEST_NOT_ACCEPTABLE', `acceptable: ${SESSION_MEDIA_TYPES.join(', ')}`)
}

function sendSession(req: Request, res: Response, status: number, view: Record<string, unknown>): void {
  res.status(status).type(sessionMediaType(req.get('accept'))).send(JSON.stringify(view))
}

export function challengeResponseRoutes(deps: ApiDeps): Router {
  const router = Router()

  const sessionOf = async (req: Request, res: Response, openerOnly = false): Promise<Session> => {
    const tenant = tenantOf(res)
    const id = String(req.params['id'])
    if (UUID.test(id)) addLogFields(res, { sessionId: id, tenant })
    if (UUID.test(id)) await mayRead(deps, res, id, openerOnly)
    const session = UUID.test(id) ? await deps.store.sessions.get(tenant, id) : undefined
    if (session === undefined || session.expiresAt <= Date.now()) throw new VerifierError('ERR_SESSION_NOT_FOUND')
    return session
  }

  router.post('/newSession', ...evidenceCredential(deps), async (req: Request, res: Response) => {
    const tenant = tenantOf(res)
    sessionMediaType(req.get('accept'))
    const given = clientNonce(req.query['nonce'])
    if (given !== undefined && req.query['nonceSize'] !== undefined) {
      throw new VerifierError('ERR_REQUEST_MALFORMED', 'give either nonce or nonceSize, not both')
    }
    const session: Session = {
      id: randomUUID(),
      tenant,
      nonce: given ?? new Uint8Array(randomBytes(nonceSize(req.query['nonceSize']))),
      status: 'waiting',
      expiresAt: Date.now() + deps.config.sessionTtlSeconds * 1000,
      accept: deps.registry.accepted(),
    }
    await recordSubmitter(deps, res, session.id, deps.config.sessionTtlSeconds)
    await deps.store.sessions.create(session)
    addLogFields(res, { sessionId: session.id, tenant })
    res.setHeader('Location', `session/${session.id}`)
    sendSession(req, res, 201, await sessionView(deps, session))
  })

  router.post('/session/:id', ...evidenceCredential(deps), rawBody(deps.config.bodyLimitBytes), async (req: Request, res: Response) => {
    const tenant = tenantOf(res)
    sessionMediaType(req.get('accept'))
    const session = await sessionOf(req, res, true)
    const evidence = bodyBytes(req.body)
    const mediaType = checkEvidenceMediaType(deps, req.get('content-type'), evidence)
    addLogFields(res, { mediaType })
    if (session.status !== 'waiting') throw new VerifierError('ERR_SESSION_STATE', `session is ${session.status}`)
    await admit(deps)
    // The appraisal id is fixed before the claim so the session names it from the start.
    const appraisalId = randomUUID()
    addLogFields(res, { appraisalId })
    // The session keeps the digest; the Evidence itself travels in the job only.
    const evidenceDigest = createHash('sha256').update(evidence).digest('base64')
    const claimed = await withReservedResult(deps, tenant, appraisalId, evidence.length, async () => {
      const submission = { appraisalId, evidenceMediaType: mediaType, evidenceDigest }
      const claimed = await deps.store.sessions.claim(tenant, session.id, submission)
      if (claimed === undefined) throw new VerifierError('ERR_SESSION_STATE', 'session already has Evidence or has expired')
      // The submitter of the session reads the result through it; recorded under the appraisal id too.
      await recordSubmitter(deps, res, appraisalId, deps.config.resultTtlSeconds)
      const job = {
        mediaType,
        evidence: Buffer.from(evidence).toString('base64'),
        sessionId: session.id,
        expectedNonce: Buffer.from(session.nonce).toString('base64'),
        earProfile: 'veraison' as const,
      }
      try {
        await submit(deps, tenant, job, deps.config.sessionWaitSeconds * 1000, appraisalId)
      } catch (err) {
        // Not queued (queue full or down): the session takes Evidence again rather than stay processing.
        await deps.store.sessions.unclaim(tenant, session.id, appraisalId).catch((unclaimErr: unknown) => {
          deps.log?.(`session ${session.id}: cannot undo the claim of appraisal ${appraisalId}`, unclaimErr)
        })
        throw err
      }
      return claimed
    })
    const current = (await deps.store.sessions.get(tenant, session.id)) ?? claimed
    const view = await sessionView(deps, current)
    // Final (complete or failed) is 200; still running is 202, on which Veraison's clients poll.
    sendSession(req, res, view['status'] === 'processing' ? 202 : 200, view)
  })

  router.get('/session/:id', ...resultReader(deps), async (req: Request, res: Response) => {
    sessionMediaType(req.get('accept'))
    const session = await sessionOf(req, res)
    if (session.appraisalId !== undefined) addLogFields(res, { appraisalId: session.appraisalId })
    sendSession(req, res, 200, await sessionView(deps, session))
  })

  router.delete('/session/:id', ...resultReader(deps), async (req: Request, res: Response) => {
    const id = String(req.params['id'])
    if (UUID.test(id)) await mayRead(deps, res, id)
    if (!UUID.test(id) || !(await deps.store.sessions.delete(tenantOf(res), id))) throw new VerifierError('ERR_SESSION_NOT_FOUND')
    res.status(204).end()
  })

  return refuseOtherMethods(router)
}

/**
 * Veraison's session document: status, nonce, expiry, accept, and the result when present. Veraison
 * also echoes the Evidence (`evidence: {type, value}`); Assay keeps only its digest, given as
 * `evidenceDigest: {type, alg, value}`, and leaves `evidence` out (Veraison's clients read only
 * `status` and `result`, and the Rust client requires `value` whenever `evidence` is present).
 * A session whose appraisal failed for a fault names the fault id in `fault`. A document that carries
 * a finished result counts it in `assay_appraisals_total`.
 */
async function sessionView(deps: ApiDeps, session: Session): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    status: session.status,
    nonce: base64urlEncode(session.nonce),
    expiry: new Date(session.expiresAt).toISOString(),
    accept: session.accept,
  }
  if (session.evidenceDigest !== undefined) {
    out['evidenceDigest'] = { type: session.evidenceMediaType, alg: 'sha-256', value: session.evidenceDigest }
  }
  if (session.appraisalId !== undefined && session.status !== 'waiting') {
    const record = await deps.store.results.get(session.tenant, session.appraisalId)
    if (record?.status === 'complete') {
      out['status'] = 'complete'
      out['result'] = deps.results.render(record, 'jwt', 'veraison')
      countResult(deps, 'challenge-response', record)
    } else if (record?.status === 'failed' || (record === undefined && (await deps.queue.state(session.appraisalId)) === 'failed')) {
      out['status'] = 'failed'
      if (record?.fault !== undefined) out['fault'] = record.fault
      deps.metrics.appraisals.inc({ api: 'challenge-response', status: 'failed' })
    }
  }
  return out
}
