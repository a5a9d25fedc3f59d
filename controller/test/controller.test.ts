import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, spawnService, startupRefusal, testDatabase, waitFor } from '../../test/harness'
import { behindProxy } from '../../test/stack'

const AGENT = 'agent-key-1'
const ADMIN = 'admin-key-1'
const keys = { AGENT_API_KEY: `${AGENT},agent-key-2`, ADMIN_API_KEY: ADMIN, POLL_INTERVAL_SECONDS: '0.2' }
const pgUrl = await testDatabase()
const freshPg = async () => ({ ...keys, DATABASE_URL: (await testDatabase())! })

const sqliteEnv = async () => ({ ...keys, SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-ctl-')), 'controller.sqlite') })

function suite(kind: 'sqlite' | 'postgres', storeEnv: () => Promise<Record<string, string>>) {
  describe(`controller on ${kind}`, () => {
    test('agents register: a new agent gets an id and a token (201), a known one presenting its token keeps both (200)', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      const first = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json: { hostname: 'box-1', labels: { zone: 'a' } }, headers: { 'x-agent-token': 'new' } })
      const { agent_id: id, agent_token: token } = first.body // read before toMatchObject: Bun's asymmetric matchers overwrite nested values
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(first).toMatchObject({ status: 201, body: { agent_id: expect.any(String), poll_url: `http://localhost:${c.port}/config`, poll_interval_seconds: 0.2 } })
      const again = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json: { agent_id: id }, headers: { 'x-agent-token': token } })
      expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: { ...first.body, agent_id: id, agent_token: token } })
      const empty = await call(`${c.url}/register`, { method: 'POST', key: 'agent-key-2', headers: { 'x-agent-token': 'new' } })
      expect(empty.status).toBe(201)
      expect(empty.body.agent_token).not.toBe(token)
      // A caller that does not say it keeps a token (an agent of an earlier release) gets none.
      const legacy = await call(`${c.url}/register`, { method: 'POST', key: AGENT })
      expect({ status: legacy.status, token: legacy.body.agent_token }).toEqual({ status: 201, token: undefined })
    })

    test('config: 404 before any write, then versions, ETag and 304', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      expect(await call(`${c.url}/config`, { key: AGENT })).toMatchObject({ status: 404, body: { error: 'no_config' } })

      const put = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://up.example/a', timeout_ms: 300 } })
      expect(put.status).toBe(201)
      const storeId = put.body.store_id
      expect(storeId).toMatch(/^[0-9a-f]{32}$/)
      // The answer is the version as history shows it: the document, who wrote it (the unnamed admin key
      // by its hash), and the comment.
      expect(put.body).toEqual({
        version: 1, store_id: storeId, url: 'http://up.example/a', timeout_ms: 300, updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        created_by: `key:${new Bun.CryptoHasher('sha256').update(ADMIN).digest('hex').slice(0, 8)}`, comment: null,
      })
      const etag = put.headers.get('etag')!
      expect(etag).toMatch(/^"[^"]+"$/)

      const got = await call(`${c.url}/config`, { key: AGENT, headers: { 'x-agent-id': 'a1' } })
      expect(got.status).toBe(200)
      const { created_by: _, comment: __, ...doc } = put.body
      expect(got.body).toEqual(doc)
      expect(got.headers.get('etag')).toBe(etag)
      expect(got.headers.get('cache-control')).toBe('no-cache')

      const cached = await call(`${c.url}/config`, { key: AGENT, headers: { 'if-none-match': etag } })
      expect({ status: cached.status, etag: cached.headers.get('etag'), body: cached.body }).toEqual({ status: 304, etag, body: null })

      // Identical body: no new version.
      const same = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://up.example/a', timeout_ms: 300 } })
      expect({ status: same.status, body: same.body }).toEqual({ status: 200, body: put.body })

      const next = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://up.example/b' } })
      expect(next.body).toMatchObject({ version: 2, url: 'http://up.example/b' })
      const stale = await call(`${c.url}/config`, { key: AGENT, headers: { 'if-none-match': etag } })
      expect(stale).toMatchObject({ status: 200, body: { version: 2 } })
      // The admin key may read too.
      expect((await call(`${c.url}/config`, { key: ADMIN })).status).toBe(200)
    })

    test('bad input gets a clear 4xx JSON error and changes nothing', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://good.example/' } })
      const post = (body: string, extra: Record<string, string> = {}) =>
        call(`${c.url}/config`, { method: 'POST', key: ADMIN, body, headers: { 'content-type': 'application/json', ...extra } })
      const cases: [string, number, string][] = [
        ['{"url":', 400, 'malformed_json'],
        ['{"url":"http://x.example/","extra":1}', 422, 'extra'],
        ['{"url":"ftp://x.example/"}', 422, 'url'],
        ['{"url":"not a url"}', 422, 'url'],
        ['{"url":"http://x.example/a\\u0000b"}', 422, 'url'],
        [JSON.stringify({ url: `http://x.example/${'a'.repeat(2048)}` }), 422, 'url'],
        ['{"url":"http://x.example/","timeout_ms":0}', 422, 'timeout_ms'],
        ['{"url":"http://x.example/","timeout_ms":60001}', 422, 'timeout_ms'],
        ['{"url":"http://x.example/","timeout_ms":1.5}', 422, 'timeout_ms'],
        ['{"url":" http://x.example/"}', 422, 'url'],
        ['{"url":"http:/x.example/"}', 422, 'url'],
        ['{"url":"http:x.example/"}', 422, 'url'],
        [JSON.stringify({ url: 'http:\\\\x.example\\y' }), 422, 'url'],
        ['[]', 422, ''],
        [JSON.stringify({ url: 'http://x.example/', pad: 'x'.repeat(70_000) }), 413, 'payload_too_large'],
      ]
      for (const [body, status, mention] of cases) {
        const res = await post(body, { 'x-request-id': 'bad-1' })
        expect({ body: body.slice(0, 40), status: res.status }).toEqual({ body: body.slice(0, 40), status })
        expect(Object.keys(res.body).sort()).toEqual(['error', 'message', 'request_id'])
        expect(`${res.body.error}: ${res.body.message}`).toContain(mention)
        expect(res.body.request_id).toBe('bad-1')
      }
      const regBad = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json: { agent_id: 'has space' } })
      expect(regBad).toMatchObject({ status: 422, body: { error: 'validation_failed', message: expect.stringContaining('agent_id') } })
      for (const json of [{ hostname: 'a\u0000b' }, { labels: { zone: 'a\u0000' } }, { labels: { 'k\u0000': 'v' } }, { labels: { ['x'.repeat(64)]: 'v' } }]) {
        const res = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json })
        expect({ json, status: res.status }).toEqual({ json, status: 422 })
      }
      expect((await call(`${c.url}/config`, { key: AGENT })).body).toMatchObject({ version: 1, url: 'http://good.example/' })
      expect((await call(`${c.url}/nope`, { key: AGENT })).body).toMatchObject({ error: 'not_found' })
    })

    test('auth: no key → 401, an agent key cannot write (403), both rotated agent keys work', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      const write = (key?: string) => call(`${c.url}/config`, { method: 'POST', key, json: { url: 'http://x.example/' } })
      expect(await write()).toMatchObject({ status: 401, body: { error: 'unauthorized' } })
      expect(await write('wrong')).toMatchObject({ status: 401 })
      expect(await write(AGENT)).toMatchObject({ status: 403, body: { error: 'forbidden' } })
      expect((await call(`${c.url}/config`, { headers: { 'x-api-key': 'agent-key-2' } })).status).toBe(404)
      expect((await call(`${c.url}/config`)).status).toBe(401)
      expect((await call(`${c.url}/register`, { method: 'POST', key: ADMIN })).status).toBe(403)
      expect(c.output()).not.toContain(ADMIN)
      expect(c.output()).not.toContain(AGENT)
    })

    test('parallel writes get distinct versions and every acknowledged one is kept', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      const n = 40
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: `http://p${i}.example/` } })),
      )
      expect(results.map((r) => r.status)).toEqual(Array(n).fill(201))
      const versions = results.map((r) => r.body.version).sort((a: number, b: number) => a - b)
      expect(versions).toEqual(Array.from({ length: n }, (_, i) => i + 1))
      expect((await call(`${c.url}/config`, { key: AGENT })).body.version).toBe(n)
    })

    test('everything acknowledged survives a restart, and a known agent keeps its id', async () => {
      const env = await storeEnv()
      let c = await spawnService('controller', { env })
      const reg = await call(`${c.url}/register`, { method: 'POST', key: AGENT, headers: { 'x-agent-token': 'new' } })
      const put = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://kept.example/', timeout_ms: 50 } })
      c = await c.restart()
      const got = await call(`${c.url}/config`, { key: reg.body.agent_token })
      const { created_by: _, comment: __, ...doc } = put.body
      expect({ body: got.body, etag: got.headers.get('etag') }).toEqual({ body: doc, etag: put.headers.get('etag') })
      const again = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json: { agent_id: reg.body.agent_id }, headers: { 'x-agent-token': reg.body.agent_token } })
      expect({ status: again.status, id: again.body.agent_id, token: again.body.agent_token }).toEqual({ status: 200, id: reg.body.agent_id, token: reg.body.agent_token })
    })

    test('health, readiness and OpenAPI docs', async () => {
      const c = await spawnService('controller', { env: await storeEnv() })
      expect(await call(`${c.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } })
      expect(await call(`${c.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready', store: kind } })
      const docs = await call(`${c.url}/swagger/json`)
      expect(Object.keys(docs.body.paths).sort()).toEqual([
        '/agents', '/agents/{id}', '/audit', '/config', '/config/rollback', '/config/versions', '/config/versions/{n}', '/healthz', '/metrics', '/readyz', '/register',
        '/rollouts', '/rollouts/current', '/rollouts/{id}', '/rollouts/{id}/abort', '/rollouts/{id}/pause', '/rollouts/{id}/promote', '/rollouts/{id}/resume',
        '/ui/events', '/ui/session',
      ])
      const codes = (path: string, method: string) => Object.keys(docs.body.paths[path][method].responses).sort()
      expect({ register: codes('/register', 'post'), poll: codes('/config', 'get'), write: codes('/config', 'post'), revoke: codes('/agents/{id}', 'delete') }).toEqual({
        register: ['200', '201', '400', '401', '403', '413', '415', '422', '429', '503'],
        poll: ['200', '304', '401', '403', '404', '422', '429', '503'],
        write: ['200', '201', '400', '401', '403', '409', '412', '413', '415', '422', '429', '503'],
        revoke: ['204', '401', '403', '404', '422', '429', '503'],
      })
      expect(Object.keys(docs.body.components.securitySchemes).sort()).toEqual(['apiKeyHeader', 'bearerAuth'])
      expect((await fetch(`${c.url}/swagger`)).status).toBe(200)
    })
  })
}

suite('sqlite', sqliteEnv)
if (pgUrl) suite('postgres', freshPg)

describe('controller start-up and shutdown', () => {
  test('a missing or malformed setting stops it with a message naming the variable', async () => {
    for (const [env, name] of [
      [{ ADMIN_API_KEY: ADMIN }, 'AGENT_API_KEY'],
      [{ ...keys, PORT: 'abc' }, 'PORT'],
      [{ ...keys, POLL_INTERVAL_SECONDS: '-1' }, 'POLL_INTERVAL_SECONDS'],
      [{ ...keys, DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
      [{ ...keys, NODE_ENV: 'production', AGENT_API_KEY: 'dev-agent-key' }, 'AGENT_API_KEY'],
      [{ ...keys, NODE_ENV: 'Production', AGENT_API_KEY: 'dev-agent-key' }, 'AGENT_API_KEY'],
      [{ ...keys, POLL_INTERVAL_SECONDS: '0.0001' }, 'POLL_INTERVAL_SECONDS'],
      [{ ...keys, REFRESH_SECONDS: '0.0001' }, 'REFRESH_SECONDS'],
      [{ ...keys, MAX_HELD_POLLS: '0' }, 'MAX_HELD_POLLS'],
      [{ ...keys, DATABASE_URL: 'postgres://dcm:hunter2secret@db host/x' }, 'DATABASE_URL'],
      [{ ...keys, DATABASE_URL: 'postgres://dcm:hunter2/secret@db/x' }, 'DATABASE_URL'],
      [{ ...keys, DATABASE_URL: 'postgres//dcm:hunter2secret@db/x' }, 'DATABASE_URL'],
      [{ ...keys, PUBLIC_URL: 'http://user:hunter2secret@ctl.example' }, 'PUBLIC_URL'],
      [{ ...keys, PUBLIC_URL: 'ftp://user:hunter2secret@x/' }, 'PUBLIC_URL'],
      [{ ...keys, ALLOW_SHARED_KEY_POLLS: 'maybe' }, 'ALLOW_SHARED_KEY_POLLS'],
      [{ ...keys, NEW_AGENTS_PER_MINUTE: '0' }, 'NEW_AGENTS_PER_MINUTE'],
      [{ ...keys, AUTH_FAILURES_PER_MINUTE: '2.5' }, 'AUTH_FAILURES_PER_MINUTE'],
      [{ ...keys, UPSTREAM_ALLOW: '169.254.0.0/33' }, 'UPSTREAM_ALLOW'],
    ] as [Record<string, string>, string][]) {
      const { code, stderr } = await startupRefusal('controller', env)
      expect({ name, code, named: stderr.includes(name), leaked: stderr.includes('hunter2secret') }).toEqual({ name, code: 2, named: true, leaked: false })
    }
  })

  test('SIGTERM exits cleanly with code 0, answering a held long-poll on the way out', async () => {
    const c = await spawnService('controller', { env: await sqliteEnv() })
    const put = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://x.example/' } })
    const held = call(`${c.url}/config?wait=60`, { key: AGENT, headers: { 'if-none-match': put.headers.get('etag')! } })
    await waitFor('the poll to be held', async () => (await call(`${c.url}/readyz`)).body.held_polls === 1)
    expect(await c.stop('SIGTERM')).toBe(0)
    expect((await held).status).toBe(304)
    expect(c.logs().some((l) => l.msg === 'shutting down')).toBe(true)
  })

  test('two controllers sharing one SQLite file never hand out the same version', async () => {
    const env = await sqliteEnv()
    const [a, b] = [await spawnService('controller', { env }), await spawnService('controller', { env })]
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(`${(i % 2 ? a : b).url}/config`, { method: 'POST', key: ADMIN, json: { url: `http://s${i}.example/` } })),
    )
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(201))
    expect(results.map((r) => r.body.version).sort((x: number, y: number) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
  })

  test('a reset database: an agent presenting its id keeps it, and its token', async () => {
    const env = await sqliteEnv()
    let c = await spawnService('controller', { env })
    const reg = await call(`${c.url}/register`, { method: 'POST', key: AGENT, headers: { 'x-agent-token': 'new' } })
    await c.stop()
    rmSync(env.SQLITE_PATH)
    c = await spawnService('controller', { env, port: c.port })
    // The token is unknown to the new database until the agent registers again with it.
    expect((await call(`${c.url}/config`, { key: reg.body.agent_token })).status).toBe(401)
    const again = await call(`${c.url}/register`, { method: 'POST', key: AGENT, json: { agent_id: reg.body.agent_id }, headers: { 'x-agent-token': reg.body.agent_token } })
    expect({ status: again.status, id: again.body.agent_id, token: again.body.agent_token }).toEqual({ status: 200, id: reg.body.agent_id, token: reg.body.agent_token })
    expect((await call(`${c.url}/config`, { key: reg.body.agent_token })).status).toBe(404) // known again; no config yet
  })
})

describe.skipIf(!pgUrl)('controller when PostgreSQL becomes unreachable', () => {
  test('reads keep serving the snapshot, writes and /readyz answer 503, and writes work again once it is back', async () => {
    const { proxy, url: viaProxy } = await behindProxy(pgUrl!)
    const c = await spawnService('controller', { env: { ...keys, DATABASE_URL: viaProxy } })
    const put = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://before.example/' } })
    const version = put.body.version

    proxy.cut()
    const write = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://during.example/' } })
    expect(write).toMatchObject({ status: 503, body: { error: 'store_unavailable', message: expect.stringContaining('unavailable') } })
    expect(await call(`${c.url}/readyz`)).toMatchObject({ status: 503, body: { error: 'store_unavailable' } })
    expect(await call(`${c.url}/config`, { key: AGENT })).toMatchObject({ status: 200, body: { version, url: 'http://before.example/' } })

    proxy.restore()
    const after = await waitFor('a write to succeed after the database is back', async () => {
      const r = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://after.example/' } })
      return r.status === 201 ? r : null
    })
    expect(after.body).toMatchObject({ version: version + 1, url: 'http://after.example/' })
    expect((await call(`${c.url}/readyz`)).status).toBe(200)
  })
})

describe('logging on the hot path', () => {
  test('at info, routine 304 polls are counted into one summary line; writes and errors keep their own line', async () => {
    const c = await spawnService('controller', { env: { ...(await sqliteEnv()), LOG_LEVEL: 'info' } })
    const put = await call(`${c.url}/config`, { method: 'POST', key: ADMIN, json: { url: 'http://x.example/' } })
    const etag = put.headers.get('etag')!
    for (let i = 0; i < 5; i++) {
      const res = await call(`${c.url}/config`, { key: AGENT, headers: { 'if-none-match': etag, 'x-request-id': `poll-${i}` } })
      expect({ status: res.status, id: res.headers.get('x-request-id') }).toEqual({ status: 304, id: `poll-${i}` })
    }
    expect((await call(`${c.url}/config`, { key: 'wrong', headers: { 'if-none-match': etag } })).status).toBe(401)
    expect(await c.stop('SIGTERM')).toBe(0) // the pending summary is written on the way out
    const logs = c.logs()
    expect(logs.filter((l) => l.msg === 'request' && l.path === '/config').map((l) => [l.method, l.status])).toEqual([
      ['POST', 201],
      ['GET', 401],
    ])
    expect(logs.find((l) => l.msg === 'requests summary')).toMatchObject({ path: '/config', count: 5, statuses: { '304': 5 } })
  })
})
