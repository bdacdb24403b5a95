/**
 * Media type parsing (RFC 9110 §8.3.1) for the Evidence `Content-Type`. Type, subtype and
 * parameter names are case-insensitive; `eat_profile` values are compared case-insensitively too
 * (RFC 9782 §3), so they are kept as written and matched lower-cased.
 */
import { VerifierError } from '../errors/errors.js'

export interface MediaType {
  /** `type/subtype`, lower-cased. */
  readonly essence: string
  /** Parameter names lower-cased; values unquoted, as written. */
  readonly parameters: ReadonlyMap<string, string>
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Longest media type read, in characters. */
export const MEDIA_TYPE_MAX_LENGTH = 1024
/** Most parameters a media type may carry. */
export const MEDIA_TYPE_MAX_PARAMETERS = 16

/**
 * Parses a media type. Throws `ERR_MEDIA_TYPE_MALFORMED` (one exception, whatever the input).
 * Callers that parse many candidates (an `Accept` list) use {@link tryParseMediaType} instead.
 */
export function parseMediaType(header: string): MediaType {
  const parsed = parseOrReason(header)
  if (typeof parsed === 'string') throw new VerifierError('ERR_MEDIA_TYPE_MALFORMED', parsed)
  return parsed
}

/** Parses a media type, or returns undefined: no exception on the hot path of a hostile list. */
export function tryParseMediaType(header: string): MediaType | undefined {
  const parsed = parseOrReason(header)
  return typeof parsed === 'string' ? undefined : parsed
}

/** The media type, or why it is malformed. Linear in the input; bounded in length and parameters. */
function parseOrReason(header: string): MediaType | string {
  if (header.length > MEDIA_TYPE_MAX_LENGTH) return 'media type is too long'
  const semi = header.indexOf(';')
  const essence = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase()
  const slash = essence.indexOf('/')
  if (slash <= 0 || !TOKEN.test(essence.slice(0, slash)) || !TOKEN.test(essence.slice(slash + 1))) {
    return `not a media type: ${JSON.stringify(header.slice(0, 80))}`
  }
  const parameters = new Map<string, string>()
  let rest = semi === -1 ? '' : header.slice(semi + 1)
  while (rest.trim() !== '') {
    if (parameters.size >= MEDIA_TYPE_MAX_PARAMETERS) return 'media type has too many parameters'
    const eq = rest.indexOf('=')
    if (eq === -1) return 'media type parameter without a value'
    const name = rest.slice(0, eq).trim().toLowerCase()
    if (!TOKEN.test(name)) return 'bad media type parameter name'
    rest = rest.slice(eq + 1).trimStart()
    let value: string
    if (rest.startsWith('"')) {
      let i = 1
      value = ''
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === '\\') i++
        value += rest[i] ?? ''
      }
      if (i >= rest.length) return 'unterminated quoted parameter value'
      rest = rest.slice(i + 1).trimStart()
      if (rest !== '' && !rest.startsWith(';')) return 'text after a quoted value'
    } else {
      const end = rest.indexOf(';')
      value = (end === -1 ? rest : rest.slice(0, end)).trim()
      rest = end === -1 ? '' : rest.slice(end)
      if (!TOKEN.test(value)) return `bad media type parameter value for ${name}`
    }
    if (parameters.has(name)) return `duplicate media type parameter ${name}`
    parameters.set(name, value)
    rest = rest.startsWith(';') ? rest.slice(1) : rest
  }
  return { essence, parameters }
}

/** Formats a media type with `eat_profile` quoted when it is not a token (RFC 9782 §3). */
export function formatMediaType(essence: string, profile?: string): string {
  if (profile === undefined) return essence
  return `${essence}; eat_profile=${TOKEN.test(profile) ? profile : `"${profile}"`}`
}
