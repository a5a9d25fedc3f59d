import { t } from 'elysia'
import { apiDocs, createHttpApp, createMetrics, ErrorShape, FailureLimiter, gatekeeper, Int, metricsRoute, NO_CREDENTIALS, Nullable, Unavailable, type Logger, type Metrics } from '@dcm/shared'
import type { Agent } from './sync/agent'

const Peer = t.Object({
  url: t.String(),
  reachable: Nullable(t.Boolean({ description: 'null until the first call' })),
  consecutive_failures: Int(),
  last_error: Nullable(t.String()),
  last_ok_at: Nullable(t.String()),
})
export const AgentStatus = t.Object({
  agent_id: Nullable(t.String()),
  store_id: Nullable(t.String({ description: 'identity of the store the config came from' })),
  version: Nullable(Int()),
  etag: Nullable(t.String()),
  url: Nullable(t.String({ description: 'config URL, userinfo and query values masked' })),
  worker_version: Nullable(Int({ description: 'the version the worker confirmed' })),
  mode: t.Union([t.Literal('long-poll'), t.Literal('poll')]),
  poll_interval_seconds: t.Number({ description: "from registration, then from the controller's X-Poll-Interval (kept within 0.1 to 3600)" }),
  last_poll_at: Nullable(t.String()),
  last_poll_result: Nullable(t.String()),
  last_push_at: Nullable(t.String()),
  controller: Peer,
  worker: Peer,
  revoked: t.Boolean({
    description: 'the controller revoked this agent (401 agent_revoked), or its agent_id is registered with another token (403 agent_token_mismatch): it no longer polls or registers, keeps its worker on the config it has, and never takes a new id by itself',
  }),
  last_error: Nullable(t.Object({ target: t.String(), message: t.String(), at: t.String() })),
  state_file: t.Object({ path: t.String(), ok: t.Boolean(), last_error: Nullable(t.String()), loaded_from: t.String() }),
})

/** The agent's HTTP surface: status for people and probes; the work happens in Agent. It checks no key
 *  and reads no request body at all (every body is refused with 401); GET /metrics needs a key only when
 *  METRICS_API_KEY is set. */
export function createApp({ agent, logger, metrics = createMetrics(), metricsKeys = [] }: { agent: Agent; logger: Logger; metrics?: Metrics; metricsKeys?: readonly string[] }) {
  return createHttpApp({ service: 'agent', logger, authenticate: gatekeeper(NO_CREDENTIALS, null) })
    .use(apiDocs({ title: 'dcm agent', version: '0.1.0', description: 'Sidecar that keeps its worker on the newest config.' }))
    .get('/state', () => agent.snapshot(), {
      response: { 200: AgentStatus },
      detail: { summary: 'What the agent holds and how its peers are doing (never shows a key or its token)', tags: ['status'] },
    })
    .get(
      '/readyz',
      () => {
        const s = agent.snapshot()
        if (s.version === null) throw new Unavailable('no config yet, from the controller or the cache', 'not_ready')
        return { status: 'ready', version: s.version }
      },
      { response: { 200: t.Object({ status: t.String(), version: Int() }), 503: ErrorShape }, detail: { summary: 'Ready once the agent holds a config', tags: ['health'] } },
    )
    // The agent checks no other key: its own limit of refused metrics keys per address (the default of the others).
    .use(metricsRoute(metrics, { keys: metricsKeys, failures: new FailureLimiter(30) }))
}
