import { expect, test } from 'bun:test'
import { Holds } from './holds'

test('a release answers every hold with the value', async () => {
  const holds = new Holds<string>(10)
  const waiting = Array.from({ length: 1000 }, () => holds.hold(60_000))
  expect(holds.size).toBe(1000)
  holds.release('v2')
  expect(new Set(await Promise.all(waiting))).toEqual(new Set(['v2']))
  expect(holds.size).toBe(0)
})

test('a hold whose time runs out resolves with null, and others stay held', async () => {
  const holds = new Holds<string>(5)
  const short = holds.hold(20)
  const long = holds.hold(60_000)
  expect(await short).toBeNull()
  expect(holds.size).toBe(1)
  holds.release('v1')
  expect(await long).toBe('v1')
})

test('a hold whose caller goes away ends at once and is no longer counted', async () => {
  const holds = new Holds<string>(10)
  const gone = new AbortController()
  const abandoned = holds.hold(60_000, gone.signal)
  const kept = holds.hold(60_000)
  gone.abort()
  expect(await abandoned).toBeNull()
  expect(holds.size).toBe(1)
  expect(await holds.hold(60_000, AbortSignal.abort())).toBeNull()
  expect(holds.size).toBe(1)
  holds.release('v')
  expect(await kept).toBe('v')
})
