import { describe, expect, test } from 'bun:test'
import { WorkerHealth } from './health'

const LE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000]
/** A worker's /state body: `fast` calls in the ≤5 ms bucket, `slow` in the ≤1000 ms one. */
function state(o: { v?: number; at?: string; store?: string; ok?: number; e5?: number; fail?: number; fast?: number; slow?: number; buckets?: boolean; p99?: number }) {
  const { v = 1, at = 't1', store = 'store-a', ok = 0, e5 = 0, fail = 0, fast = 0, slow = 0, buckets = true, p99 = 0 } = o
  const counts = LE.map(() => 0).concat(0)
  counts[LE.indexOf(5)] = fast
  counts[LE.indexOf(1000)] = slow
  return {
    version: v,
    store_id: store,
    applied_at: at,
    hits: { version: v, total: ok + e5 + fail, by_class: { '2xx': ok, '3xx': 0, '4xx': 0, '5xx': e5 }, upstream_failures: fail, p50_ms: 0, p99_ms: p99, ...(buckets ? { buckets: { le_ms: LE, counts } } : {}) },
  }
}

type Step = ['probe', ReturnType<typeof state>, boolean?] | ['take'] | ['deliver', number] | ['read']

/** Runs the steps: `take` is a poll sent (its delivery kept by index), `deliver i` its answer arriving. */
function run(steps: Step[]) {
  const h = new WorkerHealth()
  const taken: (() => void)[] = []
  const seen: (string | null)[] = []
  for (const s of steps) {
    if (s[0] === 'probe') h.observe(s[1], s[2] ?? true)
    else if (s[0] === 'take') {
      const n = h.next(() => 0)
      if (n) taken.push(n.delivered)
    } else if (s[0] === 'deliver') taken[s[1]]!()
    else seen.push(h.next(() => 0)?.header ?? null)
  }
  return seen
}

describe('the hits the controller has not heard of, from successive probes of /state', () => {
  const cases: [string, Step[], (string | null)[]][] = [
    ['the first probe is only a base (a predecessor may have reported those)', [['probe', state({ ok: 5 })], ['read']], [null]],
    [
      'the difference since the last probe; errors are 5xx answers plus upstream failures',
      [['probe', state({ ok: 5, fast: 5 })], ['probe', state({ ok: 6, e5: 1, fail: 1, fast: 6, slow: 2 })], ['read']],
      ['v=1;total=3;err=2;p99=1000'],
    ],
    [
      'reported once a poll carrying it got an answer: nothing more to say',
      [['probe', state({})], ['probe', state({ ok: 2, fast: 2 })], ['read'], ['take'], ['deliver', 0], ['read']],
      ['v=1;total=2;err=0;p99=5', null],
    ],
    [
      'a failed poll: the next carries the delta again, with what came since; the late answer of the first takes only its own share',
      [
        ['probe', state({})],
        ['probe', state({ ok: 3, fast: 3 })],
        ['take'], // this poll fails: never delivered
        ['probe', state({ ok: 5, fast: 5 })],
        ['read'],
        ['take'],
        ['probe', state({ ok: 6, fast: 6 })],
        ['deliver', 1],
        ['read'],
      ],
      ['v=1;total=5;err=0;p99=5', 'v=1;total=1;err=0;p99=5'],
    ],
    [
      'a restarted worker (new applied_at, counts from zero) starts over: its hits are all new',
      [['probe', state({ ok: 10, fast: 10 })], ['probe', state({ at: 't2', ok: 2, fast: 2 })], ['read']],
      ['v=1;total=2;err=0;p99=5'],
    ],
    [
      'counts that went down for the same config also start over',
      [['probe', state({ ok: 10, fast: 10 })], ['probe', state({ ok: 4, fast: 4 })], ['read']],
      ['v=1;total=4;err=0;p99=5'],
    ],
    [
      'a new version starts over; the old version’s unreported hits go first, then the new one’s',
      [
        ['probe', state({})],
        ['probe', state({ ok: 3, fast: 3 })],
        ['probe', state({ v: 2, at: 't2', fail: 2, slow: 2 })],
        ['read'],
        ['take'],
        ['deliver', 0],
        ['read'],
        ['take'],
        ['deliver', 1],
        ['read'],
      ],
      ['v=1;total=3;err=0;p99=5', 'v=2;total=2;err=2;p99=1000', null],
    ],
    [
      'p99 of the delta from bucket deltas: earlier slow calls do not count',
      [['probe', state({ ok: 100, slow: 100 })], ['probe', state({ ok: 110, fast: 10, slow: 100 })], ['read']],
      ['v=1;total=10;err=0;p99=5'],
    ],
    [
      'without buckets (an older worker): the worker’s own p99 for the version',
      [['probe', state({ buckets: false })], ['probe', state({ ok: 4, buckets: false, p99: 250 })], ['read']],
      ['v=1;total=4;err=0;p99=250'],
    ],
    [
      'hits of a config from another store are not counted',
      [['probe', state({ store: 'other' }), false], ['probe', state({ store: 'other', ok: 9 }), false], ['read']],
      [null],
    ],
    ['no config at the worker: nothing', [['probe', { version: null, store_id: null, applied_at: null, hits: { version: null, total: 0 } } as never], ['read']], [null]],
  ]
  // Each 'read' step reads the header the next poll would carry; the case lists them in order.
  test.each(cases)('%s', (_, steps, expected) => {
    expect(run(steps)).toEqual(expected)
  })

  test('due: unreported hits, and the last report at least one interval old', () => {
    const h = new WorkerHealth()
    expect(h.due(0, 1000)).toBe(false)
    h.observe(state({}), true)
    h.observe(state({ ok: 1 }), true)
    expect(h.due(0, 1000)).toBe(true) // never reported yet
    h.next(() => 5000)!.delivered()
    expect(h.due(5000, 1000)).toBe(false)
    h.observe(state({ ok: 2 }), true)
    expect([h.due(5500, 1000), h.due(6000, 1000)]).toEqual([false, true])
  })
})
