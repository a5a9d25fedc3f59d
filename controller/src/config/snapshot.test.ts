import { expect, test } from 'bun:test'
import { etagMatches, snapshotOf } from './snapshot'

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

test('the same version number from another store, or with other content, gets another tag', () => {
  const a = { version: 1, store_id: 'store-a', url: 'http://a/', updated_at: '2026-01-01T00:00:00.000Z' }
  expect(snapshotOf(a).etag).toMatch(/^"1-[0-9a-z]+"$/)
  expect(snapshotOf(a).etag).toBe(snapshotOf({ ...a }).etag)
  expect(snapshotOf(a).etag).not.toBe(snapshotOf({ ...a, store_id: 'store-b' }).etag)
  expect(snapshotOf(a).etag).not.toBe(snapshotOf({ ...a, updated_at: '2026-01-02T00:00:00.000Z' }).etag)
})
