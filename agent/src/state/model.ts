import { t } from 'elysia'
import { ConfigDoc, Int, Nullable } from '@dcm/shared'

/** What the agent persists: enough to keep its id and keep its worker serving across restarts. */
export const AgentState = t.Object({
  agent_id: Nullable(t.String()),
  etag: Nullable(t.String()),
  version: Nullable(Int()),
  config: Nullable(ConfigDoc),
  /** The version the worker last confirmed. */
  worker_version: Nullable(Int()),
})
export type AgentState = typeof AgentState.static

export const emptyState = (): AgentState => ({ agent_id: null, etag: null, version: null, config: null, worker_version: null })
