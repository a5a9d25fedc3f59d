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

test('a release of thousands leaves room for other work before its last hold is answered, and answers them all', async () => {
  const holds = new Holds<string>(10)
  const answered: (string | null)[] = []
  const waiting = Array.from({ length: 5000 }, () => holds.hold(60_000).then((v) => answered.push(v)))
  holds.release('v2')
  expect(holds.size).toBe(0)
  // Work queued after the release (another request, say) runs while holds are still being answered.
  const between = await new Promise<number>((resolve) => setImmediate(() => resolve(answered.length)))
  expect(between).toBeGreaterThan(0)
  expect(between).toBeLessThan(5000)
  await Promise.all(waiting)
  expect(new Set(answered)).toEqual(new Set(['v2']))
  expect(answered).toHaveLength(5000)
})

test('a caller that goes away once released changes nothing: each hold is answered once, and counted once', async () => {
  const holds = new Holds<string>(10)
  const gone = Array.from({ length: 1000 }, () => new AbortController())
  const waiting = gone.map((c) => holds.hold(60_000, c.signal))
  holds.release('v2')
  for (const c of gone) c.abort()
  const later = holds.hold(60_000)
  expect(holds.size).toBe(1)
  expect(new Set(await Promise.all(waiting))).toEqual(new Set(['v2']))
  expect(holds.size).toBe(1)
  holds.release('v3')
  expect(await later).toBe('v3')
})
