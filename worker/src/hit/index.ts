import { Elysia, t } from 'elysia'
import { ErrorShape, requestIdOf, Unavailable } from '@dcm/shared'
import type { ConfigService } from '../config'
import type { forwarder } from './service'

type Forward = ReturnType<typeof forwarder>

/** GET /hit: the hot path. Reads the active config once, so a config applied meanwhile does not
 *  change a request already under way. */
export const hitRoutes = (config: ConfigService, forward: Forward) =>
  new Elysia({ name: 'worker.hit' }).get(
    '/hit',
    ({ request }) => {
      const cfg = config.active
      if (cfg === null) throw new Unavailable('no config has been applied yet', 'no_config')
      return forward(cfg, request, requestIdOf(request))
    },
    {
      response: {
        200: t.Unknown({ description: "the upstream's answer: its status (any), body (streamed) and the documented header fields" }),
        502: ErrorShape,
        503: ErrorShape,
        504: ErrorShape,
        508: ErrorShape,
      },
      detail: {
        summary: 'Call the configured url and pass its answer through; 502 upstream_unreachable or upstream_forbidden (a name resolving to a link-local or cloud metadata address), 503 no_config or upstream_busy, 504 upstream_timeout, 508 loop_detected',
        tags: ['hit'],
      },
    },
  )

/** GET /hit as a hot route of the front door (no Elysia in between): the configured case goes straight
 *  to forward(); without a config it returns undefined and the route above answers 503. */
export const hotHit =
  (config: ConfigService, forward: Forward) =>
  (request: Request, id: string): Promise<Response> | undefined => {
    const cfg = config.active
    if (cfg === null || request.method !== 'GET') return
    return forward(cfg, request, id)
  }
