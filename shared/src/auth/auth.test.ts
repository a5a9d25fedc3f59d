import { expect, test } from 'bun:test'
import { keyChecker, presentedKey } from '.'

test('a key is read from Authorization: Bearer or X-API-Key', () => {
  expect(presentedKey(new Headers({ authorization: 'Bearer abc' }))).toBe('abc')
  expect(presentedKey(new Headers({ authorization: 'bearer   abc ' }))).toBe('abc')
  expect(presentedKey(new Headers({ 'x-api-key': 'k1' }))).toBe('k1')
  expect(presentedKey(new Headers({ authorization: 'Basic abc' }))).toBeNull()
  // A proxy's Basic credentials do not hide the API key.
  expect(presentedKey(new Headers({ authorization: 'Basic abc', 'x-api-key': 'k2' }))).toBe('k2')
  expect(presentedKey(new Headers())).toBeNull()
})

test('each of several comma-configured keys maps to its role, others to none', () => {
  const roleOf = keyChecker({ agent: ['old-agent', 'new-agent'], admin: ['admin-key'] })
  expect(roleOf('old-agent')).toBe('agent')
  expect(roleOf('new-agent')).toBe('agent')
  expect(roleOf('admin-key')).toBe('admin')
  expect(roleOf('admin-ke')).toBeNull()
  expect(roleOf('')).toBeNull()
  expect(roleOf(null)).toBeNull()
})

test('a key is known (answered from memory, no digest) only once it was verified', () => {
  const roleOf = keyChecker({ agent: ['agent-key'] })
  expect(roleOf.known('agent-key')).toBeUndefined()
  expect(roleOf.verify('agent-key', false)).toBe('agent')
  expect(roleOf.known('agent-key')).toBe('agent')
  expect(roleOf.verify('wrong', true)).toBeNull()
  expect(roleOf.known('wrong')).toBeUndefined()
})
