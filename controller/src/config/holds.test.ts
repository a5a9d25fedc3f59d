import { expect, test } from 'bun:test'
import { Holds } from './holds'
import { snapshotOf } from './service'

test('a change releases every hold with the new snapshot', async () => {
  const holds = new Holds(10)
  const waiting = Array.from({ length: 1000 }, () => holds.hold(60_000))
  expect(holds.size).toBe(1000)
  const snap = snapshotOf({ version: 2, url: 'http://x/', updated_at: '2026-01-01T00:00:00.000Z' })
  holds.release(snap)
  expect(new Set(await Promise.all(waiting))).toEqual(new Set([snap]))
  expect(holds.size).toBe(0)
})

test('a hold whose time runs out resolves with null, and others stay held', async () => {
  const holds = new Holds(5)
  const short = holds.hold(20)
  const long = holds.hold(60_000)
  expect(await short).toBeNull()
  expect(holds.size).toBe(1)
  holds.release(snapshotOf({ version: 1, url: 'http://x/', updated_at: '2026-01-01T00:00:00.000Z' }))
  expect(await long).not.toBeNull()
})
