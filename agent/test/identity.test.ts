/** The agent and the worker follow the controller's store, not a version number: after a database
 *  reset, through a controller whose PUBLIC_URL is wrong, and past a document they cannot accept. */
import { describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import postgres from 'postgres'
import { call, onCleanup, spawnService, testDatabase, upstreamStub, waitFor } from '../../test/harness'
import { agentEnv, agentState, hitBody, KEYS, setConfig, stackAtVersion1, startStack, stubController, workerState } from '../../test/stack'

describe('store identity', () => {
  test('after a database reset the fleet takes the new store’s version 1, and a restarted worker gets it too', async () => {
    const s = await stackAtVersion1()
    const before = await workerState(s.worker)
    // Move on to version 3, so the new store's version 1 is lower than what the fleet holds.
    await setConfig(s, { url: `${s.upstream.url}/two` })
    await setConfig(s, { url: `${s.upstream.url}/three` })
    await waitFor('version 3 everywhere', async () => (await workerState(s.worker)).version === 3)

    await s.controller.stop()
    for (const f of ['', '-wal', '-shm']) rmSync(`${s.controller.env.SQLITE_PATH}${f}`, { force: true })
    const controller = await s.controller.restart()
    const fresh = upstreamStub('after-reset')
    expect(await setConfig({ controller }, { url: fresh.url })).toMatchObject({ status: 201, body: { version: 1 } })

    const after = await waitFor('the worker on the new store', async () => {
      const w = await workerState(s.worker)
      return w.store_id !== before.store_id ? w : null
    })
    expect(after).toMatchObject({ version: 1, url: fresh.url })
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from after-reset' })
    expect(s.agent.logs().filter((l) => l.level === 'warn' && l.msg.includes('another store identity'))).toHaveLength(1)
    expect(s.worker.logs().filter((l) => l.level === 'warn' && l.msg.includes('another store identity'))).toHaveLength(1)

    const worker = await s.worker.restart()
    await waitFor('the restarted worker refilled with the new store’s config', async () => (await workerState(worker)).store_id === after.store_id)
    expect(await hitBody(worker)).toEqual({ status: 200, body: 'hello from after-reset' })
  })
})

describe.skipIf(!process.env.TEST_DATABASE_URL)('a database restored from a backup while a controller runs', () => {
  test('the controller gives the store a new identity, and the fleet takes the restored version', async () => {
    const db = (await testDatabase())!
    const s = await startStack({ controller: { DATABASE_URL: db, REFRESH_SECONDS: '0.5' } })
    const restored = upstreamStub('restored')
    await setConfig(s, { url: restored.url })
    await setConfig(s, { url: `${s.upstream.url}/two` })
    await setConfig(s, { url: `${s.upstream.url}/three` })
    await waitFor('version 3 on the worker', async () => (await workerState(s.worker)).version === 3)
    const before = (await workerState(s.worker)).store_id
    // What a restore of the backup taken after version 1 leaves: version 1, under the same identity.
    const sql = postgres(db, { max: 1, onnotice: () => {} })
    onCleanup(() => sql.end({ timeout: 1 }))
    await sql`delete from config_versions where version > 1`
    await sql`update config_head h set version = v.version, url = v.url, timeout_ms = v.timeout_ms, updated_at = v.updated_at from config_versions v where v.version = 1`
    const after = await waitFor('the worker on the restored store', async () => {
      const w = await workerState(s.worker)
      return w.store_id !== before ? w : null
    }, 30_000)
    expect(after).toMatchObject({ version: 1, url: restored.url })
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from restored' })
    expect(s.controller.logs().filter((l) => l.level === 'warn' && l.msg.includes('new store identity'))).toHaveLength(1)
  })
})

describe('a worker wedged by a version its store never issued', () => {
  test('the agent replaces it with the controller’s current config', async () => {
    const s = await stackAtVersion1()
    const { store_id } = await workerState(s.worker)
    // Someone pushes the highest possible version of the real store straight to the worker.
    await call(`${s.worker.url}/config`, { method: 'POST', key: KEYS.worker, json: { version: 2 ** 31 - 1, store_id, url: 'http://stray.example/', updated_at: new Date().toISOString() } })
    await waitFor('the controller’s version back on the worker', async () => (await workerState(s.worker)).version === 1)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    // The next real change flows as usual.
    const b = upstreamStub('upstream-b')
    await setConfig(s, { url: b.url })
    await waitFor('version 2 on the worker', async () => (await workerState(s.worker)).version === 2)
  })
})

describe('poll URL', () => {
  test('a controller whose PUBLIC_URL names an unreachable origin still reaches the worker: the agent polls CONTROLLER_URL', async () => {
    const s = await startStack({ controller: { PUBLIC_URL: 'http://controller.invalid:1' } })
    await setConfig(s, { url: s.upstream.url })
    await waitFor('the worker at version 1', async () => (await workerState(s.worker)).version === 1)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
  })
})

describe('a document the agent cannot accept', () => {
  test('is reported, the controller stays reachable, and the agent keeps polling at its interval', async () => {
    let polls = 0
    let tag = '"1-bad"'
    let body = JSON.stringify({ version: 1, store_id: 's1', url: 'http:/missing-slash.example/', updated_at: '2026-01-01T00:00:00.000Z' })
    const stub = stubController((req) => {
      polls++
      if (req.headers.get('if-none-match') === tag) return new Response(null, { status: 304 })
      return new Response(body, { headers: { etag: tag, 'content-type': 'application/json' } })
    })
    const up = upstreamStub('fixed')
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    const agent = await spawnService('agent', { env: agentEnv(stub.url, worker.url, { LONG_POLL: 'false' }) })
    const st = await waitFor('the refusal reported', async () => {
      const a = await agentState(agent)
      return a.last_poll_result === 'refused document' ? a : null
    })
    expect(st.controller).toMatchObject({ reachable: true, consecutive_failures: 0 })
    expect(st.last_error.message).toContain('cannot accept')
    // Polling goes on (with the refused tag, answered 304) until a good document comes.
    const seen = polls
    await waitFor('more polls', () => polls >= seen + 5)
    expect((await agentState(agent)).controller.consecutive_failures).toBe(0)
    tag = '"2-good"'
    body = JSON.stringify({ version: 2, store_id: 's1', url: up.url, updated_at: '2026-01-01T00:00:00.000Z' })
    await waitFor('the good document applied', async () => (await workerState(worker)).version === 2)
    expect(agent.logs().filter((l) => l.msg === 'config document refused')).toHaveLength(1)
  })
})

describe('the controller refuses URLs it would otherwise store and fail to serve', () => {
  test('four spellings WHATWG would repair are 422, and nothing is stored', async () => {
    const s = await startStack()
    await setConfig(s, { url: s.upstream.url })
    for (const url of [` ${s.upstream.url}`, 'http:/example.com/x', 'http:example.com/x', 'http:\\\\example.com\\x']) {
      const r = await setConfig(s, { url })
      expect({ url, status: r.status, error: r.body.error }).toEqual({ url, status: 422, error: 'validation_failed' })
    }
    expect((await call(`${s.controller.url}/config`, { key: KEYS.agent })).body).toMatchObject({ version: 1, url: s.upstream.url })
  })
})
