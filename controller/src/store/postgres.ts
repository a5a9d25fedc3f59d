import postgres from 'postgres'
import { configDoc, type ConfigDoc } from '@dcm/shared'
import { migrations } from './migrations'
import { listening } from './pg-listen'
import { renewable } from './pg-pool'
import { docOf, type VersionRow } from './rows'
import { postgresAgents } from './pg-agents'
import { postgresFleet } from './pg-fleet'
import { postgresRollouts } from './pg-rollouts'
import { LateWrite, PreconditionFailed, RolloutActive, type ConfigStore } from './types'

/** NOTIFY channel carrying each new version's document to every replica. */
export const CHANNEL = 'dcm_config'
const MIGRATE_LOCK = 0x64636d02
const LATE = new Set(['DCM01', '57014', '55P03'])

/** PostgreSQL store. Config writes go through a connection of their own, one statement each: it locks
 *  the one-row write head, checks the deadline with the database's own clock, appends the version and
 *  notifies the replicas — all or nothing, in one round trip. Registration, health checks and reads use
 *  the pool, so waiting writes never starve them; LISTEN has a connection of its own. */
export function postgresStore(url: string): ConfigStore {
  const pool = renewable(url, 10)
  const writer = renewable(url, 1)
  const listener = listening(url, pool)
  let storeId = ''
  // The database's clock minus ours, from the round trip with the smallest delay seen lately: writes
  // carry their deadline in the database's time.
  let offsetMs = 0
  let offsetRtt = Infinity

  const measure = async (signal?: AbortSignal) => {
    const t0 = Date.now()
    const [r] = await pool.run(signal, (sql) => sql<{ now: number }[]>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as now`)
    const t1 = Date.now()
    const rtt = t1 - t0
    // Older samples age out, so a clock step is followed within a few refreshes.
    offsetRtt = Math.min(offsetRtt * 1.5 + 1, 1000)
    if (rtt <= offsetRtt) {
      offsetRtt = rtt
      offsetMs = r!.now - (t0 + t1) / 2
    }
  }

  return {
    kind: 'postgres',
    get storeId() {
      return storeId
    },
    async migrate() {
      await pool.sql.begin(async (tx) => {
        // Everything under the lock, so replicas starting together on a fresh database do not collide.
        await tx`set local statement_timeout = 0`
        await tx`set local lock_timeout = '60s'`
        await tx`select pg_advisory_xact_lock(${MIGRATE_LOCK})`
        await tx`create table if not exists schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())`
        const done = new Set((await tx<{ id: number }[]>`select id from schema_migrations`).map((r) => r.id))
        for (const m of migrations) {
          if (done.has(m.id)) continue
          await tx.unsafe(m.postgres)
          await tx`insert into schema_migrations (id, name) values (${m.id}, ${m.name})`
        }
      })
      const [meta] = await pool.sql<{ value: string }[]>`select value from store_meta where key = 'store_id'`
      storeId = meta!.value
      for (let i = 0; i < 3; i++) await measure()
    },
    async current(signal) {
      await measure(signal)
      // The identity is read with the row, never kept: a reset database gets a new one at once.
      const [r] = await pool.run(
        signal,
        (sql) => sql<(VersionRow & { store_id: string })[]>`
          select v.version, v.url, v.timeout_ms, v.updated_at, m.value as store_id
          from store_meta m left join lateral (select * from config_versions order by version desc limit 1) v on true
          where m.key = 'store_id'`,
      )
      storeId = r!.store_id
      return r!.version === null ? null : docOf(r!, storeId)
    },
    async newIdentity(previous, signal) {
      const [r] = await pool.run(
        signal,
        (sql) => sql<{ value: string }[]>`
          update store_meta set value = case when value = ${previous} then replace(gen_random_uuid()::text, '-', '') else value end
          where key = 'store_id' returning value`,
      )
      storeId = r!.value
      return storeId
    },
    async write(input, { deadline, signal }, ctx) {
      const timeout = input.timeout_ms ?? null
      const dbDeadline = new Date(deadline + offsetMs)
      const expect = ctx?.expect
      const [row] = await writer.run(signal, (sql) => {
        // SET expressions see the row as it was: the precondition and the change are judged on the locked
        // head before this write, and recorded in it for RETURNING.
        const differs = sql`(h.url is distinct from ${input.url}::text or h.timeout_ms is distinct from ${timeout}::int)`
        // A plain write during a rollout is refused; a rollout that commits meanwhile finds its own
        // expectation of the version broken instead, and ends.
        const free = ctx?.outsideRollout ? sql`not exists (select 1 from rollouts where state in ('running', 'paused'))` : sql`true`
        const expected =
          expect === undefined
            ? sql`true`
            : expect === 'any'
              ? sql`(h.version > 0)`
              : sql`(h.version = ${expect.version}::int and (select value from store_meta where key = 'store_id') = ${expect.store_id}::text)`
        const ok = sql`(${free} and ${expected})`
        const change = sql`(${ok} and ${differs})`
        return sql<(VersionRow & { changed: boolean; precondition_ok: boolean; rollout_free: boolean; store_id: string })[]>`
          with head as (
            update config_head h set
              version = h.version + (case when ${change} then 1 else 0 end),
              changed = ${change},
              precondition_ok = ${ok},
              updated_at = case when ${change} then greatest(date_trunc('milliseconds', clock_timestamp()), h.updated_at) else h.updated_at end,
              url = case when ${change} then ${input.url}::text else h.url end,
              timeout_ms = case when ${change} then ${timeout}::int else h.timeout_ms end
            where h.id = 1 and clock_timestamp() < ${dbDeadline}
            -- Evaluated after the row is locked: a write that waited past its deadline is rolled back.
            returning h.version, h.url, h.timeout_ms, h.updated_at, h.changed, h.precondition_ok, dcm_assert_before(${dbDeadline}) as in_time
          ), meta as (
            select value as store_id from store_meta where key = 'store_id'
          ), added as (
            insert into config_versions (version, url, timeout_ms, updated_at, created_by, comment)
            select version, url, timeout_ms, updated_at, ${ctx?.actor ?? null}::text, ${ctx?.comment ?? null}::text from head where changed
            returning version, url, timeout_ms, updated_at
          ), audited as (
            insert into audit (actor, action, target, request_id, outcome)
            select ${ctx?.actor ?? ''}::text, ${ctx?.action ?? ''}::text, case when version = 0 then 'config' else 'version ' || version end, ${ctx?.request_id ?? null}::text,
              case when not precondition_ok then (case when (select ${free}) then 'precondition_failed' else 'rollout_in_progress' end)
                when changed then 'created' else 'unchanged' end
            from head where ${ctx !== undefined}::boolean
            returning 1
          ), notified as (
            select pg_notify(${CHANNEL}, json_build_object(
              'version', version, 'store_id', (select store_id from meta), 'url', url, 'timeout_ms', timeout_ms,
              'updated_at', to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text)
            from added
          )
          select version, url, timeout_ms, updated_at, changed, precondition_ok, (select ${free}) as rollout_free, (select store_id from meta),
            (select count(*) from notified) as n, (select count(*) from audited) as a from head`
      }).catch((e) => {
        // Our deadline check, the statement timeout or the lock timeout: the database gave up on it.
        throw e instanceof postgres.PostgresError && LATE.has(e.code) ? new LateWrite() : e
      })
      if (!row) throw new LateWrite()
      storeId = row.store_id
      if (!row.rollout_free) throw new RolloutActive()
      if (!row.precondition_ok) throw new PreconditionFailed(row.version === 0 || row.url === null ? null : docOf(row, storeId))
      return { doc: docOf(row, storeId), created: row.changed }
    },
    ...postgresFleet(pool),
    ...postgresRollouts(pool),
    ...postgresAgents(pool, listener),
    async subscribe(onDoc, onResubscribe) {
      return listener.listen(
        CHANNEL,
        (payload) => {
          try {
            onDoc(configDoc(JSON.parse(payload) as ConfigDoc))
          } catch {
            onResubscribe() // unreadable payload: fall back to reading the table
          }
        },
        onResubscribe,
      )
    },
    async ping(signal) {
      // A real (tiny) write: a read-only standby or a full disk makes the store unready, not just slow.
      await pool.run(signal, (sql) => sql`insert into store_meta (key, value) values ('checked_at', now()::text) on conflict (key) do update set value = excluded.value`)
    },
    async close() {
      await Promise.all([pool.end(), writer.end(), listener.end()])
    },
  }
}
