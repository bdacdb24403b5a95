/**
 * The claims a test attester puts in its Evidence, before encoding: PSA claims (RFC 9783 §4) and
 * generic EAT claims (RFC 9711 §4), with defaults that make a plausible device. They come from a
 * JSON file (`{ "psa": { … }, "eat": { … } }`, byte strings in hex) and flags, validated here with
 * zod; the same values give both the token and the reference values that provision it.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { DEBUG_STATUS, type DebugStatus } from '../evidence/eat/descriptor.js'
import { PSA_LIFECYCLE_RANGES } from '../evidence/psa/descriptor.js'
import { fromHex, toHex } from '../util/bytes.js'

export interface PsaSoftwareComponentInput {
  readonly measurementType?: string
  readonly measurementValue: Uint8Array
  readonly signerId: Uint8Array
  readonly version?: string
}

export interface PsaClaimsInput {
  readonly implementationId: Uint8Array
  readonly clientId: number
  /** Raw lifecycle value (major state in bits 15:8). */
  readonly securityLifecycle: number
  readonly bootSeed: Uint8Array
  readonly softwareComponents: readonly PsaSoftwareComponentInput[]
  readonly certificationReference?: string
}

export interface EatMeasurementInput {
  /** CoAP Content-Format of the body. */
  readonly contentFormat: number
  readonly body: Uint8Array
}

export interface EatClaimsInput {
  /** UEID; the device's own (from its key) when absent at the top level, none in a submodule. */
  readonly ueid?: Uint8Array
  /** IANA PEN (an integer) or 3 or 16 bytes. */
  readonly oemid?: number | Uint8Array
  readonly hwmodel?: Uint8Array
  readonly hwversion?: string
  readonly swname?: string
  readonly swversion?: string
  readonly dbgstat?: DebugStatus
  readonly oemboot?: boolean
  readonly measurements?: readonly EatMeasurementInput[]
  readonly submods?: Readonly<Record<string, EatClaimsInput>>
}

const digest = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest())

/** RFC 5612's documentation PEN: no real manufacturer's. */
export const EXAMPLE_OEMID = 32473

/**
 * What a token carries when neither the claims file nor a flag says otherwise. The Implementation ID
 * and the hwmodel are derived from the device's identifier, so each device is a class of its own and
 * the reference-values documents of several devices never provision one class twice.
 */
export function defaultPsaClaims(deviceId: Uint8Array): PsaClaimsInput {
  return {
    implementationId: digest(`assay attest: implementation ${toHex(deviceId)}`),
    clientId: 1,
    securityLifecycle: 0x3000,
    bootSeed: digest(`assay attest: boot seed ${toHex(deviceId)}`),
    softwareComponents: [
      { measurementType: 'BL', measurementValue: digest('assay attest: BL 1.0.0'), signerId: digest('assay attest: signer'), version: '1.0.0' },
      { measurementType: 'PRoT', measurementValue: digest('assay attest: PRoT 1.0.0'), signerId: digest('assay attest: signer'), version: '1.0.0' },
    ],
  }
}

export function defaultEatClaims(deviceId: Uint8Array): EatClaimsInput {
  return {
    oemid: EXAMPLE_OEMID,
    hwmodel: new TextEncoder().encode(`assay-attest-${toHex(deviceId).slice(0, 16)}`),
    hwversion: '1.0',
    swname: 'assay-attest-firmware',
    swversion: '1.0.0',
    dbgstat: 'disabled-permanently',
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON file and the flags

const hex = (what: string, sizes?: readonly number[]) =>
  z
    .string()
    .regex(/^([0-9a-fA-F]{2})+$/, `${what} must be hex`)
    .refine((s) => sizes === undefined || sizes.includes(s.length / 2), `${what} must be ${sizes?.join(', ')} bytes`)
    .transform((s) => fromHex(s))

const LIFECYCLE_NAMES = new Map<string, number>(PSA_LIFECYCLE_RANGES.map((r) => [r.state, r.min]))

/** A lifecycle as a number (`12288`, `0x3000`) or a major state's name (`secured`). */
export function parseLifecycle(value: string | number): number {
  if (typeof value === 'number') return value
  const named = LIFECYCLE_NAMES.get(value)
  if (named !== undefined) return named
  const n = /^(0x[0-9a-fA-F]{1,4}|[0-9]{1,5})$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n > 0xffff) {
    throw new Error(`security lifecycle ${JSON.stringify(value)} is neither a number up to 0xffff nor one of ${[...LIFECYCLE_NAMES.keys()].join(', ')}`)
  }
  return n
}

/** An oemid as a PEN (`32473`) or hex bytes (3 or 16). */
export function parseOemid(value: string | number): number | Uint8Array {
  if (typeof value === 'number' || /^[0-9]{1,10}$/.test(value)) return Number(value)
  if (/^([0-9a-fA-F]{6}|[0-9a-fA-F]{32})$/.test(value)) return fromHex(value)
  throw new Error(`oemid ${JSON.stringify(value)} is neither a PEN (an integer) nor 3 or 16 bytes of hex`)
}

const psaFileSchema = z
  .object({
    implementationId: hex('implementationId', [32]).optional(),
    clientId: z.number().int().min(-2147483648).max(2147483647).refine((n) => n !== 0, 'clientId must not be 0').optional(),
    securityLifecycle: z.union([z.number().int().min(0).max(0xffff), z.string()]).transform(parseLifecycle).optional(),
    bootSeed: hex('bootSeed').refine((b) => b.length >= 8 && b.length <= 32, 'bootSeed must be 8 to 32 bytes').optional(),
    certificationReference: z.string().regex(/^[0-9]{13}-[0-9]{5}$/, 'certificationReference must be EAN-13, "-", 5 digits').optional(),
    softwareComponents: z
      .array(
        z
          .object({
            measurementType: z.string().min(1).optional(),
            measurementValue: hex('measurementValue', [32, 48, 64]),
            signerId: hex('signerId', [32, 48, 64]),
            version: z.string().min(1).optional(),
          })
          .strict(),
      )
      .min(1)
      .optional(),
  })
  .strict()

interface EatFileClaims {
  ueid?: Uint8Array | undefined
  oemid?: number | Uint8Array | undefined
  hwmodel?: Uint8Array | undefined
  hwversion?: string | undefined
  swname?: string | undefined
  swversion?: string | undefined
  dbgstat?: DebugStatus | undefined
  oemboot?: boolean | undefined
  measurements?: EatMeasurementInput[] | undefined
  submods?: Record<string, EatFileClaims> | undefined
}

const eatFileSchema: z.ZodType<EatFileClaims> = z.lazy(() =>
  z
    .object({
      ueid: hex('ueid').refine((b) => b.length >= 7 && b.length <= 33, 'ueid must be 7 to 33 bytes').optional(),
      oemid: z.union([z.number().int().nonnegative(), z.string()]).transform(parseOemid).optional(),
      hwmodel: hex('hwmodel').refine((b) => b.length <= 32, 'hwmodel must be 1 to 32 bytes').optional(),
      hwversion: z.string().min(1).optional(),
      swname: z.string().min(1).optional(),
      swversion: z.string().min(1).optional(),
      dbgstat: z.enum(DEBUG_STATUS).optional(),
      oemboot: z.boolean().optional(),
      measurements: z
        .array(z.object({ contentFormat: z.number().int().min(0).max(65535), body: hex('body') }).strict())
        .min(1)
        .optional(),
      submods: z.record(z.string().min(1), eatFileSchema).optional(),
    })
    .strict(),
)

export const claimsFileSchema = z.object({ comment: z.string().optional(), psa: psaFileSchema.optional(), eat: eatFileSchema.optional() }).strict()

/** Flags that set single claims; each overrides the claims file. */
export interface ClaimFlags {
  readonly implementationId?: string
  readonly clientId?: string
  readonly lifecycle?: string
  readonly oemid?: string
  readonly hwmodel?: string
  readonly swname?: string
  readonly swversion?: string
  readonly dbgstat?: string
}

const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>

/**
 * The claims for both formats: the defaults of the device `deviceId`, then the claims file (`raw`,
 * already parsed JSON), then the flags. Throws an Error naming the field for anything invalid.
 */
export function resolveClaims(raw: unknown, flags: ClaimFlags, deviceId: Uint8Array): { psa: PsaClaimsInput; eat: EatClaimsInput } {
  const parsed = claimsFileSchema.safeParse(raw ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`claims ${issue.path.join('.') || '(document)'}: ${issue.message}`)
  }
  const file = parsed.data
  const flagged = (name: string, parse: () => unknown) => {
    try {
      return parse()
    } catch (err) {
      throw new Error(`--${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }
  const psaFlags = defined({
    implementationId:
      flags.implementationId === undefined ? undefined : flagged('implementation-id', () => hex('implementation id', [32]).parse(flags.implementationId)),
    clientId: flags.clientId === undefined ? undefined : flagged('client-id', () => psaFileSchema.shape.clientId.parse(Number(flags.clientId))),
    securityLifecycle: flags.lifecycle === undefined ? undefined : flagged('lifecycle', () => parseLifecycle(flags.lifecycle!)),
  })
  const eatFlags = defined({
    oemid: flags.oemid === undefined ? undefined : flagged('oemid', () => parseOemid(flags.oemid!)),
    hwmodel: flags.hwmodel === undefined ? undefined : flagged('hwmodel', () => hex('hwmodel').parse(flags.hwmodel)),
    swname: flags.swname,
    swversion: flags.swversion,
    dbgstat: flags.dbgstat === undefined ? undefined : flagged('dbgstat', () => z.enum(DEBUG_STATUS).parse(flags.dbgstat)),
  })
  const psa = { ...defaultPsaClaims(deviceId), ...defined(file.psa ?? {}), ...psaFlags } as PsaClaimsInput
  const eat = { ...defaultEatClaims(deviceId), ...defined(file.eat ?? {}), ...eatFlags } as EatClaimsInput
  return { psa, eat: withInheritedClass(eat) }
}

/** A submodule that names no class is of its parent's class (oemid, hwmodel), recursively. */
function withInheritedClass(claims: EatClaimsInput): EatClaimsInput {
  if (claims.submods === undefined) return claims
  const submods: Record<string, EatClaimsInput> = {}
  for (const [label, sub] of Object.entries(claims.submods)) {
    submods[label] = withInheritedClass({
      ...(claims.oemid === undefined ? {} : { oemid: claims.oemid }),
      ...(claims.hwmodel === undefined ? {} : { hwmodel: claims.hwmodel }),
      ...sub,
    })
  }
  return { ...claims, submods }
}
