/** The chaos suites `bun run chaos -- --suite NAME` can run: one line each. A suite runs one fleet on one
 *  store with a seed and a time budget, and returns its history, the violations the checker found, and
 *  the numbers worth printing. */
import type { Violation } from './check'
import { crash } from './crash'
import type { History } from './history'

export type SuiteResult = { history: History; violations: Violation[]; stats: Record<string, number> }
export type SuiteOptions = { seed: number; dir: string; databaseUrl?: string; ms: number; log: (line: string) => void }
export type Suite = (o: SuiteOptions) => Promise<SuiteResult>

export const SUITES: Record<string, Suite> = {
  crash: (o) => crash(o),
}
