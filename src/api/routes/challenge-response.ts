/**
 * Veraison-compatible challenge/response sessions, so existing RATS clients work unchanged:
 * `POST newSession?nonceSize=N|nonce=<base64>`, then `POST session/{id}` with the Evidence,
 * `GET` and `DELETE session/{id}`. Results use Veraison's EAR naming.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Router, type Request, type Response } from 'express'
import { VerifierError } from '../../errors/errors.js'
import { DEFAULT_TENANT, type Session } from '../../store/types.js'
import type { ApiDeps } from '../deps.js'
import { admit, bodyBytes, checkEvidenceMediaType, rawBody, submit } from '../http.js'
import { nonceSize } from './appraisals.js'

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

  const sessionOf = async (req: Request): Promise<Session> => {
    const id = String(req.params['id'])
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
    res.setHeader('Location', `session/${session.id}`)
    res.status(201).json(await sessionView(deps, session))
  })

  router.post('/session/:id', rawBody(deps.config.bodyLimitBytes), async (req: Request, res: Response) => {
    const session = await sessionOf(req)
    const evidence = bodyBytes(req.body)
    const mediaType = checkEvidenceMediaType(deps, req.get('content-type'), evidence)
    if (session.status !== 'waiting') throw new VerifierError('ERR_SESSION_STATE', `session is ${session.status}`)
    await admit(deps)
    const evidenceB64 = Buffer.from(evidence).toString('base64')
    // The appraisal id is fixed before the claim so the session names it from the start.
    const appraisalId = randomUUID()
    const claimed = await deps.store.sessions.claim(tenant, session.id, { appraisalId, evidenceMediaType: mediaType, evidence: evidenceB64 })
    if (claimed === undefined) throw new VerifierError('ERR_SESSION_STATE', 'session already has Evidence or has expired')
    await submit(
      deps,
      tenant,
      {
        mediaType,
        evidence: evidenceB64,
        sessionId: session.id,
        expectedNonce: Buffer.from(session.nonce).toString('base64'),
        earProfile: 'veraison',
      },
      deps.config.sessionWaitSeconds * 1000,
      appraisalId,
    )
    const current = (await deps.store.sessions.get(tenant, session.id)) ?? claimed
    res.status(200).json(await sessionView(deps, current))
  })

  router.get('/session/:id', async (req: Request, res: Response) => {
    res.status(200).json(await sessionView(deps, await sessionOf(req)))
  })

  router.delete('/session/:id', async (req: Request, res: Response) => {
    const id = String(req.params['id'])
    if (!UUID.test(id) || !(await deps.store.sessions.delete(tenant, id))) throw new VerifierError('ERR_SESSION_NOT_FOUND')
    res.status(204).end()
  })

  return router
}

/** Veraison's session document: status, nonce, expiry, accept, evidence and result when present. */
async function sessionView(deps: ApiDeps, session: Session): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    status: session.status,
    nonce: Buffer.from(session.nonce).toString('base64'),
    expiry: new Date(session.expiresAt).toISOString(),
    accept: session.accept,
  }
  if (session.evidence !== undefined) out['evidence'] = { type: session.evidenceMediaType, value: session.evidence }
  if (session.appraisalId !== undefined && session.status !== 'waiting') {
    const record = await deps.store.results.get(session.tenant, session.appraisalId)
    if (record?.status === 'complete') {
      out['status'] = 'complete'
      out['result'] = deps.results.render(record, 'jwt', 'veraison')
    } else if (record?.status === 'failed' || (record === undefined && (await deps.queue.state(session.appraisalId)) === 'failed')) {
      out['status'] = 'failed'
    }
  }
  return out
}
