import { describe, expect, test } from 'bun:test'
import { cohortOrder, cohortSize, figures, judge, selects } from './cohort'

describe('cohorts', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `agent-${i}`)

  test('the order is stable within a rollout, differs between rollouts, and holds every agent once', () => {
    expect(cohortOrder(ids, 7)).toEqual(cohortOrder([...ids].reverse(), 7))
    expect(cohortOrder(ids, 7)).not.toEqual(cohortOrder(ids, 8))
    expect([...cohortOrder(ids, 7)].sort()).toEqual([...ids].sort())
  })

  test.each([
    [1, 3, 1],
    [10, 3, 1],
    [34, 3, 2],
    [50, 4, 2],
    [100, 4, 4],
    [10, 0, 0],
    [99, 100, 99],
  ])('%d%% of %d agents → %d (rounded up)', (percent, n, want) => {
    expect(cohortSize(percent, n)).toBe(want)
  })

  test('widening a step only adds agents', () => {
    const order = cohortOrder(ids, 3)
    const at = (p: number) => order.slice(0, cohortSize(p, order.length))
    for (const [a, b] of [[1, 10], [10, 50], [50, 100]] as const) expect(at(b).slice(0, at(a).length)).toEqual(at(a))
  })

  test('a selector takes the agents whose labels all match', () => {
    expect(selects(null, {})).toBe(true)
    expect(selects({ zone: 'a' }, { zone: 'a', tier: 'web' })).toBe(true)
    expect(selects({ zone: 'a', tier: 'db' }, { zone: 'a', tier: 'web' })).toBe(false)
  })
})

describe('the gate', () => {
  const gate = { max_error_rate: 0.05, min_hits: 20, max_p99_ms: 500 }
  const rows = [
    { agent_id: 'a', version: 2, hits: 30, errors: 3, p99_ms: 120 },
    { agent_id: 'b', version: 2, hits: 10, errors: 0, p99_ms: 900 },
    { agent_id: 'c', version: 1, hits: 100, errors: 0, p99_ms: 50 },
  ]
  test('figures sum one version over the chosen agents; p99 is the highest reported', () => {
    expect(figures(rows, 2, new Set(['a', 'b']), 2)).toEqual({ agents: 2, hits: 40, errors: 3, error_rate: 0.075, p99_ms: 900 })
    expect(figures(rows, 2, new Set(['a']), 1)).toEqual({ agents: 1, hits: 30, errors: 3, error_rate: 0.1, p99_ms: 120 })
    expect(figures(rows, 1, new Set(['a', 'b']), 2)).toEqual({ agents: 2, hits: 0, errors: 0, error_rate: null, p99_ms: null })
  })
  test.each([
    ['no hits at all', { hits: 0, errors: 0, p99_ms: null }, true],
    ['fewer than min_hits, all failing', { hits: 19, errors: 19, p99_ms: 10 }, true],
    ['error rate at the limit', { hits: 100, errors: 5, p99_ms: 10 }, true],
    ['error rate above the limit', { hits: 100, errors: 6, p99_ms: 10 }, false],
    ['p99 above the limit', { hits: 100, errors: 0, p99_ms: 501 }, false],
    ['healthy', { hits: 100, errors: 1, p99_ms: 80 }, true],
  ] as const)('%s → pass %p', (_, f, pass) => {
    const v = judge({ agents: 1, ...f, error_rate: f.hits === 0 ? null : f.errors / f.hits }, gate)
    expect(v.pass).toBe(pass)
    if (!v.pass) expect(v.reason).toMatch(/above/)
  })
  test('without max_p99_ms, latency never fails it', () => {
    expect(judge({ agents: 1, hits: 100, errors: 0, error_rate: 0, p99_ms: 99_999 }, { ...gate, max_p99_ms: null }).pass).toBe(true)
  })
})
