import { t } from 'elysia'
import { AuthFailuresEnv, BodyEnv, bodySettings, CommonEnv, Int, optionalKeys, parseSettings, parseUpstreamAllow, portSetting, requireKeys, UpstreamEnv } from '@dcm/shared'

const Env = t.Object({
  ...CommonEnv,
  ...BodyEnv,
  ...AuthFailuresEnv,
  ...UpstreamEnv,
  PORT: portSetting(8082),
  AGENT_API_KEY: t.Optional(t.String()),
  MAX_UPSTREAM_CALLS: Int({ minimum: 1, maximum: 100_000, default: 200, description: 'upstream calls of GET /hit at once; beyond, 503 upstream_busy' }),
})

export type Settings = ReturnType<typeof loadSettings>

/** Read and check the worker's environment once at start-up. */
export function loadSettings(env: Record<string, string | undefined> = process.env) {
  const s = parseSettings(Env, env)
  return Object.freeze({
    port: s.PORT,
    logLevel: s.LOG_LEVEL,
    metricsKeys: optionalKeys('METRICS_API_KEY', s.METRICS_API_KEY, env),
    agentKeys: requireKeys('AGENT_API_KEY', s.AGENT_API_KEY, env),
    body: bodySettings(s),
    maxUpstreamCalls: s.MAX_UPSTREAM_CALLS,
    authFailuresPerMinute: s.AUTH_FAILURES_PER_MINUTE,
    upstreamAllow: parseUpstreamAllow(s.UPSTREAM_ALLOW),
  })
}
