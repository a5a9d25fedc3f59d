import { collectDefaultMetrics, Registry, type Metric } from 'prom-client'
import { HttpMetrics } from './http'

/** A process's metrics: its own registry (never prom-client's global one), the process_* and nodejs_*
 *  defaults, and the HTTP counts the front door keeps. Each service adds its own metrics to `registry`. */
export interface Metrics {
  registry: Registry
  http: HttpMetrics
}

/** prom-client's defaults that break Prometheus naming (gauges named `_total`; `promtool check metrics`
 *  refuses them). Each duplicates a default without the suffix. */
const MISNAMED = /^nodejs_active_\w+_total$/

/** Make the registry of this process (or of one app in a test). */
export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (opts.defaults ?? true) {
    const all = new Registry()
    collectDefaultMetrics({ register: all })
    for (const metric of all.getMetricsAsArray()) if (!MISNAMED.test(metric.name)) registry.registerMetric(metric as unknown as Metric)
  }
  return { registry, http: new HttpMetrics(registry) }
}
