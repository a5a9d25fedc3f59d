import postgres from 'postgres'
import type { ConfigDoc } from '@dcm/shared'
import { migrations } from './migrations'
import { sameConfig, type ConfigStore } from './types'

type Row = { version: number; url: string; timeout_ms: number | null; updated_at: Date }

const toDoc = (r: Row): ConfigDoc => ({
  version: r.version,
  url: r.url,
  ...(r.timeout_ms !== null ? { timeout_ms: r.timeout_ms } : {}),
  updated_at: r.updated_at.toISOString(),
})

// Advisory lock keys: one serialises config writes, one serialises migrations across replicas.
const WRITE_LOCK = 0x64636d01
const MIGRATE_LOCK = 0x64636d02
/** NOTIFY channel carrying each new version's document to every replica. */
export const CHANNEL = 'dcm_config'

export type PostgresStore = ConfigStore & { readonly sql: postgres.Sql }

/** PostgreSQL store. Writes take a transaction-scoped advisory lock, so replicas sharing one database
 *  hand out versions one at a time; the primary key on version backs that up. */
export function postgresStore(url: string): PostgresStore {
  const sql = postgres(url, {
    max: 10,
    connect_timeout: 5,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    // Dates come back as Date; version and timeout_ms are int4 and already numbers.
  })

  return {
    kind: 'postgres',
    sql,
    async migrate() {
      await sql.begin(async (tx) => {
        // Everything under the lock, so replicas starting together on a fresh database do not collide.
        await tx`select pg_advisory_xact_lock(${MIGRATE_LOCK})`
        await tx`create table if not exists schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())`
        const done = new Set((await tx<{ id: number }[]>`select id from schema_migrations`).map((r) => r.id))
        for (const m of migrations) {
          if (done.has(m.id)) continue
          await tx.unsafe(m.postgres)
          await tx`insert into schema_migrations (id, name) values (${m.id}, ${m.name})`
        }
      })
    },
    async current() {
      const [r] = await sql<Row[]>`select version, url, timeout_ms, updated_at from config_versions order by version desc limit 1`
      return r ? toDoc(r) : null
    },
    async write(input, now = new Date()) {
      return sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${WRITE_LOCK})`
        const [cur] = await tx<Row[]>`select version, url, timeout_ms, updated_at from config_versions order by version desc limit 1`
        if (cur && sameConfig(toDoc(cur), input)) return { doc: toDoc(cur), created: false }
        const [row] = await tx<Row[]>`
          insert into config_versions (version, url, timeout_ms, updated_at)
          values (${(cur?.version ?? 0) + 1}, ${input.url}, ${input.timeout_ms ?? null}, ${now})
          returning version, url, timeout_ms, updated_at`
        const doc = toDoc(row!)
        // Delivered on commit, to every replica listening (this one included).
        await tx`select pg_notify(${CHANNEL}, ${JSON.stringify(doc)})`
        return { doc, created: true }
      })
    },
    async history(limit) {
      const rows = await sql<Row[]>`select version, url, timeout_ms, updated_at from config_versions order by version desc limit ${limit}`
      return rows.map(toDoc)
    },
    async registerAgent(a, now = new Date()) {
      const [r] = await sql<{ created: boolean }[]>`
        insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at)
        values (${a.agent_id}, ${a.hostname ?? null}, ${a.worker_url ?? null}, ${sql.json(a.labels ?? {})}, ${now}, ${now})
        on conflict (agent_id) do update set hostname = excluded.hostname, worker_url = excluded.worker_url,
          labels = excluded.labels, last_seen_at = excluded.last_seen_at
        returning (xmax = 0) as created`
      return { created: r?.created ?? false }
    },
    async subscribe(onDoc, onResubscribe) {
      let first = true
      const { unlisten } = await sql.listen(
        CHANNEL,
        (payload) => {
          try {
            onDoc(JSON.parse(payload) as ConfigDoc)
          } catch {
            onResubscribe() // unreadable payload: fall back to reading the table
          }
        },
        () => {
          // Runs on every (re)connect of the listening connection; after the first, catch up.
          if (!first) onResubscribe()
          first = false
        },
      )
      return { close: unlisten }
    },
    async ping() {
      await sql`select 1`
    },
    async close() {
      await sql.end({ timeout: 2 })
    },
  }
}
