import { Database } from 'bun:sqlite'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { SQLITE_BUSY_MS } from './deadlines'
import { migrations } from './migrations'
import { docOf, type VersionRow } from './rows'
import { LateWrite, type AgentRecord, type ConfigInput, type ConfigStore } from './types'

type Row = VersionRow & { updated_at: string }

/** The embedded default: one SQLite file, WAL mode, synchronous=FULL so an answered write survives a
 *  crash. The file (and SQLite's -wal and -shm beside it, which take its mode) is readable by the owner
 *  only. Sharing one file between processes works but is meant for tests: a process waiting for another's
 *  write lock blocks its event loop for up to SQLITE_BUSY_MS. */
export function sqliteStore(path: string): ConfigStore {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
    chmodSync(path, 0o600)
  }
  const db = new Database(path, { create: true, strict: true })
  db.exec(`pragma journal_mode = wal; pragma synchronous = full; pragma busy_timeout = ${SQLITE_BUSY_MS}; pragma foreign_keys = on;`)
  let storeId = ''

  // Statements are prepared on first use: the tables exist only after migrate().
  let prepared: ReturnType<typeof prepare> | undefined
  const q = () => (prepared ??= prepare())
  const prepare = () => ({
    current: db.query<Row, []>('select version, url, timeout_ms, updated_at from config_versions order by version desc limit 1'),
    insert: db.query('insert into config_versions (version, url, timeout_ms, updated_at) values ($version, $url, $timeout_ms, $updated_at)'),
    agent: db.query<{ n: number }, [string]>('select 1 as n from agents where agent_id = ?'),
    upsertAgent: db.query(
      `insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at)
       values ($agent_id, $hostname, $worker_url, $labels, $now, $now)
       on conflict (agent_id) do update set hostname = excluded.hostname, worker_url = excluded.worker_url,
         labels = excluded.labels, last_seen_at = excluded.last_seen_at`,
    ),
    touch: db.query(`insert into store_meta (key, value) values ('checked_at', $at) on conflict (key) do update set value = excluded.value`),
    storeId: db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`),
    rotate: db.query<{ value: string }, [string]>(`update store_meta set value = case when value = ? then lower(hex(randomblob(16))) else value end where key = 'store_id' returning value`),
  })

  const write = db.transaction((input: ConfigInput, deadline: number) => {
    // Inside the write lock: the deadline and the time of the version are read after any wait for it.
    const now = Date.now()
    if (now > deadline) throw new LateWrite()
    storeId = q().storeId.get()!.value
    const cur = q().current.get()
    if (cur && cur.url === input.url && (cur.timeout_ms ?? undefined) === input.timeout_ms) return { doc: docOf(cur, storeId), created: false }
    const at = cur && Date.parse(cur.updated_at) > now ? cur.updated_at : new Date(now).toISOString()
    const row: Row = { version: (cur?.version ?? 0) + 1, url: input.url, timeout_ms: input.timeout_ms ?? null, updated_at: at }
    q().insert.run(row)
    return { doc: docOf(row, storeId), created: true }
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
    get storeId() {
      return storeId
    },
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
      storeId = db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`).get()!.value
    },
    async current() {
      // The identity is read with the row, never kept: a replaced file has its own.
      storeId = q().storeId.get()!.value
      const r = q().current.get()
      return r ? docOf(r, storeId) : null
    },
    async newIdentity(previous) {
      storeId = q().rotate.get(previous)!.value
      return storeId
    },
    async write(input, { deadline }) {
      // IMMEDIATE takes the write lock up front, so two processes sharing the file serialise here.
      return write.immediate(input, deadline)
    },
    async registerAgent(a, now = new Date()) {
      return register.immediate(a, now)
    },
    async ping() {
      // A real (tiny) write: a full disk or a read-only file makes the store unready, not just slow.
      q().touch.run({ at: new Date().toISOString() })
    },
    async close() {
      db.close()
    },
  }
}
