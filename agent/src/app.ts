import { t } from 'elysia'
import { apiDocs, createHttpApp, ErrorShape, maskUrl, Unavailable, type Logger, Int, Nullable } from '@dcm/shared'
import type { Settings } from './settings'
import type { Agent } from './sync/agent'

const Peer = t.Object({
  url: t.String(),
  reachable: t.Union([t.Boolean(), t.Null()], { description: 'null until the first call' }),
  consecutive_failures: Int(),
  last_error: t.Union([t.String(), t.Null()]),
  last_ok_at: t.Union([t.String(), t.Null()]),
})
export const AgentStatus = t.Object({
  agent_id: Nullable(t.String()),
  version: Nullable(Int()),
  etag: Nullable(t.String()),
  url: Nullable(t.String({ description: 'config URL, userinfo masked' })),
  worker_version: Nullable(Int({ description: 'the version the worker confirmed' })),
  mode: t.Union([t.Literal('long-poll'), t.Literal('poll')]),
  poll_interval_seconds: t.Number({ description: 'from registration, then from the controller\'s X-Poll-Interval' }),
  last_poll_at: Nullable(t.String()),
  last_poll_result: Nullable(t.String()),
  last_push_at: Nullable(t.String()),
  controller: Peer,
  worker: Peer,
  last_error: Nullable(t.Object({ target: t.String(), message: t.String(), at: t.String() })),
  state_file: t.Object({ path: t.String(), ok: t.Boolean(), last_error: Nullable(t.String()), loaded_from: t.String() }),
})

/** The agent's HTTP surface: status for people and probes; the work happens in Agent. */
export function createApp({ settings, agent, logger }: { settings: Settings; agent: Agent; logger: Logger }) {
  return createHttpApp({ service: 'agent', logger })
    .use(apiDocs({ title: 'dcm agent', version: '0.1.0', description: 'Sidecar that keeps its worker on the newest config.' }))
    .get(
      '/state',
      () => {
        const s = agent.state
        const st = agent.status
        return {
          agent_id: s.agent_id,
          version: s.version,
          etag: s.etag,
          url: s.config ? maskUrl(s.config.url) : null,
          worker_version: s.worker_version,
          mode: settings.longPoll ? ('long-poll' as const) : ('poll' as const),
          poll_interval_seconds: agent.pollIntervalSeconds,
          last_poll_at: st.last_poll_at,
          last_poll_result: st.last_poll_result,
          last_push_at: st.last_push_at,
          controller: { url: maskUrl(settings.controllerUrl), ...st.controller },
          worker: { url: maskUrl(settings.workerUrl), ...st.worker },
          last_error: st.last_error,
          state_file: { path: settings.stateFile, ...st.state_file },
        }
      },
      { response: { 200: AgentStatus }, detail: { summary: 'What the agent holds and how its peers are doing (never shows a key)', tags: ['status'] } },
    )
    .get(
      '/readyz',
      () => {
        if (!agent.ready) throw new Unavailable('no config yet, from the controller or the cache', 'not_ready')
        return { status: 'ready', version: agent.state.version! }
      },
      { response: { 200: t.Object({ status: t.String(), version: Int() }), 503: ErrorShape }, detail: { summary: 'Ready once the agent holds a config', tags: ['health'] } },
    )
}
