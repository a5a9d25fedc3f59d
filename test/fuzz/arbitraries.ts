/** fast-check generators of hostile HTTP requests for every route of every service. A request is
 *  generated as a small description (a Spec: readable and shrinkable when fast-check prints a
 *  counterexample) and turned into bytes by ./request.ts. */
import fc from 'fast-check'
import { bodyArb, junk, validBody, type Body } from './bodies'

export type { Body } from './bodies'

export type ServiceName = 'controller' | 'worker' | 'agent'

/** Which key a request presents: one of the configured keys by role, or something else. */
export type KeyChoice = 'none' | 'agent' | 'admin' | 'worker' | 'wrong' | 'empty' | 'padded-agent' | 'prefix-of-admin' | 'unicode'
/** How it presents it. `bearer-wins` sends a wrong Bearer beside a right X-API-Key. */
export type KeyPlace = 'bearer' | 'lower-bearer' | 'x-api-key' | 'basic+x-api-key' | 'bearer-wins' | 'token-scheme' | 'two-authorizations'
/** How the body is framed: complete (`length`, `chunked`), or not (`short`: fewer bytes than the
 *  Content-Length, then silence; `long`: more, the rest left on the connection; `chunked-cut`: no last
 *  chunk; `chunked-bad`: a size that is not hex; `both`: Content-Length and chunked at once; `none`: no
 *  length at all, the bytes follow the header section). */
export type Framing = 'length' | 'chunked' | 'none' | 'short' | 'long' | 'chunked-cut' | 'chunked-bad' | 'both' | 'two-lengths'
/** If-None-Match: the current ETag (resolved when the request is sent), spelled several ways, or not. */
export type Inm = 'current' | 'weak-current' | 'list-with-current' | 'star' | 'stale' | 'garbage' | 'huge'

export interface Spec {
  method: string
  path: string
  query: string
  version: string
  /** null: no Host header at all. */
  host: string | null
  key: KeyChoice
  keyPlace: KeyPlace
  inm: Inm | null
  contentType: string | null
  headers: [string, string][]
  /** Filler headers: how many, and the size of one huge one. */
  many: number
  huge: number
  body: Body | null
  framing: Framing
  /** A slow client: the request in this many pieces with this pause before each. */
  slow: { pieces: number; gapMs: number } | null
  transport: 'raw' | 'fetch'
  /** Generated as a valid write by the right key, cleanly framed: it must be stored. */
  write: boolean
}

/** Every route of every service with its method; the agent also gets the other services' paths. */
export const ROUTES: Record<ServiceName, [string, string][]> = {
  controller: [['POST', '/register'], ['GET', '/config'], ['POST', '/config'], ['GET', '/config/versions'], ['GET', '/agents'], ['GET', '/audit'], ['GET', '/readyz'], ['GET', '/healthz'], ['GET', '/swagger'], ['GET', '/swagger/json']],
  worker: [['POST', '/config'], ['GET', '/hit'], ['GET', '/state'], ['GET', '/readyz'], ['GET', '/healthz'], ['GET', '/swagger'], ['GET', '/swagger/json']],
  agent: [['GET', '/state'], ['GET', '/readyz'], ['GET', '/healthz'], ['GET', '/swagger'], ['GET', '/swagger/json'], ['GET', '/config'], ['POST', '/config'], ['POST', '/register'], ['GET', '/hit']],
}

const WAIT_VALUES = ['0', '1', '0.2', '0.05', '60', '60.0', '60.000001', '61', '-1', '1e1', '0x1', 'NaN', 'Infinity', '', ' 1', '1 ', '1.1234567', '99999', '000001', '0.0000001', '%31', '1%00', '١', '+1', '.5', '5.', 'abc', '1,2', '%ZZ', '\ud800']
const waitValue = fc.oneof(fc.constantFrom(...WAIT_VALUES), fc.double({ noNaN: false }).map(String), fc.integer().map(String))
const queryArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 5, arbitrary: waitValue.map((w) => `?wait=${w}`) },
  { weight: 1, arbitrary: fc.tuple(waitValue, waitValue).map(([a, b]) => `?wait=${a}&wait=${b}`) },
  { weight: 2, arbitrary: fc.constantFrom('?replace=true', '?replace=false', '?replace=yes', '?replace', '?replace=true&replace=false') },
  { weight: 1, arbitrary: fc.constantFrom('?', '??', '?=', '?&&', '?a=%', '?a=%GG', '#frag', '?wait=1#x', `?x=${'y'.repeat(5000)}`, '?\u00e9=\u00e9', '?a=\ud800') },
  { weight: 1, arbitrary: junk.map((j) => `?${j}`) },
)

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']
const oddMethod = fc.constantFrom('TRACE', 'CONNECT', 'PROPFIND', 'M-SEARCH', 'PURGE', 'FOO', 'get', 'Post', 'GETT', 'PRI', 'G"T', 'A'.repeat(100), '')

/** Method and path: mostly a route as it is, else its path with another method, spelled otherwise, or
 *  something else entirely. */
function routeArb(service: ServiceName): fc.Arbitrary<[string, string]> {
  const route = fc.constantFrom(...ROUTES[service])
  const path = route.map(([, p]) => p)
  return fc.oneof(
    { weight: 28, arbitrary: route },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...METHODS), path) },
    { weight: 1, arbitrary: fc.tuple(oddMethod, path) },
    // A known route spelled otherwise.
    {
      weight: 3,
      arbitrary: fc
        .tuple(route, fc.constantFrom('/', '//', '/.', '/..', ';x', '%2f', '%00', '/x', '.json', 'UPPER', 'pre//', 'pre/./', 'enc', 'prefix'))
        .map(([[m, r], v]): [string, string] => [m, v === 'UPPER' ? r.toUpperCase() : v === 'pre//' ? `/${r}` : v === 'pre/./' ? `/.${r}` : v === 'enc' ? r.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`) : v === 'prefix' ? `/xxxxx${r}` : r + v]),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.array(fc.oneof(fc.webSegment(), junk), { minLength: 1, maxLength: 4 }).map((segs) => `/${segs.join('/')}`)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('GET', 'POST'), fc.constantFrom('*', '', 'config', 'http://evil.example/config', '/%', '/\u00ff', '/конфиг', '/\ud800', '/a b', '/\u0001', `/${'a'.repeat(3000)}`, `/${'a'.repeat(20_000)}`, '/../../etc/passwd')) },
  )
}

const hostArb = fc.oneof(
  { weight: 16, arbitrary: fc.constantFrom('localhost', '127.0.0.1') },
  { weight: 4, arbitrary: fc.constantFrom('', 'x', 'ab', 'abc', 'api', 'ctl:80', 'a:1', '[::1]', '[::1]:80', 'a:', ':80', 'h:99999', 'a b', 'a/b', 'a?b', 'a#b', '@', 'u:p@h', 'ü', 'a\u0085', 'x'.repeat(300), '..', '%41') },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: junk },
)

// Request ids and agent ids: sane, one over the length limit, and everything a log must not take in.
const idValue = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/) },
  fc.constantFrom('x'.repeat(129), '', ' ', 'a b', 'a\rb', 'a\nb', 'a\r\nX-Injected: 1', 'a\r\n\r\nGET /config HTTP/1.1', 'a\u0000b', 'a\tb', '"}{"level":"error', '\u0085', '\u2028', '\ud800', 'é', '%0d%0a', '../../etc', 'a, b'),
  junk,
)
const extraHeader: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 4, arbitrary: idValue.map((v): [string, string] => ['X-Request-Id', v]) },
  { weight: 3, arbitrary: idValue.map((v): [string, string] => ['X-Agent-Id', v]) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('1.1 proxy', '1.1 dcm-worker-00000000', ''), fc.integer({ min: 1990, max: 5000 }).map((n) => 'v'.repeat(n))).map((v): [string, string] => ['Via', v]) },
  { weight: 1, arbitrary: fc.constantFrom('gzip', 'br', 'identity;q=0', '*', 'x'.repeat(4000)).map((v): [string, string] => ['Accept-Encoding', v]) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<[string, string]>(
      ['Expect', '100-continue'],
      ['Expect', 'nonsense'],
      ['Connection', 'close'],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Upgrade', 'h2c'],
      ['Content-Encoding', 'gzip'],
      ['Cookie', 'a=b'],
      ['X-Forwarded-For', '1.2.3.4, ::1'],
      ['Range', 'bytes=0-1'],
      ['Transfer-Encoding', 'identity'],
      ['Host', 'second.example'],
      ['Authorization', 'Bearer'],
      ['X-API-Key', ''],
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,30}$/), junk), junk).map(([n, v]): [string, string] => [n, v]) },
)

const contentTypeArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      null,
      'application/json;charset=UTF8',
      'application/json; charset="utf-8"',
      'APPLICATION/JSON',
      'application/vnd.api+json',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/jsonx',
      'text/plain',
      'text/json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
      'application/json, text/plain',
    ),
  },
  { weight: 1, arbitrary: junk },
)

const framingArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom<Framing>('length', 'chunked') },
  { weight: 4, arbitrary: fc.constantFrom<Framing>('none', 'short', 'long', 'chunked-cut', 'chunked-bad', 'both', 'two-lengths') },
)
const slowArb = fc.oneof({ weight: 11, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ pieces: fc.integer({ min: 2, max: 6 }), gapMs: fc.integer({ min: 5, max: 80 }) }) })
const keyChoice = fc.constantFrom<KeyChoice>('none', 'agent', 'admin', 'worker', 'wrong', 'empty', 'padded-agent', 'prefix-of-admin', 'unicode')
const keyPlace = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<KeyPlace>('bearer', 'x-api-key') },
  { weight: 2, arbitrary: fc.constantFrom<KeyPlace>('lower-bearer', 'basic+x-api-key', 'bearer-wins', 'token-scheme', 'two-authorizations') },
)
const inmArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: fc.constant<Inm>('current') },
  { weight: 2, arbitrary: fc.constantFrom<Inm>('weak-current', 'list-with-current', 'star', 'stale', 'garbage', 'huge') },
)

/** Any request at all for `service`: mostly aimed at its routes, with everything else varied. */
function hostileSpec(service: ServiceName, upstream: string): fc.Arbitrary<Spec> {
  return fc
    .record({
      route: routeArb(service),
      query: queryArb,
      version: fc.oneof({ weight: 30, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTPS/1.1', 'http/1.1', '') }),
      host: hostArb,
      key: keyChoice,
      keyPlace,
      inm: inmArb,
      contentType: contentTypeArb,
      headers: fc.oneof(fc.constant<[string, string][]>([]), fc.array(extraHeader, { minLength: 1, maxLength: 3 })),
      many: fc.oneof({ weight: 25, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 300 }) }),
      huge: fc.oneof({ weight: 25, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 4000, max: 40_000 }) }),
      hasBody: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      framing: framingArb,
      slow: slowArb,
      transport: fc.constantFrom<'raw' | 'fetch'>('raw', 'fetch'),
    })
    .chain(({ route: [method, path], hasBody, ...rest }) => {
      const base = { method, path, ...rest, write: false }
      if (method !== 'POST' && !hasBody) return fc.constant<Spec>({ ...base, body: null })
      return bodyArb(service, path, upstream).map((body): Spec => ({ ...base, body }))
    })
}

/** A valid write by the right key, framed cleanly (it may still carry odd but harmless headers). */
function writeSpec(service: ServiceName, upstream: string): fc.Arbitrary<Spec> {
  const path = service === 'controller' ? fc.constantFrom('/config', '/config', '/register') : fc.constant('/config')
  return path.chain((p) =>
    fc.record({
      method: fc.constant('POST'),
      path: fc.constant(p),
      query: service === 'worker' ? fc.constantFrom('', '', '?replace=false', '?replace=true') : fc.constant(''),
      version: fc.constant('HTTP/1.1'),
      host: fc.constantFrom('localhost', '127.0.0.1', 'api', 'ctl:80'),
      key: fc.constant<KeyChoice>(service === 'worker' ? 'worker' : p === '/register' ? 'agent' : 'admin'),
      keyPlace: fc.constantFrom<KeyPlace>('bearer', 'lower-bearer', 'x-api-key', 'basic+x-api-key'),
      inm: fc.constant(null),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF8', 'application/vnd.api+json'),
      headers: fc.array(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/).map((v): [string, string] => ['X-Request-Id', v]), { maxLength: 1 }),
      many: fc.constant(0),
      huge: fc.constant(0),
      body: validBody(service, p, upstream).map((o): Body => ({ t: 'text', text: JSON.stringify(o) })),
      framing: fc.constantFrom<Framing>('length', 'chunked'),
      slow: fc.option(fc.record({ pieces: fc.integer({ min: 2, max: 3 }), gapMs: fc.integer({ min: 5, max: 30 }) }), { freq: 4 }),
      transport: fc.constantFrom<'raw' | 'fetch'>('raw', 'fetch'),
      write: fc.constant(true),
    }),
  )
}

/** Requests for `service`: mostly hostile, some valid writes (the agent takes no writes). `upstream`
 *  is where a worker's valid documents point (so /hit has something to call). */
export function requests(service: ServiceName, upstream = 'http://127.0.0.1:9'): fc.Arbitrary<Spec> {
  if (service === 'agent') return hostileSpec(service, upstream)
  if (service === 'worker') return fc.oneof({ weight: 12, arbitrary: hostileSpec(service, upstream) }, { weight: 1, arbitrary: writeSpec(service, upstream) })
  return fc.oneof({ weight: 12, arbitrary: hostileSpec(service, upstream) }, { weight: 1, arbitrary: writeSpec(service, upstream) }, { weight: 1, arbitrary: pollSpec() })
}

/** A poll of the controller by a valid key with a `?wait` (only behind a valid key is it read at all),
 *  the rest of the request as hostile as ever: the long-poll's edge cases. */
function pollSpec(): fc.Arbitrary<Spec> {
  return fc
    .tuple(hostileSpec('controller', ''), fc.constantFrom<KeyChoice>('agent', 'admin', 'padded-agent'), fc.constantFrom<KeyPlace>('bearer', 'x-api-key', 'lower-bearer'), waitValue, fc.option(waitValue, { freq: 4 }), inmArb)
    .map(([s, key, keyPlace, w, again, inm]): Spec => ({ ...s, method: 'GET', path: '/config', key, keyPlace, query: again === null ? `?wait=${w}` : `?wait=${w}&wait=${again}`, inm, body: null }))
}
