/** The entry builders give entries that pass the rules, with the targets docs/audit.md describes. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { appraisalAuditEntry, changeAuditEntry } from '../../../src/audit/actions.js'
import { AUDIT_LIMITS, chainEntry, checkAuditInput, genesisHash } from '../../../src/audit/entry.js'

describe('audit entry builders', () => {
  it('an appraisal names the appraisal, the policy and the reference values with their versions', () => {
    const input = appraisalAuditEntry({
      time: 5,
      actor: 'worker-1',
      appraisalId: 'a-1',
      outcome: 'affirming',
      policy: { id: 'default', version: 3 },
      referenceValues: [{ id: 'rv-1', version: 7 }],
      evidenceDigest: 'ab'.repeat(32),
    })
    assert.deepEqual(checkAuditInput(input), {
      time: 5,
      actor: 'worker-1',
      action: 'appraisal',
      targets: [
        { type: 'appraisal', id: 'a-1' },
        { type: 'policy', id: 'default', version: 3 },
        { type: 'reference-value', id: 'rv-1', version: 7 },
      ],
      outcome: 'affirming',
      evidenceDigest: 'ab'.repeat(32),
    })
  })

  it('counts reference values beyond what one entry holds instead of refusing the entry', () => {
    const referenceValues = Array.from({ length: 40 }, (_, i) => ({ id: `rv-${i}`, version: i }))
    const input = appraisalAuditEntry({ time: 1, actor: 'w', appraisalId: 'a', outcome: 'warning', policy: { id: 'p', version: 1 }, referenceValues })
    assert.equal(input.targets!.length, AUDIT_LIMITS.maxTargets)
    assert.deepEqual(input.details, { referenceValuesOmitted: 40 - (AUDIT_LIMITS.maxTargets - 2) })
    assert.doesNotThrow(() => chainEntry('t', 1, genesisHash('t'), input))
  })

  it('a change is <subject>.<verb> on its target, with the version it made', () => {
    const input = changeAuditEntry({ time: 1, actor: 'key:ab', subject: 'trust-anchor', verb: 'create', id: 'psa-1', version: 1, outcome: 'created' })
    assert.deepEqual(checkAuditInput(input), {
      time: 1,
      actor: 'key:ab',
      action: 'trust-anchor.create',
      targets: [{ type: 'trust-anchor', id: 'psa-1', version: 1 }],
      outcome: 'created',
    })
    const revoke = changeAuditEntry({ time: 1, actor: 'admin', subject: 'credential', verb: 'revoke', id: 'key-9' })
    assert.deepEqual(revoke.targets, [{ type: 'credential', id: 'key-9' }])
    assert.equal(checkAuditInput(revoke).action, 'credential.revoke')
  })
})
