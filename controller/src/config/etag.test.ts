import { expect, test } from 'bun:test'
import { etagMatches, etagOf } from './etag'

test('If-None-Match matches the exact tag, a list holding it, a weak form of it, or *', () => {
  const tag = '"7-abc"'
  expect(etagMatches('"7-abc"', tag)).toBe(true)
  expect(etagMatches('"1-x", "7-abc"', tag)).toBe(true)
  expect(etagMatches('W/"7-abc"', tag)).toBe(true)
  expect(etagMatches('*', tag)).toBe(true)
  expect(etagMatches('"7-abd"', tag)).toBe(false)
  expect(etagMatches('7-abc', tag)).toBe(false)
  expect(etagMatches(null, tag)).toBe(false)
})

test('the same version number with different content gets a different tag', () => {
  const a = { version: 1, url: 'http://a/', updated_at: '2026-01-01T00:00:00.000Z' }
  const b = { ...a, updated_at: '2026-01-02T00:00:00.000Z' }
  expect(etagOf(a, JSON.stringify(a))).toMatch(/^"1-[0-9a-z]+"$/)
  expect(etagOf(a, JSON.stringify(a))).not.toBe(etagOf(b, JSON.stringify(b)))
})
