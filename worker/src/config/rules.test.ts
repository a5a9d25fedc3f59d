import { expect, test } from 'bun:test'
import { decide } from './rules'

const v1 = { version: 1, store_id: 'store-a', url: 'http://a.example/', updated_at: '2026-01-01T00:00:00.000Z' }

test.each([
  ['nothing active', null, v1, 'apply'],
  ['a newer version', v1, { ...v1, version: 2 }, 'apply'],
  ['the same document', v1, { ...v1 }, 'same'],
  ['an older version', { ...v1, version: 2 }, v1, 'stale'],
  ['the same version, another url', v1, { ...v1, url: 'http://b.example/' }, 'conflict'],
  ['the same version, another timeout', v1, { ...v1, timeout_ms: 5000 }, 'conflict'],
  ['the same version, another time', v1, { ...v1, updated_at: '2026-01-02T00:00:00.000Z' }, 'conflict'],
  ['a lower version from another store', { ...v1, version: 7 }, { ...v1, store_id: 'store-b' }, 'new_store'],
  ['a higher version from another store', v1, { ...v1, version: 9, store_id: 'store-b' }, 'new_store'],
] as const)('%s', (_, active, next, decision) => {
  expect(decide(active, next)).toBe(decision)
})
