/** The checker against hand-made histories: a clean one passes, and each one that breaks a promise is
 *  caught with a sentence that says what broke. */
import { describe, expect, test } from 'bun:test'
import { check, formatViolation } from './check'
import type { Event } from './history'

const S = 'aaaa1111bbbb2222'
const u = (n: number) => `http://127.0.0.1:9/w/${n}`
const A = 'agent-id-1'

/** One agent/worker pair: versions 1 and 2 acknowledged, a 503, a write with no answer (the controller
 *  died) that did land as version 3; the agent reports version 2 applied, is killed and its file holds
 *  version 2; after the heal everything shows version 3 and /hit calls it. */
function clean(): Event[] {
  return [
    { type: 'start', at: 0, target: 'controller', life: 1 },
    { type: 'start', at: 1, target: 'agent', slot: 1, life: 1 },
    { type: 'write', at: 10, sent: 8, url: u(1), status: 201, version: 1, store_id: S },
    { type: 'agent', at: 12, slot: 1, life: 1, agent_id: A, store_id: S, version: 1, url: u(1), worker_version: 1 },
    { type: 'write', at: 20, sent: 18, url: u(2), status: 201, version: 2, store_id: S },
    { type: 'write', at: 21, sent: 20, url: u(2), status: 200, version: 2, store_id: S },
    { type: 'worker', at: 22, slot: 1, store_id: S, version: 2, url: u(2) },
    { type: 'agent', at: 23, slot: 1, life: 1, agent_id: A, store_id: S, version: 2, url: u(2), worker_version: 2 },
    { type: 'reported', at: 24, agent_id: A, store_id: S, version: 2, url: null },
    { type: 'write', at: 30, sent: 25, url: u(99), status: 503 },
    { type: 'kill', at: 40, target: 'agent', slot: 1, life: 1, by: 'chaos', signal: 'SIGKILL', code: null },
    { type: 'agent-file', at: 41, slot: 1, life: 1, from: 'primary', problems: [], agent_id: A, store_id: S, version: 2, url: u(2), worker_version: 2 },
    { type: 'start', at: 42, target: 'agent', slot: 1, life: 2, fail_points: '*=0.1' },
    { type: 'kill', at: 45, target: 'agent', slot: 1, life: 2, by: 'fail-point', signal: 'SIGKILL', code: null },
    { type: 'start', at: 46, target: 'agent', slot: 1, life: 3 },
    { type: 'write', at: 50, sent: 48, url: u(3), status: null, error: 'connection reset' },
    { type: 'kill', at: 51, target: 'controller', life: 1, by: 'chaos', signal: 'SIGKILL', code: null },
    { type: 'store', at: 52, store_id: S, versions: [{ version: 1, url: u(1) }, { version: 2, url: u(2) }, { version: 3, url: u(3) }] },
    { type: 'start', at: 53, target: 'controller', life: 2 },
    { type: 'heal', at: 60, deadline_ms: 1000, current: { store_id: S, version: 3, url: u(3) } },
    { type: 'agent', at: 70, slot: 1, life: 3, agent_id: A, store_id: S, version: 3, url: u(3), worker_version: 2 },
    { type: 'worker', at: 71, slot: 1, store_id: S, version: 3, url: u(3) },
    { type: 'agent', at: 72, slot: 1, life: 3, agent_id: A, store_id: S, version: 3, url: u(3), worker_version: 3 },
    { type: 'hit', at: 80, slot: 1, status: 200, called: u(3) },
    { type: 'store', at: 90, store_id: S, versions: [{ version: 1, url: u(1) }, { version: 2, url: u(2) }, { version: 3, url: u(3) }] },
  ]
}

/** The clean history with the events at `at` replaced (a function returning [] removes them), plus `add`. */
function broken(change: Record<number, (e: any) => Event[]>, add: Event[] = []): Event[] {
  return [...clean().flatMap((e) => (change[e.at] ? change[e.at]!(e) : [e])), ...add].sort((a, b) => a.at - b.at)
}

const found = (events: Event[]) => check(events).map((v) => `${v.promise}: ${v.message}`)

test('a history that keeps every promise has no violations', () => {
  expect(check(clean())).toEqual([])
})

describe('promise 1: no acknowledged version lost, nothing answered 503 appears', () => {
  test('an acknowledged version missing from the store', () => {
    expect(found(broken({ 90: (e) => [{ ...e, versions: e.versions.filter((r: any) => r.version !== 2) }] }))).toContainEqual(
      `1: ${u(2)}, acknowledged (201) as version 2 of store aaaa1111 at 0.020 s, is missing from the store`,
    )
  })
  test('an acknowledged version stored with another URL', () => {
    expect(found(broken({ 52: (e) => [{ ...e, versions: [{ version: 1, url: u(7) }, ...e.versions.slice(1)] }] })).join('\n')).toContain(
      `version 1 of store aaaa1111 at 0.010 s, is stored with another URL: ${u(7)}`,
    )
  })
  test('the store under another identity', () => {
    expect(found(broken({ 90: (e) => [{ ...e, store_id: 'cccc3333dddd4444' }] })).join('\n')).toContain('is lost: the store now has another identity (store cccc3333)')
  })
  test('a write answered 503 found in the store', () => {
    expect(found(broken({ 90: (e) => [{ ...e, versions: [...e.versions, { version: 4, url: u(99) }] }] }))).toContainEqual(
      `1: ${u(99)} was answered 503, yet the store holds it as version 4`,
    )
  })
  test('a write answered 503 held by a worker', () => {
    expect(found(broken({ 71: (e) => [{ ...e, url: u(99) }] }))).toContainEqual(`1: worker 1 held ${u(99)}, which was answered 503`)
  })
  test('two URLs acknowledged as one version', () => {
    expect(found(broken({ 21: (e) => [{ ...e, url: u(5) }] }))).toContainEqual(`1: version 2 of store aaaa1111 was acknowledged for two URLs: ${u(2)} and ${u(5)}`)
  })
})

describe('promise 2: the agent state is readable, never older than acknowledged, same agent_id', () => {
  test('a state file older than what the agent showed at its /state', () => {
    expect(found(broken({ 24: () => [], 41: (e) => [{ ...e, version: 1, url: u(1) }] }))).toContainEqual(
      '2: after agent 1 died (life 1) its state file holds version 1 of store aaaa1111, older than version 2 of store aaaa1111, which agent 1 (its /state) showed at 0.023 s',
    )
  })
  test('a state file older than what the agent reported to the controller as applied', () => {
    // Its /state never showed version 2 (not sampled then), but the controller heard it applied.
    expect(found(broken({ 23: () => [], 41: (e) => [{ ...e, version: 1, url: u(1), worker_version: 1 }] }))).toContainEqual(
      '2: after agent 1 died (life 1) its state file holds version 1 of store aaaa1111, older than version 2 of store aaaa1111, which agent 1 reported to the controller as applied at 0.024 s',
    )
  })
  test('a worker ahead of the state file is no violation: the agent pushes while it saves, and reports only after', () => {
    // The worker shows version 2; the agent died before its save of version 2 was over, so it never
    // showed or reported it.
    const history = broken({ 23: () => [], 24: () => [], 41: (e) => [{ ...e, version: 1, url: u(1), worker_version: 1 }] })
    expect(found(history).filter((v) => v.startsWith('2:'))).toEqual([])
  })
  test('a damaged state file, even with a good backup', () => {
    expect(found(broken({ 41: (e) => [{ ...e, from: 'backup', problems: ['state.json: checksum mismatch'] }] }))).toContainEqual(
      '2: after agent 1 died (life 1) its state file was damaged: state.json: checksum mismatch (loaded from: backup)',
    )
  })
  test('no readable state file after acknowledging', () => {
    const none = { from: 'none', agent_id: null, store_id: null, version: null, url: null, worker_version: null }
    expect(found(broken({ 41: (e) => [{ ...e, ...none }] }))).toContainEqual(
      `2: after agent 1 died (life 1) its state file was missing or unreadable, though it had shown agent_id ${A} and version 2 of store aaaa1111`,
    )
  })
  test('a confirmation the state file forgot', () => {
    expect(found(broken({ 41: (e) => [{ ...e, worker_version: 1 }] }))).toContainEqual(
      '2: after agent 1 died (life 1) its state file says the worker confirmed version 1, though its /state had shown 2',
    )
  })
  test('an agent_id that changes', () => {
    expect(found(broken({ 70: (e) => [{ ...e, agent_id: 'agent-id-2' }] }))).toContainEqual(`2: agent 1's agent_id changed from ${A} to agent-id-2`)
  })
  test('a restarted agent showing an older version than before', () => {
    const older = { type: 'agent', at: 65, slot: 1, life: 3, agent_id: A, store_id: S, version: 1, url: u(1), worker_version: 1 } as const
    expect(found(broken({}, [older]))).toContainEqual('2: agent 1 went back from version 2 of store aaaa1111 to version 1 of store aaaa1111 (life 1 → 3)')
  })
})

test('promise 3: a worker that goes back within its store', () => {
  const older = { type: 'worker', at: 65, slot: 1, store_id: S, version: 1, url: u(1) } as const
  expect(found(broken({}, [older]))).toContainEqual('3: worker 1 went back from version 2 of store aaaa1111 (seen at 0.022 s) to version 1 of store aaaa1111')
})

describe('promise 4: everything converges after a heal', () => {
  test('a worker that reaches the current config only after the deadline', () => {
    expect(found(broken({ 71: (e) => [{ ...e, at: 1_500 }] }))).toContainEqual(
      "4: worker 1 had not reached the controller's version 3 of store aaaa1111 1.000 s after the heal at 0.060 s (last seen: nothing)",
    )
  })
  test('an agent whose worker never confirmed', () => {
    expect(found(broken({ 72: () => [] }))).toContainEqual(
      "4: agent 1 had not reached the controller's version 3 of store aaaa1111 1.000 s after the heal at 0.060 s (last seen: version 3 of store aaaa1111, worker_version 2)",
    )
  })
  test('a /hit that calls an old URL', () => {
    expect(found(broken({ 80: (e) => [{ ...e, called: u(2) }] }))).toContainEqual(`4: worker 1's /hit answered 200 having called ${u(2)}, after the heal at 0.060 s to ${u(3)}`)
  })
})

test('a process that dies on its own', () => {
  expect(found(broken({ 45: (e) => [{ ...e, by: 'itself', signal: null, code: 1 }] }))).toContainEqual('exit: agent 1 (life 2) died on its own (exit code 1)')
})

test('a violation reads as a sentence with its time, and repeats are reported once', () => {
  const twice = broken({}, [
    { type: 'worker', at: 65, slot: 1, store_id: S, version: 3, url: u(99) },
    { type: 'worker', at: 66, slot: 1, store_id: S, version: 3, url: u(99) },
  ])
  expect(check(twice).map(formatViolation)).toEqual([`promise 1, at 0.065 s: worker 1 held ${u(99)}, which was answered 503`])
})
