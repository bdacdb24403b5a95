/**
 * CoRIM provisioning over HTTP (`appraisal/corim-provisioning.ts` does the work):
 * - native `POST /v1/corims`: the CoRIM in the body, `application/rim+cbor` (unsigned) or
 *   `application/rim+cose` (signed), optional `profile` parameter; a JSON report of each tag and
 *   document (201 when something changed, 200 when nothing did), problems for a refused CoRIM;
 * - Veraison-compatible `POST /endorsement-provisioning/v1/submit`, which also takes the older
 *   `application/corim-unsigned+cbor`, answering Veraison's provisioning session
 *   (`application/vnd.veraison.provisioning-session+json`, exactly that string: Veraison's Go client
 *   compares it) with `status` `success`, or `failed` and a `failure-reason` (200, as Veraison does,
 *   for a CoRIM that is refused), and its discovery document `GET /.well-known/veraison/provisioning`.
 *
 * Both submission routes need a `provisioner` credential (`../auth.ts`: bearer, or the password of
 * Basic credentials for Veraison's cocli; 401/403 first, before anything else is looked at), and
 * write in its tenant;
 * then a supported media type (415 with `Accept`), then an acceptable answer (406), then the body,
 * read raw within `bodyLimitBytes`. An unsigned CoRIM is taken over this authenticated channel, the
 * operator being its signer, unless `corimRequireSigned`; a signed one must verify with the tenant's
 * provisioning keys or chain to its provisioning anchors.
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { CORIM_PROFILES, provisionCorim, type CorimProvisioningReport } from '../../appraisal/corim-provisioning.js'
import { VerifierError, isVerifierError } from '../../errors/errors.js'
import { tryParseMediaType } from '../../evidence/media-type.js'
import { TEST_MODE_BUILD_SUFFIX } from '../../results/ear.js'
import type { ApiDeps } from '../deps.js'
import { bodyBytes, boundedList, rawBody, refuseOtherMethods } from '../http.js'
import { addLogFields } from '../log-fields.js'
import { requireCredential, requirePrincipal } from '../auth.js'

export const RIM_CBOR = 'application/rim+cbor'
export const RIM_COSE = 'application/rim+cose'
/** The media type Veraison's PSA scheme used before 2026, which cocli's documents still show. */
export const CORIM_UNSIGNED_LEGACY = 'application/corim-unsigned+cbor'
export const PROVISIONING_SESSION_MEDIA_TYPE = 'application/vnd.veraison.provisioning-session+json'
export const PROVISIONING_DISCOVERY_MEDIA_TYPE = 'application/vnd.veraison.discovery+json'
export const VERAISON_SUBMIT_PATH = '/endorsement-provisioning/v1/submit'

/** The CoRIM media types, and the form each carries. */
const FORMS: ReadonlyMap<string, 'signed' | 'unsigned'> = new Map([
  [RIM_CBOR, 'unsigned'],
  [RIM_COSE, 'signed'],
  [CORIM_UNSIGNED_LEGACY, 'unsigned'],
])
const NATIVE_TYPES = [RIM_CBOR, RIM_COSE]
const VERAISON_TYPES = [RIM_CBOR, RIM_COSE, CORIM_UNSIGNED_LEGACY]

interface Submission {
  readonly form: 'signed' | 'unsigned'
  readonly profile?: string
}

/**
 * Veraison's discovery and documents write the profile unquoted (`profile=http://arm.com/psa/iot/1`),
 * which RFC 9110 does not allow (`/` and `:` are not token characters), and its clients send it so:
 * a `profile` that is the last parameter and holds no quote, space or `;` is read as if quoted.
 */
const UNQUOTED_PROFILE = /^([^;]{1,255});\s*profile\s*=\s*([\x21\x23-\x3a\x3c-\x7e]{1,512})\s*$/i

function parseSubmissionType(header: string): ReturnType<typeof tryParseMediaType> {
  const strict = tryParseMediaType(header)
  if (strict !== undefined || header.length > 1024) return strict
  const m = UNQUOTED_PROFILE.exec(header)
  return m === null ? undefined : tryParseMediaType(`${m[1]!}; profile="${m[2]!}"`)
}

/** The submission's media type, or a 415 whose `Accept` lists `supported`. */
function submissionType(req: Request, res: Response, supported: readonly string[]): Submission {
  const header = req.get('content-type')
  const parsed = header === undefined ? undefined : parseSubmissionType(header)
  const form = parsed === undefined || !supported.includes(parsed.essence) ? undefined : FORMS.get(parsed.essence)
  if (parsed === undefined || form === undefined) {
    res.setHeader('Accept', supported.join(', '))
    throw new VerifierError('ERR_MEDIA_TYPE_UNSUPPORTED', `a CoRIM is sent as ${supported.join(', ')} (with an optional profile parameter)`)
  }
  const profile = parsed.parameters.get('profile')
  return profile === undefined ? { form } : { form, profile }
}

/** Refuses (406) an `Accept` that allows none of `offered` (no `Accept`, `*\/*` and `application/*` allow all). */
function checkAccept(accept: string | undefined, offered: readonly string[]): void {
  if (accept === undefined || accept.trim() === '') return
  for (const part of boundedList('Accept', accept)) {
    const m = tryParseMediaType(part)
    const q = Number(m?.parameters.get('q') ?? '1')
    if (m === undefined || !(q > 0)) continue
    if (m.essence === '*/*' || m.essence === 'application/*' || offered.includes(m.essence)) return
  }
  throw new VerifierError('ERR_REQUEST_NOT_ACCEPTABLE', `acceptable: ${offered.join(', ')}`)
}

/** Runs `check` as middleware, so its refusal comes before the body is read. */
function before(check: (req: Request, res: Response) => void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      check(req, res)
      next()
    } catch (err) {
      next(err)
    }
  }
}

async function submit(deps: ApiDeps, req: Request, res: Response, submission: Submission): Promise<CorimProvisioningReport> {
  const store = deps.endorsements
  if (store === undefined) throw new VerifierError('ERR_STORE_UNAVAILABLE', 'this process has no endorsement store')
  const principal = requirePrincipal(res)
  const tenant = principal.tenant
  addLogFields(res, { tenant, mediaType: req.get('content-type') })
  const bytes = bodyBytes(req.body)
  if (bytes.length === 0) throw new VerifierError('ERR_CORIM_MALFORMED', 'the request carries no CoRIM')
  return provisionCorim(store, tenant, bytes, {
    createdBy: principal.id,
    nowSeconds: deps.clock.nowSeconds(),
    acceptUnsigned: !deps.config.corimRequireSigned,
    allowPublishedKeys: deps.config.allowPublishedKeys,
    form: submission.form,
    ...(submission.profile === undefined ? {} : { profile: submission.profile }),
  })
}

/** `POST /v1/corims`. */
export function corimRoutes(deps: ApiDeps): Router {
  const router = Router()
  router.post(
    '/corims',
    ...requireCredential(deps, 'provisioner'),
    before((req, res) => {
      submissionType(req, res, NATIVE_TYPES)
      checkAccept(req.get('accept'), ['application/json'])
    }),
    rawBody(deps.config.bodyLimitBytes),
    async (req: Request, res: Response) => {
      const report = await submit(deps, req, res, submissionType(req, res, NATIVE_TYPES))
      const changed = report.documents.some((d) => d.outcome !== 'unchanged')
      res.status(changed ? 201 : 200).json(report)
    },
  )
  return refuseOtherMethods(router)
}

/** Veraison's provisioning session document. */
function sendSession(deps: ApiDeps, res: Response, failure?: string): void {
  const expiry = new Date(deps.clock.nowSeconds() * 1000 + deps.config.sessionTtlSeconds * 1000).toISOString()
  const session = failure === undefined ? { status: 'success', expiry } : { status: 'failed', 'failure-reason': failure, expiry }
  // Set by hand: Express's res.type/json would add "; charset=utf-8", which Veraison's client refuses.
  res.status(200).setHeader('Content-Type', PROVISIONING_SESSION_MEDIA_TYPE)
  res.end(JSON.stringify(session))
}

/** `POST /endorsement-provisioning/v1/submit`. */
export function veraisonProvisioningRoutes(deps: ApiDeps): Router {
  const router = Router()
  router.post(
    '/submit',
    ...requireCredential(deps, 'provisioner'),
    before((req, res) => {
      submissionType(req, res, VERAISON_TYPES)
      checkAccept(req.get('accept'), [PROVISIONING_SESSION_MEDIA_TYPE])
    }),
    rawBody(deps.config.bodyLimitBytes),
    async (req: Request, res: Response) => {
      try {
        await submit(deps, req, res, submissionType(req, res, VERAISON_TYPES))
      } catch (err) {
        // A refused CoRIM is a failed session, as Veraison answers it; anything else (the store
        // down, a fault) stays a problem.
        if (isVerifierError(err) && err.code.startsWith('ERR_CORIM_')) {
          sendSession(deps, res, `${err.code}: ${err.message}`)
          return
        }
        throw err
      }
      sendSession(deps, res)
    },
  )
  return refuseOtherMethods(router)
}

/** Every (media type, profile) a submission may carry, as Veraison's discovery lists them. */
export function provisioningMediaTypes(): string[] {
  const profiles = CORIM_PROFILES.ids()
  return VERAISON_TYPES.flatMap((type) => profiles.map((profile) => `${type}; profile="${profile}"`))
}

/** `GET /.well-known/veraison/provisioning`: public, as Veraison's. */
export function provisioningDiscoveryRoutes(deps: ApiDeps): Router {
  const router = Router()
  router.get('/.well-known/veraison/provisioning', (_req: Request, res: Response) => {
    res.setHeader('Content-Type', PROVISIONING_DISCOVERY_MEDIA_TYPE)
    res.end(
      JSON.stringify({
        'media-types': provisioningMediaTypes(),
        version: deps.config.allowPublishedKeys ? `${deps.config.verifierBuild}${TEST_MODE_BUILD_SUFFIX}` : deps.config.verifierBuild,
        // Veraison's states; DOWN when this process cannot take a submission (no endorsement store).
        'service-state': deps.endorsements === undefined ? 'DOWN' : 'READY',
        'api-endpoints': { provisioningSubmit: VERAISON_SUBMIT_PATH },
      }),
    )
  })
  return refuseOtherMethods(router)
}
