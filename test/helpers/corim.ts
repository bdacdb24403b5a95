/**
 * Builders for CoRIM and CoMID test inputs, written as CBOR the way a provisioning tool would, and
 * signed for real with test keys (helpers/cose.ts).
 */
import { createPublicKey } from 'node:crypto'
import { CborTag, encodeCbor, type EncodableValue } from '../../src/cose/cbor.js'
import { fromHex } from '../../src/util/bytes.js'
import { signSign1, type TestKeyPair } from './cose.js'

export type CborIn = EncodableValue
export const tag = (n: number, v: CborIn): CborTag => new CborTag(n, v as never)
export const map = (...entries: [number | string, CborIn][]): Map<number | string, CborIn> => new Map(entries)

export const IMPL_ID = fromHex('61636d652d696d706c656d656e746174696f6e2d69642d303030303030303031')
export const INSTANCE_ID = fromHex('01ceebae7b8927a3227e5303cf5e0f1f7b34bb542ad7250ac03fbcde36ec2f1508')
export const SIGNER_ID = fromHex('5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3')
export const DIGEST = fromHex('87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7')
export const TAG_ID = fromHex('43bbe37f2e614b33aed353cff1428b16')

export function pemOf(key: TestKeyPair): string {
  return createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString()
}

/** A PSA software-component measurement-map. */
export function psaComponent(overrides: { mval?: Map<number | string, CborIn>; mkey?: CborIn } = {}): Map<number | string, CborIn> {
  return map(
    [0, overrides.mkey ?? 'psa.software-component'],
    [1, overrides.mval ?? map([0, map([0, '1.2.0'])], [2, [[1, DIGEST]]], [11, 'BL'], [13, [tag(560, SIGNER_ID)]])],
  )
}

export const psaClass = (implId: Uint8Array = IMPL_ID) => map([0, tag(560, implId)])

/** A concise-mid-tag map. */
export function comidMap(triples: Map<number | string, CborIn>, extra: [number | string, CborIn][] = [], version?: number): Map<number | string, CborIn> {
  const identity = version === undefined ? map([0, TAG_ID]) : map([0, TAG_ID], [1, version])
  return map([0, 'en-GB'], [1, identity], [4, triples], ...extra)
}

/** The tagged 501 bytes of a CoRIM holding `comids` (each a concise-mid-tag map). */
export function corimBytes(comids: readonly CborIn[], extra: [number | string, CborIn][] = [], profile?: string): Uint8Array {
  const entries: [number | string, CborIn][] = [
    [0, 'test-corim'],
    [1, comids.map((c) => tag(506, encodeCbor(c)))],
  ]
  if (profile !== undefined) entries.push([3, tag(32, profile)])
  return encodeCbor(tag(501, map(...entries, ...extra)))
}

export const PSA = 'tag:arm.com,2025:psa#1.0.0'

/** A valid PSA CoRIM: one reference triple, one attest-key triple with `key`. */
export function psaCorim(key: TestKeyPair): Uint8Array {
  return corimBytes(
    [
      comidMap(
        map(
          [0, [[map([0, psaClass()]), [psaComponent()]]]],
          [3, [[map([0, psaClass()], [1, tag(550, INSTANCE_ID)]), [tag(554, pemOf(key))]]]],
        ),
      ),
    ],
    [],
    PSA,
  )
}

export const epoch = (seconds: number) => tag(1, seconds)

export interface SignedCorimParts {
  readonly payload: Uint8Array
  readonly meta?: Map<number | string, CborIn> | null
  readonly cwt?: Map<number | string, CborIn>
  readonly contentType?: CborIn
  readonly extraProtected?: [number | string, CborIn][]
}

/** corim-meta with signer "ACME" and signature-validity [nbf, na]. */
export function corimMeta(nbf: number, na: number): Map<number | string, CborIn> {
  return map([0, map([0, 'ACME'], [1, tag(32, 'https://acme.example')])], [1, map([0, epoch(nbf)], [1, epoch(na)])])
}

export function signCorim(key: TestKeyPair, parts: SignedCorimParts): Uint8Array {
  const header = map([1, key.coseAlg], [3, parts.contentType ?? 'application/rim+cbor'])
  if (parts.meta !== null) header.set(8, encodeCbor(parts.meta ?? corimMeta(1_600_000_000, 1_900_000_000)))
  if (parts.cwt !== undefined) header.set(15, parts.cwt)
  for (const [k, v] of parts.extraProtected ?? []) header.set(k, v)
  return signSign1(key, { protectedHeader: header as never, payload: parts.payload })
}
