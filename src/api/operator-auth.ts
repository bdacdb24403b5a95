/**
 * The operator credential of the provisioning routes: one bearer token from a setting
 * (`ASSAY_OPERATOR_TOKEN`), of which only the SHA-256 is held (config/schema.ts). A request's token
 * is hashed and compared with it in constant time, so neither the comparison's time nor a memory
 * dump gives the token away. Until credentials and roles arrive (issue 10), this is the only
 * credential; without the setting every provisioning route answers 401.
 *
 * The token is sent as a bearer token, or (for Veraison's clients, which know only Basic and OAuth2)
 * as the password of Basic credentials. A 401 carries `WWW-Authenticate: Bearer` (RFC 6750 §3): `error="invalid_token"` when a token was
 * sent and not accepted. The rate limiter runs before this, so guessing costs the guesser's budget.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { VerifierError } from '../errors/errors.js'

/** Who made a change, as provisioning versions record it (`createdBy`). */
export interface Operator {
  readonly id: string
}

/** The operator `requireOperator` let through; undefined before it ran. */
export function operatorOf(res: Response): Operator | undefined {
  return res.locals['operator'] as Operator | undefined
}

/** Longest Authorization header looked at; a bearer token is at most 512 characters. */
const MAX_AUTHORIZATION_LENGTH = 600

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 9110
 * §11.1), or undefined when there is no such header or it is not a bearer credential.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_AUTHORIZATION_LENGTH) return undefined
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header)
  return match?.[1]
}

/**
 * The password of an `Authorization: Basic <base64(user:password)>` header (RFC 7617), or undefined.
 * Veraison's provisioning client (`cocli`, `auth: basic`) can send only this or OAuth2: it reaches
 * the Veraison-compatible routes unchanged with the operator token as its password (any user name).
 */
export function basicPassword(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_AUTHORIZATION_LENGTH) return undefined
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const password = decoded.slice(colon + 1)
  return /^[\x21-\x7e]+$/.test(password) ? password : undefined
}

/** The id an operator token's changes are recorded under: names the token without revealing it. */
export function operatorIdOf(tokenSha256Hex: string): string {
  return `operator-token:${tokenSha256Hex.slice(0, 8)}`
}

/**
 * Middleware: lets a request through with `res.locals.operator` set when it carries the operator
 * token; otherwise ends it with a 401 problem (`ERR_AUTH_REQUIRED` without a bearer token or when
 * no token is configured, `ERR_AUTH_INVALID` for a token that does not match).
 */
export function requireOperator(operatorToken: { readonly sha256: string } | undefined): RequestHandler {
  const expected = operatorToken === undefined ? undefined : Buffer.from(operatorToken.sha256, 'hex')
  const id = operatorToken === undefined ? undefined : operatorIdOf(operatorToken.sha256)
  return (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req.headers.authorization) ?? basicPassword(req.headers.authorization)
    if (expected === undefined || id === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="assay-provisioning"')
      next(new VerifierError('ERR_AUTH_REQUIRED', 'provisioning is closed: this verifier has no operator credential configured (ASSAY_OPERATOR_TOKEN)'))
      return
    }
    if (token === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="assay-provisioning"')
      next(new VerifierError('ERR_AUTH_REQUIRED', req.headers.authorization === undefined ? undefined : 'the Authorization header is neither a bearer credential nor Basic with the token as password'))
      return
    }
    const presented = createHash('sha256').update(token, 'utf8').digest()
    if (!timingSafeEqual(presented, expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="assay-provisioning", error="invalid_token"')
      next(new VerifierError('ERR_AUTH_INVALID'))
      return
    }
    res.locals['operator'] = { id } satisfies Operator
    next()
  }
}
