/**
 * The audit log's entry model, its canonical encoding and its hash chain (docs/audit.md). Pure: no
 * I/O, no clock; node:crypto only for SHA-256.
 *
 * An entry records one change or one appraisal of one tenant. Entries of a tenant are numbered
 * 1, 2, 3… (`seq`) and chained: `prev` is the hash of the entry before (for seq 1, the tenant's
 * genesis hash), and
 *
 *     hash = SHA-256( bytes(prev) ‖ UTF-8( canonical(entry without `hash`) ) )
 *
 * where `bytes(prev)` is the 32 bytes the hex of `prev` spells. `canonical` is RFC 8785 (JCS)
 * restricted to what an entry may hold: objects with keys sorted by UTF-16 code unit, no
 * whitespace, strings escaped as `JSON.stringify` escapes them (which is JCS's rule), integers only
 * (safe integers, no fraction, no exponent, no -0), no lone surrogates. An absent optional member is
 * left out, never written as `null`. Because every number is a safe integer, the output is the same
 * in every JCS implementation, so a relying party can recompute the chain in any language.
 *
 * Checkpoint entries (action `audit.checkpoint`) carry a JWS that signs an earlier entry's `seq` and
 * `hash` (`checkpoint.ts`); they are chained like every other entry.
 */
import { createHash } from 'node:crypto'

/** Version of the entry format; part of every entry, so a change of format changes every hash. */
export const AUDIT_ENTRY_VERSION = 1

/** The action of a checkpoint entry. */
export const CHECKPOINT_ACTION = 'audit.checkpoint'

/** Bounds of an entry; an entry beyond them is refused before it is hashed or stored. */
export const AUDIT_LIMITS = Object.freeze({
  /** Most bytes of `details` as canonical JSON. */
  maxDetailsBytes: 4096,
  /** Deepest nesting inside `details`. */
  maxDetailsDepth: 8,
  /** Most targets of one entry. */
  maxTargets: 16,
  /** Most characters of `actor`, and of a target's `id`. */
  maxText: 256,
  /** Most characters of a checkpoint's JWS. */
  maxCheckpointChars: 2048,
  /** Most bytes of one entry as canonical JSON (a line of an export or of the embedded file). */
  maxEntryBytes: 16 * 1024,
})

/** A JSON value as an entry's `details` may hold it. */
export type AuditJson = null | boolean | number | string | readonly AuditJson[] | { readonly [key: string]: AuditJson }

/** What an entry is about: a document, a policy, an appraisal, a credential… */
export interface AuditTarget {
  /** `trust-anchor`, `reference-value`, `profile`, `policy`, `credential`, `tenant`, `appraisal`… */
  readonly type: string
  readonly id: string
  /** The version of the target the entry produced or used, when it has versions. */
  readonly version?: number
}

/** What a caller records: an entry without its place in the chain. */
export interface AuditEntryInput {
  /** Milliseconds since the epoch. */
  readonly time: number
  /** Who: a credential id, an operator name, `assay` for the verifier itself. 1 to 256 characters. */
  readonly actor: string
  /** What: `<noun>.<verb>` such as `trust-anchor.create`, `policy.activate`, or `appraisal`. */
  readonly action: string
  readonly targets?: readonly AuditTarget[]
  /** `created`, `replaced`, `deleted`, `affirming`, `contraindicated`, `denied`… */
  readonly outcome?: string
  /** Lower-case hex SHA-256 of the Evidence as received (appraisals). */
  readonly evidenceDigest?: string
  /** Anything else, bounded: at most {@link AUDIT_LIMITS}.maxDetailsBytes as canonical JSON. */
  readonly details?: { readonly [key: string]: AuditJson }
  /** A checkpoint entry's compact JWS (`checkpoint.ts`); only with action `audit.checkpoint`. */
  readonly checkpoint?: string
}

/** An entry in its tenant's chain, as stored and exported. */
export interface AuditEntry extends AuditEntryInput {
  readonly v: typeof AUDIT_ENTRY_VERSION
  readonly tenant: string
  readonly seq: number
  /** Lower-case hex hash of the entry before (the genesis hash for seq 1). */
  readonly prev: string
  /** Lower-case hex SHA-256 of `prev` and the canonical entry without `hash`. */
  readonly hash: string
}

const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/
const ACTION = /^[a-z][a-z0-9-]{0,31}(?:\.[a-z][a-z0-9-]{0,31}){0,3}$/
const TARGET_TYPE = /^[a-z][a-z0-9-]{0,31}$/
const OUTCOME = /^[a-z][a-z0-9_-]{0,63}$/
const HASH_HEX = /^[0-9a-f]{64}$/
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const INPUT_KEYS = new Set(['time', 'actor', 'action', 'targets', 'outcome', 'evidenceDigest', 'details', 'checkpoint'])
const ENTRY_KEYS = new Set([...INPUT_KEYS, 'v', 'tenant', 'seq', 'prev', 'hash'])
const TARGET_KEYS = new Set(['type', 'id', 'version'])

/** Whether `value` is a lower-case hex SHA-256 (64 digits), as `prev`, `hash` and `evidenceDigest` are. */
export function isHashHex(value: unknown): value is string {
  return typeof value === 'string' && HASH_HEX.test(value)
}

/** The hash `prev` of a tenant's first entry: hex SHA-256 of the UTF-8 of `assay-audit:<tenant>`. */
export function genesisHash(tenant: string): string {
  return createHash('sha256').update(`assay-audit:${tenant}`, 'utf8').digest('hex')
}

/**
 * Canonical JSON (the JCS subset above) of `value`.
 * @throws TypeError for a value outside it: a non-integer or unsafe number, a lone surrogate,
 *   `undefined`, a function, a class instance
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return String(value)
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) throw new TypeError(`canonical JSON holds safe integers only, not ${String(value)}`)
    return String(value)
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new TypeError('canonical JSON text must not hold a lone surrogate')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && isPlainObject(value)) {
    const object = value as Record<string, unknown>
    const keys = Object.keys(object).filter((key) => object[key] !== undefined)
    keys.sort()
    return `{${keys.map((key) => `${canonicalJson(key)}:${canonicalJson(object[key])}`).join(',')}}`
  }
  throw new TypeError(`canonical JSON cannot hold ${typeof value}`)
}

/** The hash of an entry: SHA-256 of the 32 bytes of `prev` and the canonical entry without `hash`. */
export function entryHash(entry: Omit<AuditEntry, 'hash'> | AuditEntry): string {
  const { hash: _ignored, ...rest } = entry as AuditEntry
  return createHash('sha256').update(Buffer.from(rest.prev, 'hex')).update(canonicalJson(rest), 'utf8').digest('hex')
}

/**
 * Builds the next entry of a chain from `input`, after checking it: number `seq`, after an entry
 * whose hash is `prev`.
 * @throws TypeError when `input` breaks a rule of {@link checkAuditInput}, or tenant, seq or prev is
 *   malformed
 */
export function chainEntry(tenant: string, seq: number, prev: string, input: AuditEntryInput): AuditEntry {
  if (typeof tenant !== 'string' || !TENANT.test(tenant)) throw new TypeError('invalid tenant id')
  if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError('seq must be a positive integer')
  if (!isHashHex(prev)) throw new TypeError('prev must be 64 lower-case hex digits')
  const checked = checkAuditInput(input)
  const body: Omit<AuditEntry, 'hash'> = { v: AUDIT_ENTRY_VERSION, tenant, seq, prev, ...checked }
  const entry: AuditEntry = { ...body, hash: entryHash(body) }
  if (Buffer.byteLength(canonicalJson(entry), 'utf8') > AUDIT_LIMITS.maxEntryBytes) {
    throw new TypeError(`the entry is larger than ${AUDIT_LIMITS.maxEntryBytes} bytes`)
  }
  return entry
}

/**
 * Checks what a caller records and returns a plain copy holding only the known members (the
 * caller's object is never kept). Callers build entries from data they have validated already, so
 * a break of the rules is a programming error: `TypeError`, naming the member.
 */
export function checkAuditInput(input: AuditEntryInput): AuditEntryInput {
  const problem = inputProblem(input)
  if (problem !== undefined) throw new TypeError(`audit entry: ${problem}`)
  const copy = JSON.parse(canonicalJson(input)) as AuditEntryInput
  // The copy is checked too: a getter could have answered the check and the copy differently.
  const again = inputProblem(copy)
  if (again !== undefined) throw new TypeError(`audit entry: ${again}`)
  return copy
}

/**
 * What is wrong with a stored or exported entry, or undefined when its shape is an entry's (its
 * hash is not checked here). Unknown members are refused: one added to an entry would otherwise be
 * hashed yet invisible to a reader that knows only these.
 */
export function entryShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const entry = value as Record<string, unknown>
  for (const key of Object.keys(entry)) if (!ENTRY_KEYS.has(key)) return `unknown member ${JSON.stringify(key)}`
  if (entry['v'] !== AUDIT_ENTRY_VERSION) return `v is not ${AUDIT_ENTRY_VERSION}`
  if (typeof entry['tenant'] !== 'string' || !TENANT.test(entry['tenant'])) return 'tenant is not a tenant id'
  if (!Number.isSafeInteger(entry['seq']) || (entry['seq'] as number) < 1) return 'seq is not a positive integer'
  if (!isHashHex(entry['prev'])) return 'prev is not 64 lower-case hex digits'
  if (!isHashHex(entry['hash'])) return 'hash is not 64 lower-case hex digits'
  const { v: _v, tenant: _t, seq: _s, prev: _p, hash: _h, ...input } = entry
  return inputProblem(input as unknown as AuditEntryInput)
}

function inputProblem(input: AuditEntryInput): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'not an object'
  for (const key of Object.keys(input)) {
    if (!INPUT_KEYS.has(key)) return `unknown member ${JSON.stringify(key)}`
  }
  if (!Number.isSafeInteger(input.time) || input.time < 0) return 'time is not a non-negative integer (ms)'
  const textProblem = boundedText(input.actor, 'actor')
  if (textProblem !== undefined) return textProblem
  if (typeof input.action !== 'string' || !ACTION.test(input.action)) return 'action is not <noun>[.<verb>] in lower case'
  if (input.targets !== undefined) {
    if (!Array.isArray(input.targets)) return 'targets is not a list'
    if (input.targets.length > AUDIT_LIMITS.maxTargets) return `more than ${AUDIT_LIMITS.maxTargets} targets`
    for (const target of input.targets as readonly unknown[]) {
      const problem = targetProblem(target)
      if (problem !== undefined) return problem
    }
  }
  if (input.outcome !== undefined && (typeof input.outcome !== 'string' || !OUTCOME.test(input.outcome))) {
    return 'outcome is not a lower-case word of at most 64 characters'
  }
  if (input.evidenceDigest !== undefined && !isHashHex(input.evidenceDigest)) return 'evidenceDigest is not 64 lower-case hex digits'
  if (input.details !== undefined) {
    if (typeof input.details !== 'object' || input.details === null || Array.isArray(input.details)) return 'details is not an object'
    const problem = jsonProblem(input.details, 0)
    if (problem !== undefined) return `details: ${problem}`
    const bytes = Buffer.byteLength(canonicalJson(input.details), 'utf8')
    if (bytes > AUDIT_LIMITS.maxDetailsBytes) return `details is ${bytes} bytes; at most ${AUDIT_LIMITS.maxDetailsBytes}`
  }
  const isCheckpoint = input.action === CHECKPOINT_ACTION
  if (isCheckpoint !== (input.checkpoint !== undefined)) return `checkpoint is present exactly when action is ${CHECKPOINT_ACTION}`
  if (
    input.checkpoint !== undefined &&
    (typeof input.checkpoint !== 'string' || input.checkpoint.length > AUDIT_LIMITS.maxCheckpointChars || !JWS_COMPACT.test(input.checkpoint))
  ) {
    return `checkpoint is not a compact JWS of at most ${AUDIT_LIMITS.maxCheckpointChars} characters`
  }
  return undefined
}

function targetProblem(target: unknown): string | undefined {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) return 'a target is not an object'
  const t = target as Record<string, unknown>
  for (const key of Object.keys(t)) if (!TARGET_KEYS.has(key)) return `a target has unknown member ${JSON.stringify(key)}`
  if (typeof t['type'] !== 'string' || !TARGET_TYPE.test(t['type'])) return 'a target type is not a lower-case word'
  const idProblem = boundedText(t['id'], 'a target id')
  if (idProblem !== undefined) return idProblem
  if (t['version'] !== undefined && (!Number.isSafeInteger(t['version']) || (t['version'] as number) < 0)) {
    return 'a target version is not a non-negative integer'
  }
  return undefined
}

function boundedText(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > AUDIT_LIMITS.maxText) {
    return `${what} is not 1 to ${AUDIT_LIMITS.maxText} characters`
  }
  if (CONTROL.test(value) || LONE_SURROGATE.test(value)) return `${what} holds a control character or a lone surrogate`
  return undefined
}

function jsonProblem(value: unknown, depth: number): string | undefined {
  if (depth > AUDIT_LIMITS.maxDetailsDepth) return `nests deeper than ${AUDIT_LIMITS.maxDetailsDepth}`
  if (value === null || typeof value === 'boolean') return undefined
  if (typeof value === 'number') return Number.isSafeInteger(value) && !Object.is(value, -0) ? undefined : 'holds a number that is not a safe integer'
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? 'holds a lone surrogate' : undefined
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    for (const item of Object.values(value)) {
      const problem = jsonProblem(item, depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return `holds a ${typeof value} JSON cannot represent`
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** The end of a tenant's chain, as a store keeps it. */
export interface AuditHead {
  /** Seq of the last entry; 0 when the chain is empty. */
  readonly seq: number
  /** Hash of the last entry; the genesis hash when the chain is empty. */
  readonly hash: string
  /** Time of the last entry (ms); 0 when the chain is empty. */
  readonly time: number
  /** Seq of the last checkpoint entry; 0 when there is none. */
  readonly checkpointSeq: number
  /** Time of the last checkpoint entry (ms); 0 when there is none. */
  readonly checkpointTime: number
}

/** The head of an empty chain. */
export function emptyHead(tenant: string): AuditHead {
  return { seq: 0, hash: genesisHash(tenant), time: 0, checkpointSeq: 0, checkpointTime: 0 }
}

/** The head after `entry` was appended to a chain whose head was `before`. */
export function headAfter(before: AuditHead, entry: AuditEntry): AuditHead {
  const isCheckpoint = entry.action === CHECKPOINT_ACTION
  return {
    seq: entry.seq,
    hash: entry.hash,
    time: entry.time,
    checkpointSeq: isCheckpoint ? entry.seq : before.checkpointSeq,
    checkpointTime: isCheckpoint ? entry.time : before.checkpointTime,
  }
}
