/** Operations: liveness, readiness (store reachable and a worker seen recently), Prometheus metrics. */
import { Router, type Request, type Response } from 'express'
import type { ApiDeps } from '../deps.js'
import { refuseOtherMethods } from '../http.js'

export function operationsRoutes(deps: ApiDeps): Router {
  const router = Router()

  router.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' })
  })

  router.get('/readyz', async (_req: Request, res: Response) => {
    const [store, workers] = await Promise.all([
      deps.store.ping(),
      deps.store.heartbeats.live().catch(() => 0),
    ])
    const ready = store && workers > 0
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready', store: store ? 'up' : 'down', workers })
  })

  router.get('/metrics', async (_req: Request, res: Response) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })

  return refuseOtherMethods(router)
}
