/** The injected clock. Checks never read wall time themselves; they are handed a Clock. */
export interface Clock {
  /** Current time in whole seconds since the epoch (NumericDate). */
  nowSeconds(): number
}

export const systemClock: Clock = {
  nowSeconds: () => Math.floor(Date.now() / 1000),
}

export function fixedClock(seconds: number): Clock {
  return { nowSeconds: () => seconds }
}
