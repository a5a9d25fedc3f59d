/** Shapes of the fleet routes (issue 11) as /work/notes/fleet-api.md specifies them. The routes are not
 *  in the controller's app type yet, so the client reaches them through FleetRoutes below.
 *  TODO(fleet): typed once the routes land — then these come from the App type and this file goes. */
import type { Treaty } from '@elysiajs/eden'

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

type Opts<Q = never> = { headers?: Record<string, string>; query?: Q; fetch?: RequestInit }
type Res<T> = Promise<Treaty.TreatyResponse<{ 200: T; 201: T }>>

/** The part of the treaty client the fleet routes will add. TODO(fleet): typed once the routes land. */
export type FleetRoutes = {
  config: {
    versions: ((p: { n: number }) => { get(o?: Opts): Res<Entry & { convergence: Convergence }> }) & {
      get(o?: Opts<{ limit?: number; before?: number }>): Res<VersionPage>
    }
    rollback: { post(body: { version: number; comment?: string }, o?: Opts): Res<Entry> }
  }
  agents: ((p: { id: string }) => { get(o?: Opts): Res<Agent> }) & {
    get(o?: Opts<{ status?: AgentStatus; label?: string[] }>): Res<Fleet>
  }
  audit: { get(o?: Opts<{ limit?: number; before?: number }>): Res<AuditPage> }
}
