import { expect, test } from 'bun:test'
import { t } from 'elysia'
import { Int, parseSettings, requireKeys, SettingsError } from '..'

const Env = t.Object({
  PORT: Int({ minimum: 0, maximum: 65535, default: 8080 }),
  RATE: t.Number({ exclusiveMinimum: 0, default: 5 }),
  ON: t.Boolean({ default: true }),
  SECRET_KEY: t.Optional(t.String({ minLength: 4 })),
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
  expect(parseSettings(Env, { PORT: '', RATE: '0.2', ON: 'false' })).toEqual({ PORT: 8080, RATE: 0.2, ON: false })
})

test('every malformed variable is named, and a secret value is not echoed', () => {
  expect(problems({ PORT: '80.5', RATE: 'fast', SECRET_KEY: 'ab' })).toEqual([
    'PORT is invalid: got "80.5"',
    'RATE is invalid: got "fast"',
    'SECRET_KEY is invalid: got (hidden)',
  ])
  expect(problems({ PORT: '70000' })).toEqual(['PORT is invalid: got "70000"'])
})

test('keys are required; production refuses development or short keys', () => {
  expect(requireKeys('K', 'a, b ,', {})).toEqual(['a', 'b'])
  expect(() => requireKeys('K', '', {})).toThrow('K is required')
  expect(() => requireKeys('K', 'dev-agent-key', { NODE_ENV: 'production' })).toThrow('development key')
  expect(() => requireKeys('K', 'short', { NODE_ENV: 'production' })).toThrow('at least 16')
  expect(requireKeys('K', 'a-real-key-of-some-length', { NODE_ENV: 'production' })).toEqual(['a-real-key-of-some-length'])
})
