import { t } from 'elysia'
import { ConfigDoc, Int, Nullable } from '@dcm/shared'

/** What the agent persists: enough to keep its id and keep its worker serving across restarts. */
export const AgentState = t.Object(
  {
    agent_id: Nullable(t.String({ minLength: 1, maxLength: 128 })),
    /** The controller's ETag for `config`. */
    etag: Nullable(t.String({ maxLength: 256 })),
    config: Nullable(ConfigDoc),
    /** The version of `config` the worker confirmed holding (null: not confirmed yet). */
    worker_version: Nullable(Int()),
  },
  { additionalProperties: false },
)
export type AgentState = typeof AgentState.static

export const emptyState = (): AgentState => ({ agent_id: null, etag: null, config: null, worker_version: null })
