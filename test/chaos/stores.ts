/** The controller's store read from the database itself (no API lists every version), and fresh
 *  PostgreSQL databases for runs outside the test runner. */
import { Database } from 'bun:sqlite'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'

export type StoreContent = { store_id: string; versions: { version: number; url: string }[] }

/** Every version of a SQLite store. The file is copied first (with its WAL, as a kill -9 leaves it) and
 *  the copy opened, so the reading recovers nothing in the controller's own file. */
export function readSqlite(path: string, scratch: string): StoreContent {
  const dir = mkdtempSync(join(scratch, 'store-'))
  try {
    const copy = join(dir, 'copy.sqlite')
    copyFileSync(path, copy)
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`)
    const db = new Database(copy, { strict: true })
    try {
      const store_id = db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`).get()!.value
      const versions = db.query<{ version: number; url: string }, []>('select version, url from config_versions order by version').all()
      return { store_id, versions }
    } finally {
      db.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every version of a PostgreSQL store. */
export async function readPostgres(url: string): Promise<StoreContent> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [meta] = await sql<{ value: string }[]>`select value from store_meta where key = 'store_id'`
    const versions = await sql<{ version: number; url: string }[]>`select version, url from config_versions order by version`
    return { store_id: meta!.value, versions: versions.map((r) => ({ version: r.version, url: r.url })) }
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** A new, empty database beside the one `base` names; `drop` removes it. */
export async function freshDatabase(base: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `dcm_chaos_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const admin = () => postgres(base, { max: 1, onnotice: () => {} })
  const a = admin()
  await a.unsafe(`create database ${name}`)
  await a.end()
  const u = new URL(base)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    name,
    async drop() {
      const d = admin()
      await d.unsafe(`drop database if exists ${name} with (force)`)
      await d.end()
    },
  }
}
