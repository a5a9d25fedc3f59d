/** The agent's decision table, in-process: every answer the controller and the worker can give, and
 *  what the agent does with it. A scripted transport, a fixed clock and fixed randomness (0.5: a jitter
 *  of zero, half the backoff ceiling) make each decision exact. The spawned end-to-end tests prove the
 *  wiring; these prove the rules. */
import { describe, expect, test } from 'bun:test'
import { createLogger, type ConfigDoc } from '@dcm/shared'
import { loadSettings } from '../settings'
import { memoryStateStore, type AgentState, type StateStore } from '../state'
import { ControllerLoop, REREGISTER_AFTER_NETWORK_FAILURES } from './controller-loop'
import type { AgentDeps } from './deps'
import { after, sleep, type Next } from './loop'
import { Peer } from './peer'
import { PersistedState } from './persisted'
import { WorkerLoop } from './worker-loop'

const STORE = 'store-a'
const doc = (version: number, extra: Partial<ConfigDoc> = {}): ConfigDoc => ({ version, store_id: STORE, url: `http://up.example/v${version}`, updated_at: '2026-01-01T00:00:00.000Z', ...extra })
const tagOf = (d: ConfigDoc) => `"${d.version}-${d.store_id}"`
const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
const error = (status: number, code: string, headers: Record<string, string> = {}) => json({ error: code, message: code, request_id: 'r' }, status, headers)
const networkError = () => new TypeError('connect ECONNREFUSED')
const timeout = () => new DOMException('The operation timed out.', 'TimeoutError')

// BACKOFF_BASE_MS 100 with randomness 0.5: the first backoff delay is 50 ms. Poll interval 1 s.
const BACKOFF_1 = 50
const BACKOFF_MAX = 10_000
const INTERVAL = 1000

type Answer = Response | Error | ((url: string, init: RequestInit) => Response | Error)

function rig(opts: { state?: AgentState; longPoll?: boolean; store?: StateStore; pushOnNewConfig?: boolean } = {}) {
  const settings = loadSettings({
    CONTROLLER_URL: 'http://ctl.example:8080',
    CONTROLLER_API_KEY: 'agent-key',
    WORKER_URL: 'http://worker.example:8082',
    WORKER_API_KEY: 'worker-key',
    STATE_FILE: '/nonexistent/state.json',
    BACKOFF_BASE_MS: '100',
    BACKOFF_MAX_MS: String(BACKOFF_MAX),
    LONG_POLL: String(opts.longPoll ?? false),
  })
  const lines: Record<string, any>[] = []
  const log = createLogger({ service: 'agent', level: 'debug', sink: { write: (s) => lines.push(JSON.parse(s)), flush: () => {} } })
  const calls: { url: string; method: string; headers: Record<string, string>; body?: string }[] = []
  const answers: Answer[] = []
  let n = 0
  let clock = 1_700_000_000_000
  const memory = memoryStateStore(opts.state ?? null)
  const deps: AgentDeps = {
    settings,
    store: opts.store ?? memory,
    log,
    transport: async (url, init) => {
      calls.push({ url, method: init.method ?? 'GET', headers: { ...(init.headers as Record<string, string>) }, body: init.body as string | undefined })
      const a = answers.shift()
      if (a === undefined) throw new Error(`no scripted answer for ${url}`)
      const r = typeof a === 'function' ? a(url, init) : a
      if (r instanceof Error) throw r
      return r
    },
    now: () => clock,
    random: () => 0.5,
    newId: () => `rid-${++n}`,
    hostname: 'box-1',
  }
  const abort = new AbortController()
  const errors: string[] = []
  const peer = (name: 'controller' | 'worker') => new Peer(name, { baseMs: 100, maxMs: BACKOFF_MAX, random: () => 0.5, now: deps.now, log, onError: (m) => errors.push(m) })
  const state = new PersistedState(deps, (m) => errors.push(m), () => worker.publish())
  const peers = { controller: peer('controller'), worker: peer('worker') }
  let kicks = 0
  let reports = 0
  let healthDue = 0
  // With pushOnNewConfig, a new config starts the worker loop's step at once, as the agent wires it.
  let pushing: Promise<Next> | null = null
  const onNewConfig = () => {
    kicks++
    if (opts.pushOnNewConfig) {
      worker.newConfig()
      pushing = worker.step()
    }
  }
  const controller: ControllerLoop = new ControllerLoop(deps, state, peers.controller, onNewConfig, abort.signal, () => ({
    applied: worker.applied,
    rejected: worker.rejected,
    health: worker.health.next(deps.now),
  }))
  const worker: WorkerLoop = new WorkerLoop(deps, state, peers.worker, () => controller.pollIntervalMs, () => state.current.etag === controller.confirmedEtag, abort.signal, () => reports++, () => (healthDue++, controller.healthDue()))
  return {
    answer: (...a: Answer[]) => answers.push(...a),
    calls,
    lines,
    errors,
    state,
    /** The memory store (unused when opts.store is given). */
    store: memory,
    peers,
    controller,
    worker,
    kicks: () => kicks,
    /** The worker step a new config started (pushOnNewConfig). */
    pushing: () => pushing!,
    reports: () => reports,
    healthDue: () => healthDue,
    /** Move the clock on. */
    advance: (ms: number) => void (clock += ms),
    /** Register (answered 201 with a 1 s interval) so that the next step polls. */
    async registered() {
      answers.push(json({ agent_id: 'agent-1', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: INTERVAL / 1000 }, 201))
      expect(await controller.step()).toEqual(after(0))
    },
  }
}

const holding = (config: ConfigDoc | null, extra: Partial<AgentState> = {}): AgentState => ({ agent_id: 'agent-1', etag: config && tagOf(config), config, worker_version: null, ...extra })

describe('the controller loop: what each poll answer leads to', () => {
  const v2 = doc(2)
  type Row = {
    answer: () => Answer
    next: Next
    config: ConfigDoc | null
    reachable: boolean
    kicked?: boolean
    registersNext?: boolean
    error?: string
  }
  const rows: [string, Row][] = [
    ['304 not modified', { answer: () => new Response(null, { status: 304, headers: { etag: tagOf(doc(1)) } }), next: after(INTERVAL), config: doc(1), reachable: true }],
    ['200 with the ETag we hold', { answer: () => json(doc(1), 200, { etag: tagOf(doc(1)) }), next: after(INTERVAL), config: doc(1), reachable: true }],
    ['200 with a newer version', { answer: () => json(v2, 200, { etag: tagOf(v2) }), next: after(INTERVAL), config: v2, reachable: true, kicked: true }],
    ['200 with an older version of the same store', { answer: () => json(doc(1), 200, { etag: '"1-other-tag"' }), next: after(INTERVAL), config: doc(5), reachable: true }],
    ['200 with a lower version of another store', { answer: () => json(doc(1, { store_id: 'store-b' }), 200, { etag: '"1-b"' }), next: after(INTERVAL), config: doc(1, { store_id: 'store-b' }), reachable: true, kicked: true }],
    ['200 with a document it cannot accept', { answer: () => json({ ...v2, url: 'http:/broken' }, 200, { etag: '"2-bad"' }), next: after(INTERVAL), config: doc(1), reachable: true, error: 'cannot accept' }],
    ['200 without an ETag', { answer: () => json(v2), next: after(INTERVAL), config: doc(1), reachable: true, error: 'no ETag' }],
    [
      '200 whose body breaks off on the way',
      {
        answer: () =>
          new Response(
            new ReadableStream({
              start(c) {
                c.enqueue(new TextEncoder().encode('{"version":2,'))
                c.error(new Error('connection reset'))
              },
            }),
            { headers: { etag: tagOf(v2) } },
          ),
        next: after(BACKOFF_1),
        config: doc(1),
        reachable: false,
        error: 'broke off',
      },
    ],
    ['404 no_config', { answer: () => error(404, 'no_config'), next: after(INTERVAL), config: doc(1), reachable: true }],
    ['another 404 (a wrong poll URL)', { answer: () => error(404, 'not_found'), next: after(BACKOFF_1), config: doc(1), reachable: true, registersNext: true, error: '404' }],
    ['401 (a refused key)', { answer: () => error(401, 'unauthorized'), next: after(BACKOFF_MAX), config: doc(1), reachable: true, error: '401' }],
    ['403', { answer: () => error(403, 'forbidden'), next: after(BACKOFF_MAX), config: doc(1), reachable: true, error: '403' }],
    ['429 with Retry-After: 3', { answer: () => error(429, 'slow_down', { 'retry-after': '3' }), next: after(3000), config: doc(1), reachable: true, error: '429' }],
    ['503', { answer: () => error(503, 'store_unavailable'), next: after(BACKOFF_1), config: doc(1), reachable: true, error: '503' }],
    ['a network error', { answer: networkError, next: after(BACKOFF_1), config: doc(1), reachable: false, error: 'ECONNREFUSED' }],
    ['a timeout', { answer: timeout, next: after(BACKOFF_1), config: doc(1), reachable: false, error: 'no answer within' }],
  ]
  test.each(rows)('%s', async (name, row) => {
    const start = name.includes('older') ? doc(5) : doc(1)
    const r = rig({ state: holding(start) })
    await r.registered()
    r.answer(row.answer())
    expect(await r.controller.step()).toEqual(row.next)
    expect(r.state.current.config).toEqual(row.config)
    expect(r.peers.controller.reachable).toBe(row.reachable)
    expect(r.kicks()).toBe(row.kicked ? 1 : 0)
    if (row.error) expect(r.peers.controller.lastError ?? '').toContain(row.error)
    else expect(r.peers.controller.lastError).toBeNull()
    // What the next step does: register again, or poll.
    r.answer(json({ agent_id: 'agent-1', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: 1 }, 200), new Response(null, { status: 304 }))
    await r.controller.step()
    expect(r.calls.at(-1)!.url.endsWith('/register')).toBe(row.registersNext ?? false)
  })

  test('a document it cannot accept is polled for with its tag, so the controller holds until the next one', async () => {
    const r = rig({ state: holding(doc(1)), longPoll: true })
    await r.registered()
    r.answer(json({ ...v2, url: ' http://leading-space.example/' }, 200, { etag: '"2-bad"' }))
    await r.controller.step()
    r.answer(new Response(null, { status: 304 }))
    await r.controller.step()
    expect(r.calls.at(-1)!.headers['if-none-match']).toBe('"2-bad"')
    expect(r.lines.filter((l) => l.msg === 'config document refused')).toHaveLength(1)
  })

  test('long-poll: straight back after a change', async () => {
    const r = rig({ state: holding(doc(1)), longPoll: true })
    await r.registered()
    r.answer(json(v2, 200, { etag: tagOf(v2) }))
    expect(await r.controller.step()).toEqual(after(0))
    expect(r.calls.at(-1)!.url).toBe('http://ctl.example:8080/config?wait=30')
  })

  test(`after ${REREGISTER_AFTER_NETWORK_FAILURES} polls without any answer it registers again`, async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    for (let i = 0; i < REREGISTER_AFTER_NETWORK_FAILURES; i++) {
      r.answer(networkError())
      await r.controller.step()
      expect(r.calls.at(-1)!.url.endsWith('/config')).toBe(true)
    }
    r.answer(json({ agent_id: 'agent-1', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: 1 }, 200))
    await r.controller.step()
    expect(r.calls.at(-1)!.url).toBe('http://ctl.example:8080/register')
  })

  test('an interval the controller asks for is kept within 0.1 s to 1 h', async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    r.answer(new Response(null, { status: 304, headers: { 'x-poll-interval': '0.0001' } }))
    expect(await r.controller.step()).toEqual(after(100))
    r.answer(new Response(null, { status: 304, headers: { 'x-poll-interval': '3000000000' } }))
    expect(await r.controller.step()).toEqual(after(3_600_000))
  })
})

describe('the controller loop: registration', () => {
  test('polls on CONTROLLER_URL’s origin whatever origin poll_url names, with the key only there', async () => {
    const r = rig()
    r.answer(json({ agent_id: 'agent-9', poll_url: 'http://localhost:9999/config', poll_interval_seconds: 5 }, 201))
    expect(await r.controller.step()).toEqual(after(0))
    expect(r.state.current.agent_id).toBe('agent-9')
    r.answer(error(404, 'no_config'))
    await r.controller.step()
    expect(r.calls.map((c) => c.url)).toEqual(['http://ctl.example:8080/register', 'http://ctl.example:8080/config'])
    expect(r.calls[1]!.headers).toMatchObject({ authorization: 'Bearer agent-key', 'x-agent-id': 'agent-9' })
  })

  test.each([
    ['a reply that does not validate', () => json({ agent_id: '' }, 201), BACKOFF_1],
    ['401', () => error(401, 'unauthorized'), BACKOFF_MAX],
    ['503', () => error(503, 'store_unavailable'), BACKOFF_1],
    ['a network error', networkError, BACKOFF_1],
  ] as const)('%s: it waits and registers again', async (_, answer, wait) => {
    const r = rig()
    r.answer(answer())
    expect(await r.controller.step()).toEqual(after(wait))
    r.answer(json({ agent_id: 'agent-1', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: 1 }, 201))
    await r.controller.step()
    expect(r.calls.map((c) => c.url)).toEqual(['http://ctl.example:8080/register', 'http://ctl.example:8080/register'])
  })

  test('a known agent presents its id', async () => {
    const r = rig({ state: holding(null, { agent_id: 'kept-id' }) })
    r.answer(json({ agent_id: 'kept-id', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: 1 }, 200))
    await r.controller.step()
    expect(JSON.parse(r.calls[0]!.body!)).toEqual({ agent_id: 'kept-id', hostname: 'box-1', worker_url: 'http://worker.example:8082' })
  })
})

describe('the controller loop: the agent’s own token', () => {
  const TOKEN = 'T'.repeat(43)
  const reply = (status = 200, extra: Record<string, unknown> = { agent_token: TOKEN }) =>
    json({ agent_id: 'agent-1', poll_url: 'http://ctl.example:8080/config', poll_interval_seconds: INTERVAL / 1000, ...extra }, status)
  const withToken = (extra: Partial<AgentState> = {}) => holding(doc(1), { agent_token: TOKEN, ...extra })
  const notModified = () => new Response(null, { status: 304 })

  test('a token from registration is saved with the id in one write, and every poll presents it instead of the shared key', async () => {
    const r = rig()
    r.answer(reply(201), notModified())
    await r.controller.step()
    // An agent without a token asks for one: it keeps what it is given.
    expect(r.calls[0]!.headers['x-agent-token']).toBe('new')
    await r.controller.step()
    expect(r.store.saved).toEqual([{ agent_id: 'agent-1', etag: null, config: null, worker_version: null, agent_token: TOKEN }])
    expect(r.calls[1]!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'x-agent-id': 'agent-1' })
  })

  test('registering again presents the token in X-Agent-Token beside the shared key; the same token back saves nothing', async () => {
    const r = rig({ state: withToken() })
    r.answer(reply())
    await r.controller.step()
    expect(r.calls[0]!.headers).toMatchObject({ authorization: 'Bearer agent-key', 'x-agent-token': TOKEN })
    expect(r.store.saved).toEqual([])
  })

  test('a controller of an earlier release gives no token: polls present the shared key, a token held is kept', async () => {
    const r = rig({ state: withToken() })
    r.answer(reply(200, {}), notModified())
    await r.controller.step()
    await r.controller.step()
    expect(r.calls[1]!.headers.authorization).toBe('Bearer agent-key')
    expect(r.state.current.agent_token).toBe(TOKEN)
  })

  type Row = { when: 'register' | 'poll' | 'first poll'; answer: () => Answer; next: Next; revoked: boolean; registersNext?: boolean; error: string }
  const rows: [string, Row][] = [
    ['poll: 401 agent_revoked', { when: 'poll', answer: () => error(401, 'agent_revoked'), next: sleep, revoked: true, error: 'agent_revoked' }],
    ['register: 401 agent_revoked', { when: 'register', answer: () => error(401, 'agent_revoked'), next: sleep, revoked: true, error: 'agent_revoked' }],
    ['register: 403 agent_token_mismatch (never a new id by itself)', { when: 'register', answer: () => error(403, 'agent_token_mismatch'), next: sleep, revoked: true, error: 'agent_token_mismatch' }],
    ['poll: 401 for our token (a reset database): register again, with the token', { when: 'poll', answer: () => error(401, 'unauthorized'), next: after(BACKOFF_1), revoked: false, registersNext: true, error: '401' }],
    ['poll: 403 agent_token_required: register again to get a token', { when: 'poll', answer: () => error(403, 'agent_token_required'), next: after(BACKOFF_1), revoked: false, registersNext: true, error: 'agent_token_required' }],
    ['first poll after registering: 401 for our token is a configuration error', { when: 'first poll', answer: () => error(401, 'unauthorized'), next: after(BACKOFF_MAX), revoked: false, error: '401' }],
    ['register: 401 (the shared key refused)', { when: 'register', answer: () => error(401, 'unauthorized'), next: after(BACKOFF_MAX), revoked: false, registersNext: true, error: '401' }],
  ]
  test.each(rows)('%s', async (_, row) => {
    const r = rig({ state: withToken() })
    if (row.when !== 'register') {
      r.answer(reply())
      await r.controller.step()
      if (row.when === 'poll') {
        r.answer(notModified())
        await r.controller.step()
      }
    }
    r.answer(row.answer())
    expect(await r.controller.step()).toEqual(row.next)
    expect({ revoked: r.controller.revoked !== null, reachable: r.peers.controller.reachable }).toEqual({ revoked: row.revoked, reachable: true })
    expect(r.peers.controller.lastError).toContain(row.error)
    expect(r.state.current).toMatchObject({ agent_id: 'agent-1', agent_token: TOKEN, config: doc(1) })
    const before = r.calls.length
    if (row.revoked) {
      // Stopped for good: no call to the controller ever again, one error line.
      expect(await r.controller.step()).toEqual(sleep)
      expect(r.calls.length).toBe(before)
      expect(r.lines.filter((l) => l.level === 'error' && l.msg.includes('this agent'))).toHaveLength(1)
      return
    }
    r.answer(reply(), notModified())
    await r.controller.step()
    const nextCall = r.calls[before]!
    expect(nextCall.url.endsWith('/register')).toBe(row.registersNext ?? false)
    if (row.registersNext) expect(nextCall.headers['x-agent-token']).toBe(TOKEN)
  })

  test('a revoked agent keeps its worker on the config it has', async () => {
    const r = rig({ state: withToken() })
    r.answer(error(401, 'agent_revoked'))
    await r.controller.step()
    r.answer(json({ version: null, store_id: null, url: null, applied_at: null }), json({ applied: true }))
    expect(await r.worker.step()).toEqual(after(5000)) // the interval it had: it never registered
    expect(r.calls.filter((c) => c.method === 'POST' && c.url === 'http://worker.example:8082/config')).toHaveLength(1)
    expect(r.state.current.worker_version).toBe(1)
  })
})

describe('the worker loop: what each worker answer leads to', () => {
  const state = (version: number | null, store = STORE, updated_at = '2026-01-01T00:00:00.000Z') =>
    json({ version, store_id: version === null ? null : store, updated_at: version === null ? undefined : updated_at, url: null, applied_at: null })

  test('no config yet: it sleeps until kicked', async () => {
    const r = rig()
    expect(await r.worker.step()).toEqual(sleep)
    expect(r.calls).toEqual([])
  })

  type Row = { answers: () => Answer[]; next: Next; pushed: boolean; confirmed: number | null; reachable: boolean }
  const rows: [string, Row][] = [
    ['the worker holds our version', { answers: () => [state(1)], next: after(INTERVAL), pushed: false, confirmed: 1, reachable: true }],
    ['the worker is empty; the push is applied', { answers: () => [state(null), json({ applied: true })], next: after(INTERVAL), pushed: true, confirmed: 1, reachable: true }],
    ['the worker holds our number from another store', { answers: () => [state(1, 'store-b'), json({ applied: true })], next: after(INTERVAL), pushed: true, confirmed: 1, reachable: true }],
    ['the push is refused with 409', { answers: () => [state(5), error(409, 'stale_version')], next: after(INTERVAL), pushed: true, confirmed: null, reachable: true }],
    ['the push is refused with 422', { answers: () => [state(null), error(422, 'validation_failed')], next: after(INTERVAL), pushed: true, confirmed: null, reachable: true }],
    ['the push meets a refused key', { answers: () => [state(null), error(401, 'unauthorized')], next: after(BACKOFF_MAX), pushed: true, confirmed: null, reachable: true }],
    ['the push gets 503', { answers: () => [state(null), error(503, 'busy')], next: after(BACKOFF_1), pushed: true, confirmed: null, reachable: true }],
    ['the push meets a network error', { answers: () => [state(null), networkError()], next: after(BACKOFF_1), pushed: true, confirmed: null, reachable: false }],
    ['the probe meets a network error', { answers: () => [networkError()], next: after(BACKOFF_1), pushed: false, confirmed: null, reachable: false }],
  ]
  test.each(rows)('%s', async (_, row) => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    r.answer(...row.answers())
    expect(await r.worker.step()).toEqual(row.next)
    const pushes = r.calls.filter((c) => c.method === 'POST' && c.url === 'http://worker.example:8082/config')
    expect(pushes.length).toBe(row.pushed ? 1 : 0)
    if (row.pushed) expect(JSON.parse(pushes[0]!.body!)).toEqual(doc(1))
    expect(r.state.current.worker_version).toBe(row.confirmed)
    expect(r.peers.worker.reachable).toBe(row.reachable)
  })

  test.each([
    ['a higher version of our store it never issued', () => state(2_147_483_647)],
    ['our version number with other content', () => state(1, STORE, '2025-12-31T00:00:00.000Z')],
  ] as const)('the worker holds %s: once the controller confirmed ours, ours replaces it', async (_, held) => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    const replaced = () => r.calls.filter((c) => c.url === 'http://worker.example:8082/config?replace=true').length
    // Not confirmed by the controller yet (a state file from before a restart): refused, not replaced.
    r.answer(held(), error(409, 'stale_version'))
    await r.worker.step()
    expect({ replaced: replaced(), confirmed: r.state.current.worker_version }).toEqual({ replaced: 0, confirmed: null })
    r.answer(new Response(null, { status: 304 }))
    await r.controller.step()
    r.answer(held(), error(409, 'stale_version'), json({ applied: true }))
    await r.worker.step()
    expect({ replaced: replaced(), confirmed: r.state.current.worker_version }).toEqual({ replaced: 1, confirmed: 1 })
  })

  test('a worker back after an outage gets its first push without the backoff the outage built up', async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    for (let i = 0; i < 8; i++) {
      r.answer(networkError())
      await r.worker.step()
    }
    r.answer(state(null), networkError())
    // The push fails too, but its wait starts from the first backoff step again.
    expect(await r.worker.step()).toEqual(after(BACKOFF_1))
  })

  test('a refused document is not sent again until the version or the worker changes', async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    r.answer(state(5), error(409, 'stale_version'))
    await r.worker.step()
    r.answer(state(5))
    expect(await r.worker.step()).toEqual(after(INTERVAL))
    r.answer(state(6), json({ applied: true }))
    await r.worker.step()
    expect(r.calls.filter((c) => c.method === 'POST' && c.url.startsWith('http://worker')).length).toBe(2)
  })

  test('a worker that stays unreachable is asked again within one poll interval, however long the outage', async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    const waits: number[] = []
    for (let i = 0; i < 12; i++) {
      r.answer(networkError())
      const next = await r.worker.step()
      waits.push(next.kind === 'after' ? next.ms : Infinity)
    }
    expect(Math.max(...waits)).toBe(INTERVAL)
    expect(waits[0]).toBe(BACKOFF_1)
  })
})

describe('what each poll reports about the worker', () => {
  const held = (d: ConfigDoc) => json({ store_id: d.store_id, version: d.version, updated_at: d.updated_at })
  const pollHeaders = async (r: ReturnType<typeof rig>) => {
    r.answer(new Response(null, { status: 304 }))
    await r.controller.step()
    const h = r.calls[r.calls.length - 1]!.headers
    return { applied: h['x-applied-version'] ?? null, rejected: h['x-rejected-version'] ?? null, reason: h['x-rejected-reason'] ?? null }
  }

  test('nothing before the worker is probed; then the version it holds; a refusal with its code until a newer version is applied', async () => {
    const r = rig({ state: holding(doc(1)) })
    await r.registered()
    expect(await pollHeaders(r)).toEqual({ applied: null, rejected: null, reason: null })
    r.answer(held(doc(1)))
    await r.worker.step()
    expect(r.reports()).toBe(1)
    expect(await pollHeaders(r)).toEqual({ applied: '1', rejected: null, reason: null })
    // Version 2 arrives and the worker refuses it.
    r.state.update({ config: doc(2), etag: tagOf(doc(2)) })
    r.answer(held(doc(1)), error(422, 'upstream_forbidden'))
    await r.worker.step()
    expect(await pollHeaders(r)).toEqual({ applied: '1', rejected: '2', reason: 'upstream_forbidden' })
    // Version 3 is applied: the refusal of 2 is no longer reported.
    r.state.update({ config: doc(3), etag: tagOf(doc(3)) })
    r.answer(held(doc(1)), json({ ok: true }))
    await r.worker.step()
    expect(await pollHeaders(r)).toEqual({ applied: '3', rejected: null, reason: null })
    expect(r.reports()).toBe(3)
  })

  test('a restarted, empty worker is reported as holding nothing until the push lands', async () => {
    const r = rig({ state: holding(doc(4), { worker_version: 4 }) })
    await r.registered()
    r.answer(json({ store_id: null, version: null, updated_at: null }), error(503, 'not_ready'))
    await r.worker.step()
    expect(await pollHeaders(r)).toEqual({ applied: null, rejected: null, reason: null })
  })

  test('a long-poll held at the controller is ended by a new report, and the next poll starts at once without a failure', async () => {
    const r = rig({ state: holding(doc(1)), longPoll: true })
    await r.registered()
    // The controller holds the poll until it is aborted.
    r.answer((_, init) => new Promise<Response>((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))) as unknown as Response)
    const calls = r.calls.length
    const polling = r.controller.step()
    while (r.calls.length === calls) await Promise.resolve() // the poll has reached the transport
    r.controller.reportChanged()
    expect(await polling).toEqual(after(0))
    expect(r.peers.controller.lastError).toBeNull()
  })
})

describe('X-Worker-Health: the hits since the last report, with the polls', () => {
  const LE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000]
  /** The worker's /state holding doc(1) after `ok` good and `bad` failed hits (all timed ≤ 5 ms). */
  const probed = (ok: number, bad = 0) => {
    const counts = LE.map(() => 0).concat(0)
    counts[2] = ok + bad
    const d = doc(1)
    return json({ store_id: d.store_id, version: 1, updated_at: d.updated_at, applied_at: 't1', hits: { version: 1, total: ok + bad, by_class: { '2xx': ok, '3xx': 0, '4xx': 0, '5xx': 0 }, upstream_failures: bad, p50_ms: 5, p99_ms: 5, buckets: { le_ms: LE, counts } } })
  }
  const poll = async (r: ReturnType<typeof rig>, answer: Answer = new Response(null, { status: 304 })) => {
    r.answer(answer)
    const next = await r.controller.step()
    const c = r.calls[r.calls.length - 1]!
    return { health: c.headers['x-worker-health'] ?? null, held: c.url.includes('wait='), next }
  }
  /** A probe of the worker; the first one is the base the deltas start from. */
  const probe = async (r: ReturnType<typeof rig>, ok: number, bad = 0) => {
    r.answer(probed(ok, bad))
    await r.worker.step()
  }

  test('a poll carries the hits since the last answered one; nothing when there is nothing new', async () => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }) })
    await r.registered()
    await probe(r, 10) // the base: hits from before this agent are not reported
    expect((await poll(r)).health).toBeNull()
    await probe(r, 14, 2)
    expect((await poll(r)).health).toBe('v=1;total=6;err=2;p99=5')
    expect((await poll(r)).health).toBeNull() // reported: not sent again
    await probe(r, 14, 2)
    expect((await poll(r)).health).toBeNull() // no new hits
  })

  test.each([
    ['a 503', () => error(503, 'unavailable')],
    ['no answer', () => networkError()],
    ['a timeout', () => timeout()],
  ])('a poll that got %s reported nothing: the next carries the delta again, with the hits since', async (_, failure) => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }) })
    await r.registered()
    await probe(r, 0)
    await probe(r, 3)
    expect((await poll(r, failure())).health).toBe('v=1;total=3;err=0;p99=5')
    await probe(r, 5, 1)
    expect((await poll(r)).health).toBe('v=1;total=6;err=1;p99=5')
    expect((await poll(r)).health).toBeNull()
  })

  test('a restarted worker (counts from zero): its new hits are reported, none lost or counted twice', async () => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }) })
    await r.registered()
    await probe(r, 50)
    await probe(r, 52)
    r.answer(json({ store_id: STORE, version: null, updated_at: null, hits: { version: null, total: 0 } }), json({ ok: true })) // restarted empty: pushed again
    await r.worker.step()
    await probe(r, 4)
    expect((await poll(r)).health).toBe('v=1;total=6;err=0;p99=5')
  })

  test('a new version pushed without a probe: the replaced one’s last hits come from the worker’s reply, and every hit of the new one counts', async () => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }), pushOnNewConfig: true })
    await r.registered()
    await probe(r, 0)
    await probe(r, 4)
    expect((await poll(r)).health).toBe('v=1;total=4;err=0;p99=5')
    // Version 2 arrives; the worker's reply holds version 1's counts at the swap: 3 hits since the probe.
    const last = (await probed(7, 1).json()) as Record<string, unknown>
    const replaced = { ...last, store_id: STORE, version: 1 }
    r.answer(json(doc(2), 200, { etag: tagOf(doc(2)) }), json({ applied: true, store_id: STORE, version: 2, replaced }))
    await r.controller.step()
    await r.pushing()
    expect(r.calls.filter((c) => c.url.endsWith('/state'))).toHaveLength(2) // no probe before the push
    expect((await poll(r)).health).toBe('v=1;total=4;err=1;p99=5')
    // Version 2's first probe: all its hits are new (none could have been reported before).
    const d2 = doc(2)
    const counts2 = [0, 0, 2, ...Array(13).fill(0)]
    r.answer(json({ store_id: STORE, version: 2, updated_at: d2.updated_at, applied_at: 't2', hits: { version: 2, total: 2, by_class: { '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 0 }, upstream_failures: 0, p50_ms: 5, p99_ms: 5, buckets: { le_ms: LE, counts: counts2 } } }))
    await r.worker.step()
    expect((await poll(r)).health).toBe('v=2;total=2;err=0;p99=5')
  })

  test('the first config pushed to an empty worker: the first probe after it is no base, all its hits count', async () => {
    const r = rig({ pushOnNewConfig: true })
    await r.registered()
    r.answer(json(doc(1), 200, { etag: tagOf(doc(1)) }), json({ applied: true, store_id: STORE, version: 1 }))
    await r.controller.step()
    await r.pushing()
    await probe(r, 9, 3)
    expect((await poll(r)).health).toBe('v=1;total=12;err=3;p99=5')
  })

  test('long-poll: a poll carrying health is not held and is followed at once by a held one without it', async () => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }), longPoll: true })
    await r.registered()
    await probe(r, 0)
    await probe(r, 2)
    expect(await poll(r)).toEqual({ health: 'v=1;total=2;err=0;p99=5', held: false, next: after(0) })
    // (A held poll answered at once waits out the interval, as before.)
    expect(await poll(r)).toEqual({ health: null, held: true, next: after(INTERVAL) })
  })

  test('long-poll: a held poll is ended when a probe finds unreported hits and the last report is one interval old, not sooner', async () => {
    const r = rig({ state: holding(doc(1), { worker_version: 1 }), longPoll: true })
    await r.registered()
    await probe(r, 0)
    await probe(r, 1)
    await poll(r) // reported now
    const due = r.healthDue()
    const holdUntilAborted = (_: string, init: RequestInit) => new Promise<Response>((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))) as unknown as Response
    r.answer(holdUntilAborted)
    const calls = r.calls.length
    const polling = r.controller.step()
    while (r.calls.length === calls) await Promise.resolve()
    r.advance(INTERVAL / 2)
    await probe(r, 3)
    expect(r.healthDue() - due).toBe(0) // reported half an interval ago: the held poll goes on
    r.advance(INTERVAL / 2)
    await probe(r, 4)
    expect(r.healthDue() - due).toBe(1)
    expect(await polling).toEqual(after(0))
    expect(r.peers.controller.lastError).toBeNull()
    expect(await poll(r)).toEqual({ health: 'v=1;total=3;err=0;p99=5', held: false, next: after(0) })
  })
})

describe('what the controller hears applied: only what the worker holds and the state file holds', () => {
  /** A memory store whose saves can be held back (a slow disk) or made to fail (a full one). */
  function slowStore(initial: AgentState) {
    const inner = memoryStateStore(initial)
    let gate: PromiseWithResolvers<void> | null = null
    let failing = false
    const store: StateStore = {
      load: inner.load,
      async save(s, o) {
        if (gate) await gate.promise
        if (failing) throw new Error('ENOSPC: no space left on device')
        return inner.save(s, o)
      },
    }
    return {
      store,
      /** What the file holds for sure: the last durable save's config version. */
      fileVersion: () => (inner.durable.at(-1) ?? initial).config?.version ?? null,
      hold: () => void (gate = Promise.withResolvers<void>()),
      release: () => {
        gate?.resolve()
        gate = null
      },
      fail: (on: boolean) => void (failing = on),
    }
  }
  const settle = () => Bun.sleep(5) // the saves' promise chains run
  const probed = (d: ConfigDoc) => json({ store_id: d.store_id, version: d.version, updated_at: d.updated_at })
  const notModified = () => new Response(null, { status: 304 })
  /** Each poll's X-Applied-Version, checked against the file as the poll leaves. */
  function watchPolls(r: ReturnType<typeof rig>, file: () => number | null) {
    const seen: { applied: number | null; file: number | null }[] = []
    return {
      seen,
      poll: async () => {
        r.answer((_, init) => {
          const h = init.headers as Record<string, string>
          seen.push({ applied: h['x-applied-version'] === undefined ? null : Number(h['x-applied-version']), file: file() })
          return notModified()
        })
        await r.controller.step()
        return seen.at(-1)!.applied
      },
    }
  }

  test('a new config is pushed while its save is under way, and reported applied only once the file holds it', async () => {
    const disk = slowStore(holding(doc(1), { worker_version: 1 }))
    const r = rig({ store: disk.store, pushOnNewConfig: true })
    const polls = watchPolls(r, disk.fileVersion)
    await r.registered()
    r.answer(probed(doc(1)))
    await r.worker.step()
    expect(await polls.poll()).toBe(1)

    disk.hold()
    let fileAtPush = null as number | null
    r.answer(json(doc(2), 200, { etag: tagOf(doc(2)) }), () => {
      fileAtPush = disk.fileVersion()
      return json({ applied: true })
    })
    await r.controller.step()
    expect(await r.pushing()).toEqual(after(INTERVAL))
    // The worker got version 2 before the file did: no probe first, and the push did not wait for the save.
    expect({ fileAtPush, pushed: r.calls.filter((c) => c.url === 'http://worker.example:8082/config').map((c) => JSON.parse(c.body!).version) }).toEqual({ fileAtPush: 1, pushed: [2] })
    expect(r.calls.filter((c) => c.url.endsWith('/state'))).toHaveLength(1) // only the probe before the change
    expect(await polls.poll()).toBe(1)

    disk.release()
    await settle()
    expect(await polls.poll()).toBe(2)
    // No poll ever named a version the file did not hold.
    expect(polls.seen.filter((p) => p.applied !== null && (p.file === null || p.applied > p.file))).toEqual([])
  })

  test('a state file that cannot be written: the worker gets the new version, the controller hears it once the file takes it', async () => {
    const disk = slowStore(holding(doc(1), { worker_version: 1 }))
    const r = rig({ store: disk.store, pushOnNewConfig: true })
    const polls = watchPolls(r, disk.fileVersion)
    await r.registered()
    r.answer(probed(doc(1)))
    await r.worker.step()
    disk.fail(true)
    r.answer(json(doc(2), 200, { etag: tagOf(doc(2)) }), json({ applied: true }))
    await r.controller.step()
    await r.pushing()
    await settle()
    expect({ file_ok: r.state.status.ok, worker_version: r.state.current.worker_version }).toEqual({ file_ok: false, worker_version: 2 })
    expect(await polls.poll()).toBe(1)
    disk.fail(false)
    r.state.update({}) // the next retry (FILE_RETRY_MS later in the agent)
    await settle()
    expect(r.state.status.ok).toBe(true)
    expect(await polls.poll()).toBe(2)
    expect(polls.seen.filter((p) => p.applied !== null && (p.file === null || p.applied > p.file))).toEqual([])
  })

  test('after a crash that left the worker ahead of the file, nothing is reported until the file catches up, and the worker is never sent back', async () => {
    // The agent died while saving version 2, which its worker already applied.
    const disk = slowStore(holding(doc(1), { worker_version: 1 }))
    const r = rig({ store: disk.store })
    const polls = watchPolls(r, disk.fileVersion)
    await r.registered()
    // The worker holds 2; ours is 1: pushed, refused as stale. Meanwhile the controller's version 2
    // arrives and is confirmed (its save held up): the refused 1 must not replace the worker's 2.
    disk.hold()
    r.answer(probed(doc(2)), () => {
      r.state.update({ config: doc(2), etag: tagOf(doc(2)) })
      r.controller.confirmedEtag = tagOf(doc(2))
      return error(409, 'stale_version')
    })
    await r.worker.step()
    expect(r.calls.filter((c) => c.url.includes('replace=true'))).toEqual([])
    // The file still holds 1: a poll now must not name 2.
    expect(await polls.poll()).not.toBe(2)
    disk.release()
    await settle()
    // The file holds 2 now; the next probe confirms it.
    r.answer(probed(doc(2)))
    await r.worker.step()
    expect(await polls.poll()).toBe(2)
    expect(polls.seen.filter((p) => p.applied !== null && (p.file === null || p.applied > p.file))).toEqual([])
  })

  test('the worker ahead of the file (a save under way) is not reported, and the report does not go back meanwhile', async () => {
    const disk = slowStore(holding(doc(3), { worker_version: 3 }))
    const r = rig({ store: disk.store })
    const polls = watchPolls(r, disk.fileVersion)
    await r.registered()
    r.answer(probed(doc(3)))
    await r.worker.step()
    disk.hold()
    r.state.update({ config: doc(4), etag: tagOf(doc(4)) })
    r.answer(probed(doc(3)), json({ applied: true }))
    await r.worker.step()
    expect(await polls.poll()).toBe(3)
    disk.release()
    await settle()
    expect(await polls.poll()).toBe(4)
  })
})
