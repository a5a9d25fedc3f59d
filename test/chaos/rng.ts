/** A small seeded random generator (mulberry32), so a chaos run's choices can be replayed from its seed.
 *  Each actor of a scenario takes its own stream (`fork`), so its choices do not depend on how the
 *  actors happened to interleave. */
export type Rng = {
  readonly seed: number
  /** A float in [0, 1). */
  next(): number
  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number
  chance(p: number): boolean
  pick<T>(xs: readonly T[]): T
  /** An independent stream named `label`, the same for the same seed and label. */
  fork(label: string): Rng
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
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  return {
    seed: seed >>> 0,
    next,
    int,
    chance: (p) => next() < p,
    pick: (xs) => xs[int(0, xs.length - 1)]!,
    fork: (label) => rng(fnv1a(`${seed >>> 0}:${label}`)),
  }
}

/** A fresh seed for a run that was given none (printed, so the run can be replayed). */
export const randomSeed = (): number => crypto.getRandomValues(new Uint32Array(1))[0]!

function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}
