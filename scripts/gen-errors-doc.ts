/**
 * Writes docs/errors.md from the error catalogue (src/errors/codes.ts): one table row per code.
 * Everything the page says about the wire is taken from the code that produces it, so the page
 * cannot describe another problem `type` or reasons claim than the one sent: the problem members
 * (`PROBLEM_MEMBERS`, src/api/problem.ts), the default `type` base and its setting (src/config), the
 * reasons claim names (src/results/ear.ts) and the AR4SI values a failed appraisal gets.
 *
 *   npm run docs:errors      (node --import tsx scripts/gen-errors-doc.ts)
 *
 * test/unit/errors/catalogue.test.ts fails when docs/errors.md differs from `renderErrorsDoc()`;
 * test/integration/service/errors-doc.test.ts checks real responses against what the page says.
 */
import { writeFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { PROBLEM_MEMBERS } from '../src/api/problem.js'
import { ENV_NAMES } from '../src/config/load.js'
import { configSchema } from '../src/config/schema.js'
import { ERROR_CATALOGUE, ERROR_CODES, typeSlug, type ErrorCode } from '../src/errors/codes.js'
import { EAR_CBOR_KEY, EAR_JSON_NAMES } from '../src/results/ear.js'
import { CRYPTO_FAILED, INSTANCE_IDENTITY, NO_CLAIM, UNEXPECTED_EVIDENCE, VERIFIER_MALFUNCTION } from '../src/results/trust-vector.js'

export const ERRORS_DOC_PATH = fileURLToPath(new URL('../docs/errors.md', import.meta.url))

/** The problem `type` base a default configuration sends. */
export const DEFAULT_PROBLEM_TYPE_BASE: string = configSchema.parse({}).problemTypeBase

/** The problem `type` a default configuration sends for `code`. */
export function problemType(code: ErrorCode): string {
  return DEFAULT_PROBLEM_TYPE_BASE + typeSlug(code)
}

/** The reasons claim, as named in each EAR encoding and naming. */
export const REASONS_CLAIM = Object.freeze({
  ear03: EAR_JSON_NAMES['ear-03'].reasons,
  veraison: EAR_JSON_NAMES['veraison'].reasons,
  cbor: EAR_CBOR_KEY.reasons,
})

/** Markdown table cell: pipes escaped, line breaks flattened. */
function cell(text: string | number): string {
  return String(text).replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ')
}

/** What the HTTP status column says: evidence errors are never sent as problems. */
function statusCell(code: ErrorCode): string {
  const entry = ERROR_CATALOGUE[code]
  return entry.family === 'evidence' ? '— (a result)' : String(entry.status)
}

/** The full text of docs/errors.md, in catalogue order. */
export function renderErrorsDoc(): string {
  const rows = ERROR_CODES.map((code) => {
    const entry = ERROR_CATALOGUE[code]
    return `| \`${code}\` | ${entry.family} | ${statusCell(code)} | ${cell(entry.title)} | \`${typeSlug(code)}\` |`
  })
  const members = PROBLEM_MEMBERS.map((m) => `- \`${m.name}\`${m.always ? '' : ' (when there is one)'}: ${m.meaning}.`)
  const example = problemType('ERR_ROUTE_NOT_FOUND')
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npm run docs:errors`. Do not edit by hand. -->',
    '',
    'Every stable error code Assay can produce. A code never changes meaning once published. Each',
    'code belongs to one family, which decides where it can appear:',
    '',
    '- `request`: a request Assay will not serve. The answer is an RFC 9457 problem',
    '  (`application/problem+json`) with the HTTP status shown.',
    '- `evidence`: Evidence that is malformed, fails verification or is not fresh. This is never an',
    '  HTTP error: the appraisal completes with a signed attestation result (EAR) that says why (below).',
    '- `fault`: Assay itself failed (store, queue, configuration). The answer is a 5xx problem without',
    '  `detail`; the cause is logged, not sent.',
    '',
    '## Problems',
    '',
    'A problem body has these members:',
    '',
    ...members,
    '',
    `The \`type\` is \`${DEFAULT_PROBLEM_TYPE_BASE}<slug>\`, with the slug of the table below,`,
    `for example \`${example}\`; the setting \`${ENV_NAMES.problemTypeBase}\` replaces the part`,
    'before the slug. A 415 lists the accepted media types in `Accept`; every 503 carries `Retry-After`.',
    '',
    '## Codes in results',
    '',
    'An evidence error becomes an EAR submodule whose trust vector says what failed, with one entry in',
    `Assay's reasons claim: \`${REASONS_CLAIM.ear03}\` in the default (draft -03) naming,`,
    `\`${REASONS_CLAIM.veraison}\` in Veraison's naming (the challenge/response API), CBOR key`,
    `\`${REASONS_CLAIM.cbor}\` in a CWT. It is an array of \`{ "claim", "value", "code", "detail" }\`; for`,
    'an error, `code` is the code below and `detail` says what exactly was wrong.',
    '',
    `- Evidence that fails verification, freshness or its profile: every claim ${CRYPTO_FAILED}`,
    '  (contraindicated), the reason on `"status"`.',
    `- Evidence whose key no provisioned key or anchor knows (\`ERR_KEY_NOT_FOUND\`,`,
    `  \`ERR_X509_UNKNOWN_ANCHOR\`): instance-identity ${INSTANCE_IDENTITY.unrecognized} (unrecognised attester) and every other`,
    `  claim ${NO_CLAIM} (no claim), the reason on \`"instance-identity"\`; a revoked certificate (\`ERR_X509_REVOKED\`): instance-identity`,
    `  ${INSTANCE_IDENTITY.untrustworthy}. Either makes the status contraindicated.`,
    `- Evidence sent with a generic media type whose bytes are no format Assay implements`,
    `  (\`ERR_EVIDENCE_UNRECOGNIZED\`): every claim ${UNEXPECTED_EVIDENCE} (unexpected Evidence, status none).`,
    `- A verifier bug that the Evidence triggered (\`ERR_VERIFIER_EVIDENCE_UNHANDLED\`): every claim ${VERIFIER_MALFUNCTION}`,
    '  (AR4SI verifier malfunction, status none).',
    '',
    'The `ERR_EAR_*` codes are what Assay\'s own EAR verifier (`src/results/verify.ts`) raises when a',
    'result it checks is malformed, badly signed, stale or for another nonce; they never appear in a result.',
    '',
    'Reasons also explain claims that are not errors, with codes such as `PSA_SOFTWARE_MATCHED` or',
    '`EAT_UEID_NOT_BOUND`; `docs/relying-parties.md` lists them.',
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
