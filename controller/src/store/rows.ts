import { configDoc, type ConfigDoc } from '@dcm/shared'
import type { AgentReport, AgentRow, AuditRecord, RolloutRow, VersionEntry } from './types'

/** A config_versions row as either store returns it (PostgreSQL gives a Date, SQLite ISO text). */
export type VersionRow = { version: number; url: string; timeout_ms: number | null; updated_at: Date | string }

/** The one mapping from a stored row to the document agents receive. */
export const docOf = (r: VersionRow, storeId: string): ConfigDoc =>
  configDoc({ version: r.version, store_id: storeId, url: r.url, timeout_ms: r.timeout_ms, updated_at: typeof r.updated_at === 'string' ? r.updated_at : r.updated_at.toISOString() })

const iso = (v: Date | string) => (typeof v === 'string' ? v : v.toISOString())
const isoOrNull = (v: Date | string | null) => (v === null ? null : iso(v))

export type EntryRow = VersionRow & { created_by: string | null; comment: string | null; converged_at: Date | string | null }

/** A config_versions row as history shows it. */
export const entryOf = (r: EntryRow, storeId: string): VersionEntry => ({
  ...docOf(r, storeId),
  created_by: r.created_by,
  comment: r.comment,
  converged_at: isoOrNull(r.converged_at),
})

/** The agents columns both stores read for GET /agents. */
export const AGENT_COLUMNS = 'agent_id, hostname, worker_url, labels, registered_at, last_seen_at, fetched_version, applied_version, applied_at, rejected_version, rejected_reason'

export type AgentDbRow = {
  agent_id: string
  hostname: string | null
  worker_url: string | null
  labels: string | Record<string, string>
  registered_at: Date | string
  last_seen_at: Date | string
  fetched_version: number | null
  applied_version: number | null
  applied_at: Date | string | null
  rejected_version: number | null
  rejected_reason: string | null
}

/** An agents row (SQLite keeps labels as JSON text, PostgreSQL as jsonb). */
export const agentOf = (r: AgentDbRow): AgentRow => ({
  agent_id: r.agent_id,
  hostname: r.hostname,
  worker_url: r.worker_url,
  labels: typeof r.labels === 'string' ? (JSON.parse(r.labels) as Record<string, string>) : r.labels,
  registered_at: iso(r.registered_at),
  last_seen_at: iso(r.last_seen_at),
  fetched_version: r.fetched_version,
  applied_version: r.applied_version,
  applied_at: isoOrNull(r.applied_at),
  rejected: r.rejected_version === null ? null : { version: r.rejected_version, reason: r.rejected_reason ?? '' },
})

export type AuditDbRow = Omit<AuditRecord, 'at' | 'id'> & { id: number | string | bigint; at: Date | string }

export const auditOf = (r: AuditDbRow): AuditRecord => ({ ...r, id: Number(r.id), at: iso(r.at) })

export type RolloutDbRow = Omit<RolloutRow, 'spec' | 'eligible' | 'decisions' | 'step_started_at' | 'created_at' | 'updated_at'> & {
  spec: string | RolloutRow['spec']
  eligible: string | string[]
  decisions: string | RolloutRow['decisions']
  step_started_at: Date | string
  created_at: Date | string
  updated_at: Date | string
}

const fromJson = <T>(v: string | T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v)

/** A rollouts row (SQLite keeps the JSON columns as text, PostgreSQL as jsonb). */
export const rolloutOf = (r: RolloutDbRow): RolloutRow => ({
  id: Number(r.id),
  version: r.version,
  stable_version: r.stable_version,
  state: r.state,
  step: r.step,
  spec: fromJson(r.spec),
  eligible: fromJson(r.eligible),
  step_started_at: iso(r.step_started_at),
  reason: r.reason,
  rollback_version: r.rollback_version,
  decisions: fromJson(r.decisions),
  created_by: r.created_by,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  rev: r.rev,
})

export const ROLLOUT_COLUMNS =
  'id, version, stable_version, state, step, spec, eligible, step_started_at, reason, rollback_version, decisions, created_by, created_at, updated_at, rev'

/** A poll report as both stores bind it. */
export const reportParams = (r: AgentReport) => ({
  agent_id: r.agent_id,
  seen: r.last_seen_at.toISOString(),
  fetched: r.fetched_version,
  applied: r.applied_version,
  applied_at: r.applied_at?.toISOString() ?? null,
  rejected_version: r.rejected?.version ?? null,
  rejected_reason: r.rejected?.reason ?? null,
})
