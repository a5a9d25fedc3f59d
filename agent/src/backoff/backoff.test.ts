import { expect, test } from 'bun:test'
import { Backoff, jitter, retryAfterMs } from '.'

test('the delay ceiling doubles per failure up to the cap, and success resets it', () => {
  const top = new Backoff(100, 1000, () => 0.999999)
  expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([99, 199, 399, 799, 999, 999])
  expect(top.failures).toBe(6)
  top.reset()
  expect(top.next()).toBe(99)
  const bottom = new Backoff(100, 1000, () => 0)
  expect(bottom.next()).toBe(0) // full jitter: anywhere from zero
})

test('a Retry-After is honoured when longer than the jittered delay, up to the cap', () => {
  const b = new Backoff(100, 10_000, () => 0.5)
  expect(b.next(5000)).toBe(5000)
  expect(b.next(0)).toBe(100)
  expect(b.next(86_400_000)).toBe(10_000)
})

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  expect(retryAfterMs('3', now)).toBe(3000)
  expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000)
  expect(retryAfterMs('soon', now)).toBeUndefined()
  expect(retryAfterMs(null, now)).toBeUndefined()
})

test('jitter stays within ±10%', () => {
  expect(jitter(1000, 0.1, () => 0)).toBe(900)
  expect(jitter(1000, 0.1, () => 1)).toBe(1100)
})
