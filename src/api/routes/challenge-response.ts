/**
 * Veraison-compatible challenge/response sessions, so existing RATS clients work unchanged:
 * `POST newSession?nonceSize=N|nonce=<base64>`, then `POST session/{id}` with the Evidence,
 * `GET` and `DELETE session/{id}`. Results use Veraison's EAR naming.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { Router, type Request, type Response } from 'express'
import { VerifierError } from '../../errors/errors.js'
import { DEFAULT_TENANT, type Session } from '../../store/types.js'
import type { ApiDeps } from '../deps.js'
import { addLogFields } from '../log-fields.js'
import { admit, bodyBytes, checkEvidenceMediaType, rawBody, submit } from '../http.js'
import { countResult, nonceSize, withReservedResult } from './appraisals.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/

function clientNonce(raw: unknown): Uint8Array | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !BASE64.test(raw)) throw new VerifierError('ERR_REQUEST_MALFORMED', 'nonce must be base64')
  const bytes = Buffer.from(raw.replaceAll('-', '+').replaceAll('_', '/'), 'base64')
  if (bytes.length < 8 || bytes.length > 64) throw new VerifierError('ERR_REQUEST_MALFORMED', 'nonce must be 8 to 64 bytes')
  return new Uint8Array(bytes)
}

export function challengeResponseRoutes(deps: ApiDeps): Router {
  const router = Router()
  const tenant = DEFAULT_TENANT

  const sessionOf = async (req: Request, res: Response): Promise<Session> => {
    const id = String(req.params['id'])
    if (UUID.test(id)) addLogFields(res, { sessionId: id, tenant })
    const session = UUID.test(id) ? await deps.store.sessions.get(tenant, id) : undefined
    if (session === undefined || session.expiresAt <= Date.now()) throw new VerifierError('ERR_SESSION_NOT_FOUND')
    return session
  }

  router.post('/newSession', async (req: Request, res: Response) => {
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
    await deps.store.sessions.create(session)
    addLogFields(res, { sessionId: session.id, tenant })
    res.setHeader('Location', `session/${session.id}`)
    res.status(201).json(await sessionView(deps, session))
  })

  router.post('/session/:id', rawBody(deps.config.bodyLimitBytes), async (req: Request, res: Response) => {
    const session = await sessionOf(req, res)
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
    const claimed = await withReservedResult(deps, appraisalId, evidence.length, async () => {
      const submission = { appraisalId, evidenceMediaType: mediaType, evidenceDigest }
      const claimed = await deps.store.sessions.claim(tenant, session.id, submission)
      if (claimed === undefined) throw new VerifierError('ERR_SESSION_STATE', 'session already has Evidence or has expired')
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
    res.status(200).json(await sessionView(deps, current))
  })

  router.get('/session/:id', async (req: Request, res: Response) => {
    const session = await sessionOf(req, res)
    if (session.appraisalId !== undefined) addLogFields(res, { appraisalId: session.appraisalId })
    res.status(200).json(await sessionView(deps, session))
  })

  router.delete('/session/:id', async (req: Request, res: Response) => {
    const id = String(req.params['id'])
    if (!UUID.test(id) || !(await deps.store.sessions.delete(tenant, id))) throw new VerifierError('ERR_SESSION_NOT_FOUND')
    res.status(204).end()
  })

  return router
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
    nonce: Buffer.from(session.nonce).toString('base64'),
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
