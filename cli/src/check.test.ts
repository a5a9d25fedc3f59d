/** `dcm check` in-process: a stand-in deployment (controller, agent and worker answering as their
 *  READMEs specify) behind an injected transport; each case breaks one thing and expects the row that
 *  says so, and the exit code. The end-to-end test against real processes is cli/test/check.test.ts. */
import { describe, expect, test } from 'bun:test'
import type { Check } from './check'
import { run } from './main'

const C = 'http://ctl.test'
const A = 'http://agent.test'
const W = 'http://worker.test'
const STORE = 's1'
const DOC = { version: 3, store_id: STORE, url: 'https://up.example/a', updated_at: '2026-11-28T06:00:00.000Z' }

type Handler = (req: Request) => Response | Promise<Response>
const err = (status: number, error: string, message: string) => Response.json({ error, message, request_id: 'req-1' }, { status })

/** A healthy deployment at version 3; `over` replaces the answer of one "host path". */
function deployment(over: Record<string, Handler | 'down'> = {}) {
  const routes: Record<string, Handler> = {
    [`${C}/healthz`]: () => Response.json({ status: 'ok', service: 'controller' }),
    [`${C}/readyz`]: () => Response.json({ status: 'ready', store: 'postgres', version: 3, held_polls: 1 }),
    [`${C}/config`]: (r) => (r.headers.get('authorization') === 'Bearer admin-k' ? Response.json(DOC, { headers: { etag: '"3-x"' } }) : err(401, 'unauthorized', 'a valid API key is required')),
    [`${C}/config/versions`]: (r) => (r.headers.get('authorization') === 'Bearer admin-k' ? Response.json({ versions: [{ ...DOC, created_by: 'alice', comment: null }], next_before: null }) : err(401, 'unauthorized', 'a valid API key is required')),
    [`${C}/rollouts/current`]: () => err(404, 'no_rollout', 'no rollout is running'),
    [`${C}/register`]: (r) => (r.headers.get('authorization') === 'Bearer agent-k' ? Response.json({ agent_id: 'dcm-check', poll_url: `${C}/config`, poll_interval_seconds: 5, agent_token: null }) : err(401, 'unauthorized', 'a valid API key is required')),
    [`${A}/healthz`]: () => Response.json({ status: 'ok', service: 'agent' }),
    [`${A}/readyz`]: () => Response.json({ status: 'ready', version: 3 }),
    [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 3, worker_version: 3, controller: { reachable: true }, worker: { reachable: true }, revoked: false }),
    [`${W}/healthz`]: () => Response.json({ status: 'ok', service: 'worker' }),
    [`${W}/readyz`]: () => Response.json({ status: 'ready', version: 3 }),
    [`${W}/state`]: () => Response.json({ version: 3, store_id: STORE, url: 'https://up.example/a' }),
    [`${W}/hit`]: () => new Response('hello', { status: 200 }),
  }
  const sent: { method: string; url: string; auth: string | null; body: string }[] = []
  const fetcher = (async (input: string | URL, init?: RequestInit) => {
    const req = new Request(String(input), init)
    const u = new URL(req.url)
    const key = `${u.origin}${u.pathname}`
    sent.push({ method: req.method, url: key, auth: req.headers.get('authorization'), body: req.method === 'GET' ? '' : await req.clone().text() })
    const h = over[key] ?? over[u.origin] ?? routes[key]
    if (h === 'down') throw new TypeError('Unable to connect (ECONNREFUSED)')
    if (!h) return err(404, 'not_found', 'no such route')
    return h(req)
  }) as typeof fetch
  return { fetcher, sent }
}

async function check(args: string[], over: Record<string, Handler | 'down'> = {}, env: Record<string, string> = { DCM_ADMIN_KEY: 'admin-k' }) {
  const d = deployment(over)
  const out: string[] = []
  const errs: string[] = []
  const code = await run(['check', ...args], { out: (s) => out.push(s), err: (s) => errs.push(s), env, fetcher: d.fetcher })
  const text = out.join('\n')
  return { code, out: text, err: errs.join('\n'), sent: d.sent }
}
/** The RESULT and DETAIL of one row of the table. */
const row = (out: string, service: string, name: string) => {
  const line = out.split('\n').find((l) => new RegExp(`^${service} +${name} `).test(l))
  if (!line) throw new Error(`no row ${service} ${name} in:\n${out}`)
  const [, result, detail] = /^\S+ +\S+ +(\S+) +(.*)$/.exec(line)!
  return { result, detail }
}

describe('dcm check against a stand-in deployment', () => {
  test('a healthy deployment: every row passes (register skipped without an agent key), exit 0, the admin key only on the config read', async () => {
    const r = await check([C, A, W])
    expect(r.code).toBe(0)
    expect(r.out.split('\n').slice(0, 3)).toEqual([`controller  ${C}`, `agent       ${A}`, `worker      ${W}`])
    expect(r.out).toEndWith('12 checks: 11 passed, 0 failed, 1 skipped')
    expect(row(r.out, 'controller', 'register')).toEqual({ result: 'skip', detail: 'no agent key (--agent-key or DCM_AGENT_KEY): registration not tried' })
    expect(row(r.out, 'agent', 'state')).toEqual({ result: 'pass', detail: "version 3 (the controller's), confirmed by its worker, agent a-1" })
    expect(row(r.out, 'worker', 'state')).toEqual({ result: 'pass', detail: "version 3 (the controller's)" })
    expect(row(r.out, 'worker', 'hit')).toEqual({ result: 'pass', detail: 'HTTP 200 from the upstream' })
    expect(r.sent.filter((s) => s.auth !== null).map((s) => [s.url, s.auth])).toEqual([
      [`${C}/config`, 'Bearer admin-k'],
      [`${C}/rollouts/current`, 'Bearer admin-k'],
      [`${C}/config/versions`, 'Bearer admin-k'],
    ])
    expect(r.sent.some((s) => s.url.startsWith(A) && s.method !== 'GET')).toBe(false)
  })

  test('--agent-key (or DCM_AGENT_KEY) registers the fixed agent_id dcm-check with that key', async () => {
    for (const [args, env] of [
      [['--agent-key', 'agent-k'], { DCM_ADMIN_KEY: 'admin-k' }],
      [[], { DCM_ADMIN_KEY: 'admin-k', DCM_AGENT_KEY: 'agent-k' }],
    ] as const) {
      const r = await check([C, A, W, ...args], {}, env)
      expect(r.code).toBe(0)
      expect(r.out).toEndWith('12 checks: 12 passed, 0 failed, 0 skipped')
      expect(row(r.out, 'controller', 'register').detail).toBe(`HTTP 200, agent_id dcm-check, poll_url ${C}/config`)
      const reg = r.sent.find((s) => s.url === `${C}/register`)!
      expect([reg.method, reg.auth, JSON.parse(reg.body)]).toEqual(['POST', 'Bearer agent-k', { agent_id: 'dcm-check', hostname: 'dcm-check', labels: { 'dcm-check': 'true' } }])
    }
  })

  test.each([
    ['a wrong agent key', ['--agent-key', 'nope'], {}, 'controller', 'register', 'HTTP 401 unauthorized: a valid API key is required'],
    ['the store down', [], { [`${C}/readyz`]: () => err(503, 'store_unavailable', 'the config store is unavailable') }, 'controller', 'readyz', 'HTTP 503 store_unavailable: the config store is unavailable'],
    ['no config yet', [], { [`${C}/config`]: () => err(404, 'no_config', 'no config has been set yet') }, 'controller', 'config', 'no config has been set yet (HTTP 404 no_config): set one with dcm config set'],
    ['the agent behind', [], { [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 2, worker_version: 2, controller: { reachable: true } }) }, 'agent', 'state', "version 2, the controller's is 3"],
    ['the agent cut off from the controller, its worker not confirming', [], { [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 3, worker_version: null, worker: { last_error: 'ECONNREFUSED' }, controller: { reachable: false, last_error: 'timeout' } }) }, 'agent', 'state', 'its worker confirmed nothing (ECONNREFUSED); the controller is unreachable from it (timeout)'],
    ['the agent of another store', [], { [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: 'old', version: 3, worker_version: 3, controller: { reachable: true } }) }, 'agent', 'state', "store old, not the controller's s1"],
    ['a revoked agent', [], { [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 3, worker_version: 3, controller: { reachable: true }, revoked: true }) }, 'agent', 'state', 'it is revoked'],
    ['the worker empty', [], { [`${W}/state`]: () => Response.json({ version: null, store_id: null, url: null }) }, 'worker', 'state', "store none, not the controller's s1"],
    ['/hit: the upstream unreachable', [], { [`${W}/hit`]: () => err(502, 'upstream_unreachable', 'the upstream could not be reached') }, 'worker', 'hit', 'HTTP 502 upstream_unreachable: the upstream could not be reached'],
    ['/hit: the upstream failing', [], { [`${W}/hit`]: () => new Response('boom', { status: 500 }) }, 'worker', 'hit', 'HTTP 500 from the upstream (the worker reached it; the upstream failed)'],
    ['an http URL redirected to https', [], { [`${W}/healthz`]: () => new Response(null, { status: 301, headers: { location: 'https://worker.test/healthz' } }) }, 'worker', 'healthz', 'HTTP 301, redirected to https://worker.test/healthz: give that URL'],
    ['the agent not ready', [], { [`${A}/readyz`]: () => err(503, 'not_ready', 'no config yet') }, 'agent', 'readyz', 'HTTP 503 not_ready: no config yet'],
  ] as [string, string[], Record<string, Handler>, string, string, string][])('%s: that row fails and says why, exit 1', async (_, args, over, service, name, detail) => {
    const r = await check([C, A, W, ...args], over)
    expect(row(r.out, service, name)).toEqual({ result: 'FAIL', detail })
    expect(r.out).toMatch(/ 1 failed, /)
    expect(r.code).toBe(1)
  })

  test('a worker that does not answer: all its rows fail, the rest are still checked, exit 1', async () => {
    const r = await check([C, A, W], { [W]: 'down' })
    expect(r.code).toBe(1)
    expect(row(r.out, 'worker', 'healthz')).toEqual({ result: 'FAIL', detail: 'no answer: Unable to connect (ECONNREFUSED)' })
    for (const n of ['readyz', 'state', 'hit']) expect(row(r.out, 'worker', n)).toEqual({ result: 'FAIL', detail: 'not tried: the worker did not answer /healthz' })
    expect(row(r.out, 'agent', 'state').result).toBe('pass')
    expect(r.sent.filter((s) => s.url.startsWith(W)).map((s) => s.url)).toEqual([`${W}/healthz`])
  })

  test('a controller that does not answer: exit 3; agent and worker are still checked, their versions not compared', async () => {
    const r = await check([C, A, W], { [C]: 'down' })
    expect(r.code).toBe(3)
    expect(row(r.out, 'controller', 'healthz').result).toBe('FAIL')
    expect(row(r.out, 'controller', 'config')).toEqual({ result: 'FAIL', detail: 'not tried: the controller did not answer /healthz' })
    expect(row(r.out, 'agent', 'state')).toEqual({ result: 'skip', detail: "holds version 3; not compared: the controller's config was not read" })
    expect(row(r.out, 'worker', 'hit').result).toBe('pass')
    // What can be judged without the controller still fails: an agent whose worker did not confirm.
    const cut = await check([C, A, W], { [C]: 'down', [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 3, worker_version: 2, controller: { reachable: false } }) })
    expect(row(cut.out, 'agent', 'state')).toEqual({ result: 'FAIL', detail: "holds version 3; not compared: the controller's config was not read; its worker confirmed 2; the controller is unreachable from it" })
  })

  test('a wrong admin key: the config row fails with the server\'s refusal; versions are not compared; exit 1', async () => {
    const r = await check([C, A, W], {}, { DCM_ADMIN_KEY: 'wrong' })
    expect(r.code).toBe(1)
    expect(row(r.out, 'controller', 'config')).toEqual({ result: 'FAIL', detail: 'HTTP 401 unauthorized: a valid API key is required' })
    expect(row(r.out, 'controller', 'admin')).toEqual({ result: 'FAIL', detail: 'the admin key was refused: HTTP 401 unauthorized: a valid API key is required' })
    expect(row(r.out, 'worker', 'state').result).toBe('skip')
  })

  test('an agent key given as the admin key: the config reads (agents may), the admin row fails, exit 1', async () => {
    const r = await check([C, A, W], { [`${C}/config/versions`]: () => err(403, 'forbidden', 'this key may not do that') })
    expect(r.code).toBe(1)
    expect(row(r.out, 'controller', 'config').result).toBe('pass')
    expect(row(r.out, 'controller', 'admin')).toEqual({ result: 'FAIL', detail: 'the admin key was refused: HTTP 403 forbidden: this key may not do that' })
  })

  test('during a rollout an agent and worker on the candidate pass; on neither version they fail', async () => {
    const rollout = () => Response.json({ id: '7', version: 4, stable_version: 3, state: 'running', step: 0, steps: [], cohort_agents: [] })
    const onCandidate = {
      [`${C}/rollouts/current`]: rollout,
      [`${A}/state`]: () => Response.json({ agent_id: 'a-1', store_id: STORE, version: 4, worker_version: 4, controller: { reachable: true } }),
      [`${W}/state`]: () => Response.json({ version: 4, store_id: STORE }),
    }
    const r = await check([C, A, W], onCandidate)
    expect(r.code).toBe(0)
    expect(row(r.out, 'agent', 'state').detail).toStartWith('version 4 (the candidate of rollout 7; stable 3), confirmed by its worker')
    expect(row(r.out, 'worker', 'state').detail).toBe('version 4 (the candidate of rollout 7; stable 3)')
    const stale = await check([C, A, W], { ...onCandidate, [`${W}/state`]: () => Response.json({ version: 2, store_id: STORE }) })
    expect(row(stale.out, 'worker', 'state')).toEqual({ result: 'FAIL', detail: "version 2, the controller's is 3" })
  })

  test('--json: one object with ok, the three URLs and every check', async () => {
    const r = await check([C, A, W, '--json'], { [`${W}/hit`]: () => err(504, 'upstream_timeout', 'too slow') })
    const j = JSON.parse(r.out) as { ok: boolean; controller: string; agent: string; worker: string; checks: Check[] }
    expect([j.ok, j.controller, j.agent, j.worker, r.code]).toEqual([false, C, A, W, 1])
    expect(j.checks.map((c) => `${c.service} ${c.check} ${c.result}`)).toEqual([
      'controller healthz pass',
      'controller readyz pass',
      'controller config pass',
      'controller admin pass',
      'controller register skip',
      'agent healthz pass',
      'agent readyz pass',
      'agent state pass',
      'worker healthz pass',
      'worker readyz pass',
      'worker state pass',
      'worker hit fail',
    ])
    expect(j.checks.at(-1)).toEqual({ service: 'worker', check: 'hit', url: `${W}/hit`, result: 'fail', detail: 'HTTP 504 upstream_timeout: too slow' })
  })

  test.each([
    [[C, A], 'check takes CONTROLLER_URL AGENT_URL WORKER_URL'],
    [[C, A, W, 'x'], 'check takes CONTROLLER_URL AGENT_URL WORKER_URL; unexpected "x"'],
    [['ftp://c', A, W], 'CONTROLLER_URL must be an absolute http(s) URL'],
    [[C, 'agent', W], 'AGENT_URL must be an absolute http(s) URL'],
    [[C, A, W, '--url', C], "check takes the controller's URL as its first argument, not --url"],
    [[C, A, W, '--agent-key'], "Option '--agent-key <value>' argument missing"],
  ])('usage: %p is exit 2 with a message, and nothing is sent', async (args, message) => {
    const r = await check(args)
    expect(r.code).toBe(2)
    expect(r.err).toContain(`dcm: ${message}`)
    expect(r.err).toContain('Usage: dcm check CONTROLLER_URL AGENT_URL WORKER_URL [options]')
    expect(r.sent).toEqual([])
  })

  test('no admin key is a usage error (exit 2) before any request', async () => {
    const r = await check([C, A, W], {}, {})
    expect([r.code, r.sent.length]).toEqual([2, 0])
    expect(r.err).toStartWith('dcm: no admin key: set DCM_ADMIN_KEY or pass --key')
  })
})
