/**
 * The HTTP API: `createApp(deps)` builds an Express app and never listens; `main/` does. Routes
 * are in `routes/`; errors leave through `problem.ts` only. No global body parser: each route that
 * takes a body reads it raw with the configured limit, before anything looks at it.
 */
import express, { type NextFunction, type Request, type Response } from 'express'
import type { Config } from '../config/schema.js'
import { VerifierError } from '../errors/errors.js'
import type { FormatRegistry } from '../evidence/registry.js'
import type { QueueProducer } from '../queue/types.js'
import type { Store } from '../store/types.js'
import type { Clock } from '../util/clock.js'
import type { Metrics } from './metrics.js'
import { sendProblem } from './problem.js'
import type { ResultRenderer } from './render.js'
import { appraisalRoutes } from './routes/appraisals.js'
import { challengeResponseRoutes } from './routes/challenge-response.js'
import { operationsRoutes } from './routes/operations.js'
import { wellKnownRoutes } from './routes/well-known.js'

export interface ApiDeps {
  readonly config: Config
  readonly store: Store
  readonly queue: QueueProducer
  readonly registry: FormatRegistry
  readonly results: ResultRenderer
  readonly metrics: Metrics
  readonly clock: Clock
  readonly log?: (message: string, err?: unknown) => void
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  app.set('query parser', 'simple')

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched'
      deps.metrics.requests.inc({ route: `${req.baseUrl}${route}`, method: req.method, status: String(res.statusCode) })
    })
    next()
  })

  app.use(wellKnownRoutes(deps))
  app.use(operationsRoutes(deps))
  app.use('/challenge-response/v1', challengeResponseRoutes(deps))
  app.use('/v1', appraisalRoutes(deps))

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
