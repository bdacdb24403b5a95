/**
 * The reference-values document (Assay's JSON form, src/appraisal/reference-values.ts) that
 * provisions a test attester: its key, bound to what it speaks for, and reference values equal to
 * the claims it sends. Written to a file in `ASSAY_REFERENCE_VALUES_DIR`, it makes that attester's
 * Evidence appraise as affirming.
 *
 * - PSA (ECDSA keys only): a trust anchor under the key's Instance ID, bound to the one
 *   Implementation ID the token reports, and that Implementation ID's software components.
 * - EAT: the key under its `kid`, bound to the device's UEID and to the (oemid, hwmodel) classes of
 *   the token and its submodules, and per class the software (swname, swversion) and the SHA-256 of
 *   every measurement body.
 */
import { createHash } from 'node:crypto'
import { toHex } from '../util/bytes.js'
import type { EatClaimsInput, PsaClaimsInput } from './claims.js'
import type { DeviceKey } from './keys.js'
import { PSA_SIGNING_ALGS } from './tokens.js'

interface ClassValues {
  oemid: number | string
  hwmodel: string
  software: Map<string, Set<string> | 'any'>
  measurementDigests: Set<string>
}

/** Every claims-set of the tree with a class, depth first, the top level first. */
function* claimsSets(claims: EatClaimsInput): Generator<EatClaimsInput> {
  yield claims
  for (const sub of Object.values(claims.submods ?? {})) yield* claimsSets(sub)
}

function eatSection(key: DeviceKey, claims: EatClaimsInput): Record<string, unknown> {
  const classes = new Map<string, ClassValues>()
  for (const c of claimsSets(claims)) {
    if (c.oemid === undefined || c.hwmodel === undefined) continue
    const oemid = typeof c.oemid === 'number' ? c.oemid : toHex(c.oemid)
    const hwmodel = toHex(c.hwmodel)
    const id = `${oemid}/${hwmodel}`
    let values = classes.get(id)
    if (values === undefined) {
      values = { oemid, hwmodel, software: new Map(), measurementDigests: new Set() }
      classes.set(id, values)
    }
    if (c.swname !== undefined) {
      const versions = values.software.get(c.swname)
      if (c.swversion === undefined) values.software.set(c.swname, 'any')
      else if (versions === undefined) values.software.set(c.swname, new Set([c.swversion]))
      else if (versions !== 'any') versions.add(c.swversion)
    }
    for (const m of c.measurements ?? []) values.measurementDigests.add(createHash('sha256').update(m.body).digest('hex'))
  }
  const ueids = [...new Set([...claimsSets({ ...claims, ueid: claims.ueid ?? key.ueid })].flatMap((c) => (c.ueid === undefined ? [] : [toHex(c.ueid)])))]
  return {
    keys: [
      {
        kid: key.kid,
        key: key.publicJwk,
        speaksFor: {
          ueids,
          classes: classes.size === 0 ? 'any' : [...classes.values()].map((v) => ({ oemid: v.oemid, hwmodel: v.hwmodel })),
        },
      },
    ],
    referenceValues: [...classes.values()].map((v) => ({
      oemid: v.oemid,
      hwmodel: v.hwmodel,
      software: [...v.software].map(([swname, versions]) => (versions === 'any' ? { swname } : { swname, swversions: [...versions] })),
      measurementDigests: [...v.measurementDigests],
    })),
  }
}

function psaSection(key: DeviceKey, claims: PsaClaimsInput): Record<string, unknown> {
  const implementationId = toHex(claims.implementationId)
  return {
    trustAnchors: [{ instanceId: toHex(key.ueid), key: { ...key.publicJwk, alg: key.alg }, implementationId }],
    referenceValues: [
      {
        implementationId,
        softwareComponents: claims.softwareComponents.map((sw) => ({
          ...(sw.measurementType === undefined ? {} : { measurementType: sw.measurementType }),
          measurementValue: toHex(sw.measurementValue),
          signerId: toHex(sw.signerId),
          ...(sw.version === undefined ? {} : { version: sw.version }),
        })),
      },
    ],
  }
}

/**
 * The document for this device and these claims. The PSA section is left out for an EdDSA key
 * (PSA tokens are ECDSA-signed); `tenant` is the default tenant.
 */
export function referenceValuesFor(key: DeviceKey, claims: { psa: PsaClaimsInput; eat: EatClaimsInput }): Record<string, unknown> {
  return {
    comment: `Provisions the assay attest device ${key.kid} (${key.alg}): its key, what it may speak for, and the claims it sends as reference values.`,
    tenant: 'default',
    ...(PSA_SIGNING_ALGS.has(key.alg) ? { psa: psaSection(key, claims.psa) } : {}),
    eat: eatSection(key, claims.eat),
  }
}
