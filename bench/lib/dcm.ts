/** Starting the dcm services the way the tests do, with the settings the benchmarks need. */
import { join } from 'node:path'
import { call, startService, workdir, type Service } from './procs'

export const KEYS = { agent: 'bench-agent-key', admin: 'bench-admin-key', worker: 'bench-worker-key' }

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

let n = 0
/** A controller on SQLite (a fresh file), or on PostgreSQL when `databaseUrl` is given. */
export async function startController(o: { logLevel: LogLevel; databaseUrl?: string; label?: string; bunArgs?: string[]; fdLimit?: number; pollIntervalSeconds?: number }): Promise<Service> {
  const env: Record<string, string> = {
    LOG_LEVEL: o.logLevel,
    AGENT_API_KEY: KEYS.agent,
    ADMIN_API_KEY: KEYS.admin,
    POLL_INTERVAL_SECONDS: String(o.pollIntervalSeconds ?? 5),
    SQLITE_PATH: join(workdir(), `controller-${++n}.sqlite`),
  }
  if (o.databaseUrl) env.DATABASE_URL = o.databaseUrl
  return startService('controller', env, { label: o.label, bunArgs: o.bunArgs, fdLimit: o.fdLimit, publicUrl: true })
}

/** POST /config with the admin key; returns the stored document and its ETag. */
export async function setConfig(controller: { url: string }, url: string) {
  const r = await call(`${controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url } })
  if (r.status !== 201 && r.status !== 200) throw new Error(`POST /config answered ${r.status}: ${JSON.stringify(r.body)}`)
  return { doc: r.body as { version: number; url: string; updated_at: string }, etag: r.headers.get('etag')! }
}
