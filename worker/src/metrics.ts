import { Counter, createMetrics, Gauge, TallyHistogram, type Metrics } from '@dcm/shared'
import { hitTotals, upstreamSeconds } from './hit/counts'

/** The worker's registry: the shared HTTP and process metrics, the /hit outcomes (counted in plain
 *  numbers by the hit path, read here at scrape time) and the version applied. */
export function workerMetrics(read: { version: () => number | null }): Metrics {
  const metrics = createMetrics()
  const { registry } = metrics
  new Counter({
    name: 'dcm_worker_hits_total',
    help: "GET /hit answers with a config applied, by the class of the status the caller got (a failed upstream call is the worker's own 502/503/504/508: 5xx)",
    labelNames: ['code_class'],
    registers: [registry],
    collect() {
      this.reset()
      for (const code_class of ['2xx', '3xx', '4xx', '5xx'] as const) this.inc({ code_class }, hitTotals[code_class])
    },
  })
  new Counter({
    name: 'dcm_worker_upstream_failures_total',
    help: 'Upstream calls of GET /hit that failed: unreachable, timed out, refused, or a body that broke off',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(hitTotals.upstream_failure)
    },
  })
  registry.registerMetric(
    new TallyHistogram('dcm_worker_upstream_duration_seconds', 'Time from the start of an upstream call to its status line, or to its failure', () => [[{}, upstreamSeconds]]).asMetric(),
  )
  new Gauge({
    name: 'dcm_worker_config_version',
    help: 'Version of the config applied (0 while none)',
    registers: [registry],
    collect() {
      this.set(read.version() ?? 0)
    },
  })
  return metrics
}
