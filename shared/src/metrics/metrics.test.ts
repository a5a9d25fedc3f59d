import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { parseMetrics, histogramOf, valueOf } from '../../../test/prom-text'
import { createHttpApp, createLogger, createMetrics, frontDoor, keyChecker, metricsRoute, NO_CREDENTIALS, gatekeeper, optionalKeys, routeMatcher, Tally, UNMATCHED } from '..'

const logger = createLogger({ service: 'test', level: 'warn', sink: { write: () => {}, flush: () => {} } })

test.each([
  ['/config', '/config'],
  ['/config/', '/config'],
  ['/agents/abc-123', '/agents/:id'],
  ['/agents', '/agents'],
  ['/agents/abc/extra', UNMATCHED],
  ['/files/a/b/c', '/files/*'],
  ['/nope', UNMATCHED],
  ['/', UNMATCHED],
  ['/wp-admin.php', UNMATCHED],
])('path %s has route label %s', (path, template) => {
  const routeOf = routeMatcher([{ path: '/config' }, { path: '/agents' }, { path: '/agents/:id' }, { path: '/files/*' }, { path: '/agents/:id' }])
  expect(routeOf(path)).toBe(template)
})

test('a tally counts each value in the first bucket whose bound is not below it', () => {
  const t = new Tally([0.1, 1, 10])
  for (const v of [0, 0.1, 0.2, 1, 5, 11, 100]) t.observe(v)
  expect({ counts: t.counts, count: t.count, sum: Math.round(t.sum * 10) / 10 }).toEqual({ counts: [2, 2, 1, 2], count: 7, sum: 117.3 })
})

/** An app with a parameterised route and a hot route, behind the front door, counting into `metrics`. */
function served() {
  const metrics = createMetrics({ defaults: false })
  const app = createHttpApp({ service: 'test', logger, authenticate: gatekeeper(keyChecker({ admin: ['admin-key'] }), null) })
    .get('/items/:id', ({ params }) => ({ id: params.id }))
    .delete('/items/:id', () => new Response(null, { status: 204 }))
    .get('/hot', () => ({ from: 'app' }))
    .use(metricsRoute(metrics, { keys: [] }))
  const door = frontDoor(app, {
    logger,
    metrics: metrics.http,
    // The hot route answers 304 unless asked for a fall-through (then the app answers 200).
    hot: { '/hot': (req, id) => (req.headers.has('x-fall') ? undefined : new Response(null, { status: 304, headers: { 'x-request-id': id } })) },
  })
  return { metrics, door }
}

test('every answer is counted by route template, method and status, and timed by route', async () => {
  const { door, metrics } = served()
  const get = (path: string, init?: RequestInit) => door.fetch(new Request(`http://localhost${path}`, init))
  for (const id of ['a', 'b', 'c']) expect((await get(`/items/${id}`)).status).toBe(200)
  expect((await get('/items/a', { method: 'DELETE', headers: { authorization: 'Bearer admin-key' } })).status).toBe(204)
  for (const p of ['/nope', '/etc/passwd', '/items/a/b']) expect((await get(p)).status).toBe(404)
  const hot = door.routes['/hot']!
  for (let i = 0; i < 4; i++) expect((await hot(new Request('http://localhost/hot'))).status).toBe(304)
  expect((await hot(new Request('http://localhost/hot', { headers: { 'x-fall': '1' } }))).status).toBe(200)

  const m = await parseMetrics(await metrics.registry.metrics())
  const series: Record<string, unknown>[] = (m.dcm_http_requests_total?.data ?? []).map((d) => ({ ...d.labels, n: (d as { value: number }).value }))
  expect(series.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
    { route: '/hot', method: 'GET', status: '200', n: 1 },
    { route: '/hot', method: 'GET', status: '304', n: 4 },
    { route: '/items/:id', method: 'DELETE', status: '204', n: 1 },
    { route: '/items/:id', method: 'GET', status: '200', n: 3 },
    { route: UNMATCHED, method: 'GET', status: '404', n: 3 },
  ])
  expect(m.dcm_http_request_duration_seconds?.type).toBe('histogram')
  const hotTimes = histogramOf(m, 'dcm_http_request_duration_seconds', { route: '/hot' })!
  expect({ count: hotTimes.count, inf: hotTimes.buckets['+Inf'] }).toEqual({ count: 5, inf: 5 })
  expect(histogramOf(m, 'dcm_http_request_duration_seconds', { route: '/items/:id' })?.count).toBe(4)
  // Buckets are cumulative.
  const bounds = Object.entries(hotTimes.buckets).filter(([le]) => le !== '+Inf').sort(([a], [b]) => Number(a) - Number(b))
  for (let i = 1; i < bounds.length; i++) expect(bounds[i]![1]).toBeGreaterThanOrEqual(bounds[i - 1]![1])
})

test('GET /metrics answers the text format with the registry content type; the process defaults are there, the misnamed ones are not', async () => {
  const metrics = createMetrics()
  const app = new Elysia().use(metricsRoute(metrics, { keys: [] }))
  const res = await app.handle(new Request('http://localhost/metrics'))
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  const m = await parseMetrics(await res.text())
  expect(valueOf(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
  expect(valueOf(m, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  expect(Object.keys(m).filter((n) => /^nodejs_active_\w+_total$/.test(n))).toEqual([])
})

test.each([
  ['no key', {}, 401],
  ['a wrong key', { authorization: 'Bearer wrong-key' }, 401],
  ['the key as Bearer', { authorization: 'Bearer metrics-key-1' }, 200],
  ['the second key as X-API-Key', { 'x-api-key': 'metrics-key-2' }, 200],
] as const)('METRICS_API_KEY set, %s → %i', async (_, headers, status) => {
  const { registry, http } = createMetrics({ defaults: false })
  const app = createHttpApp({ service: 'test', logger, authenticate: gatekeeper(NO_CREDENTIALS, null) }).use(metricsRoute({ registry, http }, { keys: ['metrics-key-1', 'metrics-key-2'] }))
  const door = frontDoor(app, { logger })
  const res = await door.fetch(new Request('http://localhost/metrics', { headers: { 'x-request-id': 'req-m', ...headers } }))
  expect(res.status).toBe(status)
  if (status === 401) expect(await res.json()).toEqual({ error: 'unauthorized', message: expect.any(String), request_id: 'req-m' })
  else expect(await res.text()).toContain('# TYPE dcm_http_requests_total counter')
})

test('METRICS_API_KEY may be unset; once set, production holds it to the rules of every key', () => {
  expect(optionalKeys('METRICS_API_KEY', undefined, {})).toEqual([])
  expect(optionalKeys('METRICS_API_KEY', ' , ', { NODE_ENV: 'production' })).toEqual([])
  expect(optionalKeys('METRICS_API_KEY', 'dev-metrics, other', {})).toEqual(['dev-metrics', 'other'])
  expect(() => optionalKeys('METRICS_API_KEY', 'dev-metrics-key-long-enough', { NODE_ENV: 'production' })).toThrow('development key')
  expect(() => optionalKeys('METRICS_API_KEY', 'short', { NODE_ENV: 'production' })).toThrow('at least 16')
})
