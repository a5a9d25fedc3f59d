/** A tiny seeded PRNG for the fault suites (mulberry32): the same seed gives the same fault schedule.
 *  (test/chaos/ will get a shared one; this one stays small until the two are unified.) */
export type Rng = {
  readonly seed: number
  /** A float in [0, 1). */
  next(): number
  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

export function rng(seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    seed,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  }
}

/** The seed and length of a run: DCM_FAULTS_SEED and DCM_FAULTS_MINUTES, else the CI defaults. */
export function runSettings(ciSeed: number, ciMinutes: number): { seed: number; minutes: number } {
  const seed = process.env.DCM_FAULTS_SEED ? Number(process.env.DCM_FAULTS_SEED) : ciSeed
  const minutes = process.env.DCM_FAULTS_MINUTES ? Number(process.env.DCM_FAULTS_MINUTES) : ciMinutes
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`DCM_FAULTS_SEED must be a non-negative integer, not ${process.env.DCM_FAULTS_SEED}`)
  if (!(minutes > 0)) throw new Error(`DCM_FAULTS_MINUTES must be a positive number of minutes, not ${process.env.DCM_FAULTS_MINUTES}`)
  return { seed, minutes }
}
