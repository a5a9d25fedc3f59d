import type { renewable } from './pg-pool'
import { AGENT_COLUMNS, agentOf, auditOf, entryOf, reportParams, type AgentDbRow, type AuditDbRow, type EntryRow } from './rows'
import type { ConfigStore } from './types'

type FleetCalls = Pick<ConfigStore, 'versions' | 'version' | 'converged' | 'saveReports' | 'agents' | 'agent' | 'appendAudit' | 'audit'>

/** The PostgreSQL store's history, fleet and audit calls: reads, and the batched poll reports. */
export function postgresFleet(pool: ReturnType<typeof renewable>): FleetCalls {
  const entries = (rows: (EntryRow & { store_id: string })[]) => rows.map((r) => entryOf(r, r.store_id))
  return {
    async versions(limit, before, signal) {
      return entries(
        await pool.run(
          signal,
          (sql) => sql<(EntryRow & { store_id: string })[]>`
            select v.version, v.url, v.timeout_ms, v.updated_at, v.created_by, v.comment, v.converged_at, m.value as store_id
            from config_versions v, store_meta m
            where m.key = 'store_id' and v.version < ${before ?? 2 ** 31}::bigint
            order by v.version desc limit ${limit}`,
        ),
      )
    },
    async version(n, signal) {
      const [r] = entries(
        await pool.run(
          signal,
          (sql) => sql<(EntryRow & { store_id: string })[]>`
            select v.version, v.url, v.timeout_ms, v.updated_at, v.created_by, v.comment, v.converged_at, m.value as store_id
            from config_versions v, store_meta m where m.key = 'store_id' and v.version = ${n}`,
        ),
      )
      return r ?? null
    },
    async converged(versions, at, signal) {
      if (versions.length === 0) return
      await pool.run(signal, (sql) => sql`update config_versions set converged_at = ${at} where version = any(${versions}::int[]) and converged_at is null`)
    },
    async saveReports(reports, signal) {
      if (reports.length === 0) return []
      // One statement for the whole batch. A report moves a row only forward in time: the newest report
      // wins, whichever replica heard it.
      const batch = reports.map(reportParams)
      const rows = await pool.run(
        signal,
        (sql) => sql<{ agent_id: string }[]>`
          update agents a set
            fetched_version = case when a.last_seen_at <= r.seen then r.fetched else a.fetched_version end,
            applied_version = case when a.last_seen_at <= r.seen then r.applied else a.applied_version end,
            applied_at = case when a.last_seen_at <= r.seen and a.applied_version is distinct from r.applied then r.applied_at else a.applied_at end,
            rejected_version = case when a.last_seen_at <= r.seen then r.rejected_version else a.rejected_version end,
            rejected_reason = case when a.last_seen_at <= r.seen then r.rejected_reason else a.rejected_reason end,
            last_seen_at = greatest(a.last_seen_at, r.seen)
          from jsonb_to_recordset(${sql.json(batch)}::jsonb)
            as r(agent_id text, seen timestamptz, fetched int, applied int, applied_at timestamptz, rejected_version int, rejected_reason text)
          where a.agent_id = r.agent_id and a.revoked_at is null
          returning a.agent_id`,
      )
      return rows.map((r) => r.agent_id)
    },
    async agents(signal) {
      const rows = await pool.run(signal, (sql) => sql<AgentDbRow[]>`select ${sql.unsafe(AGENT_COLUMNS)} from agents where revoked_at is null order by agent_id`)
      return rows.map(agentOf)
    },
    async agent(id, signal) {
      const [r] = await pool.run(signal, (sql) => sql<AgentDbRow[]>`select ${sql.unsafe(AGENT_COLUMNS)} from agents where revoked_at is null and agent_id = ${id}`)
      return r ? agentOf(r) : null
    },
    async appendAudit(r, signal) {
      await pool.run(signal, (sql) => sql`insert into audit (actor, action, target, request_id, outcome) values (${r.actor}, ${r.action}, ${r.target}, ${r.request_id}, ${r.outcome})`)
    },
    async audit(limit, before, signal) {
      const rows = await pool.run(
        signal,
        (sql) => sql<AuditDbRow[]>`
          select id, at, actor, action, target, request_id, outcome from audit
          where id < ${before ?? Number.MAX_SAFE_INTEGER}::bigint order by id desc limit ${limit}`,
      )
      return rows.map(auditOf)
    },
  }
}
