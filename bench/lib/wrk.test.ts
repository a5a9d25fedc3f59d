import { expect, test } from 'bun:test'
import { parseWrk } from './wrk'

const sample = (extra: string) => `Running 1s test @ http://127.0.0.1:18300/bad
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    67.66us  123.81us   3.23ms   98.56%
    Req/Sec    30.25k     5.41k   40.11k    63.64%
  Latency Distribution
     50%   56.00us
     75%   66.00us
     90%   79.00us
     99%    1.31ms
  33080 requests in 1.10s, 4.26MB read
${extra}Requests/sec:  30094.34
Transfer/sec:      3.87MB
`

test("wrk's summary gives requests, duration, percentiles, and error answers plus socket errors as bad", () => {
  const r = parseWrk(sample('  Non-2xx or 3xx responses: 7\n  Socket errors: connect 0, read 2, write 0, timeout 1\n'))
  expect(r).toEqual({ requests: 33080, seconds: 1.1, rps: 33080 / 1.1, bad: 10, p50Ms: 0.056, p99Ms: 1.31 })
  expect(parseWrk(sample('')).bad).toBe(0)
})

test('output that is not a wrk summary is refused, never read as zero', () => {
  expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/cannot read wrk/)
})
