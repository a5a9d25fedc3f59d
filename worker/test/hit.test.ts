import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { call, freePort, onCleanup, spawnService, upstreamStub, waitFor } from '../../test/harness'
import { apply, chunkedStub, doc, env, errorOf, gate, hit, holdingUpstream, state } from './kit'

// Each test spawns processes; the conditions inside have their own deadlines (waitFor).
setDefaultTimeout(30_000)
const dec = new TextDecoder()

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

  test('userinfo and query values reach the upstream but are masked in /state, errors and logs', async () => {
    const PASSWORD = 's3cr3t-pass-word'
    const up = upstreamStub('private', (req) => new Response(req.headers.get('authorization') === `Basic ${btoa(`user:${PASSWORD}`)}` ? 'welcome' : 'who are you?'))
    const w = await spawnService('worker', { env })
    const port = new URL(up.url).port

    const down = `http://user:${PASSWORD}@127.0.0.1:${await freePort()}/?api_token=${PASSWORD}`
    const put = await apply(w, doc(1, down))
    const masked = down.replace(`user:${PASSWORD}`, '***').replace(`api_token=${PASSWORD}`, 'api_token=***')
    expect(put.body.url).toBe(masked)
    const failed = await hit(w)
    expect(failed.status).toBe(502)
    expect(failed.body.message).toContain('***@127.0.0.1')

    await apply(w, doc(2, `http://user:${PASSWORD}@127.0.0.1:${port}/x`))
    expect(await hit(w)).toMatchObject({ status: 200, body: 'welcome' })
    expect((await call(`${w.url}/state`)).body.url).toBe(`http://***@127.0.0.1:${port}/x`)
    expect(errorOf(await apply(w, doc(2, `http://user:other-${PASSWORD}@127.0.0.1:${port}/x`)))).toEqual({ status: 409, error: 'version_conflict' })

    await waitFor('the applied configs in the log', () => w.logs().filter((l) => l.msg === 'config applied').length === 2)
    expect(w.logs().filter((l) => l.msg === 'config applied').map((l) => l.url)).toEqual([masked, `http://***@127.0.0.1:${port}/x`])
    expect(JSON.stringify([put.body, failed.body])).not.toContain(PASSWORD)
    expect(w.output()).not.toContain(PASSWORD)
  })
})


describe('worker /hit passes on only what it promises', () => {
  test('only the documented header fields come back; the request id goes upstream', async () => {
    let seenId = null as string | null
    const up = upstreamStub('headers', (req) => {
      seenId = req.headers.get('x-request-id')
      return new Response('ok', {
        headers: {
          'content-type': 'text/plain',
          'cache-control': 'max-age=5',
          'set-cookie': 'session=abc',
          'strict-transport-security': 'max-age=63072000',
          'x-debug-backend': 'db-7.internal',
          connection: 'x-private',
          'x-private': 'secret-ish',
        },
      })
    })
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url))
    const h = await hit(w, { 'x-request-id': 'hit-7' })
    const fields = [...h.headers.keys()].filter((k) => !['date', 'content-length', 'transfer-encoding'].includes(k)).sort()
    expect({ body: h.body, fields, seenId }).toEqual({ body: 'ok', fields: ['cache-control', 'content-type', 'x-request-id'], seenId: 'hit-7' })
  })
})

describe('worker /hit under callers who go away and upstreams that misbehave', () => {
  test('a caller that goes away cancels its upstream call', async () => {
    const up = holdingUpstream('hanging')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url, { timeout_ms: 60_000 }))
    const callers = Array.from({ length: 20 }, () => new AbortController())
    const calls = callers.map((c) => fetch(`${w.url}/hit`, { signal: c.signal }).catch(() => null))
    await waitFor('the upstream to hold every call', () => up.received() === 20)
    for (const c of callers) c.abort()
    await Promise.all(calls)
    await waitFor('every upstream call to be cancelled', () => up.aborted() === 20)
  })

  test('after 300 callers gave up on a hanging upstream, a change to a healthy one answers at once', async () => {
    const hanging = holdingUpstream('hanging')
    const healthy = upstreamStub('healthy')
    const w = await spawnService('worker', { env: { ...env, MAX_UPSTREAM_CALLS: '1000' } })
    await apply(w, doc(1, hanging.url, { timeout_ms: 60_000 }))
    const callers = Array.from({ length: 300 }, () => new AbortController())
    const calls = callers.map((c) => fetch(`${w.url}/hit`, { signal: c.signal }).catch(() => null))
    await waitFor('the upstream to hold the calls', () => hanging.received() >= 250) // the runtime opens at most 256 at once
    for (const c of callers) c.abort()
    await Promise.all(calls)
    await apply(w, doc(2, healthy.url, { timeout_ms: 60_000 }))
    expect(await hit(w)).toMatchObject({ status: 200, body: 'hello from healthy' })
  })

  test('beyond MAX_UPSTREAM_CALLS a /hit is answered 503 upstream_busy at once, with Retry-After', async () => {
    const up = holdingUpstream('slow')
    const w = await spawnService('worker', { env: { ...env, MAX_UPSTREAM_CALLS: '3' } })
    await apply(w, doc(1, up.url, { timeout_ms: 60_000 }))
    const first = Array.from({ length: 3 }, () => hit(w))
    await waitFor('three calls under way', () => up.received() === 3)
    const extra = await hit(w)
    expect({ ...errorOf(extra), retry: extra.headers.get('retry-after') }).toEqual({ status: 503, error: 'upstream_busy', retry: '1' })
    up.release()
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200, 200])
    expect((await hit(w)).status).toBe(200)
  })

  test('a URL that leads back to the worker under another name is stopped: 508, no fan-out', async () => {
    const w = await spawnService('worker', { env })
    // [::ffff:127.0.0.1] is this worker, spelled so that the apply-time check cannot tell.
    expect((await apply(w, doc(1, `http://[::ffff:127.0.0.1]:${w.port}/hit`))).status).toBe(200)
    expect(errorOf(await hit(w))).toEqual({ status: 508, error: 'loop_detected' })
    const hits = () => w.logs().filter((l) => l.path === '/hit').length
    expect(hits()).toBeLessThanOrEqual(2)
  })

  test('two workers pointing at each other stop the loop too', async () => {
    const a = await spawnService('worker', { env })
    const b = await spawnService('worker', { env })
    await apply(a, doc(1, `${b.url}/hit`))
    await apply(b, doc(1, `${a.url}/hit`))
    expect(errorOf(await hit(a))).toEqual({ status: 508, error: 'loop_detected' })
  })

  test.each([
    ['with a Content-Length (read whole): a clean 502', 'Content-Length: 100\r\n\r\npartial', 502],
    ['streamed (chunked): the response is cut', 'Transfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n', 200],
  ] as const)('an upstream that breaks off mid-body %s; one JSON log line with the request id; an upstream failure', async (_, rest, status) => {
    const raw = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        data(s) {
          s.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${rest}`)
          setTimeout(() => s.terminate(), 50)
        },
      },
    })
    onCleanup(() => raw.stop(true))
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, `http://127.0.0.1:${raw.port}/`))
    const res = await fetch(`${w.url}/hit`, { headers: { 'x-request-id': 'broken-1' } })
    expect(res.status).toBe(status)
    const read = await res.text().then(
      (text) => ({ complete: true, text }),
      () => ({ complete: false, text: null }),
    )
    // Never a body that looks complete but is not.
    if (status === 502) expect(JSON.parse(read.text!)).toMatchObject({ error: 'upstream_broke_off', request_id: 'broken-1' })
    else expect(read).toEqual({ complete: false, text: null })
    const line = await waitFor('the log line', () => w.logs().find((l) => l.msg === 'upstream body broke off'))
    expect(line).toMatchObject({ level: 'warn', request_id: 'broken-1', status: 200 })
    expect((await state(w)).hits).toMatchObject({ version: 1, total: 1, by_class: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, upstream_failures: 1 })
    // Nothing but JSON lines: no stack dump from the runtime.
    expect(w.output().split('\n').filter((l) => l.trim() && !l.startsWith('{'))).toEqual([])
  })

})
