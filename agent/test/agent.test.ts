import { describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { call, freePort, onCleanup, spawnService, testDatabase, upstreamStub, waitFor } from '../../test/harness'
import { agentEnv, agentState, behindProxy, hitBody, KEYS, setConfig, stackAtVersion1, startStack, stubController, waitWorkerVersion, workerState } from '../../test/stack'

describe('config flows end to end', () => {
  test('a config set on the controller reaches /hit, and so does the next change', async () => {
    const s = await startStack()
    const b = upstreamStub('upstream-b')
    await setConfig(s, { url: s.upstream.url })
    await waitWorkerVersion(s.worker, 1)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })

    await setConfig(s, { url: b.url, timeout_ms: 2000 })
    await waitWorkerVersion(s.worker, 2)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-b' })
    // The agent hears the worker's answer a moment after the worker applied it.
    const st = await waitFor('the agent to show the push confirmed', async () => {
      const a = await agentState(s.agent)
      return a.worker_version === 2 ? a : null
    })
    expect(st).toMatchObject({ version: 2, worker_version: 2, url: b.url, controller: { reachable: true }, worker: { reachable: true }, state_file: { ok: true } })
    expect(await call(`${s.agent.url}/readyz`)).toMatchObject({ status: 200 })
  })

  test('one request id follows a push through the agent and the worker logs', async () => {
    const s = await startStack()
    await call(`${s.controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: s.upstream.url }, headers: { 'x-request-id': 'change-42' } })
    await waitWorkerVersion(s.worker, 1)
    expect(s.controller.logs().find((l) => l.msg === 'config stored')).toMatchObject({ version: 1, request_id: 'change-42' })
    const pushed = await waitFor('push logged', () => s.agent.logs().find((l) => l.msg === 'config pushed to worker'))
    const applied = await waitFor('apply logged', () => s.worker.logs().find((l) => l.msg === 'config applied'))
    expect(typeof pushed.request_id).toBe('string')
    expect(applied.request_id).toBe(pushed.request_id)
  })

  test.each([
    ['plain polling', { LONG_POLL: 'false' }],
    ['long-poll', { LONG_POLL_WAIT_SECONDS: '0.3' }],
  ])('an unchanged config is not pushed again (304 path, %s)', async (_, agentEnv) => {
    const s = await stackAtVersion1({ agent: agentEnv })
    // Let several polls come back 304.
    const polls = () => s.controller.logs().filter((l) => l.msg === 'request' && l.path === '/config' && l.status === 304).length
    await waitFor('five 304 polls', () => polls() >= 5)
    expect((await agentState(s.agent)).last_poll_result).toContain('304')
    expect(s.agent.logs().filter((l) => l.msg === 'config pushed to worker')).toHaveLength(1)
    expect(s.worker.logs().filter((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/config')).toHaveLength(1)
  })

  test('the agent is not ready and the worker has nothing before the first config', async () => {
    const s = await startStack()
    await waitFor('registration', async () => (await agentState(s.agent)).controller.reachable === true)
    expect(await call(`${s.agent.url}/readyz`)).toMatchObject({ status: 503, body: { error: 'not_ready' } })
    expect((await hitBody(s.worker)).status).toBe(503)
  })
})

describe('faults', () => {
  test('controller down: /hit keeps working, /state says unreachable; back up: the next change flows', async () => {
    const s = await stackAtVersion1()
    await s.controller.stop()
    await waitFor('agent to see the controller unreachable', async () => (await agentState(s.agent)).controller.reachable === false)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    expect((await agentState(s.agent)).last_error).toMatchObject({ target: 'controller' })

    const controller = await s.controller.restart()
    const b = upstreamStub('upstream-b')
    await setConfig({ controller }, { url: b.url })
    await waitWorkerVersion(s.worker, 2)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-b' })
    await waitFor('controller reachable again', async () => (await agentState(s.agent)).controller.reachable === true)
  })

  test('an agent restart keeps its agent_id', async () => {
    const s = await startStack()
    const id = await waitFor('registration', async () => (await agentState(s.agent)).agent_id)
    const agent = await s.agent.restart({}, 'SIGTERM')
    await waitFor('re-registration', async () => (await agentState(agent)).controller.reachable === true)
    expect((await agentState(agent)).agent_id).toBe(id)
    const registrations = s.controller.logs().filter((l) => l.msg === 'request' && l.path === '/register').map((l) => l.status)
    expect(registrations).toEqual([201, 200])
  })

  test('agent and worker restarted while the controller is down: /hit works from the cache', async () => {
    const s = await stackAtVersion1()
    await s.controller.stop()
    await s.agent.stop()
    const worker = await s.worker.restart()
    expect((await hitBody(worker)).status).toBe(503) // empty worker
    const agent = await s.agent.restart()
    await waitWorkerVersion(worker, 1)
    expect(await hitBody(worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    expect(await call(`${agent.url}/readyz`)).toMatchObject({ status: 200 })
    expect((await agentState(agent)).controller.reachable).not.toBe(true)
  })

  test('a restarted worker gets the current config again with no change at the controller', async () => {
    const s = await stackAtVersion1()
    const worker = await s.worker.restart()
    await waitWorkerVersion(worker, 1)
    expect(await hitBody(worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
  })

  test('a damaged state file: the agent recovers the good copy and keeps its id', async () => {
    const s = await stackAtVersion1()
    // Killed once it has saved everything (the worker's confirmation comes last): a kill in the middle
    // of a save, while the backup is a link to the file, is the crash tests' business.
    const id = (await waitFor('the push confirmed and saved', async () => {
      const b = await agentState(s.agent)
      return b.worker_version === 1 ? b : null
    })).agent_id
    await s.agent.stop()
    const file = s.agent.env.STATE_FILE!
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40)) // torn write
    const agent = await s.agent.restart()
    const st = await waitFor('state from backup', async () => {
      const b = await agentState(agent)
      return b.version === 1 ? b : null
    })
    expect({ agent_id: st.agent_id, from: st.state_file.loaded_from }).toEqual({ agent_id: id, from: 'backup' })
    expect(agent.logs().some((l) => l.msg.includes('state file damaged') && l.level === 'warn')).toBe(true)
  })

  test('both copies damaged: the agent starts fresh, registers anew and still gets the config', async () => {
    const s = await stackAtVersion1()
    const id = (await agentState(s.agent)).agent_id
    await s.agent.stop()
    const file = s.agent.env.STATE_FILE!
    writeFileSync(file, '{"format":1,"checksum":"00","state":{}}')
    writeFileSync(`${file}.bak`, 'not json')
    const agent = await s.agent.restart()
    const st = await waitFor('fresh registration and config', async () => {
      const b = await agentState(agent)
      return b.version === 1 && b.agent_id ? b : null
    })
    expect(st.agent_id).not.toBe(id)
    expect(agent.logs().some((l) => l.msg.includes('starting fresh'))).toBe(true)
  })

  test('an unwritable state folder: the agent keeps running and retrying, and saves once it can', async () => {
    const s = await startStack()
    // A plain file where the state folder should be: every write fails (also for root, unlike chmod).
    const base = join(s.agent.env.STATE_FILE!, '..', 'blocked')
    writeFileSync(base, 'not a folder')
    const agent = await s.agent.restart({ STATE_FILE: join(base, 'state.json') })
    await setConfig(s, { url: s.upstream.url })
    await waitWorkerVersion(s.worker, 1)
    const st = await waitFor('state file error reported', async () => {
      const b = await agentState(agent)
      return b.state_file.ok === false ? b : null
    })
    expect(st.state_file.last_error).toContain('cannot write')
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    expect(await call(`${agent.url}/healthz`)).toMatchObject({ status: 200 })

    rmSync(base)
    mkdirSync(base)
    await waitFor('state saved after the folder is fixed', async () => (await agentState(agent)).state_file.ok === true)
    expect(existsSync(join(base, 'state.json'))).toBe(true)
    expect(statSync(join(base, 'state.json')).mode & 0o777).toBe(0o600)
  })

  test('a state that could not be saved is saved on shutdown, once the folder takes it', async () => {
    const s = await startStack()
    const base = join(s.agent.env.STATE_FILE!, '..', 'late')
    writeFileSync(base, 'not a folder')
    // No retry before shutdown: only the final save can write the file.
    const agent = await s.agent.restart({ STATE_FILE: join(base, 'state.json'), FILE_RETRY_MS: '3600000' })
    await setConfig(s, { url: s.upstream.url })
    // Version 1 held and unsaved (the registration's save fails too, before the config arrives).
    await waitFor('the failed save of version 1 reported', async () => {
      const b = await agentState(agent)
      return b.state_file.ok === false && b.version === 1
    })
    rmSync(base)
    mkdirSync(base)
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(JSON.parse(readFileSync(join(base, 'state.json'), 'utf8')).state.config).toMatchObject({ version: 1, url: s.upstream.url })
  })

  test('wrong keys give clear errors on both sides', async () => {
    const s = await startStack({ agent: { CONTROLLER_API_KEY: 'wrong-controller-key' } })
    const st = await waitFor('agent to report the refused key', async () => {
      const b = await agentState(s.agent)
      return b.last_error?.message.includes('401') ? b : null
    })
    expect(st.controller.last_error).toContain('unauthorized')
    expect(s.agent.logs().some((l) => l.level === 'error' && l.msg.includes('configuration error'))).toBe(true)
    expect(s.controller.logs().some((l) => l.msg === 'request' && l.status === 401)).toBe(true)
    expect(s.agent.output()).not.toContain('wrong-controller-key')

    const w = await startStack({ agent: { WORKER_API_KEY: 'wrong-worker-key' } })
    await setConfig(w, { url: w.upstream.url })
    const ws = await waitFor('agent to report the worker refused its key', async () => {
      const b = await agentState(w.agent)
      return b.worker.last_error?.includes('401') ? b : null
    })
    expect(ws.worker_version).toBeNull()
    expect(w.worker.logs().some((l) => l.msg === 'request' && l.path === '/config' && l.status === 401)).toBe(true)
    expect((await workerState(w.worker)).version).toBeNull()
  })

  test('a document the worker rejects is not re-sent in a loop', async () => {
    const s = await stackAtVersion1()
    // A URL that points at the worker itself: the controller stores it, the worker refuses it (422).
    await setConfig(s, { url: `${s.worker.url}/hit` })
    await waitFor('rejection reported', async () => (await agentState(s.agent)).worker.last_error?.includes('refused version 2'))
    const pushes = () => s.worker.logs().filter((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/config' && l.status === 422).length
    // Several worker checks later there is still exactly one rejected push.
    const checks = () => s.worker.logs().filter((l) => l.path === '/state').length
    const seen = checks()
    await waitFor('more worker checks', () => checks() >= seen + 4)
    expect(pushes()).toBe(1)
  })

  test('against a controller that always answers 503 the attempts thin out', async () => {
    const times: number[] = []
    const stub = stubController(() => {
      times.push(performance.now())
      return Response.json({ error: 'down', message: 'always failing', request_id: 'x' }, { status: 503 })
    })
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    await spawnService('agent', { env: agentEnv(stub.url, worker.url, { BACKOFF_BASE_MS: '40', BACKOFF_MAX_MS: '1280', LONG_POLL: 'false' }) })
    await waitFor('ten failed polls', () => times.length >= 10, 60_000)
    // Following the 0.1 s poll interval, the last 3 gaps would take about 300 ms; backoff with a doubling
    // ceiling (capped at 1280 ms) makes the later gaps far longer than the early ones.
    const { early, late } = firstAndLastGaps(times)
    expect(late).toBeGreaterThan(early)
    expect(late).toBeGreaterThan(3 * 100)
  })
})

describe.skipIf(!process.env.TEST_DATABASE_URL)('the controller’s database down', () => {
  test('a new agent cannot register (503, it retries), registered agents keep polling, and the new one registers once it is back', async () => {
    const db = (await testDatabase())!
    const { proxy, url } = await behindProxy(db)
    const s = await startStack({ controller: { DATABASE_URL: url }, agent: { LONG_POLL_WAIT_SECONDS: '0.5' } })
    await setConfig(s, { url: s.upstream.url })
    await waitWorkerVersion(s.worker, 1)
    proxy.cut()
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    const late = await spawnService('agent', { env: agentEnv(s.controller.url, worker.url) })
    await waitFor('the registration refused with 503', async () => (await agentState(late)).controller.last_error?.includes('503'))
    expect((await agentState(late)).agent_id).toBeNull()
    // The agent registered before the outage keeps being answered from the snapshot.
    const seen = (await agentState(s.agent)).last_poll_at
    await waitFor('a later poll of the registered agent', async () => (await agentState(s.agent)).last_poll_at !== seen)
    expect((await agentState(s.agent)).controller.reachable).toBe(true)
    proxy.restore()
    await waitWorkerVersion(worker, 1)
    expect((await agentState(late)).agent_id).not.toBeNull()
  })
})

test('a worker whose /state answers but whose POST /config fails sees the pushes thin out', async () => {
  const times: number[] = []
  const stub = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req): Response {
      if (new URL(req.url).pathname === '/state') return Response.json({ version: null })
      times.push(performance.now())
      return Response.json({ error: 'busy', message: 'always failing', request_id: 'x' }, { status: 503 })
    },
  })
  onCleanup(() => stub.stop(true))
  const s = await startStack({ agent: { BACKOFF_BASE_MS: '40', BACKOFF_MAX_MS: '1280' } })
  await s.agent.restart({ WORKER_URL: `http://127.0.0.1:${stub.port}` })
  await setConfig(s, { url: s.upstream.url })
  await waitFor('ten failed pushes', () => times.length >= 10, 60_000)
  const { early, late } = firstAndLastGaps(times)
  expect(late).toBeGreaterThan(early)
  // Without backoff every gap would stay under the 40 ms base ceiling.
  expect(late).toBeGreaterThan(3 * 40)
})

/** The summed gaps between the first three and between the last three attempts. */
function firstAndLastGaps(times: number[]) {
  const gaps = times.slice(1).map((t, i) => t - times[i]!)
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
  return { early: sum(gaps.slice(0, 3)), late: sum(gaps.slice(-3)) }
}
