export { metricsRoute, metricsText } from './endpoint'
export { HTTP_DURATION_BUCKETS, HttpMetrics, RouteStats, routeMatcher, UNMATCHED } from './http'
export { createMetrics, type Metrics } from './registry'
export { bucketQuantile, Tally, TallyHistogram } from './tally'
/** prom-client's metric types, for a service's own metrics (services depend on prom-client through here). */
export { Counter, Gauge, Histogram, Registry } from 'prom-client'
