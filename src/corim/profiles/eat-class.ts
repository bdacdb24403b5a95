/**
 * Assay's generic EAT class profile (`tag:assay-verifier.dev,2026:corim/eat-class#1`): endorsements
 * for RFC 9711 attesters appraised by (oemid, hwmodel), the way `eat.referenceValues` and
 * `eat.ueidKeys` of a reference-value document provision them.
 *
 * The class of an environment:
 * - oemid: the class `vendor` (1), written as a decimal IANA PEN (`"32473"`) or as hex of the 3-byte
 *   IEEE OUI / 16-byte random oemid;
 * - hwmodel: the class-id (0) as 560(bytes, 1..32), or, without a class-id, the UTF-8 bytes of the
 *   class `model` (2, 1..32 bytes). One of the two is required; layer and index are not used.
 *
 * reference-triples (no instance, no group), each measurement with a text mkey:
 * - mkey "eat.measurements": only digests, sha-256 → approved SHA-256s of `measurements` bodies;
 * - mkey "eat.manifests": only digests, sha-256 → approved SHA-256s of `manifests` bodies;
 * - any other mkey is a software name (`swname`), and its mval only a version (0) → approved version.
 *
 * attest-key-triples: the class as above, instance 550(UEID), exactly one 554 PEM public key; the
 * key is bound to that UEID and may claim that class only.
 */
import { importSpki } from '../../crypto/keys.js'
import { isVerifierError, VerifierError } from '../../errors/errors.js'
import { toHex } from '../../util/bytes.js'
import { EMPTY_MAPPING, provenanceOf, sourceOf, type MappedEatReferenceValues, type MappedEatUeidKey, type MappedEndorsements } from '../map.js'
import { mvalEntriesPresent, violation, type CorimProfile } from '../profile.js'
import type { Corim, Environment, Measurement } from '../types.js'

export const EAT_CLASS_PROFILE = 'tag:assay-verifier.dev,2026:corim/eat-class#1'
export const EAT_MEASUREMENTS_MKEY = 'eat.measurements'
export const EAT_MANIFESTS_MKEY = 'eat.manifests'

const NAME = 'EAT class profile'
const fail = (path: string, message: string): never => violation(NAME, path, message)

/** `oemidKey` and the hwmodel hex of an environment's class. */
function classOf(env: Environment, path: string): { oemid: string; hwmodelHex: string } {
  const c = env.class
  if (c === undefined) return fail(`${path}{0}`, 'class-map is required')
  const vendor = c.vendor
  let oemid: string
  if (vendor === undefined) return fail(`${path}{0}{1}`, 'vendor (the oemid) is required')
  if (/^[1-9][0-9]{0,9}$/.test(vendor) && Number(vendor) <= 0xffffffff) oemid = `pen:${Number(vendor)}`
  else if (/^([0-9a-fA-F]{6}|[0-9a-fA-F]{32})$/.test(vendor)) oemid = `hex:${vendor.toLowerCase()}`
  else return fail(`${path}{0}{1}`, 'vendor must be a decimal PEN or the hex of a 3- or 16-byte oemid')
  let hwmodel: Uint8Array
  if (c.classId !== undefined) {
    if (c.classId.type !== 'bytes') return fail(`${path}{0}{0}`, `class-id must be of type 'bytes' (the hwmodel), got '${c.classId.type}'`)
    hwmodel = c.classId.bytes
  } else if (c.model !== undefined) hwmodel = new TextEncoder().encode(c.model)
  else return fail(`${path}{0}`, 'class-id 560(hwmodel) or model is required')
  if (hwmodel.length < 1 || hwmodel.length > 32) fail(`${path}{0}`, `hwmodel must be 1 to 32 bytes, got ${hwmodel.length}`)
  return { oemid, hwmodelHex: toHex(hwmodel) }
}

interface Accumulated {
  software: Map<string, Set<string>>
  measurementDigests: Set<string>
  manifestDigests: Set<string>
}

function onlyKeys(m: Measurement, allowed: readonly string[], path: string): void {
  const v = m.mval
  for (const name of mvalEntriesPresent(v)) if (!allowed.includes(name)) fail(`${path}{1}`, `${name} is not used by this measurement`)
  if (v.extensions.size > 0) fail(`${path}{1}`, 'extensions are not used by this profile')
  if (m.authorizedBy !== undefined) fail(`${path}{2}`, 'authorized-by is not used by this profile')
}

function addMeasurement(into: Accumulated, m: Measurement, path: string): void {
  if (m.mkey?.type !== 'text') return fail(`${path}{0}`, 'a text mkey is required')
  const mkey = m.mkey.value
  if (mkey === EAT_MEASUREMENTS_MKEY || mkey === EAT_MANIFESTS_MKEY) {
    onlyKeys(m, ['digests'], path)
    const target = mkey === EAT_MEASUREMENTS_MKEY ? into.measurementDigests : into.manifestDigests
    for (const d of m.mval.digests!) {
      if (d.alg !== 'sha-256') fail(`${path}{1}{2}`, `only sha-256 digests are compared, got ${d.alg === 'unknown' ? String(d.id) : d.alg}`)
      target.add(toHex(d.value))
    }
    return
  }
  onlyKeys(m, ['version'], path)
  if (m.mval.version === undefined) fail(`${path}{1}{0}`, 'a software measurement needs a version')
  const versions = into.software.get(mkey) ?? new Set<string>()
  versions.add(m.mval.version!.version)
  into.software.set(mkey, versions)
}

function check(corim: Corim): MappedEndorsements {
  const eatReferenceValues: MappedEatReferenceValues[] = []
  const eatUeidKeys: MappedEatUeidKey[] = []
  for (const [i, comid] of corim.comids.entries()) {
    const base = `corim-map{1}[${i}]<<comid>>{4}`
    if (comid.endorsedTriples.length > 0) fail(`${base}{1}`, 'endorsed-triples are not part of the profile')
    if (comid.identityTriples.length > 0) fail(`${base}{2}`, 'identity-triples are not part of the profile')
    const provenance = provenanceOf(corim, comid)
    const groups = new Map<string, Accumulated & { oemid: string; hwmodelHex: string }>()
    for (const [j, t] of comid.referenceTriples.entries()) {
      const path = `${base}{0}[${j}]`
      const cls = classOf(t.environment, `${path}[0]`)
      if (t.environment.instance !== undefined) fail(`${path}[0]{1}`, 'instance set for reference value')
      if (t.environment.group !== undefined) fail(`${path}[0]{2}`, 'group set for reference value')
      const k = `${cls.oemid}/${cls.hwmodelHex}`
      let g = groups.get(k)
      if (g === undefined) groups.set(k, (g = { ...cls, software: new Map(), measurementDigests: new Set(), manifestDigests: new Set() }))
      for (const [n, m] of t.measurements.entries()) addMeasurement(g, m, `${path}[1][${n}]`)
    }
    for (const g of groups.values()) {
      eatReferenceValues.push({
        oemid: g.oemid,
        hwmodelHex: g.hwmodelHex,
        values: { software: g.software, measurementDigests: g.measurementDigests, manifestDigests: g.manifestDigests, source: sourceOf(provenance) },
        provenance,
      })
    }
    for (const [j, t] of comid.attestKeyTriples.entries()) {
      const path = `${base}{3}[${j}]`
      const cls = classOf(t.environment, `${path}[0]`)
      const instance = t.environment.instance
      if (instance?.type !== 'ueid') fail(`${path}[0]{1}`, 'instance must be a 550(UEID)')
      if (t.mkey !== undefined || t.authorizedBy !== undefined) fail(`${path}[2]`, 'key triple conditions are not part of the profile')
      if (t.keys.length !== 1) fail(`${path}[1]`, `exactly one verification key is required, got ${t.keys.length}`)
      const k = t.keys[0]!
      if (k.type !== 'pkix-base64-key') return fail(`${path}[1][0]`, `verification-key must be of type 'pkix-base64-key', got '${k.type}'`)
      let key
      try {
        key = importSpki(k.pem)
      } catch (cause) {
        const code = isVerifierError(cause, 'ERR_KEY_UNSUPPORTED') ? 'ERR_CORIM_UNSUPPORTED' : 'ERR_CORIM_MALFORMED'
        throw new VerifierError(code, `${path}[1][0]: the PEM public key cannot be used (${cause instanceof Error ? cause.message : 'invalid'})`, {
          cause,
        })
      }
      eatUeidKeys.push({
        ueidHex: toHex((instance as { bytes: Uint8Array }).bytes),
        key,
        classes: new Set([`${cls.oemid}/${cls.hwmodelHex}`]),
        provenance,
      })
    }
  }
  return { ...EMPTY_MAPPING, eatReferenceValues, eatUeidKeys }
}

export const eatClassProfile: CorimProfile = Object.freeze<CorimProfile>({
  ids: [{ type: 'uri', value: EAT_CLASS_PROFILE }],
  name: NAME,
  validate: (corim: Corim) => void check(corim),
  map: check,
})
