/**
 * Per-client rate limits: each request spends points from its client's budget (`RateLimiter`),
 * and a spent budget is a 429 problem with `Retry-After`. The client is the socket's address
 * (`trust proxy` is off), an IPv6 client counted per /64 (one host holds a whole /64); once
 * requests carry credentials, the credential will be the key. Evidence costs the most: it is what
 * spends a worker's CPU.
 */
import { isIPv6 } from 'node:net'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { VerifierError } from '../errors/errors.js'
import type { RateLimiter } from '../store/rate-limiter.js'

/** Points per request kind. */
export const RATE_COST = { evidence: 10, create: 2, other: 1 } as const

const EVIDENCE_ROUTE = /^\/(v1\/appraisals|challenge-response\/v1\/session\/[^/]+)\/?$/
const CREATE_ROUTE = /^\/(v1\/nonces|challenge-response\/v1\/newSession)\/?$/

export function requestCost(method: string, path: string): number {
  if (method !== 'POST') return RATE_COST.other
  if (EVIDENCE_ROUTE.test(path)) return RATE_COST.evidence
  if (CREATE_ROUTE.test(path)) return RATE_COST.create
  return RATE_COST.other
}

/** The budget key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown'
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!isIPv6(address)) return address
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  const zone = address.indexOf('%')
  const bare = zone === -1 ? address : address.slice(0, zone)
  const [head = '', tail] = bare.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  // A trailing embedded IPv4 (::ffff:1.2.3.4 forms) takes two groups; only the first four matter here.
  const fill = Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0')
  return [...left, ...(tail === undefined ? [] : fill), ...right].map((g) => (/^[0-9a-f]+$/i.test(g) ? parseInt(g, 16).toString(16) : g))
}

export function rateLimit(limiter: RateLimiter): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const key = clientKey(req.socket.remoteAddress)
    limiter.consume(key, requestCost(req.method, req.path)).then(
      (decision) => {
        if (decision.allowed) {
          next()
          return
        }
        res.setHeader('Retry-After', String(decision.retryAfterSeconds))
        next(new VerifierError('ERR_RATE_LIMITED', `this client's budget is spent; retry after ${decision.retryAfterSeconds} s`))
      },
      // The limiter never rejects; should it, the request goes on rather than fail for the limiter's sake.
      () => next(),
    )
  }
}
