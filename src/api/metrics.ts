/**
 * Prometheus metrics of the API process, on a registry of its own (never prom-client's global one,
 * so two apps in one process, as in tests, do not collide).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface Metrics {
  readonly registry: Registry
  readonly requests: Counter<'route' | 'method' | 'status'>
  readonly appraisals: Counter<'status'>
  readonly latency: Histogram<never>
}

export function createMetrics(queueDepth: () => Promise<number>): Metrics {
  const registry = new Registry()
  const requests = new Counter({
    name: 'assay_http_requests_total',
    help: 'HTTP requests by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  })
  const appraisals = new Counter({
    name: 'assay_appraisals_total',
    help: 'Appraisal results returned or fetched, by EAR status (none, affirming, warning, contraindicated, failed)',
    labelNames: ['status'] as const,
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'assay_appraisal_latency_seconds',
    help: 'Time from Evidence accepted to result stored, for results the API waited for',
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  new Gauge({
    name: 'assay_queue_depth',
    help: 'Appraisal jobs waiting or in progress',
    registers: [registry],
    async collect() {
      this.set(await queueDepth())
    },
  })
  return { registry, requests, appraisals, latency }
}
