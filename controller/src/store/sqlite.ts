import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { ConfigDoc } from '@dcm/shared'
import { migrations } from './migrations'
import { sameConfig, type AgentRecord, type ConfigInput, type ConfigStore } from './types'

type Row = { version: number; url: string; timeout_ms: number | null; updated_at: string }

const toDoc = (r: Row): ConfigDoc => ({
  version: r.version,
  url: r.url,
  ...(r.timeout_ms !== null ? { timeout_ms: r.timeout_ms } : {}),
  updated_at: r.updated_at,
})

/** The embedded default: one SQLite file, WAL mode, synchronous=FULL so an answered write survives a crash. */
export function sqliteStore(path: string): ConfigStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, { create: true, strict: true })
  db.exec('pragma journal_mode = wal; pragma synchronous = full; pragma busy_timeout = 5000; pragma foreign_keys = on;')

  // Statements are prepared on first use: the tables exist only after migrate().
  let prepared: ReturnType<typeof prepare> | undefined
  const q = () => (prepared ??= prepare())
  const prepare = () => ({
    current: db.query<Row, []>('select version, url, timeout_ms, updated_at from config_versions order by version desc limit 1'),
    history: db.query<Row, [number]>('select version, url, timeout_ms, updated_at from config_versions order by version desc limit ?'),
    insert: db.query('insert into config_versions (version, url, timeout_ms, updated_at) values ($version, $url, $timeout_ms, $updated_at)'),
    agent: db.query<{ n: number }, [string]>('select 1 as n from agents where agent_id = ?'),
    upsertAgent: db.query(
    `insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at)
     values ($agent_id, $hostname, $worker_url, $labels, $now, $now)
     on conflict (agent_id) do update set hostname = excluded.hostname, worker_url = excluded.worker_url,
       labels = excluded.labels, last_seen_at = excluded.last_seen_at`,
    ),
  })

  const write = db.transaction((input: ConfigInput, now: Date) => {
    const cur = q().current.get()
    if (cur && sameConfig(toDoc(cur), input)) return { doc: toDoc(cur), created: false }
    const row: Row = { version: (cur?.version ?? 0) + 1, url: input.url, timeout_ms: input.timeout_ms ?? null, updated_at: now.toISOString() }
    q().insert.run(row)
    return { doc: toDoc(row), created: true }
  })
  const register = db.transaction((a: AgentRecord, now: Date) => {
    const known = q().agent.get(a.agent_id) !== null
    q().upsertAgent.run({
      agent_id: a.agent_id,
      hostname: a.hostname ?? null,
      worker_url: a.worker_url ?? null,
      labels: JSON.stringify(a.labels ?? {}),
      now: now.toISOString(),
    })
    return { created: !known }
  })

  return {
    kind: 'sqlite',
    async migrate() {
      db.exec('create table if not exists schema_migrations (id integer primary key, name text not null, applied_at text not null)')
      db.transaction(() => {
        const done = new Set(db.query<{ id: number }, []>('select id from schema_migrations').all().map((r) => r.id))
        for (const m of migrations) {
          if (done.has(m.id)) continue
          db.exec(m.sqlite)
          db.query('insert into schema_migrations (id, name, applied_at) values (?, ?, ?)').run(m.id, m.name, new Date().toISOString())
        }
      }).immediate()
    },
    async current() {
      const r = q().current.get()
      return r ? toDoc(r) : null
    },
    async write(input, now = new Date()) {
      // IMMEDIATE takes the write lock up front, so two processes sharing the file serialise here.
      return write.immediate(input, now)
    },
    async history(limit) {
      return q().history.all(limit).map(toDoc)
    },
    async registerAgent(a, now = new Date()) {
      return register.immediate(a, now)
    },
    async ping() {
      db.query('select 1').get()
    },
    async close() {
      db.close()
    },
  }
}
