/**
 * Mutations of byte strings, written as data so fast-check can generate and shrink them, and the
 * fuzz script (scripts/fuzz.ts) can print the exact input that failed. A mutation never grows an
 * input beyond `MAX_MUTATED_BYTES`.
 *
 * The kinds are those the hardening issue names: bit flips, byte overwrites, truncations,
 * deletions, insertions of random bytes or of a CBOR head with a huge length, duplicated slices,
 * deep nesting around the input, and whole inputs of random bytes.
 */
import fc from 'fast-check'

/** Upper bound on a mutated input. */
export const MAX_MUTATED_BYTES = 64 * 1024

export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly byte: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'duplicate'; readonly at: number; readonly length: number; readonly times: number }
  /** A CBOR head (major type 0..7) with a 1/2/4/8-byte argument, or indefinite (31). */
  | { readonly kind: 'head'; readonly at: number; readonly major: number; readonly ai: number; readonly fill: number }
  /** `depth` array (0x81), map (0xa1 0x00) or tag (0xd8 0x12) heads in front of the input. */
  | { readonly kind: 'nest'; readonly depth: number; readonly as: 'array' | 'map' | 'tag' }

const HEAD_ARGS = [24, 25, 26, 27, 31] as const

/** One mutation. Offsets are taken modulo the input length, so any `at` fits any input. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicate' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 64 }),
      times: fc.integer({ min: 1, max: 64 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('head' as const),
      at: fc.nat(),
      major: fc.integer({ min: 0, max: 7 }),
      ai: fc.constantFrom(...HEAD_ARGS),
      fill: fc.constantFrom(0xff, 0x7f, 0x80, 0x00, 0x01),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('nest' as const),
      depth: fc.integer({ min: 1, max: 5000 }),
      as: fc.constantFrom('array' as const, 'map' as const, 'tag' as const),
    }),
  },
)

/** One to four mutations, applied in order. */
export const mutationsArb: fc.Arbitrary<readonly Mutation[]> = fc.array(mutationArb, { minLength: 1, maxLength: 4 })

function splice(input: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length - remove + insert.length)
  out.set(input.subarray(0, at), 0)
  out.set(insert, at)
  out.set(input.subarray(at + remove), at + insert.length)
  return out
}

/** A CBOR head whose argument bytes are all `fill` (0xff: the largest length that width can say). */
export function hugeHead(major: number, ai: number, fill: number): Uint8Array {
  const width = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0
  const out = new Uint8Array(1 + width).fill(fill)
  out[0] = (major << 5) | ai
  return out
}

/** `depth` nesting heads around `inner`. */
export function nested(depth: number, as: 'array' | 'map' | 'tag', inner: Uint8Array): Uint8Array {
  const unit = as === 'array' ? [0x81] : as === 'map' ? [0xa1, 0x00] : [0xd8, 0x12]
  const out = new Uint8Array(depth * unit.length + inner.length)
  for (let i = 0; i < depth; i++) out.set(unit, i * unit.length)
  out.set(inner, depth * unit.length)
  return out
}

export function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.length
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return input
      const out = new Uint8Array(input)
      out[m.at % n]! ^= 1 << m.bit
      return out
    }
    case 'set': {
      if (n === 0) return Uint8Array.of(m.byte)
      const out = new Uint8Array(input)
      out[m.at % n] = m.byte
      return out
    }
    case 'truncate':
      return input.slice(0, m.at % (n + 1))
    case 'delete': {
      if (n === 0) return input
      const at = m.at % n
      return splice(input, at, Math.min(m.length, n - at), new Uint8Array(0))
    }
    case 'insert':
      return splice(input, m.at % (n + 1), 0, m.bytes)
    case 'duplicate': {
      if (n === 0) return input
      const at = m.at % n
      const slice = input.subarray(at, Math.min(n, at + m.length))
      const times = Math.min(m.times, Math.floor((MAX_MUTATED_BYTES - n) / Math.max(1, slice.length)))
      const rep = new Uint8Array(slice.length * Math.max(0, times))
      for (let i = 0; i < times; i++) rep.set(slice, i * slice.length)
      return splice(input, at, 0, rep)
    }
    case 'head':
      return splice(input, m.at % (n + 1), 0, hugeHead(m.major, m.ai, m.fill))
    case 'nest':
      return nested(Math.min(m.depth, Math.floor((MAX_MUTATED_BYTES - n) / 2)), m.as, input)
  }
}

export function applyMutations(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = input
  for (const m of mutations) out = applyMutation(out, m)
  return out
}

/** A short, printable description of mutations, for failure reports. */
export function describeMutations(mutations: readonly Mutation[]): string {
  return mutations
    .map((m) => {
      switch (m.kind) {
        case 'insert':
          return `insert@${m.at}:${Buffer.from(m.bytes).toString('hex')}`
        case 'flip':
          return `flip@${m.at}.${m.bit}`
        case 'set':
          return `set@${m.at}=${m.byte}`
        case 'truncate':
          return `truncate@${m.at}`
        case 'delete':
          return `delete@${m.at}+${m.length}`
        case 'duplicate':
          return `dup@${m.at}+${m.length}x${m.times}`
        case 'head':
          return `head@${m.at}:${Buffer.from(hugeHead(m.major, m.ai, m.fill)).toString('hex')}`
        case 'nest':
          return `nest:${m.as}x${m.depth}`
      }
    })
    .join(',')
}
