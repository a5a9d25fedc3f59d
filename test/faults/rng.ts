/** The fault suites' seeded generator is the chaos suites' (mulberry32): the same seed gives the same
 *  fault schedule. */
export { rng, type Rng } from '../chaos/rng'

/** The seed and length of a run: DCM_FAULTS_SEED and DCM_FAULTS_MINUTES, else the CI defaults. */
export function runSettings(ciSeed: number, ciMinutes: number): { seed: number; minutes: number } {
  const seed = process.env.DCM_FAULTS_SEED ? Number(process.env.DCM_FAULTS_SEED) : ciSeed
  const minutes = process.env.DCM_FAULTS_MINUTES ? Number(process.env.DCM_FAULTS_MINUTES) : ciMinutes
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`DCM_FAULTS_SEED must be a non-negative integer, not ${process.env.DCM_FAULTS_SEED}`)
  if (!(minutes > 0)) throw new Error(`DCM_FAULTS_MINUTES must be a positive number of minutes, not ${process.env.DCM_FAULTS_MINUTES}`)
  return { seed, minutes }
}
