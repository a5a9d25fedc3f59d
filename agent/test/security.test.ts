/** The agent's own credential end to end (#10): kept in its state file, presented on every poll, and
 *  the agent's behaviour once revoked or refused its id. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, freePort, spawnService, testDatabase, upstreamStub, waitFor, type Service } from '../../test/harness'
import { agentEnv, agentState, controllerEnv, hitBody, KEYS, setConfig, startStack, waitWorkerVersion, workerState } from '../../test/stack'
import { encode } from '../src/state'

const sha256 = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest('hex')
const stateFile = (agent: Service) => JSON.parse(readFileSync(agent.env.STATE_FILE!, 'utf8')).state
const registrations = (c: Service) => c.logs().filter((l) => l.msg === 'request' && l.path === '/register').map((l) => l.status)
const sqliteQuery = <T>(path: string, sql: string): T[] => {
  const db = new Database(path)
  try {
    return db.query<T, []>(sql).all()
  } finally {
    db.close()
  }
}

/** One more agent and worker on `controller`. */
async function node(controller: Service, agent: Record<string, string> = {}) {
  const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
  return { worker, agent: await spawnService('agent', { env: agentEnv(controller.url, worker.url, agent) }) }
}

describe('the agent’s own token', () => {
  test('registration gives a token: kept in the 0600 state file, presented on every poll, only its hash in the store', async () => {
    // Polls with the shared key are refused here: the config can only arrive through the token.
    const s = await startStack({ controller: { ALLOW_SHARED_KEY_POLLS: 'false' } })
    await setConfig(s, { url: s.upstream.url })
    await waitWorkerVersion(s.worker, 1)
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    const { agent_id, agent_token } = stateFile(s.agent)
    expect(agent_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(statSync(s.agent.env.STATE_FILE!).mode & 0o777).toBe(0o600)
    expect((await agentState(s.agent)).agent_id).toBe(agent_id)
    const path = s.controller.env.SQLITE_PATH!
    expect(sqliteQuery<{ agent_id: string; token_hash: string }>(path, 'select agent_id, token_hash from agents')).toEqual([{ agent_id, token_hash: sha256(agent_token) }])
    for (const f of [path, `${path}-wal`]) expect(readFileSync(f).includes(agent_token)).toBe(false)
    expect(JSON.stringify(await agentState(s.agent))).not.toContain(agent_token)
    expect(s.agent.output() + s.controller.output()).not.toContain(agent_token)
    // A restart presents it again and keeps it.
    const agent = await s.agent.restart({}, 'SIGTERM')
    await waitFor('registered again', async () => (await agentState(agent)).controller.reachable === true)
    expect(stateFile(agent)).toMatchObject({ agent_id, agent_token })
    expect(registrations(s.controller)).toEqual([201, 200])
    await setConfig(s, { url: `${s.upstream.url}/2` })
    await waitWorkerVersion(s.worker, 2)
  })

  test('an agent of an earlier release (no token in its state file or in the store) gets one by registering with its id', async () => {
    const upstream = upstreamStub('upgraded')
    const port = await freePort()
    const controller = await spawnService('controller', { port, env: controllerEnv(port, { ALLOW_SHARED_KEY_POLLS: 'false' }) })
    const at = new Date().toISOString()
    sqliteQuery(controller.env.SQLITE_PATH!, `insert into agents (agent_id, labels, registered_at, last_seen_at) values ('old-agent', '{}', '${at}', '${at}') returning 1`)
    const file = join(mkdtempSync(join(tmpdir(), 'dcm-agent-')), 'state.json')
    writeFileSync(file, encode({ agent_id: 'old-agent', etag: null, config: null, worker_version: null }), { mode: 0o600 })
    await setConfig({ controller }, { url: upstream.url })
    const { worker } = await node(controller, { STATE_FILE: file })
    await waitWorkerVersion(worker, 1)
    const { agent_id, agent_token } = JSON.parse(readFileSync(file, 'utf8')).state
    expect({ agent_id, token: /^[A-Za-z0-9_-]{43}$/.test(agent_token) }).toEqual({ agent_id: 'old-agent', token: true })
    expect(sqliteQuery(controller.env.SQLITE_PATH!, 'select token_hash from agents')).toEqual([{ token_hash: sha256(agent_token) }])
    expect(registrations(controller)).toEqual([200])
  })
})

describe('revocation', () => {
  test('a revoked agent stops (revoked in /state, one error line, no new id), its worker keeps serving; another agent is untouched', async () => {
    const s = await startStack()
    const other = await node(s.controller)
    await setConfig(s, { url: s.upstream.url })
    await Promise.all([waitWorkerVersion(s.worker, 1), waitWorkerVersion(other.worker, 1)])
    const { agent_id } = await agentState(s.agent)
    expect((await call(`${s.controller.url}/agents/${agent_id}`, { method: 'DELETE', key: KEYS.admin })).status).toBe(204)
    // The next change ends the held polls: the revoked agent gets 401 agent_revoked, not the document.
    const b = upstreamStub('upstream-b')
    await setConfig(s, { url: b.url })
    await waitWorkerVersion(other.worker, 2)
    const st = await waitFor('the agent to report it was revoked', async () => {
      const a = await agentState(s.agent)
      return a.revoked ? a : null
    })
    expect({ id: st.agent_id, version: st.version, error: st.controller.last_error?.includes('agent_revoked') }).toEqual({ id: agent_id, version: 1, error: true })
    expect(await hitBody(s.worker)).toEqual({ status: 200, body: 'hello from upstream-a' })
    expect(await hitBody(other.worker)).toEqual({ status: 200, body: 'hello from upstream-b' })
    // It stays stopped: no further call to the controller, no registration under a new id.
    const seen = (await agentState(s.agent)).last_poll_at
    await setConfig(s, { url: `${b.url}/3` })
    await waitWorkerVersion(other.worker, 3)
    await Bun.sleep(500)
    expect({ last_poll_at: (await agentState(s.agent)).last_poll_at, version: (await workerState(s.worker)).version }).toEqual({ last_poll_at: seen, version: 1 })
    expect(s.agent.logs().filter((l) => l.level === 'error' && l.msg.includes('revoked'))).toHaveLength(1)
    expect(registrations(s.controller).filter((x) => x === 201)).toHaveLength(2)
    // A restart does not bring it back either.
    const restarted = await s.agent.restart()
    await waitFor('the restarted agent to find itself revoked', async () => (await agentState(restarted)).revoked)
    expect((await agentState(restarted)).agent_id).toBe(agent_id)
  })

  test('an agent presenting another agent’s id without its token is refused and takes no new id by itself', async () => {
    const s = await startStack()
    await setConfig(s, { url: s.upstream.url })
    await waitWorkerVersion(s.worker, 1)
    const { agent_id } = await agentState(s.agent)
    const file = join(mkdtempSync(join(tmpdir(), 'dcm-agent-')), 'state.json')
    writeFileSync(file, encode({ agent_id, etag: null, config: null, worker_version: null }), { mode: 0o600 })
    const impostor = await node(s.controller, { STATE_FILE: file })
    const st = await waitFor('the impostor to be refused', async () => {
      const a = await agentState(impostor.agent)
      return a.revoked ? a : null
    })
    expect({ id: st.agent_id, version: st.version, error: st.controller.last_error?.includes('agent_token_mismatch') }).toEqual({ id: agent_id, version: null, error: true })
    expect((await workerState(impostor.worker)).version).toBeNull()
    // The rightful agent goes on.
    await setConfig(s, { url: `${s.upstream.url}/2` })
    await waitWorkerVersion(s.worker, 2)
    expect(registrations(s.controller)).toEqual([201, 403])
  })
})

describe.skipIf(!process.env.TEST_DATABASE_URL)('revocation through another replica', () => {
  test('revoked through replica A, the agent polling replica B stops; its worker keeps serving', async () => {
    const db = (await testDatabase())!
    const [pa, pb] = [await freePort(), await freePort()]
    const a = await spawnService('controller', { port: pa, env: controllerEnv(pa, { DATABASE_URL: db, REFRESH_SECONDS: '3600' }) })
    const b = await spawnService('controller', { port: pb, env: controllerEnv(pb, { DATABASE_URL: db, REFRESH_SECONDS: '3600' }) })
    const upstream = upstreamStub('replicated')
    const { agent, worker } = await node(b)
    await setConfig({ controller: a }, { url: upstream.url })
    await waitWorkerVersion(worker, 1)
    const { agent_id } = await agentState(agent)
    expect((await call(`${a.url}/agents/${agent_id}`, { method: 'DELETE', key: KEYS.admin })).status).toBe(204)
    await setConfig({ controller: a }, { url: `${upstream.url}/2` })
    await waitFor('the agent to report it was revoked', async () => (await agentState(agent)).revoked)
    expect((await workerState(worker)).version).toBe(1)
    expect(await hitBody(worker)).toEqual({ status: 200, body: 'hello from replicated' })
  })
})
