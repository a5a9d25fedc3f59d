/** dcm's decisions in-process: argument parsing (usage errors before any request), the request each
 *  command sends, exit codes by answer, tables and --json, and watch's loop. The transport is injected:
 *  a stand-in answering as /work/notes/fleet-api.md specifies for the fleet routes, and the real
 *  controller app (app.handle through its front door) for the routes it has today. The spawned
 *  end-to-end tests are in cli/test/cli.test.ts. */
import { describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, services } from '../../controller/src/app'
import { loadSettings } from '../../controller/src/settings'
import { sqliteStore } from '../../controller/src/store'
import { COMMANDS } from './args'
import type { Agent, AuditRecord, Entry, Fleet } from './contract'
import { run } from './main'

type Responder = (req: Request, body: unknown) => Response | Promise<Response>
type Sent = { method: string; path: string; query: [string, string][]; headers: Record<string, string>; body: unknown }

async function dcm(argv: string[], answer: Responder = () => Response.json({}), env: Record<string, string> = { DCM_ADMIN_KEY: 'k1', DCM_URL: 'http://ctl.test' }, signal?: AbortSignal) {
  const sent: Sent[] = []
  const out: string[] = []
  const err: string[] = []
  const fetcher = (async (input: string | URL, init?: RequestInit) => {
    const req = new Request(String(input), init)
    const text = req.method === 'GET' ? '' : await req.clone().text()
    const body = text ? JSON.parse(text) : null
    const u = new URL(req.url)
    const headers = Object.fromEntries([...req.headers].filter(([k]) => ['authorization', 'if-match', 'if-none-match'].includes(k)))
    sent.push({ method: req.method, path: u.origin + u.pathname, query: [...u.searchParams], headers, body })
    return answer(req, body)
  }) as typeof fetch
  const code = await run(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env, fetcher, signal })
  return { code, out: out.join('\n'), err: err.join('\n'), sent }
}

const RID = { 'x-request-id': 'req-9' }
const refuse = (status: number, error: string, message: string, headers: Record<string, string> = {}) => () =>
  Response.json({ error, message, request_id: 'req-9' }, { status, headers: { ...RID, ...headers } })

const DOC = { version: 3, store_id: 's1', url: 'https://up.example/a', timeout_ms: 800, updated_at: '2026-11-28T06:00:00.000Z' }
const ENTRY: Entry = { ...DOC, created_by: 'alice', comment: 'faster upstream' }
const OLD: Entry = { version: 2, store_id: 's1', url: 'https://up.example/old', updated_at: '2026-11-27T06:00:00.000Z', created_by: null, comment: null }
const agent = (id: string, status: Agent['status'], applied: number | null, extra: Partial<Agent> = {}): Agent => ({
  agent_id: id,
  hostname: `host-${id}`,
  labels: { zone: 'a' },
  worker_url: null,
  registered_at: '2026-11-27T00:00:00.000Z',
  last_seen_at: '2026-11-28T06:00:01.000Z',
  fetched_version: applied,
  applied_version: applied,
  rejected: null,
  status,
  ...extra,
})
const FLEET: Fleet = {
  summary: { in_sync: 1, behind: 0, rejected: 1, stale: 0 },
  agents: [agent('a-1', 'in_sync', 3), agent('a-2', 'rejected', 2, { rejected: { version: 3, reason: 'invalid_config' } })],
}
const AUDIT: AuditRecord[] = [{ id: 7, at: '2026-11-28T06:00:00.000Z', actor: 'alice', action: 'config.write', target: 'version 3', request_id: 'req-1', outcome: 'created' }]
const withEtag = (body: unknown, status = 200) => Response.json(body, { status, headers: { etag: '"3-abc"', 'x-poll-interval': '5' } })

describe('usage errors: exit 2, a message and the usage on stderr, no request sent', () => {
  test.each([
    [[], 'no command given'],
    [['bogus'], 'unknown command "bogus"'],
    [['config'], 'config needs a subcommand'],
    [['config', 'drop'], 'unknown command "config drop"'],
    [['status', '--verbose'], "Unknown option '--verbose'"],
    [['status', 'extra'], 'unexpected argument "extra"'],
    [['config', 'set'], 'config set needs --url'],
    [['config', 'set', '--url', 'ftp://x'], '--url must be an absolute http(s) URL'],
    [['config', 'set', '--url', 'not a url'], '--url must be an absolute http(s) URL'],
    [['config', 'set', '--url', 'https://u', '--timeout-ms', '0'], '--timeout-ms must be a whole number from 1 to 60000'],
    [['config', 'set', '--url', 'https://u', '--timeout-ms', '1.5'], '--timeout-ms must be a whole number'],
    [['config', 'set', '--url', 'https://u', '--timeout-ms'], "Option '--timeout-ms <value>' argument missing"],
    [['config', 'set', '--url', 'https://u', '--comment', 'x'.repeat(501)], '--comment is at most 500 characters'],
    [['config', 'history', '--limit', '0'], '--limit must be a whole number from 1 to 500'],
    [['config', 'history', '--limit', '501'], '--limit must be a whole number from 1 to 500'],
    [['config', 'rollback'], 'config rollback takes N'],
    [['config', 'rollback', 'two'], 'N (the version to roll back to) must be a whole number'],
    [['config', 'rollback', '2', '3'], 'config rollback takes N; unexpected "3"'],
    [['agents', '--status', 'sleeping'], '--status must be one of in_sync, behind, rejected, stale'],
    [['agents', '--label', 'zone'], '--label must be name=value'],
    [['agents', '--label', '=a'], '--label must be name=value'],
    [['agent'], 'agent takes ID'],
    [['audit', '--limit', 'ten'], '--limit must be a whole number'],
    [['--url', 'localhost:8080', 'status'], '--url must be an absolute http(s) URL'],
  ])('dcm %j → %s', async (argv, message) => {
    const r = await dcm(argv)
    expect({ code: r.code, sent: r.sent.length, out: r.out }).toEqual({ code: 2, sent: 0, out: '' })
    expect(r.err).toContain(`dcm: ${message}`)
    expect(r.err).toContain('Usage: dcm')
  })

  test('no admin key anywhere is a usage error naming DCM_ADMIN_KEY', async () => {
    const r = await dcm(['status'], undefined, { DCM_URL: 'http://ctl.test' })
    expect({ code: r.code, sent: r.sent.length }).toEqual({ code: 2, sent: 0 })
    expect(r.err).toContain('set DCM_ADMIN_KEY or pass --key')
  })

  test('a DCM_URL that is no URL is a usage error naming DCM_URL', async () => {
    const r = await dcm(['status'], undefined, { DCM_URL: 'ctl:8080', DCM_ADMIN_KEY: 'k' })
    expect({ code: r.code, sent: r.sent.length }).toEqual({ code: 2, sent: 0 })
    expect(r.err).toContain('DCM_URL must be an absolute http(s) URL')
  })
})

describe('--help on every command and subcommand: its usage on stdout, exit 0, no request', () => {
  const cases: [string[], string][] = [
    [['--help'], 'Usage: dcm <command>'],
    [['-h'], 'Usage: dcm <command>'],
    [['help'], 'Usage: dcm <command>'],
    [['config', '--help'], 'Usage: dcm config <get|set|history|rollback>'],
    ...COMMANDS.map((c): [string[], string] => [[...c.name.split(' '), '--help'], `Usage: dcm ${c.name}`]),
    [['--help', 'config', 'set'], 'Usage: dcm config set'],
    [['config', 'rollback', '--help'], 'Usage: dcm config rollback N'],
  ]
  test.each(cases)('dcm %j', async (argv, usage) => {
    const r = await dcm(argv, undefined, {})
    expect({ code: r.code, sent: r.sent.length, err: r.err }).toEqual({ code: 0, sent: 0, err: '' })
    expect(r.out).toContain(usage)
    expect(r.out).toContain('--json')
  })
})

describe('the request each command sends', () => {
  const K = { authorization: 'Bearer k1' }
  test.each([
    [['config', 'get'], { method: 'GET', path: 'http://ctl.test/config', query: [], headers: K, body: null }],
    [['config', 'set', '--url', 'https://u.example/x'], { method: 'POST', path: 'http://ctl.test/config', query: [], headers: K, body: { url: 'https://u.example/x' } }],
    [
      ['config', 'set', '--url', 'https://u.example/x', '--timeout-ms', '250', '--comment', 'why', '--if-match', '"3-abc"'],
      { method: 'POST', path: 'http://ctl.test/config', query: [], headers: { ...K, 'if-match': '"3-abc"' }, body: { url: 'https://u.example/x', timeout_ms: 250, comment: 'why' } },
    ],
    [['config', 'history', '--limit', '5'], { method: 'GET', path: 'http://ctl.test/config/versions', query: [['limit', '5']], headers: K, body: null }],
    [['config', 'history'], { method: 'GET', path: 'http://ctl.test/config/versions', query: [], headers: K, body: null }],
    [['config', 'rollback', '2'], { method: 'POST', path: 'http://ctl.test/config/rollback', query: [], headers: K, body: { version: 2 } }],
    [['config', 'rollback', '2', '--comment', 'bad deploy', '--if-match', '*'], { method: 'POST', path: 'http://ctl.test/config/rollback', query: [], headers: { ...K, 'if-match': '*' }, body: { version: 2, comment: 'bad deploy' } }],
    [['agents'], { method: 'GET', path: 'http://ctl.test/agents', query: [], headers: K, body: null }],
    [
      ['agents', '--status', 'behind', '--label', 'zone=a', '--label', 'tier=web=1'],
      { method: 'GET', path: 'http://ctl.test/agents', query: [['status', 'behind'], ['label', 'zone=a'], ['label', 'tier=web=1']], headers: K, body: null },
    ],
    [['agent', 'a/1'], { method: 'GET', path: 'http://ctl.test/agents/a%2F1', query: [], headers: K, body: null }],
    [['audit', '--limit', '2'], { method: 'GET', path: 'http://ctl.test/audit', query: [['limit', '2']], headers: K, body: null }],
    // --url and --key, before or after the command, win over DCM_URL and DCM_ADMIN_KEY; a trailing / is dropped.
    [['--url', 'http://other.test:9/', 'config', 'get', '--key', 'k2'], { method: 'GET', path: 'http://other.test:9/config', query: [], headers: { authorization: 'Bearer k2' }, body: null }],
    // After config set, --url is the config's URL; the controller's comes before the command.
    [['--url', 'http://other.test', 'config', 'set', '--url', 'https://u.example/y'], { method: 'POST', path: 'http://other.test/config', query: [], headers: K, body: { url: 'https://u.example/y' } }],
  ] as [string[], Sent][])('dcm %j', async (argv, expected) => {
    const r = await dcm(argv, () => Response.json({}, { status: 404 }))
    expect(r.sent).toEqual([expected])
  })

  test('status reads the config and the fleet', async () => {
    const r = await dcm(['status'], (req) => (new URL(req.url).pathname === '/config' ? withEtag(DOC) : Response.json(FLEET)))
    expect(r.sent.map((s) => `${s.method} ${s.path}`)).toEqual(['GET http://ctl.test/config', 'GET http://ctl.test/agents'])
  })
})

describe('exit codes by answer: 0 ok, 1 refused (4xx), 3 server error (5xx) or unreachable; the message and request id on stderr', () => {
  test.each([
    ['200', () => withEtag(DOC), 0, ''],
    ['401 unauthorized', refuse(401, 'unauthorized', 'a valid API key is required'), 1, 'dcm: a valid API key is required (unauthorized, HTTP 401, request_id req-9)'],
    ['404 no_config', refuse(404, 'no_config', 'no config has been set yet'), 1, 'dcm: no config has been set yet (no_config, HTTP 404, request_id req-9)'],
    ['429', refuse(429, 'too_many_failures', 'slow down'), 1, 'dcm: slow down (too_many_failures, HTTP 429, request_id req-9)'],
    ['500 without a JSON body', () => new Response('boom', { status: 500, headers: RID }), 3, 'dcm: boom (http_500, HTTP 500, request_id req-9)'],
    ['503 store_unavailable', refuse(503, 'store_unavailable', 'the config store did not answer'), 3, 'dcm: the config store did not answer (store_unavailable, HTTP 503, request_id req-9)'],
    ['a refused connection', () => Promise.reject(new TypeError('Unable to connect')), 3, 'dcm: cannot reach the controller at http://ctl.test: Unable to connect'],
  ] as const)('%s → exit %i', async (_, answer, code, err) => {
    const r = await dcm(['config', 'get'], answer)
    expect({ code: r.code, err: r.err }).toEqual({ code, err })
  })

  test('412 on config set names the current ETag too', async () => {
    const r = await dcm(['config', 'set', '--url', 'https://u.example/x', '--if-match', '"2-old"'], refuse(412, 'precondition_failed', 'the config changed meanwhile', { etag: '"3-abc"' }))
    expect({ code: r.code, err: r.err }).toEqual({
      code: 1,
      err: `dcm: the config changed meanwhile (precondition_failed, HTTP 412, request_id req-9)\ndcm: the current config's ETag is "3-abc"`,
    })
  })

  test('config rollback to a version that does not exist → exit 1, version_not_found', async () => {
    const r = await dcm(['config', 'rollback', '999'], refuse(404, 'version_not_found', 'no version 999'))
    expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: 'dcm: no version 999 (version_not_found, HTTP 404, request_id req-9)' })
  })

  test('--json changes nothing on failure: stderr as above, stdout empty', async () => {
    const r = await dcm(['agent', 'nope', '--json'], refuse(404, 'agent_not_found', 'no agent nope'))
    expect(r).toMatchObject({ code: 1, out: '', err: 'dcm: no agent nope (agent_not_found, HTTP 404, request_id req-9)' })
  })
})

describe('output: tables by default, the server JSON with --json', () => {
  const byPath: Responder = (req) => {
    const p = new URL(req.url).pathname
    if (p === '/config' && req.method === 'GET') return withEtag(DOC)
    if (p === '/config') return withEtag(ENTRY, 201)
    if (p === '/config/versions') return Response.json({ versions: [ENTRY, OLD], next_before: null })
    if (p === '/config/rollback') return withEtag({ ...OLD, version: 4, created_by: 'bob', comment: 'rollback to 2' }, 201)
    if (p === '/agents') return Response.json(FLEET)
    if (p === '/agents/a-2') return Response.json(FLEET.agents[1])
    if (p === '/audit') return Response.json({ records: AUDIT, next_before: null })
    return refuse(404, 'not_found', 'no route')()
  }
  test.each([
    [['status'], ['controller  http://ctl.test', 'config      version 3  https://up.example/a  timeout_ms 800  (2026-11-28T06:00:00.000Z)', 'fleet       2 agents: 1 in_sync, 0 behind, 1 rejected, 0 stale'].join('\n')],
    [['config', 'get'], ['version     3', 'url         https://up.example/a', 'timeout_ms  800', 'updated_at  2026-11-28T06:00:00.000Z', 'store_id    s1', 'etag        "3-abc"'].join('\n')],
    [
      ['config', 'set', '--url', 'https://up.example/a'],
      ['stored version 3', 'version     3', 'url         https://up.example/a', 'timeout_ms  800', 'updated_at  2026-11-28T06:00:00.000Z', 'created_by  alice', 'comment     faster upstream', 'store_id    s1', 'etag        "3-abc"'].join('\n'),
    ],
    [
      ['config', 'history'],
      [
        'VERSION  UPDATED_AT                BY     URL                     TIMEOUT_MS  COMMENT',
        '3        2026-11-28T06:00:00.000Z  alice  https://up.example/a    800         faster upstream',
        '2        2026-11-27T06:00:00.000Z  -      https://up.example/old  -           -',
      ].join('\n'),
    ],
    [['config', 'rollback', '2'], "rolled back to the content of version 2: stored version 4\nversion     4\nurl         https://up.example/old\ntimeout_ms  -\nupdated_at  2026-11-27T06:00:00.000Z\ncreated_by  bob\ncomment     rollback to 2\nstore_id    s1\netag        \"3-abc\""],
    [
      ['agents'],
      [
        '2 agents: 1 in_sync, 0 behind, 1 rejected, 0 stale',
        '',
        'AGENT  STATUS    APPLIED  FETCHED  REJECTED            LAST_SEEN                 HOSTNAME  LABELS',
        'a-1    in_sync   3        3        -                   2026-11-28T06:00:01.000Z  host-a-1  zone=a',
        'a-2    rejected  2        2        3 (invalid_config)  2026-11-28T06:00:01.000Z  host-a-2  zone=a',
      ].join('\n'),
    ],
    [
      ['agent', 'a-2'],
      [
        'agent_id         a-2',
        'status           rejected',
        'applied_version  2',
        'fetched_version  2',
        'rejected         3 (invalid_config)',
        'last_seen_at     2026-11-28T06:00:01.000Z',
        'registered_at    2026-11-27T00:00:00.000Z',
        'hostname         host-a-2',
        'worker_url       -',
        'labels           zone=a',
      ].join('\n'),
    ],
    [['audit'], ['ID  AT                        ACTOR  ACTION        TARGET     OUTCOME  REQUEST_ID', '7   2026-11-28T06:00:00.000Z  alice  config.write  version 3  created  req-1'].join('\n')],
  ])('dcm %j', async (argv, table) => {
    const r = await dcm(argv, byPath)
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({ code: 0, out: table, err: '' })
  })

  test.each([
    [['config', 'get', '--json'], DOC],
    [['--json', 'config', 'set', '--url', 'https://up.example/a'], ENTRY],
    [['config', 'history', '--json'], { versions: [ENTRY, OLD], next_before: null }],
    [['agents', '--json'], FLEET],
    [['agent', 'a-2', '--json'], FLEET.agents[1]],
    [['audit', '--json'], { records: AUDIT, next_before: null }],
    // status joins two answers: the config document and the fleet summary, each as the server sent it.
    [['status', '--json'], { config: DOC, fleet: FLEET.summary }],
  ])('dcm %j prints the server JSON, dates as sent', async (argv, json) => {
    const r = await dcm(argv, byPath)
    expect({ code: r.code, json: JSON.parse(r.out) }).toEqual({ code: 0, json })
  })

  test('an identical config, and a rollback to the current content, say that nothing was stored (exit 0)', async () => {
    const same = await dcm(['config', 'set', '--url', 'https://up.example/a'], () => withEtag(ENTRY, 200))
    const back = await dcm(['config', 'rollback', '3'], () => withEtag(ENTRY, 200))
    expect([same.code, same.out, back.code, back.out]).toEqual([
      0,
      'unchanged: the current config (version 3) is identical; no new version',
      0,
      "unchanged: version 3's content is the current config (version 3); no new version",
    ])
  })

  test('status before any config, against a controller without GET /agents: still exit 0, both said', async () => {
    const r = await dcm(['status'], (req) => (new URL(req.url).pathname === '/config' ? refuse(404, 'no_config', 'none')() : refuse(404, 'not_found', 'no route for GET /agents')()))
    expect({ code: r.code, out: r.out }).toEqual({
      code: 0,
      out: ['controller  http://ctl.test', 'config      none set yet', 'fleet       not reported by this controller (it has no GET /agents)'].join('\n'),
    })
  })
})

describe('watch', () => {
  /** A scripted controller: each GET /config and GET /agents answer taken in order; when the script
   *  runs out the next request aborts the run (Ctrl-C), as a user would. */
  function scripted(configs: (() => Response)[], fleets: Fleet['summary'][], stop: AbortController): Responder {
    return (req) => {
      const p = new URL(req.url).pathname
      const next = p === '/config' ? configs.shift() : fleets.length ? (() => Response.json({ summary: fleets.shift(), agents: [] })) : undefined
      if (next) return next()
      stop.abort()
      return Promise.reject(new DOMException('aborted', 'AbortError'))
    }
  }
  const v = (version: number) => () => Response.json({ ...DOC, version }, { headers: { etag: `"${version}-x"`, 'x-poll-interval': '0.2' } })
  const notModified = () => new Response(null, { status: 304, headers: { etag: '"3-x"', 'x-poll-interval': '0.2' } })
  const S = (in_sync: number, behind: number, rejected = 0, stale = 0) => ({ in_sync, behind, rejected, stale })

  test('prints the version, the summary as it changes, converged; long-polls for the next; Ctrl-C ends with 0', async () => {
    const stop = new AbortController()
    const r = await dcm(['watch'], scripted([v(3), notModified, notModified, notModified], [S(0, 2, 0, 1), S(1, 1, 0, 1), S(1, 1, 0, 1), S(2, 0, 0, 1)], stop), undefined, stop.signal)
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' })
    expect(r.out.split('\n')).toEqual([
      'version 3  https://up.example/a  timeout_ms 800  (2026-11-28T06:00:00.000Z)',
      '  fleet: 3 agents: 0 in_sync, 2 behind, 0 rejected, 1 stale',
      '  fleet: 3 agents: 1 in_sync, 1 behind, 0 rejected, 1 stale',
      '  fleet: 3 agents: 2 in_sync, 0 behind, 0 rejected, 1 stale',
      '  converged: every agent that is not stale runs version 3',
    ])
    // The first poll takes the current version; between fleet reads the pause is a long-poll of the
    // server's interval with the ETag held; once converged, a 60 s long-poll.
    expect(r.sent.filter((s) => s.path.endsWith('/config')).map((s) => [s.query, s.headers['if-none-match'] ?? null])).toEqual([
      [[], null],
      [[['wait', '0.2']], '"3-x"'],
      [[['wait', '0.2']], '"3-x"'],
      [[['wait', '0.2']], '"3-x"'],
      [[['wait', '60']], '"3-x"'],
    ])
  })

  test('a newer version during convergence is printed at once and followed instead', async () => {
    const stop = new AbortController()
    const r = await dcm(['watch', '--json'], scripted([v(3), v(4)], [S(0, 1), S(1, 0)], stop), undefined, stop.signal)
    expect(r.code).toBe(0)
    expect(r.out.split('\n').map((l) => JSON.parse(l))).toEqual([
      { event: 'version', config: { ...DOC, version: 3 } },
      { event: 'fleet', version: 3, summary: S(0, 1) },
      { event: 'version', config: { ...DOC, version: 4 } },
      { event: 'fleet', version: 4, summary: S(1, 0) },
      { event: 'converged', version: 4 },
    ])
  })

  test('before any config: says so once, then long-polls for the first version', async () => {
    const stop = new AbortController()
    const r = await dcm(['watch'], scripted([refuse(404, 'no_config', 'none'), v(1)], [S(0, 0)], stop), undefined, stop.signal)
    expect({ code: r.code, out: r.out.split('\n') }).toEqual({
      code: 0,
      out: ['no config set yet; waiting for the first version', 'version 1  https://up.example/a  timeout_ms 800  (2026-11-28T06:00:00.000Z)', '  fleet: 0 agents: 0 in_sync, 0 behind, 0 rejected, 0 stale', '  converged: every agent that is not stale runs version 1'],
    })
    expect(r.sent.filter((s) => s.path.endsWith('/config')).map((s) => s.query)).toEqual([[], [['wait', '60']], [['wait', '60']]])
  })

  test('a refusal or a server error ends watch with its exit code', async () => {
    expect((await dcm(['watch'], refuse(401, 'unauthorized', 'no'))).code).toBe(1)
    expect((await dcm(['watch'], refuse(503, 'store_unavailable', 'down'))).code).toBe(3)
  })
})

describe('against the real controller app in-process (the routes it has today)', () => {
  const settings = loadSettings({ AGENT_API_KEY: 'agent-key', ADMIN_API_KEY: 'admin-key', SQLITE_PATH: ':memory:', PUBLIC_URL: 'http://ctl.test' })
  const logger = createLogger({ service: 'controller', level: 'error', sink: { write: () => {}, flush: () => {} } })
  const store = sqliteStore(':memory:')
  const deps = { settings, store, logger, ...services(settings, store, logger) }
  const door = frontDoor(createApp(deps), { logger, hot: hotRoutes(deps) })
  const app: Responder = (req) => door.fetch(req) as Response | Promise<Response>
  const env = { DCM_URL: 'http://ctl.test', DCM_ADMIN_KEY: 'admin-key' }

  test('config set, set again (unchanged), get, a refused URL, a wrong key', async () => {
    await store.migrate()
    const first = await dcm(['config', 'set', '--url', 'https://up.example/a', '--timeout-ms', '900'], app, env)
    const again = await dcm(['config', 'set', '--url', 'https://up.example/a', '--timeout-ms', '900'], app, env)
    const got = await dcm(['config', 'get', '--json'], app, env)
    const meta = await dcm(['config', 'set', '--url', 'http://169.254.169.254/latest'], app, env)
    const wrong = await dcm(['config', 'get'], app, { ...env, DCM_ADMIN_KEY: 'nope' })
    expect([first.code, first.out.split('\n')[0], again.code, again.out]).toEqual([0, 'stored version 1', 0, 'unchanged: the current config (version 1) is identical; no new version'])
    expect({ code: got.code, doc: JSON.parse(got.out) }).toMatchObject({ code: 0, doc: { version: 1, url: 'https://up.example/a', timeout_ms: 900 } })
    expect([meta.code, wrong.code]).toEqual([1, 1])
    expect(meta.err).toMatch(/^dcm: body field "url": .*\(validation_failed, HTTP 422, request_id [0-9a-f-]{36}\)$/)
    expect(wrong.err).toMatch(/\(unauthorized, HTTP 401, request_id [0-9a-f-]{36}\)$/)
  })
})
