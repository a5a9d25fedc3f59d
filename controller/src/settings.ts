import { t } from 'elysia'
import { LOG_LEVELS, parseSettings, requireKeys, SettingsError, Int } from '@dcm/shared'

const Env = t.Object({
  PORT: Int({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port' }),
  LOG_LEVEL: t.Union(LOG_LEVELS.map((l) => t.Literal(l)), { default: 'info', description: 'debug, info, warn or error' }),
  DATABASE_URL: t.Optional(t.String({ pattern: '^postgres(ql)?://', description: 'a postgres:// URL; unset = embedded SQLite' })),
  SQLITE_PATH: t.String({ minLength: 1, default: './data/controller.sqlite', description: 'SQLite file when DATABASE_URL is unset' }),
  AGENT_API_KEY: t.Optional(t.String()),
  ADMIN_API_KEY: t.Optional(t.String()),
  POLL_INTERVAL_SECONDS: t.Number({ exclusiveMinimum: 0, maximum: 3600, default: 5, description: 'seconds between agent polls, fractions allowed' }),
  PUBLIC_URL: t.Optional(t.String({ pattern: '^https?://', description: 'base URL agents reach this controller at' })),
  REFRESH_SECONDS: t.Number({ exclusiveMinimum: 0, maximum: 3600, default: 5, description: 'how often the snapshot is re-read from the store (safety net for replicas)' }),
  BODY_LIMIT_BYTES: Int({ minimum: 1024, default: 65536, description: 'largest accepted request body' }),
})

export type Settings = ReturnType<typeof loadSettings>

/** Read and check the controller's environment once at start-up. */
export function loadSettings(env: Record<string, string | undefined> = process.env) {
  const s = parseSettings(Env, env)
  const agentKeys = requireKeys('AGENT_API_KEY', s.AGENT_API_KEY, env)
  const adminKeys = requireKeys('ADMIN_API_KEY', s.ADMIN_API_KEY, env)
  if (agentKeys.some((k) => adminKeys.includes(k))) throw new SettingsError(['AGENT_API_KEY and ADMIN_API_KEY must not share a key'])
  return Object.freeze({
    port: s.PORT,
    logLevel: s.LOG_LEVEL,
    databaseUrl: s.DATABASE_URL,
    sqlitePath: s.SQLITE_PATH,
    agentKeys,
    adminKeys,
    pollIntervalSeconds: s.POLL_INTERVAL_SECONDS,
    publicUrl: (s.PUBLIC_URL ?? `http://localhost:${s.PORT}`).replace(/\/+$/, ''),
    bodyLimit: s.BODY_LIMIT_BYTES,
    refreshMs: s.REFRESH_SECONDS * 1000,
  })
}
