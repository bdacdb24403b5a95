/**
 * The contract and its rendered reference: `GET /openapi.yaml`, `GET /docs` (Swagger UI, from the
 * `swagger-ui-dist` package, served from this process: no CDN, no request leaves the page's
 * origin), and `GET /`, which leads to `/docs`.
 *
 * The page runs under a strict Content-Security-Policy: scripts, styles and the spec from this
 * origin only, no inline script, no frames, no forms, and `connect-src 'self'` so "Try it out"
 * reaches this Assay and nothing else (the spec's server is relative, `/`).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import express, { Router, type NextFunction, type Request, type Response } from 'express'
import { VerifierError } from '../../errors/errors.js'
import type { ApiDeps } from '../deps.js'
import { refuseOtherMethods } from '../http.js'

const OPENAPI = readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')

/** Where swagger-ui-dist's files are; only the two the page loads are served. */
const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
const ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'favicon-16x16.png']
/** The page's own script (no inline script under the policy): it starts Swagger UI on the spec. */
const INIT_FILE = 'assay-init.js'

export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Assay verifier API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/assay-init.js"></script>
</body>
</html>
`

// validatorUrl null: Swagger UI would otherwise send the spec to validator.swagger.io for a badge.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.yaml',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  })
})
`

function pageHeaders(res: Response): Response {
  res.setHeader('Content-Security-Policy', DOCS_CONTENT_SECURITY_POLICY)
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Referrer-Policy', 'no-referrer')
  return res
}

export function docsRoutes(_deps: ApiDeps): Router {
  const router = Router()
  const assets = express.static(SWAGGER_UI_DIR, { index: false, redirect: false, dotfiles: 'ignore', maxAge: '1h' })

  router.get('/', (_req: Request, res: Response) => {
    res.redirect(302, '/docs')
  })
  router.get('/docs', (_req: Request, res: Response) => {
    pageHeaders(res).type('html').send(PAGE)
  })
  router.get('/docs/assets/:file', (req: Request, res: Response, next: NextFunction) => {
    // Only the files the page loads; anything else is the 404 of an unknown resource.
    const file = String(req.params['file'])
    if (file === INIT_FILE) {
      pageHeaders(res).type('text/javascript').send(INIT)
      return
    }
    if (!ASSETS.includes(file)) throw new VerifierError('ERR_ROUTE_NOT_FOUND')
    pageHeaders(res)
    const url = req.url
    req.url = `/${file}`
    assets(req, res, (err?: unknown) => {
      req.url = url
      next(err ?? new VerifierError('ERR_ROUTE_NOT_FOUND'))
    })
  })
  router.get('/openapi.yaml', (_req: Request, res: Response) => {
    res.type('application/yaml').send(OPENAPI)
  })

  return refuseOtherMethods(router)
}
