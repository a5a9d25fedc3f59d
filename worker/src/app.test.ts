/** The worker's /hit in-process: the hot route and the full route answer alike, in every case. */
import { afterAll, describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, makeForwarder } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

const settings = loadSettings({ AGENT_API_KEY: 'worker-key' })
const logger = createLogger({ service: 'worker', level: 'error', sink: { write: () => {}, flush: () => {} } })
const config = new ConfigService(logger, () => 1)
// A stand-in resolver: one name points at the metadata address, everything else resolves as usual.
const lookup = async (host: string) => (host === 'metadata-alias.test' ? [{ address: '10.0.0.9' }, { address: '169.254.169.254' }] : Bun.dns.lookup(host))
const forward = makeForwarder(settings, logger, { lookup, resolveCacheMs: 0 })
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
    ['a Via too long to extend', () => use(`http://127.0.0.1:${upstream.port}/b`), () => req({ headers: { via: `1.1 ${'x'.repeat(2100)}` } }), 431],
    ['another method', () => use(`http://127.0.0.1:${upstream.port}/c`), () => req({ method: 'POST' }), 404],
    ['a name resolving to a metadata address', () => use('http://metadata-alias.test/latest/'), () => req(), 502],
    ['a name resolving to an ordinary address', () => use(`http://localhost:${upstream.port}/d`), () => req(), 201],
  ]
  test.each(cases)('%s', async (_, setup, make, status) => {
    setup()
    const viaHot = await seen(await hot(make()))
    const viaApp = await seen(await door.fetch(make()))
    expect(viaHot).toEqual(viaApp)
    expect(viaHot.status).toBe(status)
  })
})

describe('upstream safety on apply and at call time', () => {
  test('a metadata address is refused on apply (422 naming url), whatever its spelling; the active config stays', () => {
    const before = config.active
    for (const url of ['http://169.254.169.254/', 'http://0xA9FEA9FE/', 'http://[::ffff:169.254.169.254]/', 'http://[fd00:ec2::254]/', 'http://metadata.google.internal/'])
      expect(() => use(url)).toThrow('body field "url"')
    expect(config.active).toBe(before)
  })

  test('a name that resolves to a metadata address is refused before the call: 502 upstream_forbidden, counted as an upstream failure', async () => {
    use('http://metadata-alias.test/')
    const res = await hot(req())
    expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({ status: 502, error: 'upstream_forbidden' })
    expect(config.state.hits).toMatchObject({ total: 1, upstream_failures: 1 })
  })

  test('a name is resolved again once its verdict is older than resolveCacheMs: a change of address is seen', async () => {
    let target = '169.254.169.254'
    let lookups = 0
    const flipping = makeForwarder(settings, logger, { lookup: async () => (lookups++, [{ address: target }]), resolveCacheMs: 50 })
    const cfg = new ConfigService(logger, () => 1)
    cfg.apply({ version: 1, store_id: 's', url: `http://flip.test:${upstream.port}/`, updated_at: '2026-01-01T00:00:00.000Z' })
    await expect(flipping(cfg.active!, req(), 'r-2')).rejects.toMatchObject({ status: 502, code: 'upstream_forbidden' })
    target = '127.0.0.1'
    // Within the same moment the verdict is shared (one lookup for many calls)…
    await expect(flipping(cfg.active!, req(), 'r-2')).rejects.toMatchObject({ status: 502, code: 'upstream_forbidden' })
    expect(lookups).toBe(1)
    await Bun.sleep(60)
    // The check passes; the call itself resolves flip.test for real (no such name here) and fails differently.
    await expect(flipping(cfg.active!, req(), 'r-3')).rejects.toMatchObject({ status: 502, code: 'upstream_unreachable' })
  })
})
