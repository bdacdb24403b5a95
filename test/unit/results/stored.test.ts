import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AppraisalOutcome } from '../../../src/results/ear.js'
import { loadOutcome, storeOutcome } from '../../../src/results/stored.js'

describe('stored outcomes', () => {
  it('keep the attester of each submodule, bytes as base64url, through JSON', () => {
    const outcome: AppraisalOutcome = {
      iat: 1_767_225_600,
      verifier: { developer: 'd', build: 'b' },
      policyIds: ['p'],
      submods: {
        EAT: {
          vector: { 'instance-identity': 2 },
          reasons: [],
          attester: { keySource: 'kid', kid: 'sensor-7', ueid: Uint8Array.of(1, 2, 3, 4, 5, 6, 7), spkiS256: new Uint8Array(32).fill(9) },
        },
        PSA: { vector: {}, reasons: [] },
      },
    }
    const stored = JSON.parse(JSON.stringify(storeOutcome(outcome))) as ReturnType<typeof storeOutcome>
    assert.equal(stored.submods['EAT']!.attester?.ueid, 'AQIDBAUGBw')
    assert.deepEqual(loadOutcome(stored), outcome)
  })
})
