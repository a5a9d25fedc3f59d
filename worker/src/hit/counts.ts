import { bucketQuantile, Tally } from '@dcm/shared'
import type { HitCounts } from '../config/model'

type Class = keyof HitCounts['by_class']

/** /hit outcomes since the process started, over every version (what /metrics reports): answers by the
 *  class of the status the caller got (a failed upstream call is the worker's own 5xx), and upstream
 *  failures (those, and bodies that broke off after their status was sent). */
export const hitTotals: Record<Class | 'upstream_failure', number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, upstream_failure: 0 }

/** Time from the start of an upstream call to its status line (or its failure), in seconds. */
export const upstreamSeconds = new Tally([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])

/** The latency buckets of one version's histogram, in whole milliseconds (the last bucket holds the
 *  rest): fixed, so the agent can subtract two readings of /state bucket by bucket. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000])

/** /hit outcomes for one applied version: the upstream's answers by status class, the upstream failures
 *  (the worker's own 502/503/504/508, and bodies that broke off after the status was sent) and the
 *  upstream latency. Plain number increments: this runs on every /hit. The process-wide totals of
 *  /metrics are bumped by the same calls. */
export class HitCounter {
  total = 0
  readonly by_class: Record<Class, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }
  upstream_failures = 0
  /** Upstream call durations in ms (every call that reached the fetch, failed ones included). */
  readonly latency = new Tally(LATENCY_BOUNDS_MS)

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
    this.upstream_failures++
    hitTotals['5xx']++
    hitTotals.upstream_failure++
  }

  /** An answer counted under `status` broke off mid-body: it was an upstream failure after all. */
  brokeOff(status: number): void {
    this.by_class[classOf(status)]--
    this.upstream_failures++
    hitTotals.upstream_failure++
  }

  /** One upstream call took `ms` (to its status line or its failure). */
  timed(ms: number): void {
    this.latency.observe(ms)
    upstreamSeconds.observe(ms / 1000)
  }

  toJSON(): HitCounts {
    const { bounds, counts } = this.latency
    return {
      version: this.version,
      total: this.total,
      by_class: { ...this.by_class },
      upstream_failures: this.upstream_failures,
      p50_ms: bucketQuantile(bounds, counts, 0.5),
      p99_ms: bucketQuantile(bounds, counts, 0.99),
      buckets: { le_ms: [...bounds], counts: [...counts] },
    }
  }
}

const classOf = (status: number): Class => (status < 300 ? '2xx' : status < 400 ? '3xx' : status < 500 ? '4xx' : '5xx')
