import { t } from 'elysia'
import type { Static, TObject, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { maskUrl } from '../config-doc'
import { LOG_LEVELS } from '../logging'
import { Int } from '../schema'

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  ${problems.join('\n  ')}`)
    this.name = 'SettingsError'
  }
}

/** The settings every service reads, to be spread into its own schema. */
export const CommonEnv = {
  NODE_ENV: t.Optional(t.String({ pattern: '^(?:[Pp][Rr][Oo][Dd][Uu][Cc][Tt][Ii][Oo][Nn]|[Dd][Ee][Vv][Ee][Ll][Oo][Pp][Mm][Ee][Nn][Tt]|[Tt][Ee][Ss][Tt])$', description: 'production, development or test (any case); production refuses development keys' })),
  LOG_LEVEL: t.Union(LOG_LEVELS.map((l) => t.Literal(l)), { default: 'info', description: 'debug, info, warn or error' }),
  METRICS_API_KEY: t.Optional(t.String({ description: 'key(s), comma-separated, that GET /metrics requires; unset = /metrics is open' })),
}

/** The settings of a service that reads request bodies. */
export const BodyEnv = {
  BODY_LIMIT_BYTES: Int({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 65536, description: 'largest accepted request body (bytes)' }),
  BODY_TIMEOUT_MS: Int({ minimum: 100, maximum: 600_000, default: 10_000, description: 'time allowed to send a request body' }),
  MAX_BODY_READS: Int({ minimum: 1, maximum: 100_000, default: 64, description: 'request bodies read at once; beyond, 503 with Retry-After' }),
}

/** The settings of a service that checks keys: how often one client address may fail to authenticate. */
export const AuthFailuresEnv = {
  AUTH_FAILURES_PER_MINUTE: Int({ minimum: 1, maximum: 1_000_000, default: 30, description: 'failed authentications per client address per minute; beyond, 429 too_many_failures' }),
}

/** The settings of a service that judges upstream URLs (controller and worker). */
export const UpstreamEnv = {
  UPSTREAM_ALLOW: t.Optional(t.String({ description: 'comma-separated CIDRs, addresses or host names an upstream URL may name although link-local or cloud metadata' })),
}

export const portSetting = (port: number, description = 'HTTP port') => Int({ minimum: 0, maximum: 65535, default: port, description })

/** The body-reading settings as the HTTP base takes them. */
export const bodySettings = (s: Static<TObject<typeof BodyEnv>>) => ({ limit: s.BODY_LIMIT_BYTES, timeoutMs: s.BODY_TIMEOUT_MS, maxConcurrent: s.MAX_BODY_READS })

/** NODE_ENV says production, in any spelling of its case. */
export const isProduction = (env: Record<string, string | undefined>) => (env.NODE_ENV ?? '').trim().toLowerCase() === 'production'

/** Parse environment variables against a TypeBox object schema whose keys are the variable names.
 *  Empty values count as unset; defaults come from the schema; numbers are converted. Every problem
 *  names its variable; secrets are never echoed back and URLs are shown masked. Returns a frozen object. */
export function parseSettings<S extends TObject>(schema: S, env: Record<string, string | undefined> = process.env): Readonly<Static<S>> {
  const out: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [name, prop] of Object.entries(schema.properties) as [string, TSchema][]) {
    const raw = env[name]
    const isSet = raw !== undefined && raw.trim() !== ''
    if (!isSet) {
      if ('default' in prop) out[name] = prop.default
      else if (!schema.required?.includes(name)) continue
      else problems.push(`${name} is required${describe(prop)}`)
      continue
    }
    const text = raw.trim()
    const value = Value.Convert(prop, text)
    // Convert is lenient ("5.5" → 5 for an integer); a setting must say exactly what it means.
    const numeric = prop.type === 'integer' ? /^-?\d+$/ : prop.type === 'number' ? /^-?\d+(\.\d+)?$/ : null
    if ((numeric && !numeric.test(text)) || !Value.Check(prop, value)) {
      problems.push(`${name} is invalid: got ${shown(name, raw)}${describe(prop)}`)
      continue
    }
    out[name] = value
  }
  if (problems.length) throw new SettingsError(problems)
  return Object.freeze(out) as Readonly<Static<S>>
}

function shown(name: string, raw: string): string {
  // A name ending in KEY holds a key (AGENT_API_KEY); ALLOW_SHARED_KEY_POLLS is only about one.
  if (/KEY$|SECRET|PASSWORD|TOKEN/.test(name)) return '(hidden)'
  if (!/URL/.test(name)) return JSON.stringify(raw)
  // A URL that does not parse cannot be masked with certainty: where its password ends is unclear.
  return URL.canParse(raw.trim()) ? JSON.stringify(maskUrl(raw.trim())) : '(not shown: not a URL)'
}

function describe(prop: TSchema): string {
  const range =
    typeof prop.minimum === 'number' || typeof prop.maximum === 'number' || typeof prop.exclusiveMinimum === 'number'
      ? `${prop.minimum ?? `above ${prop.exclusiveMinimum}`} to ${prop.maximum ?? 'any'}`
      : ''
  const parts = [prop.description, range].filter(Boolean)
  return parts.length ? ` (${parts.join('; ')})` : ''
}

/** Split a comma-separated list of keys, dropping blanks. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}

/** Development keys ship in .env.example and `make dev`; production refuses them. */
export const DEV_KEY_PREFIX = 'dev-'

/** Refuse to run in production with no key or a development key; returns the parsed key list. */
export function requireKeys(name: string, value: string | undefined, env: Record<string, string | undefined>): string[] {
  const keys = splitList(value)
  if (isProduction(env)) {
    if (keys.length === 0) throw new SettingsError([`${name} is required when NODE_ENV=production`])
    if (keys.some((k) => k.startsWith(DEV_KEY_PREFIX)))
      throw new SettingsError([`${name} holds a development key (starts with "${DEV_KEY_PREFIX}"); set a real key when NODE_ENV=production`])
    if (keys.some((k) => k.length < 16)) throw new SettingsError([`${name}: each key must be at least 16 characters when NODE_ENV=production`])
  } else if (keys.length === 0) {
    throw new SettingsError([`${name} is required (comma-separated keys; e.g. ${DEV_KEY_PREFIX}... for development)`])
  }
  return keys
}

/** Keys that may be left unset (METRICS_API_KEY: then what they guard is open); once set, production
 *  holds them to the rules of every key (no development key, at least 16 characters). */
export function optionalKeys(name: string, value: string | undefined, env: Record<string, string | undefined>): string[] {
  return splitList(value).length === 0 ? [] : requireKeys(name, value, env)
}

/** Load settings at start-up; on a SettingsError print it (naming the variables) and exit with code 2. */
export function settingsOrExit<T>(service: string, load: () => T): T {
  try {
    return load()
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e
    console.error(`${service}: ${e.message}`)
    process.exit(2)
  }
}
