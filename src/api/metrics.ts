/**
 * Prometheus metrics of the API process, on a registry of its own (never prom-client's global one,
 * so two apps in one process, as in tests, do not collide): HTTP requests, appraisal results sent
 * and their submit→result duration, the queue depth read at scrape time, and prom-client's default
 * process metrics (CPU, memory, event loop lag, GC, handles).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { EAR_JSON_NAMES, type EarNaming } from '../results/ear.js'
import { isTier, worstTier, type Tier } from '../results/trust-vector.js'

/** Which verification API a result went through. */
export type AppraisalApi = 'native' | 'challenge-response'

/** The status label of a result: an EAR status, or `failed` for an appraisal a verifier fault ended. */
export type ResultStatus = Tier | 'failed'

export interface Metrics {
  readonly registry: Registry
  readonly requests: Counter<'route' | 'method' | 'status'>
  readonly appraisals: Counter<'api' | 'status'>
  readonly duration: Histogram<'api'>
}

export function createMetrics(queueDepth: () => Promise<number>): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'assay_http_requests_total',
    help: 'HTTP requests by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  })
  const appraisals = new Counter({
    name: 'assay_appraisals_total',
    help:
      'Appraisal results sent to clients, by API (native, challenge-response) and status (none, affirming, warning, ' +
      'contraindicated; failed for a verifier fault): a submission answered with its result, and each GET of a ' +
      'finished appraisal or session (a result fetched twice counts twice)',
    labelNames: ['api', 'status'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'assay_appraisal_duration_seconds',
    help:
      'Time from Evidence accepted by the API to result stored by the worker (submit to result), by API, for ' +
      'submissions that waited for their result (Prefer: wait, challenge/response session submissions)',
    labelNames: ['api'] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  new Gauge({
    name: 'assay_queue_depth',
    help: 'Appraisal jobs waiting or in progress, read from the queue at scrape time (the last value read while the queue is unreachable)',
    registers: [registry],
    async collect() {
      // A queue that cannot answer (Redis down) must not fail the whole scrape.
      const depth = await queueDepth().catch(() => undefined)
      if (depth !== undefined) this.set(depth)
    },
  })
  return { registry, requests, appraisals, duration }
}

/**
 * The overall status of an EAR claims-set this verifier signed, in either naming: -03's top-level
 * `ear_status`, or (Veraison's naming has none) the worst of the submodules' `ear.status`.
 */
export function earStatusOf(claims: Record<string, unknown>, naming: EarNaming): Tier {
  const top = claims[EAR_JSON_NAMES['ear-03'].status]
  if (isTier(top)) return top
  const submods = claims['submods']
  if (typeof submods !== 'object' || submods === null) return 'none'
  const statuses: Tier[] = []
  for (const submod of Object.values(submods as Record<string, unknown>)) {
    const status = (submod as Record<string, unknown> | null)?.[EAR_JSON_NAMES[naming].status]
    statuses.push(isTier(status) ? status : 'none')
  }
  return statuses.length === 0 ? 'none' : worstTier(statuses)
}
