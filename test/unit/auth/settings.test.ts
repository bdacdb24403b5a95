/** The credential settings: issuers validated at load, the bootstrap key kept as a hash only. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateApiKey } from '../../../src/auth/api-keys.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { configFromEnv } from '../../../src/config/load.js'

const invalid = (err: unknown) => isVerifierError(err, 'ERR_CONFIG_INVALID')

const ISSUER = { issuer: 'https://login.example.com/', audience: 'assay', tenantClaim: 'tenant', scopePrefix: 'assay:' }

describe('credential settings', () => {
  it('keep only the key id and hash of ASSAY_BOOTSTRAP_ADMIN_KEY', () => {
    const { key, keyId, hash } = generateApiKey()
    const config = configFromEnv({ ASSAY_BOOTSTRAP_ADMIN_KEY: key })
    assert.deepEqual(config.bootstrapAdminKey, { keyId, sha256: hash })
    assert.equal(JSON.stringify(config).includes(key.slice(31)), false)
    for (const bad of [key.slice(0, -1), 'hunter2', `${key} `]) {
      assert.throws(() => configFromEnv({ ASSAY_BOOTSTRAP_ADMIN_KEY: bad }), invalid)
    }
  })

  it('read ASSAY_OIDC_ISSUERS as JSON with defaults', () => {
    const config = configFromEnv({ ASSAY_OIDC_ISSUERS: JSON.stringify([ISSUER]) })
    assert.deepEqual(config.oidcIssuers, [{ ...ISSUER, audience: ['assay'], algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'], clockToleranceSeconds: 30 }])
    assert.equal(configFromEnv({}).oidcIssuers, undefined)
  })

  it('refuse issuers that are not JSON, not safe or ambiguous', () => {
    const bad: unknown[] = [
      'not json',
      '{}',
      [{ ...ISSUER, algorithms: ['HS256'] }],
      [{ ...ISSUER, algorithms: ['none'] }],
      [{ ...ISSUER, algorithms: [] }],
      [{ ...ISSUER, issuer: 'http://login.example.com/' }],
      [{ ...ISSUER, jwksUri: 'http://10.0.0.1/jwks' }],
      [{ ...ISSUER, jwksUri: 'file:///etc/passwd' }],
      [{ ...ISSUER, jwksUri: 'https://user:pw@login.example.com/jwks' }],
      [{ ...ISSUER, tenant: 'acme' }],
      [{ issuer: ISSUER.issuer, audience: 'assay', tenant: 'acme', tenants: ['acme'], scopePrefix: 'assay:' }],
      [{ ...ISSUER, tenants: [] }],
      [{ ...ISSUER, tenants: ['Not_A_Tenant'] }],
      [{ issuer: ISSUER.issuer, audience: 'assay', scopePrefix: 'assay:' }],
      [{ ...ISSUER, rolesClaim: 'roles' }],
      [{ ...ISSUER, audience: [] }],
      [{ ...ISSUER, clockToleranceSeconds: 3600 }],
      [{ ...ISSUER, tenant: undefined, tenantClaim: undefined, extra: 1 }],
      [ISSUER, ISSUER],
      Array.from({ length: 21 }, (_, i) => ({ ...ISSUER, issuer: `https://i${i}.example.com` })),
    ]
    for (const value of bad) {
      const text = typeof value === 'string' ? value : JSON.stringify(value)
      assert.throws(() => configFromEnv({ ASSAY_OIDC_ISSUERS: text }), invalid, text.slice(0, 120))
    }
  })

  it('allow plain http only on a loopback host', () => {
    const config = configFromEnv({ ASSAY_OIDC_ISSUERS: JSON.stringify([{ ...ISSUER, issuer: 'http://127.0.0.1:9999', jwksUri: 'http://localhost:9999/jwks' }]) })
    assert.equal(config.oidcIssuers?.[0]?.jwksUri, 'http://localhost:9999/jwks')
  })
})
