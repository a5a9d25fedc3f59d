/** The controller's HTTP contract in-process (no socket): validation, the error shape, and the hot
 *  route of GET /config answering exactly as the full route does. The spawned end-to-end tests prove
 *  what needs real processes. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, services } from './app'
import { loadSettings } from './settings'
import { sqliteStore } from './store'
import { METADATA_SPELLINGS } from '../../test/fixtures/metadata-urls'
import { waitFor } from '../../test/kit'

const env = { AGENT_API_KEY: 'agent-key', ADMIN_API_KEY: 'admin-key', POLL_INTERVAL_SECONDS: '2', SQLITE_PATH: ':memory:', PUBLIC_URL: 'http://ctl.example', NEW_AGENTS_PER_MINUTE: '6' }
const settings = loadSettings(env)
const logger = createLogger({ service: 'controller', level: 'error', sink: { write: () => {}, flush: () => {} } })
const store = sqliteStore(':memory:')
const all = services(settings, store, logger)
const { config, agents, fleet } = all
const doorOf = (s: typeof settings) => {
  const door = frontDoor(createApp({ settings: s, store, logger, ...all }), { logger, hot: hotRoutes({ settings: s, config, agents, fleet }) })
  return { door, hot: door.routes['/config']! }
}
const { door, hot } = doorOf(settings)
// The same replica with polls by the shared agent key turned off (production's default).
const tokensOnly = doorOf(loadSettings({ ...env, ALLOW_SHARED_KEY_POLLS: 'false' }))
let etag = ''
let token = ''
let revokedToken = ''

beforeAll(async () => {
  await store.migrate()
  const { snapshot } = await config.write({ url: 'http://up.example/a', timeout_ms: 300 })
  etag = snapshot.etag
  const wanting = (agent_id: string) => req('/register', { key: 'agent-key', ...json({ agent_id }), headers: { 'content-type': 'application/json', 'x-agent-token': 'new' } })
  token = ((await (await door.fetch(wanting('agent-a'))).json()) as { agent_token: string }).agent_token
  revokedToken = ((await (await door.fetch(wanting('agent-r'))).json()) as { agent_token: string }).agent_token
  expect((await door.fetch(req('/agents/agent-r', { key: 'admin-key', method: 'DELETE' }))).status).toBe(204)
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
  const cases: [string, () => Request, typeof tokensOnly?][] = [
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
    ['the re-arm after a change: a long-poll with a stale ETag', () => req('/config?wait=30', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['the re-arm with an agent token', () => req('/config?wait=30', { key: token, headers: { 'if-none-match': '"0-old"' } })],
    ['a first long-poll (no If-None-Match)', () => req('/config?wait=30', { key: 'agent-key' })],
    ['a long-poll with a list of stale ETags', () => req('/config?wait=30', { key: 'agent-key', headers: { 'if-none-match': '"0-a", "0-b"' } })],
    ['wait=0 with the current ETag', () => req('/config?wait=0', { key: 'agent-key', headers: { 'if-none-match': etag } })],
    ['a long-poll with a weak match and wait=0', () => req('/config?wait=0', { key: 'agent-key', headers: { 'if-none-match': `W/${etag}` } })],
    ['a wait in a form agents do not send', () => req('/config?wait=030', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['a fractional wait', () => req('/config?wait=1.5', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['an empty wait', () => req('/config?wait=', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['wait beside another parameter', () => req('/config?wait=5&x=1', { key: 'agent-key', headers: { 'if-none-match': '"0-old"' } })],
    ['a long-poll with a revoked token and a stale ETag', () => req('/config?wait=30', { key: revokedToken, headers: { 'if-none-match': '"0-old"' } })],
    ['a POST with an agent key', () => req('/config', { key: 'agent-key', ...json({ url: 'http://x.example/' }) })],
    ['a plain poll with the current ETag (agent token)', () => req('/config', { key: token, headers: { 'if-none-match': etag } })],
    ['the agent token sent as X-API-Key', () => req('/config', { headers: { 'x-api-key': token, 'if-none-match': etag } })],
    ['an agent token, no If-None-Match', () => req('/config', { key: token })],
    ['a revoked agent token', () => req('/config', { key: revokedToken, headers: { 'if-none-match': etag } })],
    ['a token nobody was given', () => req('/config', { key: 'A'.repeat(43), headers: { 'if-none-match': etag } })],
    ['shared-key polls off: the agent key', () => req('/config', { key: 'agent-key', headers: { 'if-none-match': etag } }), tokensOnly],
    ['shared-key polls off: the agent key, no If-None-Match', () => req('/config', { key: 'agent-key' }), tokensOnly],
    ['shared-key polls off: an agent token', () => req('/config', { key: token, headers: { 'if-none-match': etag } }), tokensOnly],
    ['shared-key polls off: the admin key', () => req('/config', { key: 'admin-key', headers: { 'if-none-match': etag } }), tokensOnly],
  ]
  test.each(cases)('%s', async (_, make, on = { door, hot }) => {
    const viaHot = await seen(await on.hot(make()))
    const viaApp = await seen(await on.door.fetch(make()))
    expect(viaHot).toEqual(viaApp)
  })

  test('the hot route itself answers the plain poll, the re-arm after a change and a first poll, and holds a long-poll', async () => {
    const handler = hotRoutes({ settings, config, agents, fleet })['/config']!
    const answer = (path: string, inm?: string) => handler(req(path, { key: 'agent-key', headers: inm ? { 'if-none-match': inm } : {} }), 'r-1') as Response | undefined
    expect(answer('/config', etag)?.status).toBe(304)
    expect(answer('/config?wait=30', '"0-old"')?.status).toBe(200)
    expect(answer('/config?wait=30')?.status).toBe(200)
    expect(answer('/config?wait=0', etag)?.status).toBe(304)
    expect(answer('/config?wait=1.5', '"0-old"')).toBeUndefined()
    const before = config.held
    const held = answer('/config?wait=30', etag) as unknown as Promise<Response>
    expect({ promise: held instanceof Promise, held: config.held - before }).toEqual({ promise: true, held: 1 })
    config.releaseHolds() // as on shutdown: answered from the current snapshot
    expect((await held).status).toBe(304)
  })

  test('what they answer: tokens poll like keys, a revoked token is told apart from a wrong one, shared-key polls can be refused', async () => {
    const statusOf = async (r: Response) => ({ status: r.status, error: r.status >= 400 ? ((await r.json()) as { error: string }).error : null })
    const poll = (key: string, on = { door, hot }) => on.hot(req('/config', { key, headers: { 'if-none-match': etag } }))
    expect(await statusOf(await poll(token))).toEqual({ status: 304, error: null })
    expect(await statusOf(await poll(revokedToken))).toEqual({ status: 401, error: 'agent_revoked' })
    expect(await statusOf(await poll('B'.repeat(43)))).toEqual({ status: 401, error: 'unauthorized' })
    expect(await statusOf(await poll('agent-key', tokensOnly))).toEqual({ status: 403, error: 'agent_token_required' })
    expect(await statusOf(await poll(token, tokensOnly))).toEqual({ status: 304, error: null })
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
    ['a malformed X-Agent-Token', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'agent-a' }), headers: { 'content-type': 'application/json', 'x-agent-token': 'short' } }), 422, 'X-Agent-Token'],
    ['a known agent_id without its token', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'agent-a' }) }), 403, 'agent_token_mismatch'],
    ['a known agent_id asking for a new token', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'agent-a' }), headers: { 'content-type': 'application/json', 'x-agent-token': 'new' } }), 403, 'agent_token_mismatch'],
    ['a known agent_id with another token', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'agent-a' }), headers: { 'content-type': 'application/json', 'x-agent-token': 'C'.repeat(43) } }), 403, 'agent_token_mismatch'],
    ['a revoked agent registering again', () => req('/register', { key: 'agent-key', ...json({ agent_id: 'agent-r' }), headers: { 'content-type': 'application/json', 'x-agent-token': revokedToken } }), 401, 'agent_revoked'],
    ['a token as the key of /register', () => req('/register', { key: token, ...json({}) }), 403, 'forbidden'],
    ['revoking an unknown agent', () => req('/agents/nobody', { key: 'admin-key', method: 'DELETE' }), 404, 'agent_not_found'],
    ['revoking with an agent key', () => req('/agents/agent-a', { key: 'agent-key', method: 'DELETE' }), 403, 'forbidden'],
    ['revoking with an agent token', () => req('/agents/agent-a', { key: token, method: 'DELETE' }), 403, 'forbidden'],
    ['revoking a malformed id', () => req('/agents/has%20space', { key: 'admin-key', method: 'DELETE' }), 422, 'id'],
    ...[
      ...METADATA_SPELLINGS,
      'http://metadata.google.internal/',
    ].map((url): [string, () => Request, number, string] => [`a metadata url: ${url}`, () => req('/config', { key: 'admin-key', ...json({ url }) }), 422, 'body field "url"']),
  ]
  test.each(cases)('%s → %d', async (_, make, status, mention) => {
    const res = await door.fetch(make())
    const body = (await res.json()) as Record<string, string>
    expect({ status: res.status, keys: Object.keys(body).sort(), id: body.request_id }).toEqual({ status, keys: ['error', 'message', 'request_id'], id: 'r-1' })
    expect(`${body.error}: ${body.message}`).toContain(mention)
  })

  test('none of them changed the stored config or an agent', async () => {
    expect(await store.current()).toEqual(config.snapshot!.doc)
    expect(config.snapshot!.doc).toMatchObject({ version: 1, url: 'http://up.example/a' })
    expect((await store.agentTokens('all')).map((r) => [r.agent_id, r.revoked]).sort()).toEqual([
      ['agent-a', false],
      ['agent-r', true],
    ])
    expect((await hot(req('/config', { key: token, headers: { 'if-none-match': etag } }))).status).toBe(304)
  })
})

describe('registration', () => {
  const register = (body: object, headers: Record<string, string> = {}) =>
    door.fetch(req('/register', { key: 'agent-key', method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }))

  test('a known agent presenting its token keeps its id and the very same token (never rotated)', async () => {
    const res = await register({ agent_id: 'agent-a', hostname: 'h2' }, { 'x-agent-token': token })
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { agent_id: 'agent-a', agent_token: token, poll_url: 'http://ctl.example/config', poll_interval_seconds: 2 } })
  })

  test('a caller that sends no X-Agent-Token (an agent of an earlier release) gets no token, and its id stays open to it', async () => {
    const first = await register({ agent_id: 'legacy-1' })
    expect({ status: first.status, body: await first.json() }).toEqual({ status: 200, body: { agent_id: 'legacy-1', poll_url: 'http://ctl.example/config', poll_interval_seconds: 2 } })
    expect((await register({ agent_id: 'legacy-1' })).status).toBe(200)
    // Upgraded, the same agent asks for a token and gets one; from then on the id needs it.
    const upgraded = (await (await register({ agent_id: 'legacy-1' }, { 'x-agent-token': 'new' })).json()) as { agent_token: string }
    expect(upgraded.agent_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await register({ agent_id: 'legacy-1' })).status).toBe(403)
    expect((await register({ agent_id: 'legacy-1' }, { 'x-agent-token': upgraded.agent_token })).status).toBe(200)
  })

  test.each([
    ['the full route', 'agent-held', (r: Request) => door.fetch(r)],
    // The hot handler itself: a Promise (held there), not undefined (which would hand it to the full route).
    ['the hot route', 'agent-held-hot', (r: Request) => {
      const out = hotRoutes({ settings, config, agents, fleet })['/config']!(r, 'r-held') as Promise<Response> | undefined
      if (!(out instanceof Promise)) throw new Error('the hot route did not hold the poll')
      // Its errors become the JSON error shape in the front door; here, the same status and code.
      return out.catch((e: { status: number; code: string }) => new Response(JSON.stringify({ error: e.code }), { status: e.status }))
    }],
  ])('a token revoked while its long-poll is held gets 401 agent_revoked when the hold ends, never the new document (%s)', async (_, agentId, send) => {
    const reg = (await (await register({ agent_id: agentId }, { 'x-agent-token': 'new' })).json()) as { agent_token: string }
    // Known to this replica first (as after its registration's first poll), so the hot route takes it.
    expect((await hot(req('/config', { key: reg.agent_token, headers: { 'if-none-match': config.snapshot!.etag } }))).status).toBe(304)
    const before = config.held
    const held = send(req('/config?wait=5', { key: reg.agent_token, headers: { 'if-none-match': config.snapshot!.etag } }))
    await waitFor('the poll held', () => config.held > before)
    expect((await door.fetch(req(`/agents/${agentId}`, { key: 'admin-key', method: 'DELETE' }))).status).toBe(204)
    await config.write({ url: `http://up.example/${agentId}` })
    const res = await held
    expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({ status: 401, error: 'agent_revoked' })
  })

  test('new agents beyond NEW_AGENTS_PER_MINUTE get 429 too_many_registrations with Retry-After; known agents are never limited', async () => {
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 6; i++) statuses.push((last = await register({})).status)
    // The allowance of 6 was partly taken by the registrations before; the rest come as 201, then 429.
    const limited = statuses.indexOf(429)
    expect({ limited: limited >= 0, before: statuses.slice(0, limited) }).toEqual({ limited: true, before: Array(limited).fill(201) })
    expect({ error: ((await last!.json()) as { error: string }).error, retry: Number(last!.headers.get('retry-after')) > 0 }).toEqual({ error: 'too_many_registrations', retry: true })
    // An unknown agent_id is a new agent too; a known one passes.
    expect((await register({ agent_id: 'never-seen' })).status).toBe(429)
    expect((await register({ agent_id: 'agent-a' }, { 'x-agent-token': token })).status).toBe(200)
  })
})

describe('the hot route\'s memory of credentials', () => {
  test('only `Authorization: Bearer <key>` as sent is remembered: another Authorization beside X-API-Key never becomes a pass, other spellings are checked each time', async () => {
    const basic = 'Basic cHJveHk6cGFzcw=='
    const poll = (headers: Record<string, string>) => hot(req('/config', { headers: { 'if-none-match': config.snapshot!.etag, ...headers } }))
    expect((await poll({ authorization: basic, 'x-api-key': 'agent-key' })).status).toBe(304)
    const alone = await poll({ authorization: basic })
    expect({ status: alone.status, error: ((await alone.json()) as { error: string }).error }).toEqual({ status: 401, error: 'unauthorized' })
    expect((await poll({ authorization: 'bearer  agent-key ' })).status).toBe(304)
    const wrong = await poll({ authorization: 'bearer  agent-key x' })
    expect(wrong.status).toBe(401)
  })

  test('a token the hot route has let through stops working the moment its agent is revoked, also when sent exactly as before', async () => {
    // Last in the file: agent-a's token is revoked here.
    const poll = () => hot(req('/config', { key: token, headers: { 'if-none-match': config.snapshot!.etag } }))
    expect((await poll()).status).toBe(304)
    expect((await poll()).status).toBe(304) // now remembered by its header
    expect((await door.fetch(req('/agents/agent-a', { key: 'admin-key', method: 'DELETE' }))).status).toBe(204)
    const res = await poll()
    expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({ status: 401, error: 'agent_revoked' })
  })
})
