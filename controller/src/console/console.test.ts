/** The console's server side in-process: sign-in with an admin key to a session cookie, the cookie as an
 *  admin credential with its CSRF token on changing requests, sign-out ending it, failed sign-ins
 *  limited, and the live event stream. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, services } from '../app'
import { loadSettings } from '../settings'
import { sqliteStore } from '../store'

const logger = createLogger({ service: 'controller', level: 'error', sink: { write: () => {}, flush: () => {} } })
const store = sqliteStore(':memory:')
/** A replica with its own failed-auth allowance (in-process every request comes from one address). */
function replica(failuresPerMinute: number) {
  const settings = loadSettings({ AGENT_API_KEY: 'agent-key', ADMIN_API_KEY: 'alice:alice-key', SQLITE_PATH: ':memory:', AUTH_FAILURES_PER_MINUTE: String(failuresPerMinute) })
  const svc = services(settings, store, logger)
  return frontDoor(createApp({ settings, store, logger, ...svc }), { logger, hot: hotRoutes({ settings, ...svc }) })
}
const door = replica(1000)
const strict = replica(3)
beforeAll(() => store.migrate())

const req = (path: string, init: { method?: string; headers?: Record<string, string>; json?: unknown } = {}, on = door) =>
  on.fetch(
    new Request(`http://ctl.example${path}`, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers: { ...(init.json === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    }),
  )
const cookieOf = (res: Response) => /dcm_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? ''

async function signIn() {
  const res = await req('/ui/session', { json: { key: 'alice-key' } })
  const body = (await res.json()) as { actor: string; csrf_token: string; expires_at: string }
  return { res, body, cookie: cookieOf(res) }
}

describe('console sessions', () => {
  test('an admin key signs in to an HttpOnly, SameSite=Strict cookie and a CSRF token; the key is not in the answer', async () => {
    const { res, body, cookie } = await signIn()
    expect(res.status).toBe(200)
    expect(body).toMatchObject({ actor: 'alice', csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
    expect(res.headers.get('set-cookie')).toBe(`dcm_session=${cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800`)
    expect(JSON.stringify(body)).not.toContain('alice-key')
    // Over https (here: per the proxy's header) the cookie is Secure too; the key may come as a header.
    const viaHeader = await req('/ui/session', { method: 'POST', headers: { authorization: 'Bearer alice-key', 'x-forwarded-proto': 'https' } })
    expect(viaHeader.headers.get('set-cookie')).toEndWith('; Secure')
  })

  test('the cookie is an admin credential: reads pass, changes need the CSRF token, and history names the operator', async () => {
    const { body, cookie } = await signIn()
    const as = (extra: Record<string, string> = {}) => ({ cookie: `dcm_session=${cookie}`, ...extra })
    expect((await req('/ui/session', { headers: as() })).status).toBe(200)
    expect((await req('/config/versions', { headers: as() })).status).toBe(200)
    const w = { url: 'http://console.example/' }
    expect(await (await req('/config', { json: w, headers: as() })).json()).toMatchObject({ error: 'csrf_token_required' })
    expect(await (await req('/config', { json: w, headers: as({ 'x-csrf-token': 'x'.repeat(43) }) })).json()).toMatchObject({ error: 'csrf_token_mismatch' })
    const ok = await req('/config', { json: w, headers: as({ 'x-csrf-token': body.csrf_token }) })
    expect({ status: ok.status, by: ((await ok.json()) as { created_by: string }).created_by }).toEqual({ status: 201, by: 'alice' })
    // An agent key cannot become a session; a made-up cookie is no credential.
    expect((await req('/ui/session', { json: { key: 'agent-key' } })).status).toBe(401)
    expect((await req('/config/versions', { headers: { cookie: 'dcm_session=nonsense' } })).status).toBe(401)
  })

  test('sign-out ends the session and clears the cookie', async () => {
    const { body, cookie } = await signIn()
    const out = await req('/ui/session', { method: 'DELETE', headers: { cookie: `dcm_session=${cookie}`, 'x-csrf-token': body.csrf_token } })
    expect(out.status).toBe(204)
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0')
    expect((await req('/ui/session', { headers: { cookie: `dcm_session=${cookie}` } })).status).toBe(401)
    expect((await req('/config/versions', { headers: { cookie: `dcm_session=${cookie}` } })).status).toBe(401)
  })

  test('the live stream tells a signed-in console of a new version', async () => {
    const { body, cookie } = await signIn()
    const abort = new AbortController()
    const res = await door.fetch(new Request('http://ctl.example/ui/events', { headers: { cookie: `dcm_session=${cookie}` }, signal: abort.signal }))
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    await reader.read() // ": connected"
    const write = await req('/config', { json: { url: 'http://live.example/' }, headers: { cookie: `dcm_session=${cookie}`, 'x-csrf-token': body.csrf_token } })
    const version = ((await write.json()) as { version: number }).version
    const { value } = await reader.read()
    expect(new TextDecoder().decode(value)).toBe(`event: config\ndata: ${JSON.stringify({ version, etag: write.headers.get('etag') })}\n\n`)
    abort.abort()
    expect((await req('/ui/events')).status).toBe(401)
  })

  test('wrong keys at sign-in are failed authentications: limited per address', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await req('/ui/session', { json: { key: `wrong-${i}` } }, strict)).status)
    expect(statuses).toEqual([401, 401, 401, 429, 429])
    // The right key still passes; malformed sign-ins are the client's error.
    expect((await req('/ui/session', { json: { key: 'alice-key' } }, strict)).status).toBe(200)
    expect((await req('/ui/session', { json: { key: 'alice-key', extra: 1 } })).status).toBe(422)
    expect((await req('/ui/session', { json: {} })).status).toBe(422)
  })
})
