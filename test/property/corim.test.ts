/**
 * Property tests of the CoRIM intake (src/corim): for any input, `processCorim`, `decodeComid` and
 * the mapping return or throw a `VerifierError` with an ERR_CORIM_* code, never anything else
 * (a TypeError, a RangeError, a stack overflow, a CBOR or COSE code leaking through). A mutated
 * signed CoRIM that still verifies carries exactly the signed CoRIM. What CoRIM provisioning makes
 * of an accepted one (`corimDocuments`) is refused with ERR_CORIM_* or decodes as file entries do.
 *
 * Seeds: the 23 published CoRIM/CoMID vectors plus CoRIMs built here (PSA, signed). Budget:
 * FUZZ_RUNS per property (default 200); FUZZ_SEED replays a failure.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { readFileSync, readdirSync } from 'node:fs'
import { describe, it } from 'node:test'
import { corimDocuments } from '../../src/appraisal/corim-provisioning.js'
import { decodeProvisioningDocument } from '../../src/appraisal/provisioning-documents.js'
import { decodeComid } from '../../src/corim/comid.js'
import { processCorim, type CorimProcessOptions } from '../../src/corim/corim.js'
import { mapCorim } from '../../src/corim/map.js'
import { builtInProfiles } from '../../src/corim/profiles/index.js'
import { CborTag, decodeCbor, encodeCbor, type CborValue, type EncodableValue } from '../../src/cose/cbor.js'
import { VerifierError } from '../../src/errors/errors.js'
import { fromHex, toHex } from '../../src/util/bytes.js'
import { cborValueArb, hostileBytesArb, mutatedArb, type MutatedInput } from '../fuzz/arbitraries.js'
import { generateTestKey } from '../helpers/cose.js'
import { VECTOR_DIR } from '../helpers/vectors.js'
import { corimMeta, psaCorim, signCorim } from '../helpers/corim.js'

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200)
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED'])
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) }

const vectorSeeds = readdirSync(VECTOR_DIR)
  .filter((f) => f.includes('corim') && f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(VECTOR_DIR + f, 'utf8')) as { format: string; token_hex: string })
const comidSeeds = vectorSeeds.filter((v) => v.format.startsWith('comid')).map((v) => fromHex(v.token_hex))
const NOW = 1_750_000_000
const signer = generateTestKey('ES256')
const signed = signCorim(signer, { payload: psaCorim(generateTestKey('ES256')), meta: corimMeta(NOW - 100, NOW + 100) })
const corimSeeds = [...vectorSeeds.filter((v) => !v.format.startsWith('comid')).map((v) => fromHex(v.token_hex)), psaCorim(signer), signed]

const options: CorimProcessOptions = {
  profiles: builtInProfiles(),
  trust: { keys: [signer.publicKey], acceptUnsigned: true },
  nowSeconds: NOW,
}

function assertCorimError(err: unknown): void {
  if (err instanceof VerifierError && err.code.startsWith('ERR_CORIM_')) return
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw new Error(`a hostile CoRIM raised something other than an ERR_CORIM_* VerifierError: ${what}`, { cause: err })
}

/** Runs the whole intake; returns the CoRIM digest when it is accepted. */
function intake(bytes: Uint8Array): string | undefined {
  try {
    const { corim, profile } = processCorim(bytes, options)
    mapCorim(corim, profile)
    return toHex(corim.digest)
  } catch (err) {
    assertCorimError(err)
    return undefined
  }
}

function countNodes(v: CborValue): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, c: CborValue) => n + countNodes(c), 0)
  if (v instanceof Map) return 1 + [...v.values()].reduce((n: number, c) => n + countNodes(c), 0)
  if (v instanceof CborTag) return 1 + countNodes(v.value)
  return 1
}

/** The tree with its `index`-th node (depth first, the root is 0) replaced. */
function replaceNode(v: CborValue, index: number, replacement: CborValue): CborValue {
  let i = index
  const walk = (node: CborValue): CborValue => {
    if (i-- === 0) return replacement
    if (Array.isArray(node)) return node.map(walk)
    if (node instanceof Map) return new Map([...node].map(([k, c]) => [k, walk(c)]))
    if (node instanceof CborTag) return new CborTag(node.tag, walk(node.value))
    return node
  }
  return walk(v)
}

const CORIM_TAG_NUMBERS = [1, 32, 37, 111, 501, 506, 550, 552, 553, 554, 555, 556, 557, 560, 563, 564, 600]

describe('CoRIM intake properties', () => {
  it('processCorim + mapCorim on mutated CoRIMs: only ERR_CORIM_* errors; a verified mutant carries the signed CoRIM', () => {
    const signedDigest = intake(signed)
    assert.ok(signedDigest !== undefined)
    fc.assert(
      fc.property(mutatedArb(corimSeeds), (m: MutatedInput) => {
        const digest = intake(m.bytes)
        if (digest !== undefined && m.seed === corimSeeds.length - 1 && m.bytes[0] === 0xd2) {
          assert.equal(digest, signedDigest, 'a mutated signed CoRIM verified with another payload')
        }
      }),
      params,
    )
  })

  it('corimDocuments (what provisioning writes) on mutated CoRIMs: only ERR_CORIM_* errors; every document decodes as a file entry', () => {
    fc.assert(
      fc.property(mutatedArb(corimSeeds), (m: MutatedInput) => {
        try {
          const decoded = processCorim(m.bytes, options)
          for (const d of corimDocuments('default', decoded, { allowPublishedKeys: true })) {
            decodeProvisioningDocument('default', d.section, d.body, d.source, { allowPublishedKeys: true })
          }
        } catch (err) {
          assertCorimError(err)
        }
      }),
      params,
    )
  })

  it('processCorim on hostile bytes: only ERR_CORIM_* errors', () => {
    fc.assert(fc.property(hostileBytesArb, (bytes) => void intake(bytes)), params)
  })

  it('processCorim on random CBOR inside tag 501 and in a CoMID: only ERR_CORIM_* errors', () => {
    const value = cborValueArb(CORIM_TAG_NUMBERS, 5)
    fc.assert(
      fc.property(value, value, (outer: CborValue, inner: CborValue) => {
        intake(encodeCbor(new CborTag(501, outer)))
        const corimMap = new Map<number, CborValue>([
          [0, 'x'],
          [1, [new CborTag(506, encodeCbor(inner))]],
        ])
        intake(encodeCbor(new CborTag(501, corimMap)))
      }),
      params,
    )
  })

  it('decodeComid on CoMIDs with one subtree replaced by random CBOR: only ERR_CORIM_* errors', () => {
    const trees = comidSeeds.map((b) => decodeCbor(b, { allowedTags: new Set(CORIM_TAG_NUMBERS), maxDepth: 24 }))
    const sizes = trees.map(countNodes)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: trees.length - 1 }),
        fc.nat(),
        cborValueArb(CORIM_TAG_NUMBERS, 3),
        (seed: number, at: number, replacement: CborValue) => {
          const tree = replaceNode(trees[seed]!, at % sizes[seed]!, replacement)
          try {
            decodeComid(encodeCbor(tree as EncodableValue))
          } catch (err) {
            assertCorimError(err)
          }
        },
      ),
      params,
    )
  })

  it('decodeComid on mutated CoMIDs: only ERR_CORIM_* errors', () => {
    fc.assert(
      fc.property(mutatedArb(comidSeeds), (m: MutatedInput) => {
        try {
          decodeComid(m.bytes)
        } catch (err) {
          assertCorimError(err)
        }
      }),
      params,
    )
  })
})
