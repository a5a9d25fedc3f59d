import { expect, test } from 'bun:test'
import { bucketQuantile } from '@dcm/shared'
import { hitTotals, HitCounter, LATENCY_BOUNDS_MS } from './counts'

const B = LATENCY_BOUNDS_MS

test.each([
  ['nothing observed', [], 0.99, 0],
  ['one fast call', [0.3], 0.99, 1],
  ['ninety-nine fast, one slow: p99 is still fast', [...Array(99).fill(3), 700], 0.99, 5],
  ['ninety-eight fast, two slow: p99 is slow', [...Array(98).fill(3), 700, 700], 0.99, 1000],
  ['median of a spread', [1, 2, 15, 15, 90], 0.5, 20],
  ['a bound is inclusive', [50], 0.5, 50],
  ['above the last bound: the last bound', [90_000], 0.99, 60000],
] as const)('percentile by buckets: %s', (_, values, q, expected) => {
  const c = new HitCounter(1)
  for (const v of values) c.timed(v)
  expect(bucketQuantile(c.latency.bounds, c.latency.counts, q)).toBe(expected)
})

test('one version counts answers by class, upstream failures apart, and a latency histogram; /metrics totals move with it', () => {
  const before = { ...hitTotals }
  const c = new HitCounter(7)
  for (const s of [200, 204, 301, 404, 500, 503]) c.answered(s)
  c.failed() // a 502 of the worker's own
  c.answered(200)
  c.brokeOff(200) // that 200 broke off mid-body
  for (const ms of [3, 3, 3, 40, 1500]) c.timed(ms)
  const counts = new Array(B.length + 1).fill(0)
  counts[B.indexOf(5)] = 3
  counts[B.indexOf(50)] = 1
  counts[B.indexOf(2000)] = 1
  expect(c.toJSON()).toEqual({
    version: 7,
    total: 8,
    by_class: { '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 2 },
    upstream_failures: 2,
    p50_ms: 5,
    p99_ms: 2000,
    buckets: { le_ms: [...B], counts },
  })
  expect({ '2xx': hitTotals['2xx'] - before['2xx'], '5xx': hitTotals['5xx'] - before['5xx'], failures: hitTotals.upstream_failure - before.upstream_failure }).toEqual({
    '2xx': 3, // the broken-off one was a 200 to the caller
    '5xx': 3, // two upstream 5xx and the worker's own 502
    failures: 2,
  })
})
