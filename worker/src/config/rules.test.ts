import { expect, test } from 'bun:test'
import { decide } from './rules'

const v1 = { version: 1, url: 'http://a.example/', updated_at: '2026-01-01T00:00:00.000Z' }

test('versions only move forward; the same version must carry the same content', () => {
  expect(decide(null, v1)).toBe('apply')
  expect(decide(v1, { ...v1, version: 2 })).toBe('apply')
  expect(decide(v1, { ...v1 })).toBe('same')
  expect(decide({ ...v1, version: 2 }, v1)).toBe('stale')
  expect(decide(v1, { ...v1, url: 'http://b.example/' })).toBe('conflict')
  expect(decide(v1, { ...v1, timeout_ms: 5000 })).toBe('conflict')
  expect(decide(v1, { ...v1, updated_at: '2026-01-02T00:00:00.000Z' })).toBe('conflict')
})
