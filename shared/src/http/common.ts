import { requestIdFrom } from '../request-id'

/** Ids of the requests in flight, set by the front door. */
export const ids = new WeakMap<Request, string>()

/** What Bun.serve hands the front door with each request: the server, which knows the client's address. */
export type Peer = { requestIP(request: Request): { address: string } | null }

/** The server of each request in flight, and the request as it arrived for one the front door had to
 *  copy: the client's address is looked up only when needed (a refused credential), not per request. */
export const servers = new WeakMap<Request, Peer>()
export const arrivals = new WeakMap<Request, Request>()

/** The address a request came from ('' when unknown: no server, as in-process tests). */
export function clientAddress(request: Request): string {
  return servers.get(request)?.requestIP(arrivals.get(request) ?? request)?.address ?? ''
}

/** The request id of a request being handled, for log lines written while handling it. */
export const requestIdOf = (r: Request): string => ids.get(r) ?? requestIdFrom(r.headers)

/** The path of an absolute URL, without the query (which may hold anything, so it is never logged). */
export function pathOf(url: string): string {
  const p = url.indexOf('/', url.indexOf('//') + 2)
  if (p === -1) return '/'
  const q = url.indexOf('?', p)
  return q === -1 ? url.slice(p) : url.slice(p, q)
}

/** A JSON error answer carrying the request id. */
export function respond(status: number, body: object, id: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers },
  })
}
