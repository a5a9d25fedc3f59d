/** The worker's /hit in-process: the hot route and the full route answer alike, in every case. */
import { afterAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, makeForwarder } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

const settings = loadSettings({ AGENT_API_KEY: 'worker-key' })
const logger = createLogger({ service: 'worker', level: 'error', sink: { write: () => {}, flush: () => {} } })
const config = new ConfigService(logger, () => 1)
const forward = makeForwarder(settings, logger)
const door = frontDoor(createApp({ settings, logger, config, forward }), { logger, hot: hotRoutes({ config, forward }) })
const hot = door.routes['/hit']!
const upstream = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch: (r) => new Response(`hello ${new URL(r.url).pathname}`, { status: 201, headers: { 'content-type': 'text/plain', 'set-cookie': 'a=b', etag: '"u"' } }),
})
afterAll(() => upstream.stop(true))
let version = 0
const use = (url: string) => config.apply({ version: ++version, store_id: 's', url, updated_at: '2026-01-01T00:00:00.000Z' })

const FIELDS = ['content-type', 'etag', 'set-cookie', 'x-request-id', 'retry-after']
async function seen(res: Response) {
  const headers = Object.fromEntries(FIELDS.flatMap((f) => (res.headers.has(f) ? [[f, res.headers.get(f)]] : [])))
  return { status: res.status, headers, body: await res.text() }
}
const req = (init: RequestInit = {}) => new Request('http://w.example/hit', { ...init, headers: { 'x-request-id': 'r-1', ...(init.headers as Record<string, string>) } })

describe('GET /hit: the hot route and the full route answer alike', () => {
  test('before any config: 503 no_config', async () => {
    expect(await seen(await hot(req()))).toEqual(await seen(await door.fetch(req())))
    expect((await door.fetch(req())).status).toBe(503)
  })

  const cases: [string, () => void, () => Request, number][] = [
    ['an upstream answer passed through', () => use(`http://127.0.0.1:${upstream.port}/a`), () => req(), 201],
    ['an unreachable upstream', () => use('http://127.0.0.1:9/'), () => req(), 502],
    ['a loop seen in Via', () => use(`http://127.0.0.1:${upstream.port}/b`), () => req({ headers: { via: `1.1 ${'x'.repeat(2100)}` } }), 508],
    ['another method', () => use(`http://127.0.0.1:${upstream.port}/c`), () => req({ method: 'POST' }), 404],
  ]
  test.each(cases)('%s', async (_, setup, make, status) => {
    setup()
    const viaHot = await seen(await hot(make()))
    const viaApp = await seen(await door.fetch(make()))
    expect(viaHot).toEqual(viaApp)
    expect(viaHot.status).toBe(status)
  })
})
