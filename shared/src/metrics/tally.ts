import type { Metric } from 'prom-client'

/** A histogram kept in plain numbers: observing one value is a short loop and three additions, no label
 *  lookup and no string; prom-client reads it when scraped (`TallyHistogram`). */
export class Tally {
  /** Observations per bucket: counts[i] holds those ≤ bounds[i] and above bounds[i-1]; the last, the rest. */
  readonly counts: number[]
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

type Sample = { labels: Record<string, string | number>; value: number; metricName: string }
/** What prom-client's registry reads from a metric (the shape its own Histogram's `get()` returns). */
type Values = { name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' }

/** A Prometheus histogram whose series are `Tally`s, one per label set, read at scrape time. prom-client's
 *  own Histogram hashes its labels on every observe; this one costs nothing until it is scraped. It is
 *  registered like any prom-client metric (the registry asks it for `get()`). */
export class TallyHistogram {
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const

  constructor(
    readonly name: string,
    readonly help: string,
    /** The series: each label set with its tally (called at every scrape). */
    readonly series: () => Iterable<[labels: Record<string, string>, tally: Tally]>,
  ) {}

  get(): Values {
    const values: Sample[] = []
    for (const [labels, tally] of this.series()) {
      let acc = 0
      tally.bounds.forEach((le, i) => {
        acc += tally.counts[i]!
        values.push({ labels: { ...labels, le }, value: acc, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { ...labels, le: '+Inf' }, value: tally.count, metricName: `${this.name}_bucket` })
      values.push({ labels, value: tally.sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: tally.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** The registry may ask every metric to reset; a tally belongs to its owner, so this does nothing. */
  reset(): void {}

  /** As the registry's `registerMetric` takes it. */
  asMetric(): Metric {
    return this as unknown as Metric
  }
}

/** The q-quantile (0 < q ≤ 1) of observations counted per bucket (`counts[i]` those ≤ `bounds[i]`, the
 *  last entry the rest), as the upper bound of the bucket holding the ⌈q·n⌉-th smallest: "at most this".
 *  The overflow bucket answers the last bound. 0 when nothing was observed. */
export function bucketQuantile(bounds: readonly number[], counts: readonly number[], q: number): number {
  let n = 0
  for (const c of counts) n += c
  if (n <= 0 || bounds.length === 0) return 0
  const rank = Math.max(1, Math.ceil(q * n - 1e-9)) // 0.99 × 100 is 99, not 99.00000000000001
  let acc = 0
  for (let i = 0; i < bounds.length; i++) {
    acc += counts[i] ?? 0
    if (acc >= rank) return bounds[i]!
  }
  return bounds[bounds.length - 1]!
}
