import { expect, test } from 'bun:test'
import { t } from 'elysia'
import { apiKeyAuth, createHttpApp, createLogger, frontDoor, Int, pathOf } from '..'

const lines: string[] = []
const logger = createLogger({ service: 'test', level: 'debug', sink: { write: (s) => lines.push(s), flush: () => {} } })
const app = createHttpApp({ service: 'test', logger, bodyLimit: 1024 })
  .use(apiKeyAuth({ agent: ['agent-key'], admin: ['admin-key'] }))
  .post('/things', ({ body, role }) => ({ ...body, role }), {
    auth: ['admin'],
    body: t.Object({ url: t.String(), n: t.Optional(Int({ minimum: 1 })) }, { additionalProperties: false }),
  })

const door = frontDoor(app, { logger })
const handle = (r: Request) => door.fetch(r)

const post = (body: string | ReadableStream | null, headers: Record<string, string> = {}) =>
  handle(new Request('http://localhost/things', { method: 'POST', body, headers: { authorization: 'Bearer admin-key', 'content-type': 'application/json', ...headers } }))

async function error(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toContain('application/json')
  return { status: res.status, ...((await res.json()) as object) }
}

test('a valid request passes and gets a request id', async () => {
  const res = await post('{"url":"x"}', { 'x-request-id': 'req-1' })
  expect(res.status).toBe(200)
  expect(res.headers.get('x-request-id')).toBe('req-1')
  expect(await res.json()).toEqual({ url: 'x', role: 'admin' })
})

test('every failure has the one JSON error shape with the right status', async () => {
  expect(await error(await post('{bad', { 'x-request-id': 'r2' }))).toEqual({ status: 400, error: 'malformed_json', message: expect.stringContaining('not valid JSON'), request_id: 'r2' })
  expect(await error(await post('{"url":"x","extra":1}'))).toMatchObject({ status: 422, error: 'validation_failed', message: expect.stringContaining('extra') })
  expect(await error(await post('{"url":"x","n":0}'))).toMatchObject({ status: 422, message: expect.stringContaining('"n"') })
  expect(await error(await post(JSON.stringify({ url: 'x'.repeat(2000) })))).toMatchObject({ status: 413, error: 'payload_too_large' })
  expect(await error(await post('url=x', { 'content-type': 'application/x-www-form-urlencoded' }))).toMatchObject({ status: 415 })
  expect(await error(await post('{"url":"x"}', { authorization: '' }))).toMatchObject({ status: 401, error: 'unauthorized' })
  expect(await error(await post('{"url":"x"}', { authorization: 'Bearer agent-key' }))).toMatchObject({ status: 403, error: 'forbidden' })
  const missing = await handle(new Request('http://localhost/nope'))
  expect(await error(missing)).toMatchObject({ status: 404, error: 'not_found', request_id: expect.any(String) })
})

test('a chunked body over the limit is refused without a Content-Length', async () => {
  const big = new ReadableStream({
    start(c) {
      for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(200)))
      c.close()
    },
  })
  expect(await error(await post(big))).toMatchObject({ status: 413 })
})

test('each request is logged once with method, path, status, duration and request id, never the key', async () => {
  lines.length = 0
  await post('{"url":"x"}', { 'x-request-id': 'log-1' })
  const entries = lines.map((l) => JSON.parse(l)).filter((l) => l.request_id === 'log-1')
  expect(entries).toEqual([expect.objectContaining({ msg: 'request', method: 'POST', path: '/things', status: 200, duration_ms: expect.any(Number) })])
  expect(lines.join('')).not.toContain('admin-key')
})

test('the logged path never carries the query string', () => {
  expect(pathOf('http://h:1/config?wait=30&token=x')).toBe('/config')
  expect(pathOf('http://h:1/a/b')).toBe('/a/b')
  expect(pathOf('http://h:1')).toBe('/')
})

test('an unusual path is still logged as valid JSON', async () => {
  lines.length = 0
  await handle(new Request('http://localhost/%22x%22/\u00e9', { headers: { 'x-request-id': 'odd-1' } }))
  const entry = lines.map((l) => JSON.parse(l)).find((l) => l.request_id === 'odd-1')
  expect(entry).toMatchObject({ status: 404, method: 'GET' })
})
