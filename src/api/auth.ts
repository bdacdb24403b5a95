/**
 * Credentials at the API: `authenticate(deps)` turns the `Authorization` header into a principal
 * (`src/auth/authenticate.ts`: API keys, OIDC access tokens, the legacy operator token; bearer, or the
 * password of Basic credentials for Veraison's clients) and keeps it in `res.locals`;
 * `requireRole(role)` lets through a principal holding the role in its own tenant. A route's tenant
 * is its principal's tenant: a credential never names another tenant's data.
 *
 * A refusal carries `WWW-Authenticate` (RFC 6750 §3, `bearerChallenge`): 401 without a credential or
 * with one not accepted, 403 for a missing role. The rate limiter runs before this, so guessing
 * costs the guesser's budget.
 *
 * Evidence routes (`evidence`, `resultReader`): with `ASSAY_EVIDENCE_AUTH=open` (the default) they
 * take no credential and run in the default tenant, as before credentials existed; with `attester`,
 * submitting needs `attester` and runs in the credential's tenant, and reading a result needs
 * `relying-party` of the tenant or the credential that submitted it.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { authorize, bearerChallenge } from '../auth/authenticate.js'
import { grants, type Principal } from '../auth/principal.js'
import type { Role } from '../auth/roles.js'
import { VerifierError } from '../errors/errors.js'
import { DEFAULT_TENANT, type TenantId } from '../store/types.js'
import type { ApiDeps } from './deps.js'
import { addLogFields } from './log-fields.js'

const PRINCIPAL = 'principal'

/** The principal `authenticate` let through; undefined before it ran (or on an open route). */
export function principalOf(res: Response): Principal | undefined {
  return res.locals[PRINCIPAL] as Principal | undefined
}

/** The principal of a route behind `authenticate`: a bug (500) if there is none. */
export function requirePrincipal(res: Response): Principal {
  const principal = principalOf(res)
  if (principal === undefined) throw new Error('no principal: the route is not behind authenticate()')
  return principal
}

/** The tenant a request acts in: its principal's, or the default tenant on an open route. */
export function tenantOf(res: Response): TenantId {
  return principalOf(res)?.tenant ?? DEFAULT_TENANT
}

/** Passes `err` on with its `WWW-Authenticate` challenge, if it is a refusal of a credential. */
function refuse(res: Response, next: NextFunction, err: unknown): void {
  const challenge = bearerChallenge(err)
  if (challenge !== undefined) res.setHeader('WWW-Authenticate', challenge)
  next(err)
}

/** Middleware: authenticates the request's credential (401 without one or for one not accepted). */
export function authenticate(deps: Pick<ApiDeps, 'authenticator'>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (deps.authenticator === undefined) {
      refuse(res, next, new VerifierError('ERR_AUTH_REQUIRED', 'this process takes no credentials'))
      return
    }
    deps.authenticator.authenticate(req.headers.authorization).then(
      (principal) => {
        res.locals[PRINCIPAL] = principal
        addLogFields(res, { principal: principal.id, tenant: principal.tenant })
        next()
      },
      (err: unknown) => refuse(res, next, err),
    )
  }
}

/** Middleware after `authenticate`: 403 unless the principal holds `role` (or one of `roles`) in its tenant. */
export function requireRole(role: Role | readonly Role[]): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    try {
      const principal = requirePrincipal(res)
      authorize(principal, role, principal.tenant)
      next()
    } catch (err) {
      refuse(res, next, err)
    }
  }
}

/** `authenticate` then `requireRole(role)`. */
export function requireCredential(deps: Pick<ApiDeps, 'authenticator'>, role: Role | readonly Role[]): RequestHandler[] {
  return [authenticate(deps), requireRole(role)]
}

/** Whether Evidence needs a credential (`ASSAY_EVIDENCE_AUTH=attester`). */
export function evidenceNeedsCredential(deps: Pick<ApiDeps, 'config'>): boolean {
  return deps.config.evidenceAuth === 'attester'
}

/** Middleware of the Evidence submission routes: nothing when open; `attester` otherwise. */
export function evidence(deps: Pick<ApiDeps, 'config' | 'authenticator'>): RequestHandler[] {
  return evidenceNeedsCredential(deps) ? requireCredential(deps, 'attester') : []
}

/** Middleware of the result-reading routes: nothing when open; any credential otherwise (see {@link mayRead}). */
export function resultReader(deps: Pick<ApiDeps, 'config' | 'authenticator'>): RequestHandler[] {
  return evidenceNeedsCredential(deps) ? [authenticate(deps)] : []
}

/**
 * Throws `ERR_AUTH_FORBIDDEN` unless the request may read submission `id` of its tenant: always on
 * an open route; otherwise with `relying-party` of the tenant (unless `submitterOnly`), or as the
 * principal that submitted it.
 */
export async function mayRead(deps: Pick<ApiDeps, 'submitters'>, res: Response, id: string, submitterOnly = false): Promise<void> {
  const principal = principalOf(res)
  if (principal === undefined) return
  if (!submitterOnly && grants(principal, 'relying-party', principal.tenant)) return
  const submitter = principal.roles.length === 0 ? undefined : await deps.submitters?.get(principal.tenant, id)
  if (submitter !== undefined && submitter === principal.id) return
  const err = new VerifierError(
    'ERR_AUTH_FORBIDDEN',
    submitterOnly ? 'only the credential that opened the session answers it' : 'this needs the role relying-party, or the credential that submitted the Evidence',
  )
  res.setHeader('WWW-Authenticate', bearerChallenge(err)!)
  throw err
}

/** Records the request's principal (if any) as the submitter of `id`, for as long as results are kept. */
export async function recordSubmitter(deps: Pick<ApiDeps, 'submitters' | 'config'>, res: Response, id: string, ttlSeconds: number): Promise<void> {
  const principal = principalOf(res)
  if (principal === undefined || deps.submitters === undefined) return
  await deps.submitters.set(principal.tenant, id, principal.id, ttlSeconds)
}
