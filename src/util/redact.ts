/**
 * Credential redaction for anything that may be printed: a URL's userinfo password
 * (`redis://user:pass@host` → `redis://user:***@host`, `redis://:pass@host` → `redis://:***@host`,
 * a lone `redis://secret@host` → `redis://***@host`) and credential-like query parameters
 * (`?password=…`). Works on free text, so a URL inside an error message or a stack is caught too.
 */

const MASK = '***'
/** `scheme://` and the authority after it, up to where a path, query, fragment or the text ends. */
const URL_AUTHORITY = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>`]*)/gi
const SECRET_PARAM = /([?&;](?:password|passwd|pass|pwd|secret|token|auth|access_token|api_key|apikey)=)[^&\s#"'<>`]*/gi

export function redactCredentials(text: string): string {
  return text
    .replace(URL_AUTHORITY, (_match, scheme: string, authority: string) => {
      // The userinfo ends at the last `@` of the authority: an unencoded `@` in a password is not the end.
      const at = authority.lastIndexOf('@')
      if (at === -1) return scheme + authority
      const userinfo = authority.slice(0, at)
      const colon = userinfo.indexOf(':')
      const redacted = colon === -1 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`
      return `${scheme}${redacted}${authority.slice(at)}`
    })
    .replace(SECRET_PARAM, `$1${MASK}`)
}
