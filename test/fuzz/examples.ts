/** Hand-picked hostile requests, tried first in every run whatever the seed draws: each class of the
 *  issue's list at least once. */
import type { ServiceName, Spec } from './arbitraries'

/** Base of a hand-written example: a clean GET of `path` with nothing else. */
export const plain = (path: string, over: Partial<Spec> = {}): Spec => ({
  method: 'GET',
  path,
  query: '',
  version: 'HTTP/1.1',
  host: 'localhost',
  key: 'none',
  keyPlace: 'bearer',
  inm: null,
  contentType: null,
  headers: [],
  many: 0,
  huge: 0,
  body: null,
  framing: 'length',
  slow: null,
  transport: 'raw',
  write: false,
  ...over,
})


const HOSTILE: Spec[] = [
  plain('/healthz', { method: 'GET', host: 'x', headers: [['X-Request-Id', 'a\r\nX-Injected: 1']] }),
  plain('/healthz', { headers: [['X-Agent-Id', 'a\nb']] }),
  plain('/healthz', { version: 'HTTP/2.0' }),
  plain('/healthz', { method: 'FOO' }),
  plain('/healthz', { host: null }),
  plain('/healthz', { host: 'a' }),
  plain('/healthz', { many: 300 }),
  plain('/healthz', { huge: 40_000 }),
  plain('/healthz', { headers: [['X-Request-Id', '\ud800']] }),
  plain('/a b'),
  plain('/swagger/json', { host: '' }),
  plain('/xxxxx/healthz', { host: 'a/b' }),
  plain('/healthz', { method: 'HEAD', host: 'u:p@h' }),
]
const post = (path: string, key: Spec['key'], body: Spec['body'], over: Partial<Spec> = {}) =>
  plain(path, { method: 'POST', key, contentType: 'application/json', body, ...over })
const nest: Spec['body'] = { t: 'nest', open: '[', close: ']', depth: 30_000 }
export const EXAMPLES: Record<ServiceName, Spec[]> = {
  controller: [
    ...HOSTILE,
    post('/config', 'admin', { t: 'text', text: '{"url":"http://x.example/' }),
    post('/config', 'admin', nest),
    post('/config', 'admin', { t: 'big', size: 1_000_000, json: true }, { framing: 'chunked' }),
    post('/config', 'none', { t: 'big', size: 1_000_000, json: true }),
    post('/config', 'admin', { t: 'text', text: '{"url":"http://x.example/"}' }, { framing: 'short' }),
    post('/config', 'admin', { t: 'text', text: '{"url":"http://x.example/"}' }, { slow: { pieces: 8, gapMs: 100 } }),
    post('/config', 'agent', { t: 'text', text: '{"url":"http://x.example/"}' }),
    post('/register', 'admin', { t: 'text', text: '{}' }),
    post('/register', 'agent', { t: 'text', text: '{"hostname":"a\\ud800"}' }),
    post('/register', 'agent', { t: 'text', text: '{"hostname":"a"}', bytes: { at: 0.5, raw: [0xc3, 0x28] } }),
    post('/register', 'agent', { t: 'text', text: '{"labels":{"zone":"a\u0085b"}}' }),
    // Junk after a body-less registration on the same connection (seed 4245 found it on PostgreSQL).
    post('/register', 'agent', { t: 'text', text: '{"worker_url":"http://a.example/?n=0"}', bytes: { at: 0, raw: [255] } }, { host: '', framing: 'none' }),
    plain('/config', { key: 'agent', query: '?wait=61' }),
    plain('/config', { key: 'agent', query: '?wait=0.2', inm: 'current' }),
    plain('/config', { key: 'agent', query: '?wait=30', inm: 'current' }),
    plain('/config', { key: 'worker', query: '?wait=30', inm: 'current' }),
    plain('/swagger/json', { key: 'admin' }),
  ],
  worker: [
    ...HOSTILE,
    plain('/hit'),
    plain('/hit', { method: 'HEAD' }),
    plain('/hit', { headers: [['Via', 'v'.repeat(2001)]] }),
    post('/config', 'worker', { t: 'text', text: '{"version":1}' }),
    post('/config', 'worker', nest),
    post('/config', 'agent', { t: 'text', text: '{}' }),
    post('/config', 'worker', { t: 'text', text: '{}' }, { framing: 'chunked-cut' }),
  ],
  agent: [...HOSTILE, plain('/state', { key: 'agent' }), plain('/readyz'), post('/state', 'worker', nest), plain('/config', { key: 'agent', query: '?wait=1' })],
}
