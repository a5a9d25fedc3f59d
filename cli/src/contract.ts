/** The shapes the CLI renders: what the controller's routes answer (checked against the App type where
 *  the client settles each answer). */

export type ConfigDoc = { version: number; store_id: string; url: string; timeout_ms?: number; updated_at: string }
export type Entry = ConfigDoc & { created_by: string | null; comment: string | null }
export type Convergence = { applied: number; total: number; converged_ms: number | null }
export type VersionPage = { versions: Entry[]; next_before: number | null }

export const STATUSES = ['in_sync', 'behind', 'rejected', 'stale'] as const
export type AgentStatus = (typeof STATUSES)[number]
export type Summary = Record<AgentStatus, number>
export type Agent = {
  agent_id: string
  hostname: string | null
  labels: Record<string, string>
  worker_url: string | null
  registered_at: string
  last_seen_at: string | null
  fetched_version: number | null
  applied_version: number | null
  rejected: { version: number; reason: string } | null
  status: AgentStatus
}
export type Fleet = { summary: Summary; agents: Agent[] }
export type AuditRecord = { id: number; at: string; actor: string; action: string; target: string; request_id: string; outcome: string }
export type AuditPage = { records: AuditRecord[]; next_before: number | null }

/** Rollouts, as the controller's /rollouts routes answer them. */
export const ROLLOUT_STATES = ['running', 'paused', 'completed', 'rolled_back', 'aborted'] as const
export type RolloutState = (typeof ROLLOUT_STATES)[number]
export type RolloutStep = { percent: number; bake_seconds: number; cohort: number; started_at: string | null }
export type Health = { agents: number; hits: number; errors: number; error_rate: number | null; p99_ms: number | null }
export type { Decision } from '../../controller/src/store'
import type { Decision } from '../../controller/src/store'
export type Rollout = {
  id: string
  version: number
  stable_version: number
  state: RolloutState
  /** 0-based index into steps (tables count from 1). */
  step: number
  steps: RolloutStep[]
  selector: Record<string, string> | null
  gate: { max_error_rate: number; min_hits: number; max_p99_ms: number | null }
  eligible: number
  cohort: Health & { applied: number }
  stable: Health
  reason: string | null
  rollback_version: number | null
  created_by: string
  created_at: string
  updated_at: string
  /** Newest last. */
  decisions: Decision[]
}
export type RolloutPage = { rollouts: Rollout[] }
/** The body of POST /rollouts: the controller's own type (type-only: nothing of it is bundled). */
export type { RolloutInput } from '../../controller/src/rollouts/service'
export const ROLLOUT_ACTIONS = ['pause', 'resume', 'abort', 'promote'] as const
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number]

