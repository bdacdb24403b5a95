/**
 * Writes docs/errors.md from the error catalogue (src/errors/codes.ts): one table row per code.
 *
 *   npm run docs:errors      (node --import tsx scripts/gen-errors-doc.ts)
 *
 * test/unit/errors/catalogue.test.ts fails when docs/errors.md differs from `renderErrorsDoc()`.
 */
import { writeFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ERROR_CATALOGUE, ERROR_CODES, typeSlug } from '../src/errors/codes.js'

export const ERRORS_DOC_PATH = fileURLToPath(new URL('../docs/errors.md', import.meta.url))

/** Markdown table cell: pipes escaped, line breaks flattened. */
function cell(text: string | number): string {
  return String(text).replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ')
}

/** The full text of docs/errors.md, in catalogue order. */
export function renderErrorsDoc(): string {
  const rows = ERROR_CODES.map((code) => {
    const entry = ERROR_CATALOGUE[code]
    return `| \`${code}\` | ${entry.family} | ${entry.status} | ${cell(entry.title)} | \`${typeSlug(code)}\` |`
  })
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npm run docs:errors`. Do not edit by hand. -->',
    '',
    'Every stable error code Assay can produce. A code never changes meaning once published.',
    '',
    '- `request`: a malformed request, answered as an RFC 9457 problem with the HTTP status shown.',
    '- `evidence`: bad Evidence. Never an HTTP error: it becomes a signed attestation result whose',
    '  trust vector and `problem` annotation say why (the status column is nominal).',
    '- `fault`: the verifier itself failed; HTTP 5xx, and `verifier_malfunction` in a result.',
    '',
    'The problem `type` is `<base>/problems/<slug>`.',
    '',
    '| code | family | HTTP status | title | problem type slug |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    '## Nonces: what is told apart, and what is not',
    '',
    'Evidence whose `eat_nonce` gives it no freshness gets one of three codes, from what the store',
    'knows about that nonce for this tenant:',
    '',
    '- `ERR_CLAIMS_NONCE_REPLAYED`: issued, and already used by another appraisal.',
    '- `ERR_CLAIMS_NONCE_EXPIRED`: issued, never used, and its lifetime (`ASSAY_NONCE_TTL_SECONDS`)',
    '  has ended.',
    '- `ERR_CLAIMS_NONCE_UNKNOWN`: the store knows nothing of it.',
    '',
    'A nonce is remembered for `NONCE_RECALL_SECONDS` (300 s, `src/store/types.ts`) after its',
    'lifetime ends; after that, a used or expired nonce is forgotten and reads as unknown. So unknown',
    'covers a nonce that was never issued, one issued to another tenant, and one whose expiry and',
    'used-marker have both aged out. In embedded mode it also covers a nonce issued before a restart',
    '(nonces are not persisted, on purpose) and a nonce used or expired while the bounded map that',
    'remembers past nonces was full (such a nonce is still refused). Evidence without `eat_nonce`',
    'whose `iat` is missing or too old',
    'for its profile gets `ERR_CLAIMS_STALE`. A nonce given in a challenge/response session is',
    'matched, not consumed: a different one is `ERR_CLAIMS_NONCE_MISMATCH`.',
    '',
  ].join('\n')
}

function main(): void {
  writeFileSync(ERRORS_DOC_PATH, renderErrorsDoc())
  console.log(`wrote ${relative(process.cwd(), ERRORS_DOC_PATH)} (${ERROR_CODES.length} codes)`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main()
}
