import { Elysia, t } from 'elysia'
import { ErrorShape, Int, Invalid, Nullable, requestIdOf, type AuthPlugin } from '@dcm/shared'
import type { Role } from '../agents'
import { AgentId } from '../agents/model'
import type { FleetService } from './service'

export { FleetService } from './service'
export { PollRecorder } from './recorder'

const Status = t.Union([t.Literal('in_sync'), t.Literal('behind'), t.Literal('rejected'), t.Literal('stale')])
const Version = Nullable(Int({ minimum: 1 }))
const Agent = t.Object({
  agent_id: AgentId,
  hostname: Nullable(t.String()),
  labels: t.Record(t.String(), t.String()),
  worker_url: Nullable(t.String()),
  registered_at: t.String({ format: 'date-time' }),
  last_seen_at: t.String({ format: 'date-time', description: 'the last poll this controller heard of (a held long-poll counts); written in batches' }),
  fetched_version: Version,
  applied_version: Version,
  rejected: Nullable(t.Object({ version: Int(), reason: t.String({ description: "the worker's error code" }) })),
  status: Status,
})
const Summary = t.Object({ in_sync: Int(), behind: Int(), rejected: Int(), stale: Int() })
const LABEL = /^([^=]{1,63})=(.{0,255})$/s

/** Labels asked for as `?label=name=value`, repeatable. */
function labelFilters(url: string): [string, string][] {
  return new URL(url).searchParams.getAll('label').map((l) => {
    const m = LABEL.exec(l)
    if (!m) throw new Invalid('query "label": use name=value (a name of 1 to 63 characters)')
    return [m[1]!, m[2]!]
  })
}

/** Who runs what (admin): GET /agents with the fleet summary and filters, GET /agents/:id. */
export const fleetRoutes = (fleet: FleetService, auth: AuthPlugin<Role>) =>
  new Elysia({ name: 'controller.fleet' })
    .use(auth)
    .get(
      '/agents',
      async ({ query, request }) => fleet.list({ status: query.status, labels: labelFilters(request.url) }, requestIdOf(request)),
      {
        auth: ['admin'],
        query: t.Object({
          status: t.Optional(Status),
          label: t.Optional(t.Union([t.String(), t.Array(t.String())], { description: 'name=value; repeat it: every one must hold' })),
        }),
        response: { 200: t.Object({ summary: Summary, agents: t.Array(Agent) }), 401: ErrorShape, 403: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Every agent (not revoked) with what its worker runs, and the fleet summary',
          description:
            'status, first that holds: stale (not seen for 3 poll intervals plus one batch interval, and holding no long-poll), rejected (its worker refused the current version), in_sync (its worker applied the current version), behind. The summary counts the whole fleet; filters choose the agents listed.',
          tags: ['agents'],
        },
      },
    )
    .get('/agents/:id', ({ params, request }) => fleet.get(params.id, requestIdOf(request)), {
      auth: ['admin'],
      params: t.Object({ id: AgentId }),
      response: { 200: Agent, 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
      detail: { summary: 'One agent (404 agent_not_found; a revoked agent is not found)', tags: ['agents'] },
    })

