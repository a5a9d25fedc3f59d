import { describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, freePort, spawnService, testDatabase, upstreamStub, waitFor, type Service } from '../../test/harness'
import { agentEnv, agentState, behindProxy, controllerEnv, KEYS, waitWorkerVersion } from '../../test/stack'

const sqlite = () => ({ SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-lp-')), 'c.sqlite') })
const put = (c: Service, url: string) => call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url } })
const heldPolls = async (c: Service) => (await call(`${c.url}/readyz`)).body.held_polls as number

describe('long-poll', () => {
  test('a held poll answers 200 with the new document as soon as the config changes', async () => {
    const port = await freePort()
    const c = await spawnService('controller', { port, env: controllerEnv(port, sqlite()) })
    const v1 = await put(c, 'http://one.example/')
    const etag = v1.headers.get('etag')!
    const held = call(`${c.url}/config?wait=30`, { key: KEYS.agent, headers: { 'if-none-match': etag } })
    await waitFor('the poll to be held', async () => (await heldPolls(c)) === 1)
    await put(c, 'http://two.example/')
    const res = await held
    expect({ status: res.status, version: res.body.version, url: res.body.url }).toEqual({ status: 200, version: 2, url: 'http://two.example/' })
    expect(res.headers.get('x-poll-interval')).toBe('0.2')
    expect(await heldPolls(c)).toBe(0)
  })

  test('a held poll answers 304 when the wait runs out; a stale ETag or no wait answers at once', async () => {
    const port = await freePort()
    const c = await spawnService('controller', { port, env: controllerEnv(port, sqlite()) })
    const etag = (await put(c, 'http://one.example/')).headers.get('etag')!
    const timedOut = await call(`${c.url}/config?wait=0.3`, { key: KEYS.agent, headers: { 'if-none-match': etag } })
    expect({ status: timedOut.status, etag: timedOut.headers.get('etag') }).toEqual({ status: 304, etag })
    const stale = await call(`${c.url}/config?wait=30`, { key: KEYS.agent, headers: { 'if-none-match': '"0-old"' } })
    expect(stale.status).toBe(200)
    const plain = await call(`${c.url}/config`, { key: KEYS.agent, headers: { 'if-none-match': etag } })
    expect(plain.status).toBe(304)
  })

  test('before any config a long-poll waits for the first one', async () => {
    const port = await freePort()
    const c = await spawnService('controller', { port, env: controllerEnv(port, sqlite()) })
    const held = call(`${c.url}/config?wait=30`, { key: KEYS.agent })
    await waitFor('the poll to be held', async () => (await heldPolls(c)) === 1)
    await put(c, 'http://first.example/')
    expect((await held).body).toMatchObject({ version: 1 })
    expect((await call(`${c.url}/config?wait=0.2`, { key: KEYS.agent, headers: { 'if-none-match': 'x' } })).status).toBe(200)
  })

  test('a bad wait is a 422 naming the parameter', async () => {
    const port = await freePort()
    const c = await spawnService('controller', { port, env: controllerEnv(port, sqlite()) })
    for (const w of ['61', 'abc', '-1', '1e3']) {
      const res = await call(`${c.url}/config?wait=${w}`, { key: KEYS.agent })
      expect({ w, status: res.status, error: res.body.error }).toEqual({ w, status: 422, error: 'validation_failed' })
      expect(res.body.message).toContain('wait')
    }
  })

  test('the agent long-polls by default: a change arrives without waiting for the poll interval', async () => {
    const upstream = upstreamStub('lp')
    const port = await freePort()
    // A one-hour poll interval: only a held poll can bring the change in time.
    const c = await spawnService('controller', { port, env: controllerEnv(port, { ...sqlite(), POLL_INTERVAL_SECONDS: '3600' }) })
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    const agent = await spawnService('agent', { env: agentEnv(c.url, worker.url) })
    await waitFor('the agent to hold a poll', async () => (await heldPolls(c)) === 1)
    expect((await agentState(agent)).mode).toBe('long-poll')
    await put(c, upstream.url)
    await waitWorkerVersion(worker, 1)
    await put(c, `${upstream.url}/2`)
    await waitWorkerVersion(worker, 2)
  })

  test('the controller can slow a fleet down: the agent follows X-Poll-Interval', async () => {
    const port = await freePort()
    const env = controllerEnv(port, sqlite())
    let c = await spawnService('controller', { port, env })
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    const agent = await spawnService('agent', { env: agentEnv(c.url, worker.url, { LONG_POLL: 'false' }) })
    await put(c, 'http://one.example/')
    await waitWorkerVersion(worker, 1)
    expect((await agentState(agent)).poll_interval_seconds).toBe(0.2)
    c = await c.restart({ POLL_INTERVAL_SECONDS: '0.5' })
    await waitFor('the agent to take the new interval', async () => (await agentState(agent)).poll_interval_seconds === 0.5)
  })
})

const pgUrl = await testDatabase()

describe.skipIf(!pgUrl)('replicated controllers on one PostgreSQL database', () => {
  test('a write through replica A reaches a worker whose agent polls replica B', async () => {
    const db = (await testDatabase())!
    const upstream = upstreamStub('replicas')
    const [pa, pb] = [await freePort(), await freePort()]
    const a = await spawnService('controller', { port: pa, env: controllerEnv(pa, { DATABASE_URL: db, REFRESH_SECONDS: '3600' }) })
    const b = await spawnService('controller', { port: pb, env: controllerEnv(pb, { DATABASE_URL: db, REFRESH_SECONDS: '3600' }) })
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    await spawnService('agent', { env: agentEnv(b.url, worker.url) })
    await waitFor('the agent to hold a poll on B', async () => (await heldPolls(b)) === 1)
    expect((await put(a, upstream.url)).status).toBe(201)
    await waitWorkerVersion(worker, 1)
    expect(await (await fetch(`${worker.url}/hit`)).text()).toBe('hello from replicas')
    expect((await put(a, `${upstream.url}/x`)).body.version).toBe(2)
    await waitWorkerVersion(worker, 2)
  })

  test('a replica that loses its database keeps serving its snapshot and catches up by itself', async () => {
    const db = (await testDatabase())!
    const { proxy, url: viaProxy } = await behindProxy(db!)
    const [pa, pb] = [await freePort(), await freePort()]
    const a = await spawnService('controller', { port: pa, env: controllerEnv(pa, { DATABASE_URL: db }) })
    // No periodic refresh: only the LISTEN connection's own reconnect can bring B up to date.
    const b = await spawnService('controller', { port: pb, env: controllerEnv(pb, { DATABASE_URL: viaProxy, REFRESH_SECONDS: '3600' }) })
    await put(a, 'http://one.example/')
    await waitFor('B to learn version 1', async () => (await call(`${b.url}/config`, { key: KEYS.agent })).body?.version === 1)

    proxy.cut()
    await put(a, 'http://two.example/')
    // B cannot hear about version 2 but still answers with what it has.
    await waitFor('B to notice its database is gone', async () => (await call(`${b.url}/readyz`)).status === 503)
    expect(b.logs().some((l) => l.msg === 'snapshot refreshed from the store')).toBe(false)
    const during = await call(`${b.url}/config`, { key: KEYS.agent })
    expect({ status: during.status, version: during.body.version }).toEqual({ status: 200, version: 1 })

    proxy.restore()
    await waitFor('B to catch up without a restart', async () => (await call(`${b.url}/config`, { key: KEYS.agent })).body?.version === 2, 30_000)
    expect(b.logs().find((l) => l.msg === 'snapshot refreshed from the store')).toMatchObject({ version: 2, why: 'reconnected' })
  })

  test('a replica whose database connections go half-open hears about new versions again without a restart', async () => {
    const db = (await testDatabase())!
    const { proxy, url: viaProxy } = await behindProxy(db)
    const [pa, pb] = [await freePort(), await freePort()]
    const a = await spawnService('controller', { port: pa, env: controllerEnv(pa, { DATABASE_URL: db }) })
    // No periodic refresh: only the check of its own LISTEN connection can bring B up to date.
    const b = await spawnService('controller', { port: pb, env: controllerEnv(pb, { DATABASE_URL: viaProxy, REFRESH_SECONDS: '3600' }) })
    await put(a, 'http://one.example/')
    await waitFor('B to learn version 1', async () => (await call(`${b.url}/config`, { key: KEYS.agent })).body?.version === 1)
    proxy.freezeOpen() // every connection B has now stops answering, without closing; new ones pass
    await put(a, 'http://two.example/')
    await waitFor('B to hear about version 2 on a new connection', async () => (await call(`${b.url}/config`, { key: KEYS.agent })).body?.version === 2, 45_000)
  })
})
