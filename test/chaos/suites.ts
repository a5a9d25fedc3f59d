/** The chaos suites `bun run chaos -- --suite NAME` can run: one line each. A suite runs one fleet on one
 *  store with a seed and a time budget, and returns its history, the violations the checker found, and
 *  the numbers worth printing. */
import type { Violation } from './check'
import { crash } from './crash'
import { databaseSuite } from '../faults/database'
import { networkSuite } from '../faults/network'
import type { SuiteReport } from '../faults/record'
import { History } from './history'

export type SuiteResult = { history: History; violations: Violation[]; stats: Record<string, number> }
export type SuiteOptions = { seed: number; dir: string; databaseUrl?: string; ms: number; log: (line: string) => void }
export type Suite = (o: SuiteOptions) => Promise<SuiteResult>

/** A fault suite of test/faults (its own cluster or store; run once, whatever store is asked for). */
const faults =
  (run: (o: { seed: number; minutes: number }) => Promise<SuiteReport>): Suite =>
  async (o) => {
    const r = await run({ seed: o.seed, minutes: o.ms / 60_000 })
    for (const n of r.notes) o.log(`note: ${n}`)
    const stats = Object.fromEntries([...Object.entries(r.faults).map(([k, v]) => [`fault ${k}`, v]), ...Object.entries(r.writes).map(([k, v]) => [`writes ${k}`, v])])
    return { history: new History(), violations: r.violations.map((message) => ({ promise: 'exit' as const, at: 0, message })), stats }
  }

export const SUITES: Record<string, Suite> = {
  crash: (o) => crash(o),
  database: faults(databaseSuite),
  network: faults(networkSuite),
}

/** Suites that bring their own store: run once, not once per store. */
export const OWN_STORE = new Set(['database', 'network'])
