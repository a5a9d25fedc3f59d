/** The Prometheus text format read back with a parser from npm (prom2javascript: it keeps the labels,
 *  _sum and _count of each series of a labelled histogram, which parse-prometheus-text-format 1.1.1
 *  merges into one), and lookups of one series: what the metrics tests assert on. */
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from 'prom2javascript'

export type { PromMetrics }

/** prom2javascript 0.2.0 reads finite values and +Inf only; a NaN or -Inf sample (legal: an event-loop
 *  mean before its first sample is NaN) is left out before parsing. `promtool check metrics` reads the
 *  whole text in test/metrics.test.ts. */
const unreadable = /^\S+(\{.*\})?\s+(NaN|-Inf)(\s+-?\d+)?$/

export const parseMetrics = (text: string): Promise<PromMetrics> =>
  getMetricsFromIterator(
    text
      .split('\n')
      .filter((line) => !unreadable.test(line))
      [Symbol.iterator](),
  )

const matches = (labels: Record<string, string>, want: Record<string, string>) => {
  const w = Object.entries(want)
  return w.length === 0 ? Object.keys(labels).length === 0 : w.every(([k, v]) => labels[k] === v)
}

/** The value of the counter or gauge series of `name` whose labels include `labels` (exactly no labels
 *  when `labels` is empty); undefined when there is no such series. */
export function valueOf(metrics: PromMetrics, name: string, labels: Record<string, string> = {}): number | undefined {
  return (metrics[name]?.data as PromData[] | undefined)?.find((d) => matches(d.labels, labels))?.value
}

/** The histogram series of `name` whose labels include `labels`. */
export function histogramOf(metrics: PromMetrics, name: string, labels: Record<string, string> = {}): PromHistogramData | undefined {
  return (metrics[name]?.data as PromHistogramData[] | undefined)?.find((d) => matches(d.labels, labels))
}
