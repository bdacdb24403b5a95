/**
 * What a provisioned key, pinned certificate or certificate anchor may speak for: the device
 * identities (UEIDs) and attester classes (oemid, hwmodel) that Evidence it verifies may claim.
 * A key that verifies a signature proves who signed; only this binding says whether the signer may
 * claim to be the device or the class it names. The appraisal compares each claim with it: a UEID
 * outside the binding is contraindicated on instance-identity, a class outside it on hardware.
 *
 * `'any'` lifts one constraint; the loader warns when an operator provisions it.
 */
import { toHex } from '../util/bytes.js'

export interface SpeaksFor {
  /** UEIDs (lower-case hex) Evidence may claim, or `'any'`. */
  readonly ueids: ReadonlySet<string> | 'any'
  /** Attester classes (`classKey`) Evidence may claim, or `'any'`. */
  readonly classes: ReadonlySet<string> | 'any'
}

/** Bound to nothing: every claimed UEID or class is refused. What an unknown binding means. */
export const SPEAKS_FOR_NOTHING: SpeaksFor = Object.freeze({ ueids: new Set<string>(), classes: new Set<string>() })

/** `oemid` as a lookup string: the PEN in decimal, or the bytes in hex. */
export function oemidKey(oemid: number | Uint8Array): string {
  return typeof oemid === 'number' ? `pen:${oemid}` : `hex:${toHex(oemid)}`
}

/** One attester class: an `oemidKey` and the hwmodel bytes in lower-case hex. */
export function classKey(oemid: string, hwmodelHex: string): string {
  return `${oemid}/${hwmodelHex.toLowerCase()}`
}

/** Whether `binding` lets Evidence claim this UEID. Claiming none is always allowed. */
export function mayClaimUeid(binding: SpeaksFor, ueid: Uint8Array | undefined): boolean {
  if (ueid === undefined || binding.ueids === 'any') return true
  return binding.ueids.has(toHex(ueid))
}

/** Whether `binding` lets Evidence claim this class. A claim without both oemid and hwmodel names no class. */
export function mayClaimClass(binding: SpeaksFor, oemid: number | Uint8Array | undefined, hwmodel: Uint8Array | undefined): boolean {
  if (oemid === undefined || hwmodel === undefined || binding.classes === 'any') return true
  return binding.classes.has(classKey(oemidKey(oemid), toHex(hwmodel)))
}

/** The one UEID a binding names, when it names exactly one. */
export function onlyUeid(binding: SpeaksFor): string | undefined {
  if (binding.ueids === 'any' || binding.ueids.size !== 1) return undefined
  return binding.ueids.values().next().value
}
