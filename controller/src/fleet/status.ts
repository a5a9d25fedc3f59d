import type { AgentRow } from '../store'

export const STATUSES = ['in_sync', 'behind', 'rejected', 'stale'] as const
export type Status = (typeof STATUSES)[number]
export type Summary = Record<Status, number>

/** What decides an agent's status: the fleet's current version, the time, and how long an agent may go
 *  unseen before it is stale. */
export type StatusContext = { current: number | null | ((agentId: string) => number | null); now: number; staleMs: number; holding: (agentId: string) => boolean }

/** In this order: stale (not seen within `staleMs` and holding no long-poll), rejected (its worker
 *  refused the version it should run), in_sync (its worker applied it), behind. */
export function statusOf(a: Pick<AgentRow, 'agent_id' | 'last_seen_at' | 'applied_version' | 'rejected'>, c: StatusContext): Status {
  if (c.now - Date.parse(a.last_seen_at) > c.staleMs && !c.holding(a.agent_id)) return 'stale'
  // The version this agent should run: during a rollout, its cohort's.
  const current = typeof c.current === 'function' ? c.current(a.agent_id) : c.current
  if (current !== null && a.rejected !== null && a.rejected.version === current) return 'rejected'
  if (current !== null && a.applied_version === current) return 'in_sync'
  return 'behind'
}

export const emptySummary = (): Summary => ({ in_sync: 0, behind: 0, rejected: 0, stale: 0 })

/** `name=value` filters on labels, all of which must hold. */
export const hasLabels = (labels: Record<string, string>, wanted: readonly (readonly [string, string])[]) => wanted.every(([k, v]) => labels[k] === v)
