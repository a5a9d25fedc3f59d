import { describe, expect, test } from 'bun:test'
import { hasLabels, statusOf, type StatusContext } from './status'

const now = Date.parse('2026-11-28T10:00:00.000Z')
const ago = (s: number) => new Date(now - s * 1000).toISOString()
const ctx = (over: Partial<StatusContext> = {}): StatusContext => ({ current: 7, now, staleMs: 15_000, holding: () => false, ...over })
const agent = (over: Partial<{ last_seen_at: string; applied_version: number | null; rejected: { version: number; reason: string } | null }> = {}) => ({
  agent_id: 'a',
  last_seen_at: ago(1),
  applied_version: 7,
  rejected: null,
  ...over,
})

describe('an agent status, first rule that holds', () => {
  test.each([
    ['applied the current version', 'in_sync', agent(), ctx()],
    ['applied an older one', 'behind', agent({ applied_version: 6 }), ctx()],
    ['applied none yet', 'behind', agent({ applied_version: null }), ctx()],
    ['its worker refused the current version', 'rejected', agent({ applied_version: 6, rejected: { version: 7, reason: 'upstream_forbidden' } }), ctx()],
    ['refused an older version, now behind', 'behind', agent({ applied_version: 5, rejected: { version: 6, reason: 'x' } }), ctx()],
    ['not seen for longer than allowed', 'stale', agent({ last_seen_at: ago(16) }), ctx()],
    ['stale beats rejected', 'stale', agent({ last_seen_at: ago(60), rejected: { version: 7, reason: 'x' } }), ctx()],
    ['not seen lately but holding a long-poll', 'in_sync', agent({ last_seen_at: ago(60) }), ctx({ holding: () => true })],
    ['seen just within the limit', 'in_sync', agent({ last_seen_at: ago(15) }), ctx()],
    ['no config at the controller yet', 'behind', agent({ applied_version: null }), ctx({ current: null })],
  ] as const)('%s → %s', (_, want, a, c) => {
    expect(statusOf(a, c)).toBe(want)
  })
})

test('label filters: every name=value must hold', () => {
  expect(hasLabels({ zone: 'a', tier: 'web' }, [['zone', 'a']])).toBe(true)
  expect(hasLabels({ zone: 'a', tier: 'web' }, [['zone', 'a'], ['tier', 'db']])).toBe(false)
  expect(hasLabels({}, [])).toBe(true)
  expect(hasLabels({ zone: 'a' }, [['region', '']])).toBe(false)
})
