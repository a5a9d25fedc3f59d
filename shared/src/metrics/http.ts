import { Counter, type Registry } from 'prom-client'
import { Tally, TallyHistogram } from './tally'

/** Request durations: from half a millisecond (a 304 from memory) to a held long-poll (up to 60 s). */
export const HTTP_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** The `route` label of a path no route of the app matches (a scanner's guesses must not make series). */
export const UNMATCHED = 'unmatched'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])

/** Answers by method and status, and the durations, of one route. */
export class RouteStats {
  readonly duration = new Tally(HTTP_DURATION_BUCKETS)
  /** method → status → answers. */
  readonly answers: Record<string, Record<number, number>> = {}

  /** The status counts of one method, to keep and bump directly (a hot route's answers are all GETs). */
  method(method: string): Record<number, number> {
    const m = METHODS.has(method) ? method : 'other'
    return (this.answers[m] ??= {})
  }

  add(method: string, status: number, seconds: number): void {
    const counts = this.method(method)
    counts[status] = (counts[status] ?? 0) + 1
    this.duration.observe(seconds)
  }
}

/** dcm_http_requests_total{route,method,status} and dcm_http_request_duration_seconds{route}, counted in
 *  plain numbers by the front door and read by prom-client at scrape time. */
export class HttpMetrics {
  readonly routes = new Map<string, RouteStats>()

  constructor(registry: Registry) {
    const routes = this.routes
    new Counter({
      name: 'dcm_http_requests_total',
      help: 'HTTP requests answered, by route template (unmatched for a path no route matches), method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [route, stats] of routes)
          for (const [method, counts] of Object.entries(stats.answers))
            for (const [status, n] of Object.entries(counts)) this.inc({ route, method, status }, n)
      },
    })
    registry.registerMetric(
      new TallyHistogram('dcm_http_request_duration_seconds', 'Time from a request arriving to its answer (headers; a streamed body may go on), by route template', function* () {
        for (const [route, stats] of routes) yield [{ route }, stats.duration]
      }).asMetric(),
    )
  }

  /** The stats of a route template, made on first use. */
  route(template: string): RouteStats {
    let stats = this.routes.get(template)
    if (stats === undefined) this.routes.set(template, (stats = new RouteStats()))
    return stats
  }
}

/** Finds the route template (`/agents/:id`) a path belongs to, from the app's routes; `unmatched` when
 *  none. Static paths are one map lookup; templates with parameters are tried in order. */
export function routeMatcher(routes: readonly { path: string }[]): (path: string) => string {
  const exact = new Map<string, string>()
  const patterns: [RegExp, string][] = []
  for (const { path } of routes) {
    if (!path.includes(':') && !path.includes('*')) exact.set(path, path)
    else if (!patterns.some(([, p]) => p === path)) patterns.push([templateRegex(path), path])
  }
  return (path) => {
    // Elysia matches a path with one trailing slash as the path without it.
    const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
    const hit = exact.get(p)
    if (hit !== undefined) return hit
    for (const [re, template] of patterns) if (re.test(p)) return template
    return UNMATCHED
  }
}

function templateRegex(template: string): RegExp {
  const parts = template.split('/').map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? (seg.endsWith('?') ? '[^/]*' : '[^/]+') : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  return new RegExp(`^${parts.join('/')}$`)
}
