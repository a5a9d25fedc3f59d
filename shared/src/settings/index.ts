import type { Static, TObject, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  ${problems.join('\n  ')}`)
    this.name = 'SettingsError'
  }
}

/** Parse environment variables against a TypeBox object schema whose keys are the variable names.
 *  Empty values count as unset; defaults come from the schema; numbers are converted. Every problem
 *  names its variable, and secrets are never echoed back. Returns a frozen object. */
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
      const shown = /KEY|SECRET|PASSWORD|TOKEN/.test(name) ? '(hidden)' : JSON.stringify(raw)
      problems.push(`${name} is invalid: got ${shown}${describe(prop)}`)
      continue
    }
    out[name] = value
  }
  if (problems.length) throw new SettingsError(problems)
  return Object.freeze(out) as Readonly<Static<S>>
}

function describe(prop: TSchema): string {
  return prop.description ? ` (${prop.description})` : ''
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
  if (env.NODE_ENV === 'production') {
    if (keys.length === 0) throw new SettingsError([`${name} is required when NODE_ENV=production`])
    if (keys.some((k) => k.startsWith(DEV_KEY_PREFIX)))
      throw new SettingsError([`${name} holds a development key (starts with "${DEV_KEY_PREFIX}"); set a real key when NODE_ENV=production`])
    if (keys.some((k) => k.length < 16)) throw new SettingsError([`${name}: each key must be at least 16 characters when NODE_ENV=production`])
  } else if (keys.length === 0) {
    throw new SettingsError([`${name} is required (comma-separated keys; e.g. ${DEV_KEY_PREFIX}... for development)`])
  }
  return keys
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
