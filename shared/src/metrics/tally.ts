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
