/** Per-agent credentials, revocation, rate limits and upstream safety at a real controller (#10): on
 *  SQLite and on PostgreSQL, the store read directly to see what it keeps. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { call, freePort, spawnService, testDatabase, waitFor, type Service } from '../../test/harness'
import { behindProxy, controllerEnv, KEYS } from '../../test/stack'
import { METADATA_SPELLINGS } from '../../test/fixtures/metadata-urls'

const pgUrl = await testDatabase()
const sha256 = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest('hex')
const sqlite = () => ({ SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-sec-')), 'c.sqlite') })

async function controller(store: Record<string, string>, extra: Record<string, string> = {}) {
  const port = await freePort()
  return spawnService('controller', { port, env: controllerEnv(port, { ...store, ...extra }) })
}
/** Registration as agents of this release make it: with their token, or asking for one. */
const register = (c: Service, json: object = {}, token = 'new') => call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, json, headers: { 'x-agent-token': token } })
const poll = (c: Service, key: string) => call(`${c.url}/config`, { key })
const setConfig = (c: Service, url: string) => call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url } })
const outcome = (r: { status: number; body: any }) => ({ status: r.status, error: r.status >= 400 ? r.body?.error : undefined })

/** Every agents row as the store holds it. */
async function agentRows(store: Record<string, string>): Promise<Record<string, unknown>[]> {
  if (store.SQLITE_PATH) {
    const db = new Database(store.SQLITE_PATH, { readonly: true })
    try {
      return db.query<Record<string, unknown>, []>('select * from agents order by agent_id').all()
    } finally {
      db.close()
    }
  }
  const sql = postgres(store.DATABASE_URL!, { max: 1, onnotice: () => {} })
  try {
    return [...(await sql<Record<string, unknown>[]>`select * from agents order by agent_id`)]
  } finally {
    await sql.end()
  }
}

function suite(kind: 'sqlite' | 'postgres', fresh: () => Promise<Record<string, string>>) {
  describe(`agent credentials on ${kind}`, () => {
    test('registration hands out a 256-bit token; the store keeps only its sha256; polls with it work', async () => {
      const store = await fresh()
      const c = await controller(store)
      await setConfig(c, 'http://up.example/')
      const reg = await register(c, { hostname: 'box-1' })
      const { agent_id: id, agent_token: token } = reg.body
      expect({ status: reg.status, token: /^[A-Za-z0-9_-]{43}$/.test(token) }).toEqual({ status: 201, token: true })
      expect(Buffer.from(token, 'base64url')).toHaveLength(32)
      const rows = await agentRows(store)
      expect(rows.map((r) => [r.agent_id, r.token_hash, r.revoked_at])).toEqual([[id, sha256(token), null]])
      expect(JSON.stringify(rows)).not.toContain(token)
      const got = await poll(c, token)
      expect({ status: got.status, version: got.body.version }).toEqual({ status: 200, version: 1 })
      expect((await call(`${c.url}/config`, { key: token, headers: { 'if-none-match': got.headers.get('etag')! } })).status).toBe(304)
      expect(c.output()).not.toContain(token)
    })

    test('another agent presenting someone’s agent_id without the token is refused (403), and the owner is untouched', async () => {
      const c = await controller(await fresh())
      await setConfig(c, 'http://up.example/')
      const owner = await register(c)
      const { agent_id: id, agent_token: token } = owner.body
      expect(outcome(await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, json: { agent_id: id } }))).toEqual({ status: 403, error: 'agent_token_mismatch' })
      expect(outcome(await register(c, { agent_id: id }))).toEqual({ status: 403, error: 'agent_token_mismatch' })
      expect(outcome(await register(c, { agent_id: id }, 'X'.repeat(43)))).toEqual({ status: 403, error: 'agent_token_mismatch' })
      expect((await poll(c, token)).status).toBe(200)
      const again = await register(c, { agent_id: id }, token)
      expect({ status: again.status, token: again.body.agent_token }).toEqual({ status: 200, token })
    })

    test('DELETE /agents/<id> revokes one agent: its next call is 401 agent_revoked, the others are untouched', async () => {
      const store = await fresh()
      const c = await controller(store)
      await setConfig(c, 'http://up.example/')
      const [a, b] = [(await register(c)).body, (await register(c)).body]
      expect((await poll(c, a.agent_token)).status).toBe(200)
      const del = await call(`${c.url}/agents/${a.agent_id}`, { method: 'DELETE', key: KEYS.admin })
      expect({ status: del.status, body: del.body }).toEqual({ status: 204, body: null })
      expect(outcome(await poll(c, a.agent_token))).toEqual({ status: 401, error: 'agent_revoked' })
      expect(outcome(await register(c, { agent_id: a.agent_id }, a.agent_token))).toEqual({ status: 401, error: 'agent_revoked' })
      expect((await poll(c, b.agent_token)).status).toBe(200)
      expect((await call(`${c.url}/agents/${a.agent_id}`, { method: 'DELETE', key: KEYS.admin })).status).toBe(204)
      expect(outcome(await call(`${c.url}/agents/nobody`, { method: 'DELETE', key: KEYS.admin }))).toEqual({ status: 404, error: 'agent_not_found' })
      expect(outcome(await call(`${c.url}/agents/${b.agent_id}`, { method: 'DELETE', key: KEYS.agent }))).toEqual({ status: 403, error: 'forbidden' })
      // Revocation survives a restart: it is the store's, not the replica's memory.
      const again = await c.restart()
      expect(outcome(await poll(again, a.agent_token))).toEqual({ status: 401, error: 'agent_revoked' })
      expect((await poll(again, b.agent_token)).status).toBe(200)
      const rows = await agentRows(store)
      expect(rows.map((r) => [r.agent_id, r.revoked_at !== null])).toEqual([
        [a.agent_id, true],
        [b.agent_id, false],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))))
    })
  })
}

suite('sqlite', async () => sqlite())
if (pgUrl) suite('postgres', async () => ({ DATABASE_URL: (await testDatabase())! }))

describe('polls with the shared agent key', () => {
  test('allowed by default outside production; with ALLOW_SHARED_KEY_POLLS=false, 403 agent_token_required (tokens and the admin key still read)', async () => {
    const open = await controller(sqlite())
    await setConfig(open, 'http://up.example/')
    expect((await poll(open, KEYS.agent)).status).toBe(200)
    const c = await controller(sqlite(), { ALLOW_SHARED_KEY_POLLS: 'false' })
    await setConfig(c, 'http://up.example/')
    const token = (await register(c)).body.agent_token
    expect(outcome(await poll(c, KEYS.agent))).toEqual({ status: 403, error: 'agent_token_required' })
    expect((await poll(c, token)).status).toBe(200)
    expect((await poll(c, KEYS.admin)).status).toBe(200)
  })

  test('refused by default in production', async () => {
    const keys = { AGENT_API_KEY: 'a-production-agent-key-1', ADMIN_API_KEY: 'a-production-admin-key-1' }
    const c = await controller(sqlite(), { NODE_ENV: 'production', ...keys })
    await call(`${c.url}/config`, { method: 'POST', key: keys.ADMIN_API_KEY, json: { url: 'http://up.example/' } })
    expect(outcome(await poll(c, keys.AGENT_API_KEY))).toEqual({ status: 403, error: 'agent_token_required' })
    const token = (await call(`${c.url}/register`, { method: 'POST', key: keys.AGENT_API_KEY, json: {}, headers: { 'x-agent-token': 'new' } })).body.agent_token
    expect((await poll(c, token)).status).toBe(200)
  })
})

describe('rate limits', () => {
  test('a registration flood: beyond NEW_AGENTS_PER_MINUTE new agents get 429 with Retry-After; known agents still register', async () => {
    const c = await controller(sqlite(), { NEW_AGENTS_PER_MINUTE: '5' })
    const first = await register(c)
    const statuses = [first.status]
    for (let i = 0; i < 9; i++) statuses.push((await register(c)).status)
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429, 429, 429, 429])
    const limited = await register(c)
    expect({ ...outcome(limited), retry: Number(limited.headers.get('retry-after')) }).toEqual({ status: 429, error: 'too_many_registrations', retry: 12 })
    // A made-up id is a new agent too; the known one presenting its token is never limited.
    expect((await register(c, { agent_id: 'made-up' })).status).toBe(429)
    expect((await register(c, { agent_id: first.body.agent_id }, first.body.agent_token)).status).toBe(200)
  })

  test('a failed-auth flood from one address gets 429 with Retry-After; valid keys and tokens from the same address still pass', async () => {
    const c = await controller(sqlite(), { AUTH_FAILURES_PER_MINUTE: '5' })
    await setConfig(c, 'http://up.example/')
    const token = (await register(c)).body.agent_token
    const wrong = []
    for (let i = 0; i < 5; i++) wrong.push((await poll(c, `wrong-${i}`)).status)
    expect(wrong).toEqual([401, 401, 401, 401, 401])
    const blocked = await poll(c, 'wrong-again')
    expect({ ...outcome(blocked), retry: blocked.headers.get('retry-after'), connection: blocked.headers.get('connection') }).toEqual({ status: 429, error: 'too_many_failures', retry: '12', connection: 'close' })
    // The body gate answers the same way, without reading the body.
    expect(outcome(await call(`${c.url}/config`, { method: 'POST', json: { url: 'http://x.example/' } }))).toEqual({ status: 429, error: 'too_many_failures' })
    expect(outcome(await poll(c, 'T'.repeat(43)))).toEqual({ status: 429, error: 'too_many_failures' })
    // A whole fleet may share the address: valid credentials are never refused by the limit.
    expect((await poll(c, KEYS.agent)).status).toBe(200)
    expect((await poll(c, token)).status).toBe(200)
    expect((await setConfig(c, 'http://up.example/2')).status).toBe(201)
    expect((await register(c)).status).toBe(201)
  })
})

describe('upstream safety', () => {
  test('metadata URLs in every spelling are refused on write (422 on url), and nothing is stored', async () => {
    const c = await controller(sqlite())
    await setConfig(c, 'http://up.example/')
    for (const url of [
      ...METADATA_SPELLINGS,
      'http://[fe80::1]/',
      'http://metadata.google.internal/computeMetadata/v1/',
    ]) {
      const r = await setConfig(c, url)
      expect({ url, status: r.status, error: r.body.error, names: r.body.message.includes('"url"') }).toEqual({ url, status: 422, error: 'validation_failed', names: true })
    }
    expect((await poll(c, KEYS.agent)).body).toMatchObject({ version: 1, url: 'http://up.example/' })
  })

  test('UPSTREAM_ALLOW permits what it names', async () => {
    const c = await controller(sqlite(), { UPSTREAM_ALLOW: '169.254.169.254/32,metadata.google.internal' })
    expect((await setConfig(c, 'http://169.254.169.254/latest/')).status).toBe(201)
    expect((await setConfig(c, 'http://metadata.google.internal/')).status).toBe(201)
    expect((await setConfig(c, 'http://169.254.170.2/')).status).toBe(422)
  })
})

describe.skipIf(!pgUrl)('replicated controllers on one PostgreSQL database', () => {
  test('a token registered through replica A works on replica B, and a revocation through A reaches B at once', async () => {
    const db = (await testDatabase())!
    // No periodic refresh: only the notification (or B's own store lookup) can tell B.
    const a = await controller({ DATABASE_URL: db }, { REFRESH_SECONDS: '3600' })
    const b = await controller({ DATABASE_URL: db }, { REFRESH_SECONDS: '3600' })
    await setConfig(a, 'http://up.example/')
    await waitFor('B to hold version 1', async () => (await poll(b, KEYS.agent)).body?.version === 1)
    const [one, two] = [(await register(a)).body, (await register(a)).body]
    expect((await poll(b, one.agent_token)).status).toBe(200)
    expect((await poll(b, two.agent_token)).status).toBe(200)
    expect((await call(`${a.url}/agents/${one.agent_id}`, { method: 'DELETE', key: KEYS.admin })).status).toBe(204)
    await waitFor('B to refuse the revoked token', async () => (await poll(b, one.agent_token)).body?.error === 'agent_revoked')
    expect((await poll(b, two.agent_token)).status).toBe(200)
    expect(b.logs().some((l) => l.msg === 'snapshot refreshed from the store' && l.why === 'periodic')).toBe(false)
  })

  test('a revocation a replica missed while cut off from the database is caught up when it reconnects', async () => {
    const db = (await testDatabase())!
    const { proxy, url: viaProxy } = await behindProxy(db)
    const a = await controller({ DATABASE_URL: db }, { REFRESH_SECONDS: '3600' })
    // No periodic refresh on B: only its listening connection's reconnect can bring the news.
    const b = await controller({ DATABASE_URL: viaProxy }, { REFRESH_SECONDS: '3600' })
    await setConfig(a, 'http://up.example/')
    const [gone, kept] = [(await register(a)).body, (await register(a)).body]
    await waitFor('B to serve both tokens', async () => (await poll(b, gone.agent_token)).status === 200 && (await poll(b, kept.agent_token)).status === 200)
    proxy.cut()
    expect((await call(`${a.url}/agents/${gone.agent_id}`, { method: 'DELETE', key: KEYS.admin })).status).toBe(204)
    // B cannot hear of it and keeps answering from memory meanwhile.
    expect((await poll(b, gone.agent_token)).status).toBe(200)
    proxy.restore()
    await waitFor('B to refuse the revoked token', async () => (await poll(b, gone.agent_token)).body?.error === 'agent_revoked', 30_000)
    expect((await poll(b, kept.agent_token)).status).toBe(200)
  })
})
