/**
 * Native verification API: `POST /v1/nonces`, `POST /v1/appraisals` (`Prefer: wait=N`),
 * `GET /v1/appraisals/{id}` as JSON or as the EAR itself.
 *
 * Credentials (`../auth.ts`): with `ASSAY_EVIDENCE_AUTH=open` none, in the default tenant; with
 * `attester`, nonces and submissions need `attester` and run in its tenant, and a result is read by a
 * `relying-party` of that tenant or the credential that submitted it.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Router, type Request, type Response } from 'express'
import { VerifierError } from '../../errors/errors.js'
import type { AppraisalRecord, TenantId } from '../../store/types.js'
import { base64urlEncode } from '../../util/base64url.js'
import { evidence as evidenceCredential, mayRead, recordSubmitter, resultReader, tenantOf } from '../auth.js'
import type { ApiDeps } from '../deps.js'
import { addLogFields } from '../log-fields.js'
import { earStatusOf, type AppraisalApi } from '../metrics.js'
import { admit, bodyBytes, checkEvidenceMediaType, negotiate, preferWaitSeconds, rawBody, refuseOtherMethods, submit } from '../http.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function nonceSize(raw: unknown, fallback = 32): number {
  if (raw === undefined) return fallback
  const n = typeof raw === 'string' && /^\d{1,3}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= 8 && n <= 64)) throw new VerifierError('ERR_REQUEST_MALFORMED', 'nonceSize must be an integer from 8 to 64')
  return n
}

/**
 * Room to reserve in the result store for the record of `evidenceBytes` of Evidence: a record (EAR
 * and stored outcome) is 2 to 4 KiB; with `includeRawEvidence` both carry the Evidence again, in
 * base64url (and the EAR's payload is base64url once more).
 */
export function resultReserveBytes(deps: ApiDeps, evidenceBytes: number): number {
  return 8 * 1024 + (deps.config.includeRawEvidence ? 4 * evidenceBytes : 0)
}

/**
 * Reserves room for appraisal `id`'s result, runs `enqueue`, and gives the room back if the Evidence
 * was not queued after all (`enqueue` threw): accepted Evidence always has room for its result.
 */
export async function withReservedResult<T>(
  deps: ApiDeps,
  tenant: TenantId,
  id: string,
  evidenceBytes: number,
  enqueue: () => Promise<T>,
): Promise<T> {
  await deps.store.results.reserve(tenant, id, resultReserveBytes(deps, evidenceBytes))
  try {
    return await enqueue()
  } catch (err) {
    await deps.store.results.unreserve(tenant, id).catch((unreserveErr: unknown) => {
      deps.log?.(`appraisal ${id}: cannot give back its reserved room`, unreserveErr)
    })
    throw err
  }
}

/** The 500 problem of an appraisal that failed because of a fault, naming the logged fault id. */
export function appraisalFailed(record: AppraisalRecord | undefined): VerifierError {
  const faultId = record?.fault?.id
  return new VerifierError(
    'ERR_APPRAISAL_FAILED',
    faultId === undefined ? undefined : `appraisal failed (fault ${faultId})`,
    faultId === undefined ? {} : { faultId },
  )
}

export function appraisalRoutes(deps: ApiDeps): Router {
  const router = Router()

  router.post('/nonces', ...evidenceCredential(deps), async (req: Request, res: Response) => {
    const tenant = tenantOf(res)
    const nonce = randomBytes(nonceSize(req.query['nonceSize']))
    await deps.store.nonces.issue(tenant, nonce, deps.config.nonceTtlSeconds)
    const expiresAt = new Date(Date.now() + deps.config.nonceTtlSeconds * 1000).toISOString()
    res.status(201).json({ nonce: base64urlEncode(nonce), expiresAt })
  })

  router.post('/appraisals', ...evidenceCredential(deps), rawBody(deps.config.bodyLimitBytes), async (req: Request, res: Response) => {
    const tenant = tenantOf(res)
    const evidence = bodyBytes(req.body)
    const mediaType = checkEvidenceMediaType(deps, req.get('content-type'), evidence)
    addLogFields(res, { tenant, mediaType })
    const representation = negotiate(req.get('accept'))
    await admit(deps)
    const waitMs = preferWaitSeconds(req.get('prefer'), deps.config.maxWaitSeconds) * 1000
    const id = randomUUID()
    addLogFields(res, { appraisalId: id })
    const submitted = await withReservedResult(deps, tenant, id, evidence.length, async () => {
      // Before the Evidence is queued, so the submitter may read the result as soon as there is one.
      await recordSubmitter(deps, res, id, deps.config.resultTtlSeconds)
      return submit(
        deps,
        tenant,
        {
          mediaType,
          evidence: Buffer.from(evidence).toString('base64'),
          earProfile: representation.kind === 'ear' ? representation.naming : 'ear-03',
        },
        waitMs,
        id,
      )
    })
    res.setHeader('Location', `${req.baseUrl}/appraisals/${submitted.id}`)
    const outcome = submitted.outcome
    if (outcome === undefined) {
      res.status(202).json({ id: submitted.id, status: 'queued', createdAt: new Date(submitted.createdAt).toISOString() })
      return
    }
    const ear = outcome.status === 'complete' ? outcome.ear : undefined
    // The fast path: the queue handed back the signed EAR, so the store is not read.
    if (ear !== undefined && representation.kind === 'ear' && representation.form === 'jwt' && representation.naming === submitted.naming) {
      deps.metrics.appraisals.inc({ api: 'native', status: earStatusOf(jwtClaims(ear), submitted.naming) })
      res.status(200).type(deps.results.mediaType('jwt', submitted.naming)).send(ear)
      return
    }
    if (ear !== undefined && representation.kind === 'json' && submitted.naming === 'ear-03') {
      const claims = jwtClaims(ear)
      deps.metrics.appraisals.inc({ api: 'native', status: earStatusOf(claims, 'ear-03') })
      res.status(200).json({
        id: submitted.id,
        status: 'complete',
        createdAt: new Date(submitted.createdAt).toISOString(),
        completedAt: new Date(outcome.completedAt ?? Date.now()).toISOString(),
        result: { ear, claims },
      })
      return
    }
    const record = await deps.store.results.get(tenant, submitted.id)
    // A fault (logged by the worker with a fault id) is a 500 naming that id, never "not found".
    if (outcome.status === 'failed' || record?.status === 'failed') {
      deps.metrics.appraisals.inc({ api: 'native', status: 'failed' })
      throw appraisalFailed(record)
    }
    if (record === undefined) throw new VerifierError('ERR_APPRAISAL_NOT_FOUND', 'the result expired before it could be read')
    countResult(deps, 'native', record)
    sendRecord(deps, res.status(200), record, representation)
  })

  router.get('/appraisals/:id', ...resultReader(deps), async (req: Request, res: Response) => {
    const tenant = tenantOf(res)
    const id = String(req.params['id'])
    if (!UUID.test(id)) throw new VerifierError('ERR_APPRAISAL_NOT_FOUND')
    addLogFields(res, { appraisalId: id, tenant })
    await mayRead(deps, res, id)
    const representation = negotiate(req.get('accept'))
    const record = await deps.store.results.get(tenant, id)
    if (record !== undefined) {
      countResult(deps, 'native', record)
      sendRecord(deps, res.status(200), record, representation)
      return
    }
    // Not stored yet: the queue still knows it (queued, processing) or saw it fail for good.
    const state = await deps.queue.state(id)
    if (state === undefined || state === 'complete') throw new VerifierError('ERR_APPRAISAL_NOT_FOUND')
    if (representation.kind === 'ear') throw new VerifierError('ERR_APPRAISAL_NOT_READY', `appraisal is ${state}`)
    res.status(200).json({ id, status: state })
  })

  return refuseOtherMethods(router)
}

/** Claims of an EAR JWT this verifier signed itself (the worker's output, not client input). */
function jwtClaims(ear: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(ear.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

/** Counts a finished appraisal's result as sent (`assay_appraisals_total`); a pending one is not counted. */
export function countResult(deps: ApiDeps, api: AppraisalApi, record: AppraisalRecord): void {
  if (record.status === 'failed') deps.metrics.appraisals.inc({ api, status: 'failed' })
  else if (record.status === 'complete') deps.metrics.appraisals.inc({ api, status: earStatusOf(deps.results.claims(record), 'ear-03') })
}

function sendRecord(deps: ApiDeps, res: Response, record: AppraisalRecord, representation: ReturnType<typeof negotiate>): void {
  if (representation.kind === 'json') {
    res.json(view(deps, record))
    return
  }
  if (record.status === 'failed') throw appraisalFailed(record)
  if (record.status !== 'complete') throw new VerifierError('ERR_APPRAISAL_NOT_READY', `appraisal is ${record.status}`)
  const ear = deps.results.render(record, representation.form, representation.naming)
  res.type(deps.results.mediaType(representation.form, representation.naming))
  res.send(typeof ear === 'string' ? ear : Buffer.from(ear))
}

/** The JSON view of an appraisal. */
export function view(deps: ApiDeps, record: AppraisalRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: record.id,
    status: record.status,
    createdAt: new Date(record.createdAt).toISOString(),
  }
  if (record.completedAt !== undefined) out['completedAt'] = new Date(record.completedAt).toISOString()
  if (record.status === 'complete') {
    out['result'] = { ear: deps.results.render(record, 'jwt', 'ear-03'), claims: deps.results.claims(record) }
  }
  if (record.fault !== undefined) out['fault'] = record.fault
  return out
}
