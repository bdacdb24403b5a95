/**
 * The HTTP API: `createApp(deps)` builds an Express app and never listens; `main/` does. Routes
 * are in `routes/`; errors leave through `problem.ts` only. No global body parser: each route that
 * takes a body reads it raw with the configured limit, before anything looks at it.
 */
import express, { type NextFunction, type Request, type Response } from 'express'
import { createAuthenticator } from '../auth/authenticate.js'
import { bootstrapKeyOf } from '../auth/bootstrap.js'
import { VerifierError } from '../errors/errors.js'
import { declaredTooLarge } from './http.js'
import { sendProblem } from './problem.js'
import { rateLimit } from './rate-limit.js'
import type { ApiDeps } from './deps.js'
export type { ApiDeps } from './deps.js'
import { apiKeyRoutes } from './routes/api-keys.js'
import { requireCredential, tenantOf } from './auth.js'
import { appraisalRoutes } from './routes/appraisals.js'
import { auditRoutes } from './routes/audit.js'
import { challengeResponseRoutes } from './routes/challenge-response.js'
import { corimRoutes, provisioningDiscoveryRoutes, veraisonProvisioningRoutes } from './routes/corim.js'
import { docsRoutes } from './routes/docs.js'
import { operationsRoutes } from './routes/operations.js'
import { provisioningRoutes, REFERENCE_VALUES, TRUST_ANCHORS } from './routes/provisioning.js'
import { profileRoutes } from './routes/profiles.js'
import { wellKnownRoutes } from './routes/well-known.js'


function mount(path: string) {
  return (_req: Request, res: Response, next: NextFunction) => {
    res.locals['mount'] = path
    next()
  }
}

export function createApp(given: ApiDeps): express.Express {
  // Without an authenticator from main/, the settings' credentials only (operator token, bootstrap key).
  const deps: ApiDeps = given.authenticator !== undefined ? given : { ...given, authenticator: settingsAuthenticator(given) }
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  app.set('query parser', 'simple')

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      // Route patterns, not URLs, keep the label set small; the mount point is kept in res.locals
      // because Express has reset req.baseUrl by the time an error handler answers.
      const route = (req.route as { path?: string } | undefined)?.path
      const label = route === undefined ? 'unmatched' : `${String(res.locals['mount'] ?? '')}${route}`
      deps.metrics.requests.inc({ route: label, method: req.method, status: String(res.statusCode) })
    })
    next()
  })

  // A declared body over the limit is refused on every route before anything else looks at it.
  app.use((req: Request, res: Response, next: NextFunction) => {
    // An answer sent before the request's body has arrived closes the connection instead of
    // reading the rest of the body to keep it alive (a route that takes no body never reads one).
    res.on('finish', () => {
      if (!req.complete) req.socket.destroySoon()
    })
    next(declaredTooLarge(req.headers['content-length'], deps.config.bodyLimitBytes) ? new VerifierError('ERR_REQUEST_BODY_TOO_LARGE') : undefined)
  })

  // Health and metrics stay outside the budgets: an orchestrator's probes must never be refused.
  app.use(operationsRoutes(deps))
  if (deps.limiter !== undefined) app.use(rateLimit(deps.limiter))
  app.use(wellKnownRoutes(deps))
  app.use(docsRoutes(deps))
  app.use('/challenge-response/v1', mount('/challenge-response/v1'), challengeResponseRoutes(deps))
  app.use('/v1', mount('/v1'), appraisalRoutes(deps))
  // Provisioning (provisioner role): one router per collection, the same routes over each.
  app.use('/v1', mount('/v1'), provisioningRoutes(deps, TRUST_ANCHORS))
  app.use('/v1', mount('/v1'), provisioningRoutes(deps, REFERENCE_VALUES))
  app.use('/v1', mount('/v1'), profileRoutes(deps))
  app.use(provisioningDiscoveryRoutes(deps))
  app.use('/endorsement-provisioning/v1', mount('/endorsement-provisioning/v1'), veraisonProvisioningRoutes(deps))
  app.use('/v1', mount('/v1'), corimRoutes(deps))
  app.use('/v1', mount('/v1'), apiKeyRoutes(deps))
  // The audit log: admins of the tenant read their tenant's chain.
  app.use('/v1', mount('/v1'), auditRoutes(deps, requireCredential(deps, 'admin'), (_req, res) => tenantOf(res)))

  app.use((_req: Request, _res: Response, next: NextFunction) => next(new VerifierError('ERR_ROUTE_NOT_FOUND')))
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendProblem(req, res, err, {
      typeBase: deps.config.problemTypeBase,
      accepted: () => deps.registry.accepted(),
      ...(deps.log === undefined ? {} : { log: deps.log }),
    })
  })
  return app
}

function settingsAuthenticator(deps: ApiDeps) {
  const { operatorToken, bootstrapAdminKey } = deps.config
  return createAuthenticator({
    ...(operatorToken === undefined ? {} : { operatorToken }),
    ...(bootstrapAdminKey === undefined ? {} : { bootstrapKeys: [bootstrapKeyOf(bootstrapAdminKey)] }),
    ...(deps.credentials === undefined ? {} : { apiKeys: deps.credentials }),
  })
}
