import { expect, test } from 'bun:test'
import { rng } from './rng'

const draw = (r: ReturnType<typeof rng>, n = 8) => Array.from({ length: n }, () => r.int(0, 1000))

test('the same seed replays the same choices; another seed or stream makes others', () => {
  expect(draw(rng(42))).toEqual(draw(rng(42)))
  expect(draw(rng(42).fork('agent-1'))).toEqual(draw(rng(42).fork('agent-1')))
  expect(draw(rng(42))).not.toEqual(draw(rng(43)))
  expect(draw(rng(42).fork('agent-1'))).not.toEqual(draw(rng(42).fork('agent-2')))
})

test('int stays within its bounds and reaches both ends', () => {
  const r = rng(7)
  const seen = new Set(Array.from({ length: 2000 }, () => r.int(3, 6)))
  expect([...seen].sort()).toEqual([3, 4, 5, 6])
})
