import type { HitCounts } from '../config/model'

type Class = keyof HitCounts['by_class']

/** /hit outcomes for one applied version: the answers by status class, and the upstream failures (the
 *  worker's own 502/503/504, and bodies that broke off after the status was sent). */
export class HitCounter {
  total = 0
  readonly by_class: Record<Class, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, upstream_failure: 0 }

  constructor(readonly version: number | null) {}

  /** An upstream answer passed through with `status`. */
  answered(status: number): void {
    this.total++
    this.by_class[classOf(status)]++
  }

  /** The worker answered for a failed upstream call. */
  failed(): void {
    this.total++
    this.by_class.upstream_failure++
  }

  /** An answer counted under `status` broke off mid-body: it was an upstream failure after all. */
  brokeOff(status: number): void {
    this.by_class[classOf(status)]--
    this.by_class.upstream_failure++
  }

  toJSON(): HitCounts {
    return { version: this.version, total: this.total, by_class: { ...this.by_class } }
  }
}

const classOf = (status: number): Class => (status < 300 ? '2xx' : status < 400 ? '3xx' : status < 500 ? '4xx' : '5xx')
