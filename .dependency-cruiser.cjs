/**
 * Layering rules for src/ (style.md §4.1, architecture.md "Layout"). Run by `npm run lint`:
 *   npx depcruise src --config .dependency-cruiser.cjs
 *
 * Imports flow one way:
 *   main → (api, queue) → appraisal → evidence → (cose, jose) → crypto
 *   main → attester → evidence (descriptors), cose, crypto    (`assay attest` only)
 *   appraisal → corim → (cose, crypto)       (CoRIM intake: pure decoding and mapping)
 * with errors and util as leaves that every layer may use. jose (the JSON twin of cose) sits at the
 * level of cose and reads only cose/algorithms.ts, the algorithm table the two share. store, results, policy and config sit
 * beside the chain; the lower layers (crypto, cose, evidence) must not reach them where noted.
 * Third-party boundaries: only cose/cbor.ts touches cbor-x, only crypto/ touches @noble and
 * @peculiar, only store/ touches ioredis and only queue/ touches bullmq.
 */

/** `^src/(a|b|c)/`: any module in one of these top-level folders of src. */
const inLayers = (...names) => `^src/(${names.join('|')})/`

/** An npm package, whether resolved into node_modules or (when not installed) left bare. */
const npmPackage = (pattern) => `(^|/)node_modules/${pattern}/|^${pattern}($|/)`

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    // ── structure ─────────────────────────────────────────────────────────────────────────
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular dependency. Break the cycle: move the shared part down a layer or into a types module.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'Import that cannot be resolved to a file on disk. Check the specifier (relative imports end in .js), ' +
        'or add the package to package.json and run npm install.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      comment: 'Production code must not import test code (test/, helpers, fixtures).',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },

    // ── layers: lower layers never import higher ones ────────────────────────────────────
    {
      name: 'nothing-imports-main',
      severity: 'error',
      comment: 'src/main holds the process entry points (the only readers of process.env); nothing imports them.',
      from: { path: '^src/', pathNot: inLayers('main') },
      to: { path: inLayers('main') },
    },
    {
      name: 'attester-only-from-main',
      severity: 'error',
      comment:
        'src/attester builds and signs Evidence for `assay attest` (a test attester). Only src/main may use it: ' +
        'the verifier itself never makes Evidence.',
      from: { path: '^src/', pathNot: inLayers('main', 'attester') },
      to: { path: inLayers('attester') },
    },
    {
      name: 'attester-layer',
      severity: 'error',
      comment: 'src/attester sits on cose, jose, crypto and the evidence descriptors; it must not import api, queue, store, appraisal or results.',
      from: { path: inLayers('attester') },
      to: { path: inLayers('api', 'queue', 'store', 'appraisal', 'results', 'config') },
    },
    {
      name: 'queue-not-to-api',
      severity: 'error',
      comment: 'The worker side (src/queue) must not depend on the HTTP layer (src/api).',
      from: { path: inLayers('queue') },
      to: { path: inLayers('api') },
    },
    {
      name: 'support-not-to-api-queue',
      severity: 'error',
      comment:
        'store, results, policy and config are used by the entry layers (api, queue), not the other way round.',
      from: { path: inLayers('store', 'results', 'policy', 'config') },
      to: { path: inLayers('api', 'queue') },
    },
    {
      name: 'auth-layer',
      severity: 'error',
      comment:
        'src/auth (credentials: API keys, OIDC tokens, roles) is pure logic beside store: it may import store, ' +
        'crypto, errors and util, nothing above (api, queue, main wire it) and not config (config reads it).',
      from: { path: inLayers('auth') },
      to: { path: '^src/', pathNot: inLayers('auth', 'store', 'crypto', 'errors', 'util') },
    },
    {
      name: 'store-uses-only-auth-formats',
      severity: 'error',
      comment: 'src/store may read the role list and the API key format of src/auth (what it stores), nothing else there.',
      from: { path: inLayers('store') },
      to: { path: inLayers('auth'), pathNot: '^src/auth/(roles|api-keys)\\.ts$' },
    },
    {
      name: 'config-uses-only-auth-formats',
      severity: 'error',
      comment: 'src/config validates credential settings with the formats of src/auth (roles, API keys, issuers), nothing else there.',
      from: { path: inLayers('config') },
      to: { path: inLayers('auth'), pathNot: '^src/auth/(roles|api-keys|oidc-config)\\.ts$' },
    },
    {
      name: 'appraisal-layer',
      severity: 'error',
      comment: 'src/appraisal is below api and queue: it must not import them.',
      from: { path: inLayers('appraisal') },
      to: { path: inLayers('api', 'queue') },
    },
    {
      name: 'evidence-layer',
      severity: 'error',
      comment: 'src/evidence is below appraisal: it must not import appraisal, api, queue or store.',
      from: { path: inLayers('evidence') },
      to: { path: inLayers('appraisal', 'api', 'queue', 'store') },
    },
    {
      name: 'cose-layer',
      severity: 'error',
      comment:
        'src/cose is below evidence: it must not import evidence, appraisal, api, queue, store or results.',
      from: { path: inLayers('cose') },
      to: { path: inLayers('evidence', 'appraisal', 'api', 'queue', 'store', 'results', 'jose') },
    },
    {
      name: 'jose-layer',
      severity: 'error',
      comment:
        'src/jose is beside src/cose: it may import crypto, errors, util and cose/algorithms.ts (the shared ' +
        'algorithm table), nothing else in src.',
      from: { path: inLayers('jose') },
      to: { path: '^src/', pathNot: [inLayers('jose', 'crypto', 'errors', 'util'), '^src/cose/algorithms\\.ts$'] },
    },
    {
      name: 'corim-layer',
      severity: 'error',
      comment:
        'src/corim (CoRIM/CoMID decoding and mapping) is pure and sits beside evidence: it may import cose, ' +
        'crypto, errors and util, nothing else in src (the appraisal shapes it maps to are restated, not imported).',
      from: { path: inLayers('corim') },
      to: { path: '^src/', pathNot: inLayers('corim', 'cose', 'crypto', 'errors', 'util') },
    },
    {
      name: 'nothing-below-imports-corim',
      severity: 'error',
      comment: 'The layers src/corim stands on (and evidence, beside it) must not import it; appraisal, store, api and queue may.',
      from: { path: inLayers('cose', 'jose', 'crypto', 'errors', 'util', 'evidence') },
      to: { path: inLayers('corim') },
    },
    {
      name: 'audit-layer',
      severity: 'error',
      comment:
        'src/audit (audit entries, hash chain, signed checkpoints) is pure: it may import results (EAR signing and ' +
        'JWS verification), jose, crypto, errors and util; store implements its port and imports it, not the other way.',
      from: { path: inLayers('audit') },
      to: { path: '^src/', pathNot: inLayers('audit', 'results', 'jose', 'crypto', 'errors', 'util') },
    },
    {
      name: 'policy-layer',
      severity: 'error',
      comment:
        'src/policy (appraisal policies: documents, CEL compilation, evaluation) is pure: it may import the AR4SI ' +
        'names of results/trust-vector.ts, errors and util, nothing else in src; appraisal applies it, main loads it.',
      from: { path: inLayers('policy') },
      to: { path: '^src/', pathNot: [inLayers('policy', 'errors', 'util'), '^src/results/trust-vector\\.ts$'] },
    },
    {
      name: 'crypto-layer',
      severity: 'error',
      comment: 'src/crypto is the lowest layer above the leaves: it must not import cose, jose or anything above it.',
      from: { path: inLayers('crypto') },
      to: { path: inLayers('cose', 'jose', 'evidence', 'appraisal', 'api', 'queue', 'store', 'results') },
    },
    {
      name: 'errors-is-a-leaf',
      severity: 'error',
      comment: 'src/errors is a leaf: it imports nothing else in src.',
      from: { path: inLayers('errors') },
      to: { path: '^src/', pathNot: inLayers('errors') },
    },
    {
      name: 'util-is-a-leaf',
      severity: 'error',
      comment: 'src/util is a leaf: it may import only src/util and src/errors.',
      from: { path: inLayers('util') },
      to: { path: '^src/', pathNot: inLayers('util', 'errors') },
    },

    // ── third-party boundaries ───────────────────────────────────────────────────────────
    {
      name: 'cel-only-in-policy',
      severity: 'error',
      comment: 'Only src/policy may import the CEL library (@bufbuild/cel, its RE2 engine @bufbuild/re2) and the YAML parser: policies are its business.',
      from: { pathNot: '^src/policy/' },
      to: { path: [npmPackage('@bufbuild/(cel|re2)'), npmPackage('yaml')] },
    },
    {
      name: 'cbor-x-only-in-cose-cbor',
      severity: 'error',
      comment: 'Only src/cose/cbor.ts (the CBOR façade) may import cbor-x; everything else uses the façade.',
      from: { pathNot: '^src/cose/cbor\\.ts$' },
      to: { path: npmPackage('cbor-(x|extract)') },
    },
    {
      name: 'crypto-libs-only-in-crypto',
      severity: 'error',
      comment: 'Only src/crypto/ may import @noble/* and @peculiar/* (node:crypto first; see architecture.md).',
      from: { pathNot: inLayers('crypto') },
      to: { path: npmPackage('@(noble|peculiar)/[^/]+') },
    },
    {
      name: 'ioredis-only-in-store',
      severity: 'error',
      comment: 'Only src/store/ talks to Redis; other layers use the store interfaces.',
      from: { pathNot: inLayers('store') },
      to: { path: npmPackage('ioredis') },
    },
    {
      name: 'bullmq-only-in-queue',
      severity: 'error',
      comment: 'Only src/queue/ may import bullmq.',
      from: { pathNot: inLayers('queue') },
      to: { path: npmPackage('bullmq') },
    },
  ],

  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage)/' },

    // Resolve `./x.js` specifiers to `./x.ts` as tsc (NodeNext) does, and keep type-only imports
    // (`import type`) in the graph so they obey the same layering.
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,

    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },

    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
}
