import { Tally } from '@dcm/shared'
import type { HitCounts } from '../config/model'

type Class = keyof HitCounts['by_class']

/** /hit outcomes since the process started, over every version (what /metrics reports): answers by the
 *  class of the status the caller got (a failed upstream call is the worker's own 5xx), and upstream
 *  failures (those, and bodies that broke off after their status was sent). */
export const hitTotals: Record<Class, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, upstream_failure: 0 }

/** Time from the start of an upstream call to its status line (or its failure), in seconds. */
export const upstreamSeconds = new Tally([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])

/** /hit outcomes for one applied version: the answers by status class, and the upstream failures (the
 *  worker's own 502/503/504, and bodies that broke off after the status was sent). */
export class HitCounter {
  total = 0
  readonly by_class: Record<Class, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, upstream_failure: 0 }

  constructor(readonly version: number | null) {}

  /** An upstream answer passed through with `status`. */
  answered(status: number): void {
    this.total++
    const c = classOf(status)
    this.by_class[c]++
    hitTotals[c]++
  }

  /** The worker answered for a failed upstream call. */
  failed(): void {
    this.total++
    this.by_class.upstream_failure++
    hitTotals['5xx']++
    hitTotals.upstream_failure++
  }

  /** An answer counted under `status` broke off mid-body: it was an upstream failure after all. */
  brokeOff(status: number): void {
    this.by_class[classOf(status)]--
    this.by_class.upstream_failure++
    hitTotals.upstream_failure++
  }

  toJSON(): HitCounts {
    return { version: this.version, total: this.total, by_class: { ...this.by_class } }
  }
}

const classOf = (status: number): Class => (status < 300 ? '2xx' : status < 400 ? '3xx' : status < 500 ? '4xx' : '5xx')
