/**
 * The resource types of the provisioning API (`src/api/provisioning-types.ts`) and openapi.yaml
 * agree: each type has a schema there whose members (and required members) are those of the entry's
 * zod schema, and each enumeration of types lists the table's. A listing's identifier is parsed
 * strictly: malformed ones select nothing.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { z } from 'zod'
import { PROVISIONING_TYPES, kindOfType, typesOfKind } from '../../../src/api/provisioning-types.js'

interface JsonSchema {
  properties?: Record<string, unknown>
  required?: string[]
  oneOf?: { $ref: string }[]
  enum?: string[]
  additionalProperties?: boolean
}

const spec = parse(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8')) as {
  components: { schemas: Record<string, JsonSchema> }
  paths: Record<string, Record<string, { parameters?: { name: string; schema: JsonSchema }[] }>>
}

describe('provisioning resource types', () => {
  it('each type has an openapi schema with exactly the members of its zod schema, and `type`', () => {
    for (const row of PROVISIONING_TYPES) {
      const documented = spec.components.schemas[row.type]
      assert.ok(documented !== undefined, `openapi.yaml has no schema ${row.type}`)
      const zod = z.toJSONSchema(row.schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
      assert.deepEqual(Object.keys(documented.properties ?? {}).sort(), ['type', ...Object.keys(zod.properties ?? {})].sort(), row.type)
      assert.deepEqual([...(documented.required ?? [])].sort(), ['type', ...(zod.required ?? [])].sort(), `${row.type}: required`)
      assert.equal(documented.additionalProperties, false, `${row.type}: unknown members are refused`)
    }
  })

  it('the bodies and listings of each collection name exactly its types', () => {
    const names = (schema: string) => spec.components.schemas[schema]!.oneOf!.map((o) => o.$ref.replace('#/components/schemas/', ''))
    assert.deepEqual(names('TrustAnchorBody'), typesOfKind('trust-anchor').map((t) => t.type))
    assert.deepEqual(names('ReferenceValueBody'), typesOfKind('reference-value').map((t) => t.type))
    assert.equal(typesOfKind('trust-anchor').length + typesOfKind('reference-value').length, PROVISIONING_TYPES.length)
    for (const [collection, kind] of [['trust-anchors', 'trust-anchor'], ['reference-values', 'reference-value']] as const) {
      const type = spec.paths[`/v1/${collection}`]!['get']!.parameters!.find((p) => p.name === 'type')!
      assert.deepEqual(type.schema.enum, typesOfKind(kind).map((t) => t.type), collection)
    }
    const represented = (spec.components.schemas['ProvisionedVersion']!.properties!['type'] as JsonSchema).enum
    assert.deepEqual(represented, PROVISIONING_TYPES.map((t) => t.type))
    assert.equal(new Set(PROVISIONING_TYPES.map((t) => t.type)).size, PROVISIONING_TYPES.length, 'types are unique')
    assert.equal(new Set(PROVISIONING_TYPES.map((t) => t.section)).size, PROVISIONING_TYPES.length, 'one type per section')
    assert.ok(PROVISIONING_TYPES.every((t) => kindOfType(t) === 'trust-anchor' || kindOfType(t) === 'reference-value'))
  })

  it('selects by well-formed identifiers only', () => {
    const select = (type: string, identifier: string) => PROVISIONING_TYPES.find((t) => t.type === type)!.select(identifier)
    const instance = `01${'AB'.repeat(32)}`
    assert.deepEqual(select('psa-instance-key', instance), { indexId: `psa-instance:${instance.toLowerCase()}` })
    assert.deepEqual(select('psa-implementation', '00'.repeat(32)), { indexId: `psa-impl:${'00'.repeat(32)}` })
    assert.deepEqual(select('eat-ueid-key', '01'.repeat(7)), { indexId: `eat-ueid:${'01'.repeat(7)}` })
    assert.deepEqual(select('eat-kid-key', 'a b'), { indexId: 'eat-kid:612062' })
    assert.deepEqual(select('pinned-certificate', 'ff'.repeat(32)), { indexId: `x5t:-16:${'ff'.repeat(32)}` })
    assert.deepEqual(select('x509-ca', 'EE'.repeat(32)), { id: `eat-ca-${'ee'.repeat(32)}` })
    assert.deepEqual(select('eat-class', 'pen:32473/ABCD'), { indexId: 'eat-class:pen:32473/abcd' })
    assert.deepEqual(select('eat-class', 'hex:a1b2c3/01'), { indexId: 'eat-class:hex:a1b2c3/01' })
    const malformed: [string, string][] = [
      ['psa-instance-key', 'ab'.repeat(33).slice(1)],
      ['psa-instance-key', 'ab'.repeat(32)],
      ['psa-instance-key', 'zz'.repeat(33)],
      ['psa-implementation', ''],
      ['eat-ueid-key', '01'.repeat(6)],
      ['eat-ueid-key', '01'.repeat(34)],
      ['eat-kid-key', ''],
      ['eat-kid-key', 'k'.repeat(257)],
      ['pinned-certificate', 'ff'.repeat(31)],
      ['x509-ca', 'ff'.repeat(33)],
      ['eat-class', '32473/abcd'],
      ['eat-class', 'pen:32473/abc'],
      ['eat-class', 'pen:9999999999999999/ab'],
      ['eat-class', 'hex:a1b2/ab'],
      ['eat-class', `pen:1/${'ab'.repeat(33)}`],
      ['eat-class', 'pen:1/ab/cd'],
    ]
    for (const [type, identifier] of malformed) assert.equal(select(type, identifier), undefined, `${type} ${identifier}`)
  })
})
