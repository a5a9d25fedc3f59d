import type { renewable } from './pg-pool'
import { ROLLOUT_COLUMNS, rolloutOf, type RolloutDbRow } from './rows'
import type { ConfigStore, HealthRow } from './types'

type RolloutCalls = Pick<ConfigStore, 'createRollout' | 'rollout' | 'activeRollout' | 'rollouts' | 'updateRollout' | 'leaseRollout' | 'saveHealth' | 'health' | 'createSession' | 'session' | 'endSession'>

/** The PostgreSQL store's rollout and console-session calls: one statement each; the unique index keeps one rollout active,
 *  `rev` makes every change conditional on the row not having changed meanwhile. */
export function postgresRollouts(pool: ReturnType<typeof renewable>): RolloutCalls {
  const cols = (sql: Parameters<Parameters<typeof pool.run>[1]>[0]) => sql.unsafe(ROLLOUT_COLUMNS)
  return {
    async createRollout(r, signal) {
      const rows = await pool.run(
        signal,
        (sql) => sql<RolloutDbRow[]>`
          insert into rollouts (version, stable_version, state, step, spec, eligible, step_started_at, reason, rollback_version, decisions, created_by, created_at, updated_at)
          values (${r.version}, ${r.stable_version}, ${r.state}, ${r.step}, ${sql.json(r.spec)}, ${sql.json(r.eligible)}, ${r.step_started_at}, ${r.reason},
            ${r.rollback_version}, ${sql.json(r.decisions)}, ${r.created_by}, ${r.created_at}, ${r.created_at})
          on conflict do nothing
          returning ${cols(sql)}`,
      )
      return rows[0] ? rolloutOf(rows[0]) : null
    },
    async rollout(id, signal) {
      const [r] = await pool.run(signal, (sql) => sql<RolloutDbRow[]>`select ${cols(sql)} from rollouts where id = ${id}`)
      return r ? rolloutOf(r) : null
    },
    async activeRollout(signal) {
      const [r] = await pool.run(signal, (sql) => sql<RolloutDbRow[]>`select ${cols(sql)} from rollouts where state in ('running', 'paused')`)
      return r ? rolloutOf(r) : null
    },
    async rollouts(limit, signal) {
      return (await pool.run(signal, (sql) => sql<RolloutDbRow[]>`select ${cols(sql)} from rollouts order by id desc limit ${limit}`)).map(rolloutOf)
    },
    async updateRollout(id, rev, patch, signal) {
      const [r] = await pool.run(
        signal,
        (sql) => sql<RolloutDbRow[]>`
          update rollouts set
            state = coalesce(${patch.state ?? null}::text, state),
            step = coalesce(${patch.step ?? null}::int, step),
            step_started_at = coalesce(${patch.step_started_at ?? null}::timestamptz, step_started_at),
            reason = case when ${'reason' in patch} then ${patch.reason ?? null}::text else reason end,
            rollback_version = case when ${'rollback_version' in patch} then ${patch.rollback_version ?? null}::int else rollback_version end,
            decisions = coalesce(${patch.decisions === undefined ? null : sql.json(patch.decisions)}::jsonb, decisions),
            rev = rev + 1,
            updated_at = clock_timestamp()
          where id = ${id} and rev = ${rev}
          returning ${cols(sql)}`,
      )
      return r ? rolloutOf(r) : null
    },
    async leaseRollout(id, owner, untilMs, signal) {
      const rows = await pool.run(
        signal,
        (sql) => sql`
          update rollouts set lease_owner = ${owner}, lease_until = ${new Date(untilMs)}
          where id = ${id} and state = 'running' and (lease_owner = ${owner} or lease_owner is null or lease_until < clock_timestamp())
          returning id`,
      )
      return rows.length > 0
    },
    async saveHealth(rows, signal) {
      if (rows.length === 0) return
      await pool.run(
        signal,
        (sql) => sql`
          insert into agent_health (agent_id, version, hits, errors, p99_ms, updated_at)
          select agent_id, version, hits, errors, p99_ms, clock_timestamp()
          from jsonb_to_recordset(${sql.json(rows)}::jsonb) as r(agent_id text, version int, hits bigint, errors bigint, p99_ms int)
          on conflict (agent_id, version) do update set hits = agent_health.hits + excluded.hits, errors = agent_health.errors + excluded.errors,
            p99_ms = greatest(agent_health.p99_ms, excluded.p99_ms), updated_at = excluded.updated_at`,
      )
    },
    async createSession(r, signal) {
      await pool.run(signal, (sql) => sql`insert into sessions (id_hash, actor, csrf, expires_at) values (${r.id_hash}, ${r.actor}, ${r.csrf}, ${r.expires_at})`)
    },
    async session(idHash, signal) {
      const [r] = await pool.run(signal, (sql) => sql<{ id_hash: string; actor: string; csrf: string; expires_at: Date; ended_at: Date | null }[]>`
        select id_hash, actor, csrf, expires_at, ended_at from sessions where id_hash = ${idHash}`)
      return r ? { ...r, expires_at: r.expires_at.toISOString(), ended_at: r.ended_at?.toISOString() ?? null } : null
    },
    async endSession(idHash, signal) {
      await pool.run(signal, (sql) => sql`update sessions set ended_at = coalesce(ended_at, clock_timestamp()) where id_hash = ${idHash}`)
    },
    async health(versions, signal) {
      if (versions.length === 0) return []
      const rows = await pool.run(
        signal,
        (sql) => sql<HealthRow[]>`select agent_id, version, hits::float8 as hits, errors::float8 as errors, p99_ms from agent_health where version = any(${versions}::int[])`,
      )
      return rows.map((r) => ({ agent_id: r.agent_id, version: r.version, hits: Number(r.hits), errors: Number(r.errors), p99_ms: r.p99_ms }))
    },
  }
}
