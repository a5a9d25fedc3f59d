import { errorBody, HttpError } from '../errors'
import type { Logger } from '../logging'
import { routeMatcher, type HttpMetrics } from '../metrics'
import { requestIdFrom } from '../request-id'
import { arrivals, ids, pathOf, respond, servers, type Peer } from './common'

type FetchApp = { fetch: (request: Request) => Response | Promise<Response>; routes?: readonly { path: string }[] }
type Route = (request: Request, server?: Peer) => Response | Promise<Response>

/** A hot route answers its common case without going through Elysia (GET /config → 304, GET /hit);
 *  returning undefined hands the request to the app. The handler puts `id` on its response as
 *  X-Request-Id itself (in the Response it builds: cheaper than a header set afterwards). A thrown
 *  HttpError becomes the JSON error shape. It answers GET requests only (metrics count its answers as
 *  GETs); any other method is the app's. */
export type HotHandler = (request: Request, id: string) => Response | undefined | Promise<Response | undefined>

export interface FrontDoorOptions {
  logger: Logger
  /** Paths whose successful answers are logged at debug only (default /healthz, /readyz). */
  quietPaths?: string[]
  hot?: Record<string, HotHandler>
  /** How often the hot routes' summary line is written (default 10 s). */
  summaryEveryMs?: number
  /** Where every answer is counted (by route template, method, status) and timed. */
  metrics?: HttpMetrics
}

/** Requests answered on a hot route since the last summary line. */
class HotStats {
  count = 0
  totalMs = 0
  maxMs = 0
  readonly statuses: Record<number, number> = {}
  add(status: number, ms: number) {
    this.count++
    this.totalMs += ms
    if (ms > this.maxMs) this.maxMs = ms
    this.statuses[status] = (this.statuses[status] ?? 0) + 1
  }
}

/** What Bun.serve calls. Every request gets its id (a sane incoming X-Request-Id or a new one), which
 *  comes back on the response, and is logged: one line per request (method, path, status, duration_ms,
 *  request_id) — except the successful answers of hot routes, which at info are counted into one
 *  summary line per route every 10 s (and still get their own line at debug). A log line per fleet poll
 *  would cost GET /config its throughput target; errors on hot routes keep their own line. */
export function frontDoor(app: FetchApp, opts: FrontDoorOptions) {
  const { logger } = opts
  const quiet = new Set(opts.quietPaths ?? ['/healthz', '/readyz'])
  const infoOn = logger.enabled('info')
  const debugOn = logger.enabled('debug')

  const { metrics } = opts
  // The app's routes are complete once it serves: the matcher is made at the first request.
  let routeOf: ((path: string) => string) | undefined

  const fetch = async (incoming: Request, server?: Peer): Promise<Response> => {
    const start = performance.now()
    const request = withRoomyHost(incoming)
    const id = requestIdFrom(request.headers)
    ids.set(request, id)
    if (server) servers.set(request, server)
    if (request !== incoming) arrivals.set(request, incoming)
    const res = withId(await app.fetch(request), id)
    if (infoOn || metrics) {
      const path = pathOf(request.url)
      const status = res.status
      const ms = performance.now() - start
      if (metrics) {
        routeOf ??= routeMatcher(app.routes ?? [])
        metrics.route(routeOf(path)).add(request.method, status, ms / 1000)
      }
      if (!infoOn) return res
      if (!(status < 400 && quiet.has(path))) logger.request(request.method, path, status, ms, id)
      else if (debugOn) logger.request(request.method, path, status, ms, id, 'debug')
    }
    return res
  }

  const stats = new Map<string, HotStats>()
  const routes: Record<string, Route> = {}
  for (const [path, handle] of Object.entries(opts.hot ?? {})) {
    const s = new HotStats()
    stats.set(path, s)
    // Bound once: an answer costs two increments and a bucket search, no label lookup (hot answers are GETs).
    const route = metrics?.route(path)
    const answers = route?.method('GET')
    const finish = (request: Request, server: Peer | undefined, res: Response | undefined, id: string, start: number): Response | Promise<Response> => {
      if (res === undefined) return fetch(request, server)
      const ms = performance.now() - start
      const status = res.status // a native getter: read once
      if (route !== undefined) {
        answers![status] = (answers![status] ?? 0) + 1
        route.duration.observe(ms / 1000)
      }
      if (status >= 400) {
        if (infoOn) logger.request(request.method, path, status, ms, id)
      } else {
        s.add(status, ms)
        if (debugOn) logger.request(request.method, path, status, ms, id, 'debug')
      }
      return res
    }
    const failed = (e: unknown, id: string): Response => {
      if (e instanceof HttpError) return respond(e.status, errorBody(e.code, e.message, id), id, e.headers)
      logger.error('unhandled error', { request_id: id, path, error: e as Error })
      return respond(500, errorBody('internal_error', 'the server failed to answer; see its log for this request id', id), id)
    }
    // Synchronous when the handler is: no promise per answered poll.
    routes[path] = (request, server) => {
      const start = performance.now()
      const id = requestIdFrom(request.headers)
      let out: ReturnType<HotHandler>
      try {
        out = handle(request, id)
      } catch (e) {
        return finish(request, server, failed(e, id), id, start)
      }
      if (out instanceof Promise)
        return out.then(
          (res) => finish(request, server, res, id, start),
          (e) => finish(request, server, failed(e, id), id, start),
        )
      return finish(request, server, out, id, start)
    }
  }

  const summarise = () => {
    for (const [path, s] of stats) {
      if (s.count === 0) continue
      logger.info('requests summary', {
        path,
        count: s.count,
        statuses: { ...s.statuses },
        avg_duration_ms: Math.round((s.totalMs / s.count) * 1000) / 1000,
        max_duration_ms: Math.round(s.maxMs * 1000) / 1000,
      })
      stats.set(path, Object.assign(s, new HotStats()))
    }
  }
  const timer = stats.size && infoOn ? setInterval(summarise, opts.summaryEveryMs ?? 10_000) : undefined
  timer?.unref()

  return {
    fetch,
    routes,
    /** Write the pending summary lines now (on shutdown). */
    close() {
      clearInterval(timer)
      summarise()
    },
  }
}

/** Elysia 1.4 looks for the path from character 11 of the URL on (`http://` plus a host of at least
 *  four characters), so a Host header such as `api` or `ctl:80` turned every route into a 404. Such a
 *  request is handed on under a longer host; nothing of ours reads the host. Bun gives a relative URL
 *  (`/swagger/json`) when the Host header is empty or not a host (`a/b`, `u:p@h`): that one is made
 *  absolute whole, not cut at its second slash. */
export function withRoomyHost(request: Request): Request {
  const url = request.url
  if (url.charCodeAt(0) === 47) return new Request(`http://localhost${url}`, request)
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  if (slash === -1 || slash >= 11) return request
  return new Request(`http://localhost${url.slice(slash)}`, request)
}

function withId(res: Response, id: string): Response {
  try {
    res.headers.set('x-request-id', id)
    return res
  } catch {
    const copy = new Response(res.body, res) // immutable headers (e.g. Response.redirect): copy once
    copy.headers.set('x-request-id', id)
    return copy
  }
}
