/**
 * The roles a credential may hold (issue 10). A role is granted per tenant: a principal holds roles
 * in exactly one tenant. No role implies another; `admin` manages credentials, tenant settings and
 * the audit log, and a route that wants `provisioner` needs `provisioner`.
 *
 * - `attester`: submit Evidence, get nonces (where the tenant requires it);
 * - `relying-party`: read appraisal results;
 * - `provisioner`: trust anchors, reference values, profiles;
 * - `policy-admin`: appraisal policies;
 * - `admin`: credentials, tenant settings, audit.
 *
 * This module imports nothing: the store (`store/credentials.ts`) and the settings use it too.
 */

/** Every role, in the order listings and principals give them. */
export const ROLES = ['attester', 'relying-party', 'provisioner', 'policy-admin', 'admin'] as const

export type Role = (typeof ROLES)[number]

const ROLE_SET: ReadonlySet<string> = new Set(ROLES)

/** Whether `value` names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && ROLE_SET.has(value)
}

/**
 * The roles of `value`, a list of role names without repeats, in {@link ROLES} order. Anything else
 * (not an array, empty, an unknown name, a repeat) is a `TypeError`: a caller that takes roles
 * from a request checks them first and answers 400 itself.
 */
export function parseRoles(value: unknown): Role[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > ROLES.length) {
    throw new TypeError(`roles must be a list of 1 to ${ROLES.length} role names`)
  }
  const seen = new Set<string>()
  for (const item of value) {
    if (!isRole(item)) throw new TypeError(`unknown role ${describe(item)}; roles are ${ROLES.join(', ')}`)
    if (seen.has(item)) throw new TypeError(`role ${item} is listed twice`)
    seen.add(item)
  }
  return ROLES.filter((role) => seen.has(role))
}

/**
 * The known roles among `names` (unknown names are skipped: a token's claim may carry other
 * applications' roles), without repeats, in {@link ROLES} order.
 */
export function knownRoles(names: Iterable<string>): Role[] {
  const seen = new Set<string>()
  for (const name of names) if (ROLE_SET.has(name)) seen.add(name)
  return ROLES.filter((role) => seen.has(role))
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return typeof value
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}
