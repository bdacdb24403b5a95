/**
 * Who is asking: what `authenticate` (authenticate.ts) makes of a request's credential. A principal
 * holds roles in one tenant only; `authorize` compares both with what a route needs.
 */
import type { TenantId } from '../store/types.js'
import type { Role } from './roles.js'

/** How the principal proved itself. */
export type CredentialKind = 'api-key' | 'oidc' | 'operator-token'

export interface Principal {
  /**
   * Stable name of the credential, for logs, audit entries and `createdBy`; never a secret:
   * `api-key:<key id>`, `oidc:<issuer>#<sub>` or `operator-token:<first 8 hex of its SHA-256>`.
   */
  readonly id: string
  readonly tenant: TenantId
  /** Without repeats, in `ROLES` order; may be empty (a token whose claims name no Assay role). */
  readonly roles: readonly Role[]
  readonly via: CredentialKind
}

/** Whether `principal` holds `role` in `tenant`. */
export function grants(principal: Principal, role: Role, tenant: TenantId): boolean {
  return principal.tenant === tenant && principal.roles.includes(role)
}
