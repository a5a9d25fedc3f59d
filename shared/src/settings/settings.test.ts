import { expect, test } from 'bun:test'
import { t } from 'elysia'
import { CommonEnv, Int, isProduction, parseSettings, requireKeys, SettingsError } from '..'

const Env = t.Object({
  PORT: Int({ minimum: 0, maximum: 65535, default: 8080 }),
  RATE: t.Number({ exclusiveMinimum: 0, default: 5 }),
  ON: t.Boolean({ default: true }),
  ALLOW_SHARED_KEY_POLLS: t.Optional(t.Boolean()),
  SECRET_KEY: t.Optional(t.String({ minLength: 4 })),
  DATABASE_URL: t.Optional(t.String({ pattern: '^postgres://' })),
  ...CommonEnv,
})

const problems = (env: Record<string, string>) => {
  try {
    parseSettings(Env, env)
    return []
  } catch (e) {
    return (e as SettingsError).problems
  }
}

test('defaults fill unset or empty variables; numbers and booleans are converted', () => {
  expect(parseSettings(Env, { PORT: '', RATE: '0.2', ON: 'false' })).toEqual({ PORT: 8080, RATE: 0.2, ON: false, LOG_LEVEL: 'info' })
})

test('every malformed variable is named with its range; a secret is not echoed and a URL is masked', () => {
  expect(problems({ PORT: '80.5', RATE: 'fast', SECRET_KEY: 'ab', DATABASE_URL: 'mysql://admin:hunter2@db/x?password=hunter2' })).toEqual([
    'PORT is invalid: got "80.5" (0 to 65535)',
    'RATE is invalid: got "fast" (above 0 to any)',
    'SECRET_KEY is invalid: got (hidden)',
    'DATABASE_URL is invalid: got "mysql://***@db/x?password=***"',
  ])
  for (const bad of ['postgres//dcm:Hunter2secret@db/dcm', 'http//user:Hunter2secret@ctl'])
    expect(problems({ DATABASE_URL: bad })).toEqual(['DATABASE_URL is invalid: got (not shown: not a URL)'])
  expect(problems({ PORT: '70000' })).toEqual(['PORT is invalid: got "70000" (0 to 65535)'])
  expect(problems({ ALLOW_SHARED_KEY_POLLS: 'maybe' })).toEqual(['ALLOW_SHARED_KEY_POLLS is invalid: got "maybe"'])
})

test('NODE_ENV is production, development or test in any case, and nothing else', () => {
  expect(problems({ NODE_ENV: 'Production' })).toEqual([])
  expect(problems({ NODE_ENV: 'TEST' })).toEqual([])
  expect(problems({ NODE_ENV: 'prod' })).toHaveLength(1)
  expect(isProduction({ NODE_ENV: ' Production ' })).toBe(true)
  expect(isProduction({ NODE_ENV: 'development' })).toBe(false)
})

test('keys are required; production (in any spelling) refuses development or short keys', () => {
  expect(requireKeys('K', 'a, b ,', {})).toEqual(['a', 'b'])
  expect(() => requireKeys('K', '', {})).toThrow('K is required')
  expect(() => requireKeys('K', 'dev-agent-key', { NODE_ENV: 'production' })).toThrow('development key')
  expect(() => requireKeys('K', 'dev-agent-key', { NODE_ENV: 'Production' })).toThrow('development key')
  expect(() => requireKeys('K', 'short', { NODE_ENV: 'PRODUCTION' })).toThrow('at least 16')
  expect(requireKeys('K', 'a-real-key-of-some-length', { NODE_ENV: 'production' })).toEqual(['a-real-key-of-some-length'])
})
