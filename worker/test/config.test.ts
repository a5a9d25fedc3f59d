import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { call, spawnService, upstreamStub } from '../../test/harness'
import { apply, doc, env, errorOf, hit, KEY, state, STORE, UPDATED } from './kit'

// Each test spawns processes; the conditions inside have their own deadlines (waitFor).
setDefaultTimeout(30_000)

const NO_BUCKETS = { le_ms: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000], counts: new Array(16).fill(0) }

describe('worker config', () => {
  test('before any config: /hit and /readyz answer 503, /state is a clear empty state', async () => {
    const w = await spawnService('worker', { env })
    const h = await hit(w)
    expect({ ...errorOf(h), keys: Object.keys(h.body).sort() }).toEqual({ status: 503, error: 'no_config', keys: ['error', 'message', 'request_id'] })
    expect(errorOf(await call(`${w.url}/readyz`))).toEqual({ status: 503, error: 'not_ready' })
    const state = await call(`${w.url}/state`)
    expect({ status: state.status, body: state.body }).toEqual({
      status: 200,
      body: { version: null, store_id: null, url: null, applied_at: null, hits: { version: null, total: 0, by_class: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, upstream_failures: 0, p50_ms: 0, p99_ms: 0, buckets: NO_BUCKETS } },
    })
  })

  test('applying v1 makes /hit pass the upstream status, content-type and body through', async () => {
    const up = upstreamStub('one')
    const teapot = upstreamStub('teapot', () => new Response('{"short":"and stout"}', { status: 418, headers: { 'content-type': 'application/teapot+json' } }))
    const w = await spawnService('worker', { env })

    const put = await apply(w, doc(1, `${up.url}/path?q=1`, { timeout_ms: 2000 }))
    const appliedAt = put.body.applied_at
    expect(Number.isNaN(Date.parse(appliedAt))).toBe(false)
    expect(put).toMatchObject({
      status: 200,
      body: { applied: true, version: 1, store_id: STORE, url: `${up.url}/path?q=***`, timeout_ms: 2000, updated_at: UPDATED, applied_at: appliedAt },
    })

    const h = await hit(w)
    expect({ status: h.status, type: h.headers.get('content-type'), body: h.body }).toEqual({ status: 200, type: 'text/plain', body: 'hello from one' })
    expect(await call(`${w.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready', version: 1 } })
    expect(await state(w)).toEqual({
      version: 1,
      store_id: STORE,
      url: `${up.url}/path?q=***`,
      timeout_ms: 2000,
      updated_at: UPDATED,
      applied_at: appliedAt,
      hits: { version: 1, total: 1, by_class: { '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0 }, upstream_failures: 0, p50_ms: expect.any(Number), p99_ms: expect.any(Number), buckets: expect.any(Object) },
    })

    await apply(w, doc(2, teapot.url))
    const t = await hit(w)
    expect({ status: t.status, type: t.headers.get('content-type'), body: t.body }).toEqual({
      status: 418,
      type: 'application/teapot+json',
      body: { short: 'and stout' },
    })
    // timeout_ms left out: the default is in effect and shown.
    expect((await call(`${w.url}/state`)).body).toMatchObject({ version: 2, timeout_ms: 5000 })
    expect(w.logs().filter((l) => l.msg === 'config applied').map((l) => [l.version, l.url])).toEqual([
      [1, `${up.url}/path?q=***`],
      [2, teapot.url],
    ])
  })

  test('the same version again changes nothing; an older or conflicting one is refused with 409', async () => {
    const a = upstreamStub('a')
    const b = upstreamStub('b')
    const w = await spawnService('worker', { env })
    const { applied: _a, ...v1Applied } = (await apply(w, doc(1, a.url))).body
    const v2 = await apply(w, doc(2, b.url))
    const { hits: _, ...applied } = await state(w)

    const same = await apply(w, doc(2, b.url))
    expect({ status: same.status, body: same.body }).toEqual({ status: 200, body: { applied: false, ...applied } })
    expect(v2.body).toEqual({ applied: true, ...applied, replaced: { ...v1Applied, hits: expect.objectContaining({ version: 1, total: 0 }) } })

    expect(errorOf(await apply(w, doc(1, a.url)))).toEqual({ status: 409, error: 'stale_version' })
    expect(errorOf(await apply(w, doc(2, a.url)))).toEqual({ status: 409, error: 'version_conflict' })
    expect(errorOf(await apply(w, doc(2, b.url, { timeout_ms: 100 })))).toEqual({ status: 409, error: 'version_conflict' })

    expect(await state(w)).toMatchObject(applied)
    expect((await hit(w)).body).toBe('hello from b')
  })

  test('a bad document gets a 4xx JSON error and changes nothing', async () => {
    const up = upstreamStub('good')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url))
    const state = (await call(`${w.url}/state`)).body
    const post = (body: string, headers: Record<string, string> = {}) =>
      call(`${w.url}/config`, { method: 'POST', key: KEY, body, headers: { 'content-type': 'application/json', 'x-request-id': 'bad-1', ...headers } })
    const cases: [string, number, string][] = [
      ['{"version":', 400, 'malformed_json'],
      ['', 422, 'body'],
      ['[]', 422, ''],
      [JSON.stringify({ url: 'http://x.example/', updated_at: UPDATED }), 422, 'version'],
      [JSON.stringify(doc(0, 'http://x.example/')), 422, 'version'],
      [JSON.stringify(doc(2.5, 'http://x.example/')), 422, 'version'],
      [JSON.stringify(doc(2, 'ftp://x.example/')), 422, 'url'],
      [JSON.stringify(doc(2, 'http://')), 422, 'url'],
      [JSON.stringify(doc(2, '/relative')), 422, 'url'],
      [JSON.stringify(doc(2, 'http://x.example/', { timeout_ms: 0 })), 422, 'timeout_ms'],
      [JSON.stringify(doc(2, 'http://x.example/', { timeout_ms: 60001 })), 422, 'timeout_ms'],
      [JSON.stringify(doc(2, 'http://x.example/', { updated_at: 'yesterday' })), 422, 'updated_at'],
      [JSON.stringify(doc(2, 'http://x.example/', { extra: 1 })), 422, 'extra'],
      [JSON.stringify(doc(2, 'http://x.example/', { pad: 'x'.repeat(70_000) })), 413, 'payload_too_large'],
      [JSON.stringify(doc(2, ' http://x.example/')), 422, 'url'],
      [JSON.stringify(doc(2, 'http:/x.example/')), 422, 'url'],
      [JSON.stringify(doc(2, 'http:\\\\x.example\\y')), 422, 'url'],
      [JSON.stringify(doc(2 ** 31, 'http://x.example/')), 422, 'version'],
      [JSON.stringify({ ...doc(2, 'http://x.example/'), store_id: undefined }), 422, 'store_id'],
      [JSON.stringify(doc(2, 'http://x.example/', { store_id: 'has space' })), 422, 'store_id'],
    ]
    for (const [body, status, mention] of cases) {
      const res = await post(body)
      expect({ body: body.slice(0, 60), status: res.status }).toEqual({ body: body.slice(0, 60), status })
      expect(Object.keys(res.body).sort()).toEqual(['error', 'message', 'request_id'])
      expect(`${res.body.error}: ${res.body.message}`).toContain(mention)
      expect(res.body.request_id).toBe('bad-1')
    }
    expect((await post('version=2', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415)
    const noType = await call(`${w.url}/config`, { method: 'POST', key: KEY, body: JSON.stringify(doc(3, up.url)) })
    expect(errorOf(noType)).toEqual({ status: 415, error: 'unsupported_media_type' })
    expect((await call(`${w.url}/state`)).body).toEqual(state)
    expect((await hit(w)).body).toBe('hello from good')
  })

  test('POST /config needs an agent key: none or a wrong one → 401; either listed key works', async () => {
    const up = upstreamStub('auth')
    const w = await spawnService('worker', { env })
    const none = await apply(w, doc(1, up.url), null)
    expect({ ...errorOf(none), challenge: none.headers.get('www-authenticate') }).toEqual({ status: 401, error: 'unauthorized', challenge: 'Bearer' })
    expect(errorOf(await apply(w, doc(1, up.url), 'wrong-key'))).toEqual({ status: 401, error: 'unauthorized' })
    expect((await call(`${w.url}/state`)).body.version).toBeNull()
    expect((await apply(w, doc(1, up.url), 'worker-key-2')).status).toBe(200)
    const viaHeader = await call(`${w.url}/config`, { method: 'POST', headers: { 'x-api-key': KEY }, json: doc(2, up.url) })
    expect(viaHeader.status).toBe(200)
    expect(w.output()).not.toContain(KEY)
    expect(w.output()).not.toContain('worker-key-2')
  })

  test('failed pushes from one address beyond AUTH_FAILURES_PER_MINUTE get 429 with Retry-After; the agent’s key still applies', async () => {
    const up = upstreamStub('limited')
    const w = await spawnService('worker', { env: { ...env, AUTH_FAILURES_PER_MINUTE: '3' } })
    const refused = []
    for (let i = 0; i < 4; i++) refused.push(errorOf(await apply(w, doc(1, up.url), `wrong-${i}`)))
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 429])
    const blocked = await apply(w, doc(1, up.url), null)
    expect({ ...errorOf(blocked), retry: blocked.headers.get('retry-after'), connection: blocked.headers.get('connection') }).toEqual({ status: 429, error: 'too_many_failures', retry: '20', connection: 'close' })
    expect((await apply(w, doc(1, up.url))).status).toBe(200)
  })
})


describe('worker config across store identities', () => {
  test('a document from another store replaces the active one whatever its number, logged once at warn', async () => {
    const a = upstreamStub('old-store')
    const b = upstreamStub('new-store')
    const w = await spawnService('worker', { env })
    await apply(w, doc(7, a.url))
    const reset = await apply(w, doc(1, b.url, { store_id: 'store-after-reset' }))
    expect(reset).toMatchObject({ status: 200, body: { applied: true, version: 1, store_id: 'store-after-reset' } })
    expect((await hit(w)).body).toBe('hello from new-store')
    // Within the new store, versions only move forward again.
    const after = { store_id: 'store-after-reset' }
    expect((await apply(w, doc(3, b.url, after))).status).toBe(200)
    expect(errorOf(await apply(w, doc(2, b.url, after)))).toEqual({ status: 409, error: 'stale_version' })
    expect(w.logs().filter((l) => l.level === 'warn' && l.msg.includes('another store identity'))).toHaveLength(1)
  })

  test('a version pushed out of band (10^9, an unknown store) does not lock out the real store', async () => {
    const real = upstreamStub('real')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, real.url))
    expect((await apply(w, doc(10 ** 9, 'http://stray.example/', { store_id: 'manual' }))).status).toBe(200)
    // The next document of the real store is taken: its identity differs from the stray one's.
    expect(await apply(w, doc(2, real.url))).toMatchObject({ status: 200, body: { applied: true, version: 2, store_id: STORE } })
    expect((await hit(w)).body).toBe('hello from real')
  })

  test('?replace=true applies a lower version of the active store (the agent replacing one its store never issued)', async () => {
    const real = upstreamStub('real')
    const w = await spawnService('worker', { env })
    await apply(w, doc(2 ** 31 - 1, 'http://stray.example/'))
    expect(errorOf(await apply(w, doc(2, real.url)))).toEqual({ status: 409, error: 'stale_version' })
    const replaced = await call(`${w.url}/config?replace=true`, { method: 'POST', key: KEY, json: doc(2, real.url) })
    expect(replaced).toMatchObject({ status: 200, body: { applied: true, version: 2 } })
    expect((await hit(w)).body).toBe('hello from real')
    expect(w.logs().some((l) => l.level === 'warn' && l.msg.includes('replaced'))).toBe(true)
  })

  test('a URL pointing at the worker itself is refused', async () => {
    const w = await spawnService('worker', { env })
    for (const url of [`http://127.0.0.1:${w.port}/hit`, `http://localhost:${w.port}/`, `http://[::1]:${w.port}/hit`]) {
      const res = await apply(w, doc(1, url))
      expect({ url, ...errorOf(res) }).toEqual({ url, status: 422, error: 'validation_failed' })
      expect(res.body.message).toContain('itself')
    }
    expect((await state(w)).version).toBeNull()
  })
})
