import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { join } from 'node:path'
import { call, freePort, onCleanup, spawnService, upstreamStub, waitFor, type Service } from '../../test/harness'

// Each test spawns processes; the conditions inside have their own deadlines (waitFor).
setDefaultTimeout(30_000)

const KEY = 'worker-key-1'
const env = { AGENT_API_KEY: `${KEY},worker-key-2` }
const UPDATED = '2026-01-01T00:00:00.000Z'
const enc = new TextEncoder()
const dec = new TextDecoder()

const doc = (version: number, url: string, extra: Record<string, unknown> = {}) => ({ version, url, updated_at: UPDATED, ...extra })
const apply = (w: Service, body: unknown, key: string | null = KEY) => call(`${w.url}/config`, { method: 'POST', key: key ?? undefined, json: body })
const hit = (w: Service) => call(`${w.url}/hit`)
const errorOf = (r: { status: number; body: any }) => ({ status: r.status, error: r.body?.error })

/** A promise the test resolves by hand; resolved at the end of the file at the latest, so nothing hangs. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  onCleanup(() => open())
  return { opened, open }
}

/** An upstream that sends `first`, then holds the body open until the gate opens. */
function chunkedStub(name: string, first: string, rest: string, until: Promise<void>) {
  return upstreamStub(name, () =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode(first))
          await until
          try {
            c.enqueue(enc.encode(rest))
            c.close()
          } catch {} // the reader went away (e.g. the worker timed out)
        },
      }),
      { headers: { 'content-type': 'text/plain; charset=utf-8' } },
    ),
  )
}

describe('worker config', () => {
  test('before any config: /hit and /readyz answer 503, /state is a clear empty state', async () => {
    const w = await spawnService('worker', { env })
    const h = await hit(w)
    expect({ ...errorOf(h), keys: Object.keys(h.body).sort() }).toEqual({ status: 503, error: 'no_config', keys: ['error', 'message', 'request_id'] })
    expect(errorOf(await call(`${w.url}/readyz`))).toEqual({ status: 503, error: 'not_ready' })
    const state = await call(`${w.url}/state`)
    expect({ status: state.status, body: state.body }).toEqual({ status: 200, body: { version: null, url: null, applied_at: null } })
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
      body: { applied: true, version: 1, url: `${up.url}/path?q=1`, timeout_ms: 2000, updated_at: UPDATED, applied_at: appliedAt },
    })

    const h = await hit(w)
    expect({ status: h.status, type: h.headers.get('content-type'), body: h.body }).toEqual({ status: 200, type: 'text/plain', body: 'hello from one' })
    expect(await call(`${w.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready', version: 1 } })
    expect((await call(`${w.url}/state`)).body).toEqual({ version: 1, url: `${up.url}/path?q=1`, timeout_ms: 2000, updated_at: UPDATED, applied_at: appliedAt })

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
      [1, `${up.url}/path?q=1`],
      [2, teapot.url],
    ])
  })

  test('the same version again changes nothing; an older or conflicting one is refused with 409', async () => {
    const a = upstreamStub('a')
    const b = upstreamStub('b')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, a.url))
    const v2 = await apply(w, doc(2, b.url))
    const state = (await call(`${w.url}/state`)).body

    const same = await apply(w, doc(2, b.url))
    expect({ status: same.status, body: same.body }).toEqual({ status: 200, body: { applied: false, ...state } })
    expect(v2.body).toEqual({ applied: true, ...state })

    expect(errorOf(await apply(w, doc(1, a.url)))).toEqual({ status: 409, error: 'stale_version' })
    expect(errorOf(await apply(w, doc(2, a.url)))).toEqual({ status: 409, error: 'version_conflict' })
    expect(errorOf(await apply(w, doc(2, b.url, { timeout_ms: 100 })))).toEqual({ status: 409, error: 'version_conflict' })

    expect((await call(`${w.url}/state`)).body).toEqual(state)
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
    ]
    for (const [body, status, mention] of cases) {
      const res = await post(body)
      expect({ body: body.slice(0, 60), status: res.status }).toEqual({ body: body.slice(0, 60), status })
      expect(Object.keys(res.body).sort()).toEqual(['error', 'message', 'request_id'])
      expect(`${res.body.error}: ${res.body.message}`).toContain(mention)
      expect(res.body.request_id).toBe('bad-1')
    }
    expect((await post('version=2', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415)
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
})

describe('worker /hit', () => {
  test('an unreachable upstream → 502, a slow one → 504, both as JSON errors', async () => {
    const held = gate()
    const slow = upstreamStub('slow', async () => {
      await held.opened
      return new Response('too late')
    })
    const w = await spawnService('worker', { env })

    await apply(w, doc(1, `http://127.0.0.1:${await freePort()}/`))
    const down = await hit(w)
    expect({ ...errorOf(down), type: down.headers.get('content-type'), keys: Object.keys(down.body).sort() }).toEqual({
      status: 502,
      error: 'upstream_unreachable',
      type: 'application/json',
      keys: ['error', 'message', 'request_id'],
    })

    await apply(w, doc(2, slow.url, { timeout_ms: 100 }))
    const late = await hit(w)
    expect({ ...errorOf(late), type: late.headers.get('content-type') }).toEqual({ status: 504, error: 'upstream_timeout', type: 'application/json' })
    expect(late.body.message).toContain('100 ms')
    expect(w.proc.exitCode).toBeNull()
  })

  test('the body is streamed: the client gets the first chunk before the upstream has finished', async () => {
    const rest = gate()
    const up = chunkedStub('streamer', 'first chunk;', 'the rest', rest.opened)
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url))

    // Headers and reads run beside the wait, so a worker that buffered fails the waitFor, not the test's timeout.
    let head = { status: 0, type: null as string | null }
    let received = ''
    const reading = (async () => {
      const res = await fetch(`${w.url}/hit`)
      head = { status: res.status, type: res.headers.get('content-type') }
      for await (const chunk of res.body!) received += dec.decode(chunk, { stream: true })
    })()
    await waitFor('the first chunk while the upstream still holds the rest', () => received === 'first chunk;')
    expect(head).toEqual({ status: 200, type: 'text/plain; charset=utf-8' })
    rest.open()
    await reading
    expect(received).toBe('first chunk;the rest')
  })

  test('a timeout while the body is streaming cuts that response and the worker keeps serving', async () => {
    const never = gate()
    const stall = chunkedStub('stall', 'partial', 'never sent', never.opened)
    const fine = upstreamStub('fine')
    const w = await spawnService('worker', { env })
    // Long enough for the headers to arrive first even on a slow machine.
    await apply(w, doc(1, stall.url, { timeout_ms: 1000 }))

    const res = await fetch(`${w.url}/hit`)
    expect(res.status).toBe(200)
    const outcome = await res.text().then(
      (text) => ({ complete: true, text }),
      () => ({ complete: false, text: null }),
    )
    // The cut shows as a failed read; it must never look like a complete body.
    expect(outcome).toEqual({ complete: false, text: null })

    expect((await call(`${w.url}/healthz`)).status).toBe(200)
    await apply(w, doc(2, fine.url))
    expect((await hit(w)).body).toBe('hello from fine')
    expect(w.proc.exitCode).toBeNull()
  })

  test('a /hit under way finishes with the config it started with; the next one uses the new config', async () => {
    const releaseA = gate()
    let aCalls = 0
    const a = upstreamStub('A', async () => {
      aCalls++
      await releaseA.opened
      return new Response('hello from A', { headers: { 'content-type': 'text/plain' } })
    })
    const b = upstreamStub('B')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, a.url))

    const inFlight = hit(w)
    await waitFor('upstream A to receive the request', () => aCalls === 1)
    expect(await apply(w, doc(2, b.url))).toMatchObject({ status: 200, body: { applied: true, version: 2 } })
    releaseA.open()

    const first = await inFlight
    expect({ status: first.status, body: first.body }).toEqual({ status: 200, body: 'hello from A' })
    expect((await hit(w)).body).toBe('hello from B')
    expect(aCalls).toBe(1)
  })

  test('hop-by-hop headers are not forwarded, end-to-end ones are', async () => {
    const up = upstreamStub('headers', () =>
      new Response('ok', {
        headers: { 'content-type': 'text/plain', connection: 'x-private', 'x-private': 'secret-ish', 'keep-alive': 'timeout=99', 'x-end-to-end': 'yes', 'cache-control': 'max-age=5' },
      }),
    )
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url))
    const h = await hit(w)
    expect({
      body: h.body,
      endToEnd: h.headers.get('x-end-to-end'),
      cache: h.headers.get('cache-control'),
      named: h.headers.get('x-private'),
      keepAlive: h.headers.get('keep-alive'),
    }).toEqual({ body: 'ok', endToEnd: 'yes', cache: 'max-age=5', named: null, keepAlive: null })
  })

  test('userinfo in the url reaches the upstream but is masked in /state, errors and logs', async () => {
    const PASSWORD = 's3cr3t-pass-word'
    const up = upstreamStub('private', (req) => new Response(req.headers.get('authorization') === `Basic ${btoa(`user:${PASSWORD}`)}` ? 'welcome' : 'who are you?'))
    const w = await spawnService('worker', { env })
    const port = new URL(up.url).port

    const down = `http://user:${PASSWORD}@127.0.0.1:${await freePort()}/`
    const put = await apply(w, doc(1, down))
    expect(put.body.url).toBe(down.replace(`user:${PASSWORD}`, '***'))
    const failed = await hit(w)
    expect(failed.status).toBe(502)
    expect(failed.body.message).toContain('***@127.0.0.1')

    await apply(w, doc(2, `http://user:${PASSWORD}@127.0.0.1:${port}/x`))
    expect(await hit(w)).toMatchObject({ status: 200, body: 'welcome' })
    expect((await call(`${w.url}/state`)).body.url).toBe(`http://***@127.0.0.1:${port}/x`)
    expect(errorOf(await apply(w, doc(2, `http://user:other-${PASSWORD}@127.0.0.1:${port}/x`)))).toEqual({ status: 409, error: 'version_conflict' })

    await waitFor('the applied configs in the log', () => w.logs().filter((l) => l.msg === 'config applied').length === 2)
    expect(w.logs().filter((l) => l.msg === 'config applied').map((l) => l.url)).toEqual([down.replace(`user:${PASSWORD}`, '***'), `http://***@127.0.0.1:${port}/x`])
    expect(JSON.stringify([put.body, failed.body])).not.toContain(PASSWORD)
    expect(w.output()).not.toContain(PASSWORD)
  })
})

describe('worker start-up, shutdown and docs', () => {
  test('a missing or malformed setting stops it with exit code 2 and a message naming the variable', async () => {
    for (const [bad, name] of [
      [{}, 'AGENT_API_KEY'],
      [{ ...env, PORT: 'abc' }, 'PORT'],
      [{ ...env, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ ...env, PORT: '70000' }, 'PORT'],
      [{ ...env, BODY_LIMIT_BYTES: '10' }, 'BODY_LIMIT_BYTES'],
      [{ ...env, BODY_LIMIT_BYTES: '2048.5' }, 'BODY_LIMIT_BYTES'],
      [{ NODE_ENV: 'production', AGENT_API_KEY: 'dev-worker-key-123456' }, 'AGENT_API_KEY'],
      [{ NODE_ENV: 'production' }, 'AGENT_API_KEY'],
    ] as [Record<string, string>, string][]) {
      // PORT 0 and a kill deadline: a worker that wrongly starts fails this test instead of hanging it.
      const p = Bun.spawn(['bun', 'src/index.ts'], {
        cwd: join(import.meta.dir, '..'),
        env: { PATH: process.env.PATH!, PORT: '0', ...bad },
        stdout: 'pipe',
        stderr: 'pipe',
        timeout: 10_000,
        killSignal: 'SIGKILL',
      })
      const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()])
      expect({ name, code, named: stderr.includes(name), leaked: stderr.includes('dev-worker-key-123456') }).toEqual({ name, code: 2, named: true, leaked: false })
    }
  })

  test('SIGTERM exits cleanly with code 0', async () => {
    const w = await spawnService('worker', { env })
    expect(await w.stop('SIGTERM')).toBe(0)
    expect(w.logs().some((l) => l.msg === 'shutting down')).toBe(true)
  })

  test('OpenAPI docs list every route with its status codes', async () => {
    const w = await spawnService('worker', { env })
    const docs = await call(`${w.url}/swagger/json`)
    const paths = docs.body.paths
    expect(Object.keys(paths).sort()).toEqual(['/config', '/healthz', '/hit', '/readyz', '/state'])
    const codes = (path: string, method: string) => Object.keys(paths[path][method].responses).sort()
    expect({
      config: codes('/config', 'post'),
      hit: codes('/hit', 'get'),
      state: codes('/state', 'get'),
      readyz: codes('/readyz', 'get'),
    }).toEqual({
      config: ['200', '400', '401', '409', '413', '415', '422'],
      hit: ['200', '502', '503', '504'],
      state: ['200'],
      readyz: ['200', '503'],
    })
    expect((await fetch(`${w.url}/swagger`)).status).toBe(200)
  })
})
