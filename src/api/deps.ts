import type { Authenticator } from '../auth/authenticate.js'
import type { Config } from '../config/schema.js'
import type { FormatRegistry } from '../evidence/registry.js'
import type { QueueProducer } from '../queue/types.js'
import type { ResultRenderer } from '../results/renderer.js'
import type { AuditStore } from '../store/audit.js'
import type { EndorsementStore } from '../store/endorsements.js'
import type { RateLimiter } from '../store/rate-limiter.js'
import type { CredentialStore } from '../store/credentials.js'
import type { SubmitterStore } from '../store/submitters.js'
import type { Store } from '../store/types.js'
import type { Clock } from '../util/clock.js'
import type { Metrics } from './metrics.js'

/** Everything the HTTP API needs, injected by `main/`. */
export interface ApiDeps {
  readonly config: Config
  readonly store: Store
  readonly queue: QueueProducer
  readonly registry: FormatRegistry
  readonly results: ResultRenderer
  readonly metrics: Metrics
  readonly clock: Clock
  readonly log?: (message: string, err?: unknown) => void
  /** Per-client budgets; absent means no rate limits. */
  readonly limiter?: RateLimiter
  /** What operators provision (the provisioning routes); absent: those routes answer 503. */
  readonly endorsements?: EndorsementStore
  /**
   * Judges credentials. Absent: `createApp` makes one that knows only the settings' credentials
   * (the operator token, `ASSAY_BOOTSTRAP_ADMIN_KEY`).
   */
  readonly authenticator?: Authenticator
  /** API keys, for the admin routes (`/v1/api-keys`); absent: those routes answer 503. */
  readonly credentials?: CredentialStore
  /** Who submitted what, when Evidence needs a credential; absent: only `relying-party` reads results. */
  readonly submitters?: SubmitterStore
  /** The audit log (`GET /v1/audit`); absent: those routes answer 503. */
  readonly audit?: Pick<AuditStore, 'page'>
}
