/** The controller's HTTP contract in-process (no socket): validation, the error shape, and the hot
 *  route of GET /config answering exactly as the full route does. The spawned end-to-end tests prove
 *  what needs real processes. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'
import { sqliteStore } from './store'

const settings = loadSettings({ AGENT_API_KEY: 'agent-key', ADMIN_API_KEY: 'admin-key', POLL_INTERVAL_SECONDS: '2', SQLITE_PATH: ':memory:', PUBLIC_URL: 'http://ctl.example' })
const logger = createLogger({ service: 'controller', level: 'error', sink: { write: () => {}, flush: () => {} } })
const store = sqliteStore(':memory:')
const config = new ConfigService(store, logger, { maxHeld: 100 })
const door = frontDoor(createApp({ settings, store, logger, config }), { logger, hot: hotRoutes({ settings, config }) })
const hot = door.routes['/config']!
let etag = ''

beforeAll(async () => {
  await store.migrate()
  const { snapshot } = await config.write({ url: 'http://up.example/a', timeout_ms: 300 })
  etag = snapshot.etag
})

const req = (path: string, init: RequestInit & { key?: string } = {}) => {
  const headers = new Headers(init.headers)
  if (init.key) headers.set('authorization', `Bearer ${init.key}`)
  headers.set('x-request-id', 'r-1')
  return new Request(`http://ctl.example${path}`, { ...init, headers })
}
const FIELDS = ['etag', 'cache-control', 'x-poll-interval', 'content-type', 'www-authenticate', 'x-request-id', 'connection']
async function seen(res: Response) {
  const headers = Object.fromEntries(FIELDS.flatMap((f) => (res.headers.has(f) ? [[f, res.headers.get(f)]] : [])))
  return { status: res.status, headers, body: await res.text() }
}
const json = (body: unknown) => ({ method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } })

describe('GET /config: the hot route and the full route answer alike', () => {
  const cases: [string, () => Request][] = [
    ['a plain poll with the current ETag (agent key)', () => req('/config', { key: 'agent-key', headers: { 'if-none-match': etag } })],
    ['a plain poll with the current ETag (admin key)', () => req('/config', { key: 'admin-key', headers: { 'if-none-match': etag } })],
    ['the current ETag sent as X-API-Key', () => req('/config', { headers: { 'x-api-key': 'agent-key', 'if-none-match': etag } })],
    ['a wrong key', () => req('/config', { key: 'nope', headers: { 'if-none-match': etag } })],
    ['no key', () => req('/config', { headers: { 'if-none-match': etag } })],
    ['no If-None-Match', () => req('/config', { key: 'agent-key' })],
    ['a stale ETag', () => req('/config', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['a weak match', () => req('/config', { key: 'agent-key', headers: { 'if-none-match': `W/${etag}` } })],
    ['a query string', () => req('/config?x=1', { key: 'agent-key', headers: { 'if-none-match': etag } })],
    ['a bad wait', () => req('/config?wait=61', { key: 'agent-key', headers: { 'if-none-match': etag } })],
    ['a POST with an agent key', () => req('/config', { key: 'agent-key', ...json({ url: 'http://x.example/' }) })],
  ]
  test.each(cases)('%s', async (_, make) => {
    const viaHot = await seen(await hot(make()))
    const viaApp = await seen(await door.fetch(make()))
    expect(viaHot).toEqual(viaApp)
  })
})

describe('the error shape and validation, in-process', () => {
  const cases: [string, () => Request, number, string][] = [
    ['malformed JSON', () => req('/config', { key: 'admin-key', ...json('{"url":') }), 400, 'malformed_json'],
    ['an unknown field', () => req('/config', { key: 'admin-key', ...json({ url: 'http://x.example/', extra: 1 }) }), 422, 'extra'],
    ['ftp', () => req('/config', { key: 'admin-key', ...json({ url: 'ftp://x.example/' }) }), 422, 'url'],
    ['a leading space', () => req('/config', { key: 'admin-key', ...json({ url: ' http://x.example/' }) }), 422, 'url'],
    ['one slash', () => req('/config', { key: 'admin-key', ...json({ url: 'http:/x.example/' }) }), 422, 'url'],
    ['no slash', () => req('/config', { key: 'admin-key', ...json({ url: 'http:x.example/' }) }), 422, 'url'],
    ['backslashes', () => req('/config', { key: 'admin-key', ...json({ url: 'http:\\\\x.example\\y' }) }), 422, 'url'],
    ['a URL over 2048 characters', () => req('/config', { key: 'admin-key', ...json({ url: `http://x.example/${'a'.repeat(2048)}` }) }), 422, 'url'],
    ['timeout 0', () => req('/config', { key: 'admin-key', ...json({ url: 'http://x.example/', timeout_ms: 0 }) }), 422, 'timeout_ms'],
    ['timeout 1.5', () => req('/config', { key: 'admin-key', ...json({ url: 'http://x.example/', timeout_ms: 1.5 }) }), 422, 'timeout_ms'],
    ['timeout as a string', () => req('/config', { key: 'admin-key', ...json({ url: 'http://x.example/', timeout_ms: '5' }) }), 422, 'timeout_ms'],
    ['an array', () => req('/config', { key: 'admin-key', ...json('[]') }), 422, 'body'],
    ['no body', () => req('/config', { key: 'admin-key', method: 'POST', headers: { 'content-type': 'application/json' } }), 422, 'a JSON body is required'],
    ['an agent key on POST /config', () => req('/config', { key: 'agent-key', ...json({ url: 'http://x.example/' }) }), 403, 'forbidden'],
    ['an admin key on POST /register', () => req('/register', { key: 'admin-key', ...json({}) }), 403, 'forbidden'],
    ['a bad agent_id', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'has space' }) }), 422, 'agent_id'],
    ['a control character in a hostname', () => req('/register', { key: 'agent-key', ...json({ hostname: 'a\u0000b' }) }), 422, 'hostname'],
    ['a label name too long', () => req('/register', { key: 'agent-key', ...json({ labels: { ['x'.repeat(64)]: 'v' } }) }), 422, 'labels'],
    ['a label name with a control character', () => req('/register', { key: 'agent-key', ...json({ labels: { 'k\u0085': 'v' } }) }), 422, 'labels'],
    ['an unknown route', () => req('/nope', { key: 'agent-key' }), 404, 'not_found'],
    ['no key on /register', () => req('/register', json({})), 401, 'unauthorized'],
  ]
  test.each(cases)('%s → %d', async (_, make, status, mention) => {
    const res = await door.fetch(make())
    const body = (await res.json()) as Record<string, string>
    expect({ status: res.status, keys: Object.keys(body).sort(), id: body.request_id }).toEqual({ status, keys: ['error', 'message', 'request_id'], id: 'r-1' })
    expect(`${body.error}: ${body.message}`).toContain(mention)
  })

  test('none of them changed the stored config', async () => {
    expect(await store.current()).toEqual(config.snapshot!.doc)
    expect(config.snapshot!.doc).toMatchObject({ version: 1, url: 'http://up.example/a' })
  })
})
