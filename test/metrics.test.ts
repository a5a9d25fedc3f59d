/** GET /metrics of real processes: the values move as the system works (a change raises the config
 *  version on all three services, a failed upstream counts a 5xx on the worker), METRICS_API_KEY guards
 *  the route, and `promtool check metrics` (Debian package prometheus) finds nothing wrong in any output. */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { call, freePort, type Service } from './harness'
import { parseMetrics, valueOf, histogramOf, type PromMetrics } from './prom-text'
import { KEYS, setConfig, stackAtVersion1, startStack, waitWorkerVersion } from './stack'

setDefaultTimeout(60_000)

/** promtool, installed from the Debian package when missing (we run as root, as CI does); apt-get update
 *  only when the install fails. Under CI=true a promtool that cannot be had fails the test, else it is
 *  skipped with the reason. */
async function promtool(): Promise<{ path: string } | { missing: string }> {
  const found = Bun.which('promtool')
  if (found) return { path: found }
  const apt = async (...args: string[]) => {
    const p = Bun.spawn(['apt-get', ...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdout: 'pipe', stderr: 'pipe' })
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()])
    return code === 0 ? '' : `apt-get ${args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-3).join(' / ')}`
  }
  let failure = await apt('install', '-y', 'prometheus')
  if (failure) failure = (await apt('update')) || (await apt('install', '-y', 'prometheus'))
  const path = Bun.which('promtool')
  return path ? { path } : { missing: failure || 'promtool is not on PATH after installing the prometheus package' }
}
const tool = await promtool().catch((e: Error) => ({ missing: `cannot run apt-get: ${e.message}` }))
const ci = process.env.CI === 'true'

async function scrape(svc: Service, key?: string): Promise<PromMetrics> {
  const res = await fetch(`${svc.url}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} })
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8' })
  return parseMetrics(await res.text())
}

/** The versions each service reports in its metrics. */
async function versions(s: { controller: Service; agent: Service; worker: Service }) {
  const [c, a, w] = await Promise.all([scrape(s.controller), scrape(s.agent), scrape(s.worker)])
  return {
    controller: valueOf(c, 'dcm_config_version'),
    agent: valueOf(a, 'dcm_agent_config_version'),
    agent_worker: valueOf(a, 'dcm_agent_worker_version'),
    worker: valueOf(w, 'dcm_worker_config_version'),
  }
}

describe('metrics of a running stack', () => {
  test('a config change raises the config version in the metrics of the controller, the agent and the worker', async () => {
    const s = await stackAtVersion1()
    // The agent records that its worker confirmed version 1 right after the worker shows it.
    await waitForValue('versions at 1', () => versions(s), { controller: 1, agent: 1, agent_worker: 1, worker: 1 })

    const changed = await setConfig(s, { url: `${s.upstream.url}/v2` })
    expect(changed.status).toBe(201)
    await waitWorkerVersion(s.worker, 2)
    await waitForValue('versions at 2', () => versions(s), { controller: 2, agent: 2, agent_worker: 2, worker: 2 })

    const unchanged = await setConfig(s, { url: `${s.upstream.url}/v2` })
    expect(unchanged.status).toBe(200)
    const refused = await call(`${s.controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'not a url' } })
    expect(refused.status).toBe(422)

    const [c, a] = await Promise.all([scrape(s.controller), scrape(s.agent)])
    expect({
      created: valueOf(c, 'dcm_config_writes_total', { result: 'created' }),
      unchanged: valueOf(c, 'dcm_config_writes_total', { result: 'unchanged' }),
      refused: valueOf(c, 'dcm_config_writes_total', { result: 'refused' }),
      failed: valueOf(c, 'dcm_config_writes_total', { result: 'failed' }),
      store_errors: valueOf(c, 'dcm_store_errors_total'),
      writes_by_route: valueOf(c, 'dcm_http_requests_total', { route: '/config', method: 'POST', status: '201' }),
    }).toEqual({ created: 2, unchanged: 1, refused: 1, failed: 0, store_errors: 0, writes_by_route: 2 })
    // Two changes reached the agent by polls answered 200, and its worker by two pushes.
    expect(valueOf(a, 'dcm_agent_polls_total', { result: 'ok' })).toBeGreaterThanOrEqual(2)
    expect(valueOf(a, 'dcm_agent_pushes_total', { result: 'ok' })).toBe(2)
    expect(valueOf(a, 'dcm_agent_state_write_failures_total')).toBe(0)
    expect({ controller: valueOf(a, 'dcm_agent_backoff_seconds', { target: 'controller' }), worker: valueOf(a, 'dcm_agent_backoff_seconds', { target: 'worker' }) }).toEqual({ controller: 0, worker: 0 })
    // The agent long-polls: the controller holds its poll, and times it under GET /config.
    await waitForValue('a held long-poll', async () => valueOf(await scrape(s.controller), 'dcm_longpolls_held'), 1)
    expect(histogramOf(c, 'dcm_http_request_duration_seconds', { route: '/config' })?.count).toBeGreaterThan(0)
    // The fleet as GET /agents counts it: the one agent is in sync once its report of version 2 is in.
    await waitForValue('dcm_agents in sync', async () => valueOf(await scrape(s.controller), 'dcm_agents', { status: 'in_sync' }), 1)
    const later = await scrape(s.controller)
    expect(['behind', 'rejected', 'stale'].map((status) => valueOf(later, 'dcm_agents', { status }))).toEqual([0, 0, 0])
    // Each version reached the worker: one convergence observation per agent and version it applied as
    // the current one (version 2 at least).
    expect(histogramOf(later, 'dcm_config_convergence_seconds')?.count).toBeGreaterThanOrEqual(1)
  })

  test('a failed upstream counts a 5xx on the worker; an answered one its class', async () => {
    const s = await stackAtVersion1()
    expect((await fetch(`${s.worker.url}/hit`)).status).toBe(200)
    await setConfig(s, { url: `http://127.0.0.1:${await freePort()}/` })
    await waitWorkerVersion(s.worker, 2)
    const res = await fetch(`${s.worker.url}/hit`)
    expect(res.status).toBe(502)
    const w = await scrape(s.worker)
    expect({
      '2xx': valueOf(w, 'dcm_worker_hits_total', { code_class: '2xx' }),
      '5xx': valueOf(w, 'dcm_worker_hits_total', { code_class: '5xx' }),
      failures: valueOf(w, 'dcm_worker_upstream_failures_total'),
      timed: histogramOf(w, 'dcm_worker_upstream_duration_seconds')?.count,
      hot_route: valueOf(w, 'dcm_http_requests_total', { route: '/hit', method: 'GET', status: '502' }),
    }).toEqual({ '2xx': 1, '5xx': 1, failures: 1, timed: 2, hot_route: 1 })
  })

  test('with METRICS_API_KEY set, /metrics answers 401 without the key and 200 with it, on every service', async () => {
    const key = 'metrics-key-for-the-test'
    const withKey = { METRICS_API_KEY: key }
    const s = await startStack({ controller: withKey, agent: withKey, worker: withKey })
    for (const svc of [s.controller, s.agent, s.worker]) {
      const refused = await call(`${svc.url}/metrics`, { headers: { 'x-request-id': 'req-metrics' } })
      expect({ service: svc.name, status: refused.status, body: refused.body }).toEqual({
        service: svc.name,
        status: 401,
        body: { error: 'unauthorized', message: refused.body.message, request_id: 'req-metrics' },
      })
      expect((await call(`${svc.url}/metrics`, { key: 'not-the-key' })).status).toBe(401)
      expect((await fetch(`${svc.url}/metrics`, { headers: { 'x-api-key': key } })).status).toBe(200)
      expect(Object.keys(await scrape(svc, key))).toContain('dcm_http_requests_total')
    }
  })
})

describe('promtool check metrics', () => {
  test.skipIf('missing' in tool && !ci)('finds no problem in the output of the controller, the agent or the worker', async () => {
    if ('missing' in tool) throw new Error(`promtool is needed under CI=true: ${tool.missing}`)
    const s = await stackAtVersion1({ controller: { METRICS_API_KEY: 'promtool-key' } })
    // Some of everything: a 304, an unmatched path, a hit, a failed write.
    await fetch(`${s.worker.url}/hit`)
    await fetch(`${s.controller.url}/no-such-route`)
    await call(`${s.controller.url}/config`, { method: 'POST', key: KEYS.admin, json: {} })
    for (const svc of [s.controller, s.agent, s.worker]) {
      const text = await (await fetch(`${svc.url}/metrics`, { headers: { authorization: 'Bearer promtool-key' } })).text()
      const check = Bun.spawn([tool.path, 'check', 'metrics'], { stdin: new Blob([text]), stdout: 'pipe', stderr: 'pipe' })
      const [code, out, err] = await Promise.all([check.exited, new Response(check.stdout).text(), new Response(check.stderr).text()])
      expect({ service: svc.name, code, problems: `${out}${err}`.trim() }).toEqual({ service: svc.name, code: 0, problems: '' })
    }
  })
})

/** Poll `read` until it equals `want` (deadline 15 s); the last value is in the failure. */
async function waitForValue<T>(what: string, read: () => Promise<T>, want: T): Promise<void> {
  const deadline = Date.now() + 15_000
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await read()
    if (Bun.deepEquals(last, want)) return
    await Bun.sleep(25)
  }
  expect({ what, value: last }).toEqual({ what, value: want })
}
