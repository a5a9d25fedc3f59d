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
