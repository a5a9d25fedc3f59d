import { t } from 'elysia'
import { namedKeys } from './agents/actors'
import { AuthFailuresEnv, BodyEnv, bodySettings, CommonEnv, Int, isProduction, optionalKeys, parseSettings, parseUpstreamAllow, portSetting, requireKeys, SettingsError, UpstreamEnv } from '@dcm/shared'

const Env = t.Object({
  ...CommonEnv,
  ...BodyEnv,
  ...AuthFailuresEnv,
  ...UpstreamEnv,
  PORT: portSetting(8080),
  DATABASE_URL: t.Optional(t.String({ pattern: '^postgres(ql)?://', description: 'a postgres:// URL; unset = embedded SQLite' })),
  SQLITE_PATH: t.String({ minLength: 1, default: './data/controller.sqlite', description: 'SQLite file when DATABASE_URL is unset' }),
  AGENT_API_KEY: t.Optional(t.String()),
  ADMIN_API_KEY: t.Optional(t.String({ description: 'admin keys, comma-separated; `name:key` names a key in history and the audit trail' })),
  POLL_INTERVAL_SECONDS: t.Number({ minimum: 0.1, maximum: 3600, default: 5, description: 'seconds between agent polls, fractions allowed' }),
  PUBLIC_URL: t.Optional(t.String({ pattern: '^https?://[^/@\\s]+(/\\S*)?$', description: 'base URL agents reach this controller at (no userinfo: it is handed to every agent)' })),
  REFRESH_SECONDS: t.Number({ minimum: 0.5, maximum: 3600, default: 5, description: 'how often the snapshot is re-read from the store (safety net for replicas)' }),
  MAX_HELD_POLLS: Int({ minimum: 1, maximum: 1_000_000, default: 30_000, description: 'long-polls held at once; beyond, a poll is answered at once' }),
  ALLOW_SHARED_KEY_POLLS: t.Optional(t.Boolean({ description: 'agents may poll GET /config with the shared agent key instead of their own token (unset: true, false when NODE_ENV=production)' })),
  FLEET_FLUSH_SECONDS: t.Number({ minimum: 0.1, maximum: 60, default: 2, description: 'how often what polls report (last seen, fetched and applied versions) is written to the store, in one batch' }),
  ROLLOUT_TICK_SECONDS: t.Number({ minimum: 0.1, maximum: 60, default: 1, description: 'how often each replica re-reads the active rollout, and the one holding its lease judges it' }),
  NEW_AGENTS_PER_MINUTE: Int({ minimum: 1, maximum: 1_000_000, default: 600, description: 'registrations that make a new agent, per replica per minute (as many at once); beyond, 429' }),
})

export type Settings = ReturnType<typeof loadSettings>

/** Read and check the controller's environment once at start-up. */
export function loadSettings(env: Record<string, string | undefined> = process.env) {
  const s = parseSettings(Env, env)
  const agentKeys = requireKeys('AGENT_API_KEY', s.AGENT_API_KEY, env)
  const admins = namedKeys(s.ADMIN_API_KEY)
  const adminKeys = requireKeys('ADMIN_API_KEY', admins.keys, env)
  if (agentKeys.some((k) => adminKeys.includes(k))) throw new SettingsError(['AGENT_API_KEY and ADMIN_API_KEY must not share a key'])
  if (s.DATABASE_URL && !URL.canParse(s.DATABASE_URL)) throw new SettingsError(['DATABASE_URL is not a URL (not shown: its password could not be masked)'])
  return Object.freeze({
    port: s.PORT,
    logLevel: s.LOG_LEVEL,
    metricsKeys: optionalKeys('METRICS_API_KEY', s.METRICS_API_KEY, env),
    databaseUrl: s.DATABASE_URL,
    sqlitePath: s.SQLITE_PATH,
    agentKeys,
    adminKeys,
    adminNames: admins.names,
    pollIntervalSeconds: s.POLL_INTERVAL_SECONDS,
    publicUrl: (s.PUBLIC_URL ?? `http://localhost:${s.PORT}`).replace(/\/+$/, ''),
    body: bodySettings(s),
    refreshMs: s.REFRESH_SECONDS * 1000,
    maxHeldPolls: s.MAX_HELD_POLLS,
    // Upgrading a running fleet needs the shared key until every agent has its token; production
    // refuses it unless told otherwise.
    allowSharedKeyPolls: s.ALLOW_SHARED_KEY_POLLS ?? !isProduction(env),
    newAgentsPerMinute: s.NEW_AGENTS_PER_MINUTE,
    fleetFlushMs: s.FLEET_FLUSH_SECONDS * 1000,
    rolloutTickMs: s.ROLLOUT_TICK_SECONDS * 1000,
    authFailuresPerMinute: s.AUTH_FAILURES_PER_MINUTE,
    upstreamAllow: parseUpstreamAllow(s.UPSTREAM_ALLOW),
  })
}
