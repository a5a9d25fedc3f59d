import { t } from 'elysia'
import { CommonEnv, HttpUrl, Int, isProduction, optionalKeys, parseSettings, portSetting, requireKeys, SettingsError } from '@dcm/shared'
import { FAIL_POINTS, type FailPoint } from './state/file'

const HOUR_MS = 3_600_000

const Env = t.Object({
  ...CommonEnv,
  PORT: portSetting(8081, 'HTTP port for /state, /healthz, /readyz'),
  CONTROLLER_URL: HttpUrl({ default: 'http://localhost:8080', description: 'base URL of the controller (registration and polls go to its origin)' }),
  CONTROLLER_API_KEY: t.Optional(t.String()),
  WORKER_URL: HttpUrl({ default: 'http://localhost:8082', description: 'base URL of the worker' }),
  WORKER_API_KEY: t.Optional(t.String()),
  STATE_FILE: t.String({ minLength: 1, default: './data/agent-state.json', description: 'where the agent keeps its state' }),
  BACKOFF_BASE_MS: Int({ minimum: 1, maximum: 60_000, default: 500, description: 'first backoff ceiling after a network failure' }),
  BACKOFF_MAX_MS: Int({ minimum: 1, maximum: HOUR_MS, default: 30000, description: 'largest backoff delay' }),
  FILE_RETRY_MS: Int({ minimum: 10, maximum: HOUR_MS, default: 1000, description: 'retry interval after a state-file error' }),
  LONG_POLL: t.Boolean({ default: true, description: 'hold polls open at the controller (true) or poll on an interval (false)' }),
  LONG_POLL_WAIT_SECONDS: t.Number({ exclusiveMinimum: 0, maximum: 60, default: 30, description: 'how long the controller may hold a poll' }),
  REQUEST_TIMEOUT_MS: Int({ minimum: 100, maximum: 600_000, default: 10000, description: 'timeout of each request (beyond a long-poll hold)' }),
  TEST_FAIL_POINTS: t.Optional(t.String({ pattern: '^[a-z*-]+=(0|1|0\\.\\d+)(,[a-z*-]+=(0|1|0\\.\\d+))*$', description: 'tests only: point=probability,… where a state-file save kills the process (refused in production)' })),
})

export type Settings = ReturnType<typeof loadSettings>

const single = (name: string, keys: string[]) => {
  if (keys.length !== 1) throw new SettingsError([`${name} must hold exactly one key (the agent presents it)`])
  return keys[0]!
}

/** Read and check the agent's environment once at start-up. */
export function loadSettings(env: Record<string, string | undefined> = process.env) {
  const s = parseSettings(Env, env)
  if (s.BACKOFF_MAX_MS < s.BACKOFF_BASE_MS) throw new SettingsError(['BACKOFF_MAX_MS must not be smaller than BACKOFF_BASE_MS'])
  if (s.TEST_FAIL_POINTS && isProduction(env)) throw new SettingsError(['TEST_FAIL_POINTS is for tests; it is refused when NODE_ENV=production'])
  const failPoints = parseFailPoints(s.TEST_FAIL_POINTS)
  return Object.freeze({
    port: s.PORT,
    logLevel: s.LOG_LEVEL,
    metricsKeys: optionalKeys('METRICS_API_KEY', s.METRICS_API_KEY, env),
    controllerUrl: s.CONTROLLER_URL.replace(/\/+$/, ''),
    controllerKey: single('CONTROLLER_API_KEY', requireKeys('CONTROLLER_API_KEY', s.CONTROLLER_API_KEY, env)),
    workerUrl: s.WORKER_URL.replace(/\/+$/, ''),
    workerKey: single('WORKER_API_KEY', requireKeys('WORKER_API_KEY', s.WORKER_API_KEY, env)),
    stateFile: s.STATE_FILE,
    backoffBaseMs: s.BACKOFF_BASE_MS,
    backoffMaxMs: s.BACKOFF_MAX_MS,
    fileRetryMs: s.FILE_RETRY_MS,
    longPoll: s.LONG_POLL,
    longPollWaitSeconds: s.LONG_POLL_WAIT_SECONDS,
    requestTimeoutMs: s.REQUEST_TIMEOUT_MS,
    failPoints,
  })
}

/** `after-rename=1,*=0.1` → the probability of dying at each point (`*`: every point). */
function parseFailPoints(text: string | undefined): Partial<Record<FailPoint, number>> {
  const out: Partial<Record<FailPoint, number>> = {}
  for (const part of text ? text.split(',') : []) {
    const [name, p] = part.split('=') as [string, string]
    if (name !== '*' && !(FAIL_POINTS as readonly string[]).includes(name)) throw new SettingsError([`TEST_FAIL_POINTS names an unknown point "${name}" (known: ${FAIL_POINTS.join(', ')}, *)`])
    for (const point of name === '*' ? FAIL_POINTS : [name as FailPoint]) out[point] = Number(p)
  }
  return out
}
