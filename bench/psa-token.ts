/**
 * What the service benches share: PSA tokens in the shape of RFC 9783's Appendix A.1 example, with a
 * nonce of the bench's choosing, signed with the RFC's example IAK (the example reference values
 * provision it in test mode); and the CPU time of processes read from /proc.
 */
import { readFileSync } from 'node:fs'
import { CborTag, decodeCbor, encodeCbor, type CborMap } from '../src/cose/cbor.js'
import { sigStructure1 } from '../src/cose/structure.js'
import { rawSign, rfc9783Iak } from '../test/helpers/cose.js'
import { readVector } from '../test/helpers/vectors.js'

export const PSA_TFM = 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'

/** The RFC 9783 example IAK, which signs every bench token. */
export const iak = rfc9783Iak()

const vector = readVector<{ token_hex: string }>('rfc9783-a1-psa-sign1')
const template = decodeCbor(((decodeCbor(Buffer.from(vector.token_hex, 'hex'), { allowedTags: new Set([18]) }) as CborTag).value as Uint8Array[])[2]!) as CborMap
const protectedBytes = encodeCbor(new Map([[1, -7]]))

/** The example token's claims with `nonce`, as a tagged COSE_Sign1 (ES256) signed with {@link iak}. */
export function psaToken(nonce: Uint8Array): Buffer {
  const claims = new Map(template)
  claims.set(10, nonce)
  const payload = encodeCbor(claims as never)
  const signature = rawSign(iak, sigStructure1(protectedBytes, new Uint8Array(0), payload))
  return Buffer.from(encodeCbor(new CborTag(18, [protectedBytes, new Map(), payload, signature])))
}

/** User plus system CPU time of the processes `pids` so far, in µs (Linux /proc, 100 ticks/s). */
export function processCpuMicros(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks * (1_000_000 / 100)
}
