/** Keys and discovery: `/.well-known/jwks.json`, Veraison's verification discovery. */
import { Router, type Request, type Response } from 'express'
import { TEST_MODE_BUILD_SUFFIX } from '../../results/ear.js'
import type { ApiDeps } from '../deps.js'
import { refuseOtherMethods } from '../http.js'

export function wellKnownRoutes(deps: ApiDeps): Router {
  const router = Router()

  router.get('/.well-known/jwks.json', (_req: Request, res: Response) => {
    // A relying party may keep this for max-age; a rotated-in key signs only after that has passed
    // (earKeyPublishAheadSeconds is at least max-age plus the key store's reload interval).
    const maxAge = deps.config.jwksMaxAgeSeconds
    res.setHeader('Cache-Control', maxAge === 0 ? 'no-cache' : `public, max-age=${maxAge}`)
    res.type('application/jwk-set+json').send(JSON.stringify(deps.results.jwks()))
  })

  router.get('/.well-known/veraison/verification', (_req: Request, res: Response) => {
    res.json({
      'ear-verification-key': deps.results.currentPublicJwk(),
      'media-types': deps.registry.accepted(),
      // Marked as every EAR is when this process runs in test mode (published keys accepted).
      version: deps.config.allowPublishedKeys ? `${deps.config.verifierBuild}${TEST_MODE_BUILD_SUFFIX}` : deps.config.verifierBuild,
      'service-state': 'READY',
      'api-endpoints': { newChallengeResponseSession: '/challenge-response/v1/newSession' },
    })
  })

  return refuseOtherMethods(router)
}
