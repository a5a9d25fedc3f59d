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
    /** This agent's own credential from the controller (absent before the first registration that gave
     *  one, and in files of earlier releases: still format 2). */
    agent_token: t.Optional(t.String({ pattern: '^[A-Za-z0-9_-]{1,256}$' })),
  },
  { additionalProperties: false },
)
export type AgentState = typeof AgentState.static

export const emptyState = (): AgentState => ({ agent_id: null, etag: null, config: null, worker_version: null })
