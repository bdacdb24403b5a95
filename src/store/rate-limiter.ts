/**
 * Per-client request budgets (rate-limiter-flexible): `points` per client key per fixed window of
 * `windowSeconds`. Embedded mode counts in process memory; Redis mode counts in Redis, so every API
 * process shares one budget per client. Redis mode never turns a Redis outage into errors: while
 * Redis is not ready (checked without a round trip) or a command fails, an in-process limiter with
 * the same budget stands in (its counts are per process). A client that has spent its budget is
 * also blocked in process memory for the rest of the window, so a flood costs no Redis round trips.
 */
import { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number }

export interface RateLimiter {
  /** Spends `points` of `key`'s budget; refused when the budget of the current window is spent. */
  consume(key: string, points: number): Promise<RateDecision>
  close(): Promise<void>
}

export interface RateLimiterOptions {
  readonly points: number
  readonly windowSeconds: number
}

export interface RedisRateLimiterOptions extends RateLimiterOptions {
  /** `redis://` / `rediss://` URL; the limiter opens a connection of its own. */
  readonly redis: string
  /** Assay's Redis prefix; the limiter's keys are `<prefix>:ratelimit:<client>`. */
  readonly prefix: string
  readonly onClientError?: (err: Error) => void
}

function wrap(limiter: RateLimiterAbstract, close: () => Promise<void>): RateLimiter {
  return {
    async consume(key, points) {
      try {
        await limiter.consume(key, points)
        return { allowed: true }
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) }
        }
        // A store error with no stand-in left: count it as allowed rather than fail the request.
        return { allowed: true }
      }
    },
    close,
  }
}

export function createMemoryRateLimiter(options: RateLimiterOptions): RateLimiter {
  return wrap(new RateLimiterMemory({ points: options.points, duration: options.windowSeconds }), async () => {})
}

export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  // No offline queue and one try: a command fails at once while Redis is down, and the stand-in counts.
  const client = new Redis(options.redis, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  client.on('error', options.onClientError ?? (() => {}))
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: `${options.prefix}:ratelimit`,
    points: options.points,
    duration: options.windowSeconds,
    rejectIfRedisNotReady: true,
    inMemoryBlockOnConsumed: options.points,
    inMemoryBlockDuration: options.windowSeconds,
    insuranceLimiter: new RateLimiterMemory({ points: options.points, duration: options.windowSeconds }),
  })
  return wrap(limiter, async () => {
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
    else client.disconnect()
  })
}
