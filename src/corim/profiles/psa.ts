/**
 * The PSA endorsement profile (`tag:arm.com,2025:psa#1.0.0`, as Veraison's corim/profiles/psa
 * validates it; specs.md §7.4 and §11), also registered under the older id
 * `http://arm.com/psa/iot/1` that deployed Veraison clients still send. Only the current layout is
 * read under either id: the draft-fdb encodings (tags 600/601) are refused as unsupported tags.
 *
 * Rules:
 * - reference-triples: class-id 560(implementation id, exactly 32 bytes), no instance; every
 *   measurement has mkey "psa.software-component" and an mval of exactly one digest
 *   (sha-256/384/512), optional version (0) and name (11, the measurement type), and cryptokeys
 *   (13) holding exactly one 560(signer-id) of 32, 48 or 64 bytes; nothing else.
 * - attest-key-triples: class-id as above, instance 550(UEID of 33 bytes, first byte 0x01), exactly
 *   one 554 PEM public key; the key speaks for that instance and that implementation only.
 * - endorsed and identity triples are not part of the profile.
 *
 * Mapping: one `PsaReferenceValues` per implementation id per CoMID; one `PsaTrustAnchor` per
 * attest-key triple.
 */
import { importSpki } from '../../crypto/keys.js'
import { isVerifierError, VerifierError } from '../../errors/errors.js'
import { toHex } from '../../util/bytes.js'
import { type MappedEndorsements, type MappedPsaReferenceValues, type MappedPsaTrustAnchor, EMPTY_MAPPING, provenanceOf, sourceOf } from '../map.js'
import { mvalEntriesPresent, violation, type CorimProfile } from '../profile.js'
import type { Corim, CryptoKey, Environment, Measurement, Mkey, TaggedId } from '../types.js'

export const PSA_ENDORSEMENT_PROFILE = 'tag:arm.com,2025:psa#1.0.0'
export const PSA_ENDORSEMENT_PROFILE_LEGACY = 'http://arm.com/psa/iot/1'
export const PSA_SOFTWARE_COMPONENT = 'psa.software-component'
/** The measurement-values entries a PSA software component may carry. */
const PSA_MVAL_ENTRIES: readonly string[] = ['version', 'digests', 'name', 'cryptokeys']

const NAME = 'PSA endorsement profile'
const IMPLEMENTATION_ID_LENGTH = 32
const INSTANCE_ID_LENGTH = 33
const SIGNER_ID_LENGTHS = [32, 48, 64]

const fail = (path: string, message: string): never => violation(NAME, path, message)

const idTypeName = (id: TaggedId | { type: 'key' }) => id.type
const mkeyTypeName = (m: Mkey) => (m.type === 'text' ? 'string' : m.type)
const keyTypeName = (k: CryptoKey) => k.type

function implementationId(env: Environment, path: string): Uint8Array {
  const classId = env.class?.classId
  if (classId === undefined) return fail(`${path}{0}{0}`, 'class-id (implementation-id) is required')
  if (classId.type !== 'bytes') return fail(`${path}{0}{0}`, `implementation-id must be of type 'bytes', got '${idTypeName(classId)}'`)
  if (classId.bytes.length !== IMPLEMENTATION_ID_LENGTH) {
    fail(`${path}{0}{0}`, `implementation-id must be exactly ${IMPLEMENTATION_ID_LENGTH} bytes, got ${classId.bytes.length}`)
  }
  return classId.bytes
}

function instanceId(env: Environment, path: string): Uint8Array {
  const instance = env.instance
  if (instance === undefined) return fail(`${path}{1}`, 'environment.instance (instance-id) is required')
  if (instance.type !== 'ueid') return fail(`${path}{1}`, `instance-id must be of type 'ueid', got '${idTypeName(instance)}'`)
  if (instance.bytes.length !== INSTANCE_ID_LENGTH || instance.bytes[0] !== 0x01) {
    fail(`${path}{1}`, `instance-id must be a ${INSTANCE_ID_LENGTH}-byte RAND UEID (first byte 0x01)`)
  }
  return instance.bytes
}

interface Component {
  readonly measurementType?: string
  readonly measurementValue: Uint8Array
  readonly signerId: Uint8Array
  readonly version?: string
}

function component(m: Measurement, path: string): Component {
  if (m.mkey === undefined) return fail(`${path}{0}`, `mkey "${PSA_SOFTWARE_COMPONENT}" is required`)
  if (m.mkey.type !== 'text') return fail(`${path}{0}`, `mkey must be of type 'string', got '${mkeyTypeName(m.mkey)}'`)
  if (m.mkey.value !== PSA_SOFTWARE_COMPONENT) fail(`${path}{0}`, `mkey must be "${PSA_SOFTWARE_COMPONENT}", got "${m.mkey.value}"`)
  if (m.authorizedBy !== undefined) fail(`${path}{2}`, 'authorized-by is not part of a PSA software component')
  const v = m.mval
  const mvalPath = `${path}{1}`
  const extra = mvalEntriesPresent(v).find((name) => !PSA_MVAL_ENTRIES.includes(name))
  if (extra !== undefined) fail(mvalPath, `${extra} is not part of a PSA software component`)
  if (v.extensions.size > 0) fail(mvalPath, 'extensions are not part of a PSA software component')
  if (v.digests === undefined || v.digests.length === 0) return fail(`${mvalPath}{2}`, 'measurement 0 value: no digests')
  if (v.digests.length !== 1) fail(`${mvalPath}{2}`, `exactly one digest is required, got ${v.digests.length}`)
  const digest = v.digests[0]!
  if (digest.alg !== 'sha-256' && digest.alg !== 'sha-384' && digest.alg !== 'sha-512') {
    fail(`${mvalPath}{2}`, `digest algorithm ${digest.alg === 'unknown' ? String(digest.id) : digest.alg} is not sha-256, sha-384 or sha-512`)
  }
  const keys = v.cryptokeys ?? []
  if (keys.length !== 1) return fail(`${mvalPath}{13}`, `exactly one signer-id 560(bytes) is required in cryptokeys, got ${keys.length}`)
  const signer = keys[0]!
  if (signer.type !== 'bytes') return fail(`${mvalPath}{13}[0]`, `signer-id must be of type 'bytes', got '${keyTypeName(signer)}'`)
  if (!SIGNER_ID_LENGTHS.includes(signer.bytes.length)) fail(`${mvalPath}{13}[0]`, `signer-id must be 32, 48 or 64 bytes, got ${signer.bytes.length}`)
  return {
    measurementValue: digest.value,
    signerId: signer.bytes,
    ...(v.name === undefined ? {} : { measurementType: v.name }),
    ...(v.version === undefined ? {} : { version: v.version.version }),
  }
}

function attestKey(keys: readonly CryptoKey[], path: string): string {
  if (keys.length !== 1) fail(`${path}[1]`, `exactly one verification key is required, got ${keys.length}`)
  const key = keys[0]!
  if (key.type !== 'pkix-base64-key') return fail(`${path}[1][0]`, `verification-key must be of type 'pkix-base64-key', got '${keyTypeName(key)}'`)
  return key.pem
}

/** Runs every rule; returns the checked parts so `map` does not read anything twice. */
function check(corim: Corim) {
  const references: { comid: number; implementationId: Uint8Array; components: Component[] }[] = []
  const anchors: { comid: number; implementationId: Uint8Array; instanceId: Uint8Array; pem: string; path: string }[] = []
  for (const [i, comid] of corim.comids.entries()) {
    const base = `corim-map{1}[${i}]<<comid>>{4}`
    if (comid.endorsedTriples.length > 0) fail(`${base}{1}`, 'endorsed-triples are not part of the profile')
    if (comid.identityTriples.length > 0) fail(`${base}{2}`, 'identity-triples are not part of the profile')
    for (const [j, t] of comid.referenceTriples.entries()) {
      const path = `${base}{0}[${j}]`
      const implId = implementationId(t.environment, `${path}[0]`)
      if (t.environment.instance !== undefined) fail(`${path}[0]{1}`, 'instance set for reference value')
      if (t.environment.group !== undefined) fail(`${path}[0]{2}`, 'group set for reference value')
      const components = t.measurements.map((m, k) => component(m, `${path}[1][${k}]`))
      references.push({ comid: i, implementationId: implId, components })
    }
    for (const [j, t] of comid.attestKeyTriples.entries()) {
      const path = `${base}{3}[${j}]`
      if (t.mkey !== undefined || t.authorizedBy !== undefined) fail(`${path}[2]`, 'key triple conditions are not part of the profile')
      if (t.environment.group !== undefined) fail(`${path}[0]{2}`, 'group set for an attestation key')
      anchors.push({
        comid: i,
        implementationId: implementationId(t.environment, `${path}[0]`),
        instanceId: instanceId(t.environment, `${path}[0]`),
        pem: attestKey(t.keys, path),
        path,
      })
    }
  }
  return { references, anchors }
}

function map(corim: Corim): MappedEndorsements {
  const { references, anchors } = check(corim)
  const psaReferenceValues: MappedPsaReferenceValues[] = []
  // One entry per implementation id per CoMID, its components in the order written.
  const grouped = new Map<string, { comid: number; implementationId: Uint8Array; components: Component[] }>()
  for (const r of references) {
    const k = `${r.comid}/${toHex(r.implementationId)}`
    const g = grouped.get(k)
    if (g === undefined) grouped.set(k, { ...r, components: [...r.components] })
    else g.components.push(...r.components)
  }
  for (const g of grouped.values()) {
    const provenance = provenanceOf(corim, corim.comids[g.comid]!)
    psaReferenceValues.push({
      values: { implementationId: g.implementationId, softwareComponents: g.components, source: sourceOf(provenance) },
      provenance,
    })
  }
  const psaTrustAnchors: MappedPsaTrustAnchor[] = anchors.map((a) => {
    let key
    try {
      key = importSpki(a.pem)
    } catch (cause) {
      const code = isVerifierError(cause, 'ERR_KEY_UNSUPPORTED') ? 'ERR_CORIM_UNSUPPORTED' : 'ERR_CORIM_MALFORMED'
      throw new VerifierError(code, `${a.path}[1][0]: the PEM public key cannot be used (${cause instanceof Error ? cause.message : 'invalid'})`, {
        cause,
        path: `${a.path}[1][0]`,
      })
    }
    const provenance = provenanceOf(corim, corim.comids[a.comid]!)
    return {
      anchor: { instanceId: a.instanceId, implementationId: a.implementationId, key, source: sourceOf(provenance) },
      provenance,
    }
  })
  return { ...EMPTY_MAPPING, psaReferenceValues, psaTrustAnchors }
}

export const psaEndorsementProfile: CorimProfile = Object.freeze<CorimProfile>({
  ids: [
    { type: 'uri', value: PSA_ENDORSEMENT_PROFILE },
    { type: 'uri', value: PSA_ENDORSEMENT_PROFILE_LEGACY },
  ],
  name: NAME,
  validate: (corim: Corim) => void check(corim),
  map,
})
