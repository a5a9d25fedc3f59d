/** Operating the fleet, in-process (no socket): history, rollback, If-Match, named admin keys, GET
 *  /agents from poll reports, the audit trail, and the validation of each. Spawned processes prove the
 *  wiring in controller/test/fleet.test.ts. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, services } from './app'
import { loadSettings } from './settings'
import { sqliteStore } from './store'

const env = { AGENT_API_KEY: 'agent-key', ADMIN_API_KEY: 'alice:alice-key,anon-key', POLL_INTERVAL_SECONDS: '2', SQLITE_PATH: ':memory:' }
const settings = loadSettings(env)
const logger = createLogger({ service: 'controller', level: 'error', sink: { write: () => {}, flush: () => {} } })
const store = sqliteStore(':memory:')
const svc = services(settings, store, logger)
const door = frontDoor(createApp({ settings, store, logger, ...svc }), { logger, hot: hotRoutes({ settings, ...svc }) })
const anon = `key:${new Bun.CryptoHasher('sha256').update('anon-key').digest('hex').slice(0, 8)}`

type Init = { key?: string; body?: unknown; method?: string; headers?: Record<string, string> }
async function call(path: string, { key = 'alice-key', body, method, headers = {} }: Init = {}) {
  const h: Record<string, string> = { ...headers, authorization: `Bearer ${key}` }
  if (body !== undefined) h['content-type'] = 'application/json'
  const res = await door.fetch(new Request(`http://ctl.example${path}`, { method: method ?? (body === undefined ? 'GET' : 'POST'), headers: h, body: body === undefined ? undefined : JSON.stringify(body) }))
  const text = await res.text()
  return { status: res.status, etag: res.headers.get('etag'), body: (text ? JSON.parse(text) : null) as any }
}
const write = (body: unknown, init: Init = {}) => call('/config', { ...init, body })

beforeAll(() => store.migrate())

describe('history, rollback and If-Match', () => {
  test('each version records who wrote it (a named key by name, an unnamed one by its hash) and why; pages go back by next_before', async () => {
    expect(await write({ url: 'http://a.example/', comment: 'first' })).toMatchObject({ status: 201, body: { version: 1, created_by: 'alice', comment: 'first' } })
    expect(await write({ url: 'http://b.example/', timeout_ms: 50 }, { key: 'anon-key' })).toMatchObject({ status: 201, body: { version: 2, created_by: anon, comment: null } })
    // Same content, another comment: no new version; the answer names who wrote the one that holds it.
    expect(await write({ url: 'http://b.example/', timeout_ms: 50, comment: 'again' })).toMatchObject({ status: 200, body: { version: 2, created_by: anon, comment: null } })
    const page = await call('/config/versions?limit=1')
    expect(page.body).toEqual({ versions: [expect.objectContaining({ version: 2, url: 'http://b.example/', timeout_ms: 50, created_by: anon })], next_before: 2 })
    expect((await call('/config/versions?limit=5&before=2')).body).toEqual({ versions: [expect.objectContaining({ version: 1, created_by: 'alice', comment: 'first' })], next_before: null })
    expect(JSON.stringify(page.body)).not.toContain('anon-key')
    // The document agents receive carries neither.
    expect(Object.keys((await call('/config', { key: 'agent-key' })).body).sort()).toEqual(['store_id', 'timeout_ms', 'updated_at', 'url', 'version'])
  })

  test('a version and how far it got; an unknown one is 404 version_not_found', async () => {
    expect((await call('/config/versions/1')).body).toMatchObject({ version: 1, created_by: 'alice', convergence: { applied: 0, total: 0, converged_ms: null } })
    expect(await call('/config/versions/99')).toMatchObject({ status: 404, body: { error: 'version_not_found' } })
  })

  test('If-Match: a stale tag is 412 with the current ETag and stores nothing; the current tag, a list holding it, or * pass', async () => {
    const current = (await call('/config')).etag!
    const stale = await write({ url: 'http://stale.example/' }, { headers: { 'if-match': '"1-old"' } })
    expect(stale).toMatchObject({ status: 412, etag: current, body: { error: 'precondition_failed' } })
    expect(await write({ url: 'http://weak.example/' }, { headers: { 'if-match': `W/${current}` } })).toMatchObject({ status: 412 })
    expect((await call('/config')).etag).toBe(current)
    const ok = await write({ url: 'http://c.example/' }, { headers: { 'if-match': `"9-x", ${current}` } })
    expect(ok).toMatchObject({ status: 201, body: { version: 3 } })
    expect(ok.etag).not.toBe(current)
    expect(await write({ url: 'http://c2.example/' }, { headers: { 'if-match': current } })).toMatchObject({ status: 412, etag: ok.etag })
    expect(await write({ url: 'http://d.example/' }, { headers: { 'if-match': '*' } })).toMatchObject({ status: 201, body: { version: 4 } })
  })

  test('rollback writes version n’s content as a new version; content already current is 200; unknown is 404', async () => {
    const back = await call('/config/rollback', { body: { version: 2 } })
    expect(back).toMatchObject({ status: 201, body: { version: 5, url: 'http://b.example/', timeout_ms: 50, created_by: 'alice', comment: 'rollback to 2' } })
    expect(await call('/config/rollback', { body: { version: 2, comment: 'again' } })).toMatchObject({ status: 200, body: { version: 5 } })
    expect(await call('/config/rollback', { body: { version: 77 } })).toMatchObject({ status: 404, body: { error: 'version_not_found' } })
    expect(await call('/config/rollback', { body: { version: 1 }, headers: { 'if-match': '"2-old"' } })).toMatchObject({ status: 412, etag: back.etag })
    expect((await call('/config', { key: 'agent-key' })).body).toMatchObject({ version: 5, url: 'http://b.example/' })
  })
})

describe('bad input: a 4xx and nothing stored', () => {
  test.each([
    ['limit 0', '/config/versions?limit=0', undefined, 422],
    ['limit 501', '/config/versions?limit=501', undefined, 422],
    ['before not a number', '/config/versions?before=x', undefined, 422],
    ['a version 0', '/config/versions/0', undefined, 422],
    ['a version that is not a number', '/config/versions/abc', undefined, 422],
    ['a comment over 500 characters', '/config', { url: 'http://e.example/', comment: 'x'.repeat(501) }, 422],
    ['a comment with a control character', '/config', { url: 'http://e.example/', comment: 'a\u0007' }, 422],
    ['rollback without a version', '/config/rollback', {}, 422],
    ['rollback to version 0', '/config/rollback', { version: 0 }, 422],
    ['rollback with an unknown field', '/config/rollback', { version: 1, url: 'http://x.example/' }, 422],
    ['an unknown status', '/agents?status=lost', undefined, 422],
    ['a label without =', '/agents?label=zone', undefined, 422],
    ['audit limit 0', '/audit?limit=0', undefined, 422],
  ] as const)('%s → %d', async (_, path, body, status) => {
    const before = (await call('/config/versions?limit=500')).body.versions.length
    const r = await call(path, { body })
    expect({ status: r.status, shape: Object.keys(r.body ?? {}).sort() }).toEqual({ status, shape: ['error', 'message', 'request_id'] })
    expect((await call('/config/versions?limit=500')).body.versions.length).toBe(before)
  })

  test.each(['/config/versions', '/config/versions/1', '/agents', '/agents/x', '/audit'])('%s needs the admin key: 401 without, 403 with the agent key', async (path) => {
    expect((await door.fetch(new Request(`http://ctl.example${path}`))).status).toBe(401)
    expect((await call(path, { key: 'agent-key' })).status).toBe(403)
  })
})

describe('who runs what', () => {
  const poll = (agentId: string, headers: Record<string, string>, etag?: string) =>
    door.fetch(new Request('http://ctl.example/config', { headers: { authorization: 'Bearer agent-key', 'x-agent-id': agentId, ...(etag ? { 'if-none-match': etag } : {}), ...headers } }))

  test('polls report what each worker applied or refused; the list shows statuses, a summary and filters', async () => {
    for (const [id, zone] of [['web-1', 'a'], ['web-2', 'a'], ['web-3', 'b'], ['web-4', 'b']] as const)
      expect((await call('/register', { key: 'agent-key', body: { agent_id: id, hostname: id, labels: { zone } } })).status).toBe(200)
    const { etag, body } = await call('/config', { key: 'agent-key' })
    const v = body.version as number
    await poll('web-1', { 'x-applied-version': String(v) }, etag!) // the hot route (304)
    await poll('web-2', { 'x-applied-version': String(v - 1) })
    await poll('web-3', { 'x-applied-version': String(v - 1), 'x-rejected-version': String(v), 'x-rejected-reason': 'upstream_forbidden' })
    // web-4 never polls after registering... until it is stale; a report with junk headers still counts as seen.
    await poll('web-4', { 'x-applied-version': 'nine', 'x-rejected-version': '-1' })
    await svc.fleet.flush()
    const all = await call('/agents')
    expect(all.body.summary).toEqual({ in_sync: 1, behind: 2, rejected: 1, stale: 0 })
    const byId = Object.fromEntries((all.body.agents as any[]).map((a) => [a.agent_id, a]))
    expect(byId['web-1']).toMatchObject({ status: 'in_sync', fetched_version: v, applied_version: v, rejected: null, hostname: 'web-1', labels: { zone: 'a' } })
    expect(byId['web-3']).toMatchObject({ status: 'rejected', applied_version: v - 1, rejected: { version: v, reason: 'upstream_forbidden' } })
    expect(byId['web-4']).toMatchObject({ status: 'behind', applied_version: null, rejected: null })
    // Filters choose the agents listed; the summary still counts the whole fleet.
    const b = await call('/agents?label=zone=b&status=behind')
    expect({ ids: b.body.agents.map((a: any) => a.agent_id), summary: b.body.summary }).toEqual({ ids: ['web-4'], summary: all.body.summary })
    expect((await call('/agents?label=zone=a&label=zone=b')).body.agents).toEqual([])
    expect(await call('/agents/web-3')).toMatchObject({ status: 200, body: { agent_id: 'web-3', status: 'rejected' } })
    expect(await call('/agents/nobody')).toMatchObject({ status: 404, body: { error: 'agent_not_found' } })
    // A report from an id nobody registered is dropped at the next batch, not listed.
    await poll('ghost', { 'x-applied-version': String(v) })
    await svc.fleet.flush()
    expect((await call('/agents')).body.agents.map((a: any) => a.agent_id)).not.toContain('ghost')
  })

  test('the audit trail names every write, rollback, refusal, new agent and revocation, newest first', async () => {
    await call('/agents/web-4', { method: 'DELETE' })
    const { body } = await call('/audit?limit=500')
    const rows = (body.records as any[]).map((r) => `${r.actor} ${r.action} ${r.target} ${r.outcome}`)
    expect(rows[0]).toBe('alice agent.revoke agent web-4 revoked')
    expect(rows).toContain('alice config.rollback version 5 created')
    expect(rows).toContain('alice config.write version 3 precondition_failed')
    expect(rows).toContain('alice config.rollback version 5 precondition_failed')
    expect(rows).toContain(`${anon} config.write version 2 created`)
    expect(rows).toContain('alice config.write version 2 unchanged')
    // Each agent registered with an id the store did not know is a new agent (200, its own id kept).
    expect(rows.filter((r) => r.includes('agent.register')).sort()).toEqual(['web-1', 'web-2', 'web-3', 'web-4'].map((id) => `key:${new Bun.CryptoHasher('sha256').update('agent-key').digest('hex').slice(0, 8)} agent.register agent ${id} registered`))
    expect(body.records[0]).toMatchObject({ request_id: expect.any(String), at: expect.any(String) })
    expect((await call(`/audit?limit=1&before=${body.records[0].id}`)).body.records[0].id).toBeLessThan(body.records[0].id)
  })
})

describe('rollouts: bad input and routes', () => {
  const good = { config: { url: 'http://next.example/' }, steps: [{ percent: 50, bake_seconds: 600 }], gate: { max_error_rate: 0.1, min_hits: 0 } }
  test.each([
    ['percents not increasing', { ...good, steps: [{ percent: 50, bake_seconds: 1 }, { percent: 50, bake_seconds: 1 }] }],
    ['a percent of 0', { ...good, steps: [{ percent: 0, bake_seconds: 1 }] }],
    ['a percent over 100', { ...good, steps: [{ percent: 101, bake_seconds: 1 }] }],
    ['no steps', { ...good, steps: [] }],
    ['eleven steps', { ...good, steps: Array.from({ length: 11 }, (_, i) => ({ percent: i + 1, bake_seconds: 0 })) }],
    ['a negative bake', { ...good, steps: [{ percent: 10, bake_seconds: -1 }] }],
    ['an error rate over 1', { ...good, gate: { max_error_rate: 1.5, min_hits: 0 } }],
    ['no gate', { config: good.config, steps: good.steps }],
    ['a metadata URL', { ...good, config: { url: 'http://169.254.169.254/' } }],
    ['an unknown field', { ...good, extra: 1 }],
    ['the current config again', { ...good, config: { url: 'http://b.example/', timeout_ms: 50 } }],
  ] as const)('%s → 422, nothing started', async (_, body) => {
    const r = await call('/rollouts', { body })
    expect({ status: r.status, error: r.body.error }).toEqual({ status: 422, error: 'validation_failed' })
    expect((await call('/rollouts/current')).status).toBe(404)
  })

  test('a rollout starts, holds plain writes back, and is found by id; unknown ids are 404', async () => {
    const r = await call('/rollouts', { body: good })
    expect(r).toMatchObject({ status: 201, body: { state: 'running', step: 0, created_by: 'alice' } })
    expect(await call('/rollouts', { body: { ...good, config: { url: 'http://other.example/' } } })).toMatchObject({ status: 409, body: { error: 'rollout_in_progress' } })
    expect(await write({ url: 'http://plain.example/' })).toMatchObject({ status: 409, body: { error: 'rollout_in_progress' } })
    expect(await call('/config/rollback', { body: { version: 1 } })).toMatchObject({ status: 409, body: { error: 'rollout_in_progress' } })
    expect((await call(`/rollouts/${r.body.id}`)).body).toMatchObject({ id: r.body.id, version: r.body.version })
    expect((await call('/rollouts?limit=5')).body.rollouts[0].id).toBe(r.body.id)
    const metrics = await (await door.fetch(new Request('http://ctl.example/metrics'))).text()
    expect(metrics).toContain('dcm_rollout_state{state="running"} 1')
    expect(metrics).toContain('dcm_rollout_step 1')
    for (const id of ['999', 'r-1', '1e3']) expect(await call(`/rollouts/${id}`)).toMatchObject({ status: 404, body: { error: 'rollout_not_found' } })
    expect((await call(`/rollouts/${r.body.id}/abort`, { method: 'POST' })).body).toMatchObject({ state: 'aborted' })
    expect(await (await door.fetch(new Request('http://ctl.example/metrics'))).text()).toContain('dcm_rollout_step 0')
    expect(await call(`/rollouts/${r.body.id}/resume`, { method: 'POST' })).toMatchObject({ status: 409, body: { error: 'rollout_not_active' } })
    expect((await call('/rollouts', { key: 'agent-key', body: good })).status).toBe(403)
  })
})
