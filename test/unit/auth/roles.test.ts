import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ROLES, isRole, knownRoles, parseRoles } from '../../../src/auth/roles.js'

describe('roles', () => {
  it('are the five of issue 10', () => {
    assert.deepEqual([...ROLES], ['attester', 'relying-party', 'provisioner', 'policy-admin', 'admin'])
    for (const role of ROLES) assert.ok(isRole(role))
    for (const other of ['Admin', 'root', '', ' admin', 'admin ', 'constructor', '__proto__', 1, null]) assert.equal(isRole(other), false)
  })

  it('parse strictly: a list of known names without repeats, returned in canonical order', () => {
    assert.deepEqual(parseRoles(['admin', 'attester']), ['attester', 'admin'])
    assert.deepEqual(parseRoles([...ROLES].reverse()), [...ROLES])
    for (const bad of [[], ['admin', 'admin'], ['admin', 'root'], 'admin', [1], null, [...ROLES, 'admin']]) {
      assert.throws(() => parseRoles(bad), TypeError, JSON.stringify(bad))
    }
  })

  it('pick the known names out of a claim, skipping the others', () => {
    assert.deepEqual(knownRoles(['offline_access', 'provisioner', 'admin', 'provisioner', 'ADMIN']), ['provisioner', 'admin'])
    assert.deepEqual(knownRoles([]), [])
  })
})
