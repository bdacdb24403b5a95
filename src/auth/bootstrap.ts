/**
 * The first credential of a tenant. In the embedded default there is one tenant (`default`); at first
 * start `main/server.ts#bootstrapAdmin` calls {@link ensureBootstrapAdmin}, prints the key it returns once,
 * and never sees it again: only its hash is stored. A deployer who wants to choose the first key
 * instead sets `ASSAY_BOOTSTRAP_ADMIN_KEY` (kept hashed, see config/schema.ts; {@link bootstrapKeyOf})
 * and then no key is generated.
 *
 * The first key holds every role ({@link BOOTSTRAP_ROLES}): a fresh verifier must be usable with it
 * for provisioning as well as for making narrower keys. Whoever runs Assay in production creates
 * keys with only the roles each client needs, then revokes the bootstrap key.
 */
import { generateApiKey } from './api-keys.js'
import type { ApiKeyRecord, CredentialStore } from '../store/credentials.js'
import { DEFAULT_TENANT, type TenantId } from '../store/types.js'
import type { BootstrapKey } from './authenticate.js'
import { ROLES, type Role } from './roles.js'

/** Roles of the first key of a tenant: all of them. */
export const BOOTSTRAP_ROLES: readonly Role[] = ROLES

/** Name of a generated first key, as listings show it. */
export const BOOTSTRAP_KEY_NAME = 'bootstrap admin'

/** What {@link issueApiKey} is asked for. */
export interface ApiKeyRequest {
  readonly tenant: TenantId
  readonly name: string
  readonly roles: readonly Role[]
  /** The principal id of whoever asked (`Principal.id`). */
  readonly createdBy: string
}

/**
 * Makes a new key, stores its hash, and returns the key text (to be shown once, never again) with its
 * record. What an admin's "create API key" request does once authorized.
 * @throws VerifierError `ERR_STORE_FULL` at the tenant's cap; `TypeError` for a name or roles out of
 *   bounds (check them first and answer 400)
 */
export async function issueApiKey(store: CredentialStore, request: ApiKeyRequest): Promise<{ readonly key: string; readonly record: ApiKeyRecord }> {
  const { key, keyId, hash } = generateApiKey()
  const record = await store.create({ keyId, tenant: request.tenant, name: request.name, roles: request.roles, hash, createdBy: request.createdBy })
  return { key, record: record! }
}

/**
 * Creates an admin key for `tenant` unless it holds an unrevoked key with the `admin` role, and
 * returns the key text (to be shown once) with its record; undefined when one exists. Several
 * processes starting at once create one key between them (the store checks and writes in one step).
 */
export async function ensureBootstrapAdmin(
  store: CredentialStore,
  tenant: TenantId = DEFAULT_TENANT,
): Promise<{ readonly key: string; readonly record: ApiKeyRecord } | undefined> {
  const { key, keyId, hash } = generateApiKey()
  const record = await store.create(
    { keyId, tenant, name: BOOTSTRAP_KEY_NAME, roles: BOOTSTRAP_ROLES, hash, createdBy: 'bootstrap' },
    { unlessActiveRole: 'admin' },
  )
  return record === undefined ? undefined : { key, record }
}

/** The authenticator's view of the key a deployer gave in `ASSAY_BOOTSTRAP_ADMIN_KEY`. */
export function bootstrapKeyOf(setting: { readonly keyId: string; readonly sha256: string }, tenant: TenantId = DEFAULT_TENANT): BootstrapKey {
  return { keyId: setting.keyId, hash: setting.sha256, tenant, roles: BOOTSTRAP_ROLES }
}
