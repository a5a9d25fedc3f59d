import { t } from 'elysia'
import { Int, LOG_LEVELS, parseSettings, requireKeys } from '@dcm/shared'

const Env = t.Object({
  PORT: Int({ minimum: 0, maximum: 65535, default: 8082, description: 'HTTP port' }),
  LOG_LEVEL: t.Union(LOG_LEVELS.map((l) => t.Literal(l)), { default: 'info', description: 'debug, info, warn or error' }),
  AGENT_API_KEY: t.Optional(t.String()),
  BODY_LIMIT_BYTES: Int({ minimum: 1024, default: 65536, description: 'largest accepted request body' }),
})

export type Settings = ReturnType<typeof loadSettings>

/** Read and check the worker's environment once at start-up. */
export function loadSettings(env: Record<string, string | undefined> = process.env) {
  const s = parseSettings(Env, env)
  return Object.freeze({
    port: s.PORT,
    logLevel: s.LOG_LEVEL,
    agentKeys: requireKeys('AGENT_API_KEY', s.AGENT_API_KEY, env),
    bodyLimit: s.BODY_LIMIT_BYTES,
  })
}
