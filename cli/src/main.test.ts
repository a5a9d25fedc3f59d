/** dcm's decisions in-process: argument parsing (usage errors before any request), the request each
 *  command sends, exit codes by answer, tables and --json, and watch's loop. The transport is injected:
 *  a stand-in answering as /work/notes/fleet-api.md and rollout-api.md specify, and the real
 *  controller app (app.handle through its front door) for the routes it has today. The spawned
 *  end-to-end tests are in cli/test/cli.test.ts. */
import { describe, expect, test } from 'bun:test'
import { createLogger, frontDoor } from '@dcm/shared'
import { createApp, hotRoutes, services } from '../../controller/src/app'
import { loadSettings } from '../../controller/src/settings'
import { sqliteStore } from '../../controller/src/store'
import { COMMANDS } from './args'
import { createApi } from './client'
import type { Agent, AuditRecord, Entry, Fleet, Rollout } from './contract'
import { run } from './main'
import { MAX_MISSES, watchRollout } from './rollout-watch'

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

const ROLLOUT: Rollout = {
  id: 'r-7',
  version: 12,
  stable_version: 11,
  state: 'running',
  step: 1,
  steps: [
    { percent: 10, bake_seconds: 30, cohort: 1, started_at: '2026-11-28T06:00:00.000Z' },
    { percent: 50, bake_seconds: 60, cohort: 5, started_at: '2026-11-28T06:00:31.000Z' },
    { percent: 100, bake_seconds: 0, cohort: 10, started_at: null },
  ],
  selector: { zone: 'eu-1' },
  gate: { max_error_rate: 0.05, min_hits: 100, max_p99_ms: 500 },
  eligible: 10,
  cohort: { agents: 5, applied: 4, hits: 1200, errors: 3, error_rate: 0.0025, p99_ms: 85 },
  stable: { agents: 5, hits: 1300, errors: 1, error_rate: 0.000769, p99_ms: 80 },
  reason: null,
  rollback_version: null,
  created_by: 'alice',
  created_at: '2026-11-28T06:00:00.000Z',
  updated_at: '2026-11-28T06:00:31.000Z',
  decisions: [
    { at: '2026-11-28T06:00:00.000Z', action: 'start', step: 0, detail: 'cohort 1 of 10' },
    { at: '2026-11-28T06:00:31.000Z', action: 'advance', step: 1, detail: 'cohort 0 errors in 240 hits' },
  ],
}
const START = ['rollout', 'start', '--url', 'https://up.example/new', '--steps', '10:30,50:60,100:0', '--max-error-rate', '0.05']

describe('rollout: usage errors are exit 2 before any request', () => {
  test.each([
    [['rollout'], 'rollout needs a subcommand: start, status, list, show, pause, resume, abort or promote'],
    [['rollout', 'go'], 'unknown command "rollout go"'],
    [['rollout', 'start', '--steps', '10:30', '--max-error-rate', '0.05'], 'rollout start needs --url'],
    [['rollout', 'start', '--url', 'https://u', '--max-error-rate', '0.05'], 'rollout start needs --steps'],
    [['rollout', 'start', '--url', 'https://u', '--steps', '10:30'], 'rollout start needs --max-error-rate'],
    [['rollout', 'start', '--url', 'file:///etc', '--steps', '10:30', '--max-error-rate', '0.05'], '--url must be an absolute http(s) URL'],
    [[...START.slice(0, 5), '10,50', ...START.slice(6)], '--steps must be PERCENT:SECONDS,... (e.g. 10:30,50:60,100:0), not "10" in "10,50"'],
    [[...START.slice(0, 5), '10:30,,100:0', ...START.slice(6)], '--steps must be PERCENT:SECONDS'],
    [[...START.slice(0, 5), '10:-1', ...START.slice(6)], '--steps must be PERCENT:SECONDS'],
    [[...START.slice(0, 5), '10:30s', ...START.slice(6)], '--steps must be PERCENT:SECONDS'],
    [[...START.slice(0, 5), '', ...START.slice(6)], '--steps must be PERCENT:SECONDS'],
    [[...START.slice(0, 5), '0:30,100:0', ...START.slice(6)], '--steps: a percent is from 1 to 100, not 0'],
    [[...START.slice(0, 5), '10:30,101:0', ...START.slice(6)], '--steps: a percent is from 1 to 100, not 101'],
    [[...START.slice(0, 5), '50:30,10:0', ...START.slice(6)], '--steps: percents must increase (10 after 50)'],
    [[...START.slice(0, 5), '10:30,10:0', ...START.slice(6)], '--steps: percents must increase (10 after 10)'],
    [[...START.slice(0, 5), Array.from({ length: 11 }, (_, i) => `${i + 1}:1`).join(','), ...START.slice(6)], '--steps takes 1 to 10 steps, not 11'],
    [[...START.slice(0, 7), '1.5'], '--max-error-rate must be a number from 0 to 1 (e.g. 0.05), not "1.5"'],
    [[...START.slice(0, 7), '-0.1'], "Option '--max-error-rate' argument is ambiguous\n"],
    [[...START.slice(0, 6), '--max-error-rate=-0.1'], '--max-error-rate must be a number from 0 to 1 (e.g. 0.05), not "-0.1"'],
    [[...START.slice(0, 7), '5%'], '--max-error-rate must be a number from 0 to 1'],
    [[...START.slice(0, 7), 'NaN'], '--max-error-rate must be a number from 0 to 1'],
    [[...START, '--min-hits', '-1'], "Option '--min-hits' argument is ambiguous\n"],
    [[...START, '--min-hits=-1'], '--min-hits must be a whole number from 0 to 999999999, not "-1"'],
    [[...START, '--min-hits', 'many'], '--min-hits must be a whole number from 0 to 999999999'],
    [[...START, '--max-p99-ms', '0'], '--max-p99-ms must be a whole number from 1 to 999999999'],
    [[...START, '--timeout-ms', '60001'], '--timeout-ms must be a whole number from 1 to 60000'],
    [[...START, '--selector', 'zone'], '--selector must be label=value, not "zone"'],
    [[...START, '--selector', '=eu'], '--selector must be label=value'],
    [[...START, '--selector', 'zone=a', '--selector', 'zone=b'], '--selector names the label "zone" twice'],
    [[...START, '--comment', 'x'.repeat(501)], '--comment is at most 500 characters'],
    [['rollout', 'status', '--follow'], "Unknown option '--follow'"],
    [['rollout', 'status', 'r-1'], 'unexpected argument "r-1"'],
    [['rollout', 'list', '--limit', '101'], '--limit must be a whole number from 1 to 100'],
    [['rollout', 'show'], 'rollout show takes ID'],
    [['rollout', 'pause', 'r-1', 'r-2'], 'rollout pause takes [ID]; unexpected "r-2"'],
  ])('dcm %j → %s', async (argv, message) => {
    const r = await dcm(argv)
    expect({ code: r.code, sent: r.sent.length, out: r.out }).toEqual({ code: 2, sent: 0, out: '' })
    expect(r.err).toContain(`dcm: ${message}`)
    expect(r.err).toContain('Usage: dcm rollout')
  })
})

describe('rollout: what each command sends', () => {
  const K = { authorization: 'Bearer k1' }
  const R = 'http://ctl.test/rollouts'
  const gate = { max_error_rate: 0.05, min_hits: 100 }
  const steps = [{ percent: 10, bake_seconds: 30 }, { percent: 50, bake_seconds: 60 }, { percent: 100, bake_seconds: 0 }]
  test.each([
    [START, { method: 'POST', path: R, query: [], headers: K, body: { config: { url: 'https://up.example/new' }, steps, gate } }],
    [
      [...START, '--timeout-ms', '900', '--comment', 'new upstream', '--min-hits', '0', '--max-p99-ms', '250', '--selector', 'zone=eu-1', '--selector', 'tier=web=2'],
      {
        method: 'POST',
        path: R,
        query: [],
        headers: K,
        body: { config: { url: 'https://up.example/new', timeout_ms: 900 }, comment: 'new upstream', steps, selector: { zone: 'eu-1', tier: 'web=2' }, gate: { max_error_rate: 0.05, min_hits: 0, max_p99_ms: 250 } },
      },
    ],
    // --url after `rollout start` is the config's; the controller's comes before the command.
    [['--url', 'http://other.test', ...START], { method: 'POST', path: 'http://other.test/rollouts', query: [], headers: K, body: { config: { url: 'https://up.example/new' }, steps, gate } }],
    [['rollout', 'status'], { method: 'GET', path: `${R}/current`, query: [], headers: K, body: null }],
    [['rollout', 'list'], { method: 'GET', path: R, query: [], headers: K, body: null }],
    [['rollout', 'list', '--limit', '3'], { method: 'GET', path: R, query: [['limit', '3']], headers: K, body: null }],
    [['rollout', 'show', 'r/7'], { method: 'GET', path: `${R}/r%2F7`, query: [], headers: K, body: null }],
    [['rollout', 'pause', 'r-7'], { method: 'POST', path: `${R}/r-7/pause`, query: [], headers: K, body: null }],
    [['rollout', 'resume', 'r-7'], { method: 'POST', path: `${R}/r-7/resume`, query: [], headers: K, body: null }],
    [['rollout', 'abort', 'r-7'], { method: 'POST', path: `${R}/r-7/abort`, query: [], headers: K, body: null }],
    [['rollout', 'promote', 'r-7'], { method: 'POST', path: `${R}/r-7/promote`, query: [], headers: K, body: null }],
  ] as [string[], Sent][])('dcm %j', async (argv, expected) => {
    const r = await dcm(argv, () => Response.json({}, { status: 404 }))
    expect(r.sent).toEqual([expected])
  })

  test.each([
    ['10:30,50:60,100:0', [{ percent: 10, bake_seconds: 30 }, { percent: 50, bake_seconds: 60 }, { percent: 100, bake_seconds: 0 }]],
    ['100:0', [{ percent: 100, bake_seconds: 0 }]],
    [' 1:0.5 , 20:1.25 ', [{ percent: 1, bake_seconds: 0.5 }, { percent: 20, bake_seconds: 1.25 }]],
    // The last step need not be 100: everyone gets the version at completion.
    ['5:600,25:600', [{ percent: 5, bake_seconds: 600 }, { percent: 25, bake_seconds: 600 }]],
  ])('--steps %j', async (raw, expected) => {
    const r = await dcm([...START.slice(0, 5), raw, ...START.slice(6)], () => Response.json({}, { status: 404 }))
    expect((r.sent[0]?.body as { steps: unknown }).steps).toEqual(expected)
  })

  test.each([
    ['0', 0],
    ['1', 1],
    ['.5', 0.5],
    ['0.05', 0.05],
  ])('--max-error-rate %s', async (raw, expected) => {
    const r = await dcm([...START.slice(0, 7), raw], () => Response.json({}, { status: 404 }))
    expect((r.sent[0]?.body as { gate: { max_error_rate: number } }).gate.max_error_rate).toBe(expected)
  })

  test('pause, resume, abort, promote without an ID act on the current rollout', async () => {
    for (const a of ['pause', 'resume', 'abort', 'promote']) {
      const r = await dcm(['rollout', a], (req) => (new URL(req.url).pathname === '/rollouts/current' ? Response.json(ROLLOUT) : Response.json({ ...ROLLOUT, state: 'paused' })))
      expect(r.sent.map((s) => `${s.method} ${s.path}`)).toEqual(['GET http://ctl.test/rollouts/current', `POST http://ctl.test/rollouts/r-7/${a}`])
      expect(r.code).toBe(0)
    }
  })
})

describe('rollout: exit codes and messages', () => {
  test.each([
    ['start during a rollout: 409 rollout_in_progress', START, refuse(409, 'rollout_in_progress', 'rollout r-6 is running'), 1, 'dcm: rollout r-6 is running (rollout_in_progress, HTTP 409, request_id req-9)\ndcm: a rollout is in progress: `dcm rollout status` shows it, `dcm rollout abort` ends it'],
    ['start refused by validation: 422', START, refuse(422, 'validation_failed', 'body field "steps": bad'), 1, 'dcm: body field "steps": bad (validation_failed, HTTP 422, request_id req-9)'],
    ['status without a rollout: 404 no_rollout', ['rollout', 'status'], refuse(404, 'no_rollout', 'no rollout is running'), 1, 'dcm: no rollout is running (no_rollout, HTTP 404, request_id req-9)\ndcm: no rollout is running: `dcm rollout list` shows the past ones'],
    ['status --watch without a rollout', ['rollout', 'status', '--watch'], refuse(404, 'no_rollout', 'no rollout is running'), 1, 'dcm: no rollout is running (no_rollout, HTTP 404, request_id req-9)\ndcm: no rollout is running: `dcm rollout list` shows the past ones'],
    ['pause without an ID and no rollout', ['rollout', 'pause'], refuse(404, 'no_rollout', 'no rollout is running'), 1, 'dcm: no rollout is running (no_rollout, HTTP 404, request_id req-9)\ndcm: no rollout is running: `dcm rollout list` shows the past ones'],
    ['show of an unknown id', ['rollout', 'show', 'r-99'], refuse(404, 'rollout_not_found', 'no rollout r-99'), 1, 'dcm: no rollout r-99 (rollout_not_found, HTTP 404, request_id req-9)'],
    ['abort of an ended rollout: 409 rollout_not_active', ['rollout', 'abort', 'r-1'], refuse(409, 'rollout_not_active', 'rollout r-1 has ended (completed)'), 1, 'dcm: rollout r-1 has ended (completed) (rollout_not_active, HTTP 409, request_id req-9)'],
    ['list on a 503', ['rollout', 'list'], refuse(503, 'store_unavailable', 'the store did not answer'), 3, 'dcm: the store did not answer (store_unavailable, HTTP 503, request_id req-9)'],
    ['promote unreachable', ['rollout', 'promote', 'r-1'], () => Promise.reject(new TypeError('Unable to connect')), 3, 'dcm: cannot reach the controller at http://ctl.test: Unable to connect'],
  ] as [string, string[], Responder, number, string][])('%s → exit %i', async (_, argv, answer, code, err) => {
    const r = await dcm(argv, answer)
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({ code, out: '', err })
  })

  test('config set during a rollout says how to see or end it', async () => {
    const r = await dcm(['config', 'set', '--url', 'https://u.example/x'], refuse(409, 'rollout_in_progress', 'a rollout is running'))
    expect({ code: r.code, err: r.err.split('\n')[1] }).toEqual({ code: 1, err: 'dcm: a rollout is in progress: `dcm rollout status` shows it, `dcm rollout abort` ends it' })
  })
})

describe('rollout: output', () => {
  const FIELDS = [
    'id          r-7',
    'state       running',
    'step        2/3 (50%, 5 of 10 agents, bake 60 s)',
    'version     12 (stable 11)',
    'selector    zone=eu-1',
    'gate        error rate above 5% with at least 100 hits, or p99 above 500 ms, rolls back',
    'eligible    10 agents',
    'cohort      5 agents (4 applied), 1200 hits, 3 errors, error rate 0.25%, p99 85 ms',
    'stable      5 agents, 1300 hits, 1 errors, error rate 0.08%, p99 80 ms',
    'created     2026-11-28T06:00:00.000Z by alice',
    'updated_at  2026-11-28T06:00:31.000Z',
    '',
    'STEP  PERCENT  BAKE_S  COHORT  STARTED_AT',
    '1     10       30      1       2026-11-28T06:00:00.000Z',
    '2 *   50       60      5       2026-11-28T06:00:31.000Z',
    '3     100      0       10      -',
    '',
    'decisions',
    'AT                        ACTION   STEP  DETAIL',
    '2026-11-28T06:00:00.000Z  start    1     cohort 1 of 10',
    '2026-11-28T06:00:31.000Z  advance  2     cohort 0 errors in 240 hits',
  ]
  const ROLLED_BACK: Rollout = {
    ...ROLLOUT,
    state: 'rolled_back',
    step: 0,
    selector: null,
    gate: { max_error_rate: 0.01, min_hits: 0, max_p99_ms: null },
    reason: 'cohort error rate 40% above 1% (8 errors in 20 hits)',
    rollback_version: 13,
  }
  const decisions = Array.from({ length: 7 }, (_, i) => ({ at: `2026-11-28T06:00:0${i}.000Z`, action: 'hold', step: 0, detail: `check ${i + 1}` }))

  test.each([
    [['rollout', 'status'], () => Response.json(ROLLOUT), FIELDS.join('\n')],
    [['rollout', 'show', 'r-7'], () => Response.json(ROLLOUT), FIELDS.join('\n')],
    [START, () => Response.json(ROLLOUT, { status: 201 }), ['started rollout r-7', ...FIELDS].join('\n')],
    [
      ['rollout', 'list'],
      () => Response.json({ rollouts: [ROLLOUT, ROLLED_BACK] }),
      [
        'ID   STATE        STEP  VERSION  STABLE  COHORT  ERROR_RATE  CREATED_AT                BY     REASON',
        'r-7  running      2/3   12       11      5/10    0.25%       2026-11-28T06:00:00.000Z  alice  -',
        'r-7  rolled_back  1/3   12       11      5/10    0.25%       2026-11-28T06:00:00.000Z  alice  cohort error rate 40% above 1% (8 errors in 20 hits)',
      ].join('\n'),
    ],
    [['rollout', 'list'], () => Response.json({ rollouts: [] }), '(no rollouts)'],
    [['rollout', 'pause', 'r-7'], () => Response.json({ ...ROLLOUT, state: 'paused' }), 'rollout r-7 paused at step 2/3 (50%, 5 of 10 agents, bake 60 s)'],
    [['rollout', 'abort', 'r-7'], () => Response.json({ ...ROLLED_BACK, state: 'aborted', reason: 'aborted by alice' }), 'rollout r-7 aborted at step 1/3 (10%, 1 of 10 agents, bake 30 s): aborted by alice (rollback version 13)'],
  ] as [string[], Responder, string][])('dcm %j', async (argv, answer, expected) => {
    const r = await dcm(argv, answer)
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({ code: 0, out: expected, err: '' })
  })

  test('an ended rollout shows its reason, its rollback version, the gate without p99, every agent', async () => {
    const r = await dcm(['rollout', 'show', 'r-7'], () => Response.json(ROLLED_BACK))
    expect(r.out.split('\n').slice(0, 13)).toEqual([
      'id                r-7',
      'state             rolled_back',
      'step              1/3 (10%, 1 of 10 agents, bake 30 s)',
      'version           12 (stable 11)',
      'selector          every agent',
      'gate              error rate above 1% with at least 0 hits, rolls back',
      'eligible          10 agents',
      'cohort            5 agents (4 applied), 1200 hits, 3 errors, error rate 0.25%, p99 85 ms',
      'stable            5 agents, 1300 hits, 1 errors, error rate 0.08%, p99 80 ms',
      'reason            cohort error rate 40% above 1% (8 errors in 20 hits)',
      'rollback_version  13',
      'created           2026-11-28T06:00:00.000Z by alice',
      'updated_at        2026-11-28T06:00:31.000Z',
    ])
  })

  test('status shows the last 5 decisions and says where the rest are; show has them all', async () => {
    const answer = () => Response.json({ ...ROLLOUT, decisions })
    const status = (await dcm(['rollout', 'status'], answer)).out.split('\n')
    const show = (await dcm(['rollout', 'show', 'r-7'], answer)).out.split('\n')
    const from = (lines: string[]) => lines.slice(lines.findIndex((l) => l.startsWith('decisions')))
    expect(from(status)).toEqual([
      'decisions (the last 5 of 7; dcm rollout show r-7 has them all)',
      'AT                        ACTION  STEP  DETAIL',
      ...decisions.slice(2).map((d) => `${d.at}  hold    1     ${d.detail}`),
    ])
    expect(from(show)).toHaveLength(2 + 7)
  })

  test('empty health (no hits yet) and no decisions print as dashes and "(none yet)"', async () => {
    const fresh = { ...ROLLOUT, step: 0, cohort: { agents: 0, applied: 0, hits: 0, errors: 0, error_rate: null, p99_ms: null }, stable: { agents: 0, hits: 0, errors: 0, error_rate: null, p99_ms: null }, decisions: [] }
    const out = (await dcm(['rollout', 'status'], () => Response.json(fresh))).out
    expect(out).toContain('cohort      0 agents (0 applied), 0 hits, 0 errors, error rate -, p99 -\n')
    expect(out).toEndWith('decisions\n(none yet)')
  })

  test.each([
    [['rollout', 'status', '--json'], ROLLOUT],
    [['rollout', 'show', 'r-7', '--json'], ROLLOUT],
    [['--json', ...START], ROLLOUT],
    [['rollout', 'pause', 'r-7', '--json'], ROLLOUT],
    [['rollout', 'list', '--json'], { rollouts: [ROLLOUT] }],
  ])('dcm %j prints the server JSON', async (argv, json) => {
    const r = await dcm(argv, (req) => Response.json(new URL(req.url).pathname === '/rollouts' && req.method === 'GET' ? { rollouts: [ROLLOUT] } : ROLLOUT))
    expect({ code: r.code, json: JSON.parse(r.out) }).toEqual({ code: 0, json })
  })
})

describe('rollout status --watch', () => {
  const at = (n: number) => `2026-11-28T06:01:0${n}.000Z`
  const step0 = { ...ROLLOUT, step: 0, decisions: ROLLOUT.decisions.slice(0, 1) }
  const advanced = { ...ROLLOUT, decisions: [...ROLLOUT.decisions] }
  const hits = { ...advanced, cohort: { ...advanced.cohort, hits: 1500, errors: 4 } }
  const completed: Rollout = { ...hits, state: 'completed', step: 2, decisions: [...hits.decisions, { at: at(3), action: 'complete', step: 2, detail: 'version 12 is stable' }] }
  const rolledBack: Rollout = { ...step0, state: 'rolled_back', reason: 'cohort error rate 40% above 5%', rollback_version: 13, decisions: [...step0.decisions, { at: at(1), action: 'rollback', step: 0, detail: 'cohort error rate 40% above 5%' }] }
  const aborted: Rollout = { ...step0, state: 'aborted', reason: 'aborted by alice', rollback_version: 13 }

  /** GET /rollouts/r-7 answers in order; when they run out the next request is a Ctrl-C. */
  function scripted(answers: (Rollout | (() => Response))[], stop = new AbortController()) {
    const sent: string[] = []
    const fetcher = (async (input: string | URL) => {
      sent.push(new URL(String(input)).pathname)
      const next = answers.shift()
      if (next === undefined) {
        stop.abort()
        return Promise.reject(new DOMException('aborted', 'AbortError'))
      }
      return typeof next === 'function' ? next() : Response.json(next)
    }) as typeof fetch
    const lines: string[] = []
    const warnings: string[] = []
    const failures: string[] = []
    const api = createApi({ url: 'http://ctl.test', key: 'k', fetcher, signal: stop.signal })
    const go = (first: Rollout, json = false) =>
      watchRollout(api, first, { json, everyMs: 1, signal: stop.signal, line: (l) => lines.push(l), warn: (l) => warnings.push(l), fail: (f) => (failures.push(f.error), f.kind === 'refused' ? 1 : 3) })
    return { go, lines, sent, failures, warnings }
  }

  test('prints the rollout, then only what changed (a decision, the step, the health) until it completes: exit 0', async () => {
    const s = scripted([step0, advanced, advanced, hits, completed])
    expect(await s.go(step0)).toBe(0)
    expect(s.sent).toEqual(Array(5).fill('/rollouts/r-7'))
    expect(s.lines.slice(1)).toEqual([
      'decision  2026-11-28T06:00:31.000Z  advance  step 2  cohort 0 errors in 240 hits',
      'state     running, step 2/3 (50%, 5 of 10 agents, bake 60 s)',
      'cohort    5 agents (4 applied), 1500 hits, 4 errors, error rate 0.25%, p99 85 ms\nstable    5 agents, 1300 hits, 1 errors, error rate 0.08%, p99 80 ms',
      'decision  2026-11-28T06:01:03.000Z  complete  step 3  version 12 is stable',
      'state     completed, step 3/3 (100%, 10 of 10 agents, bake 0 s)',
      'rollout r-7 completed: version 12 is the stable version for every agent',
    ])
    expect(s.lines[0]).toStartWith('id          r-7\nstate       running\nstep        1/3 (10%')
  })

  test.each([
    ['rolled back', rolledBack, ['decision  2026-11-28T06:01:01.000Z  rollback  step 1  cohort error rate 40% above 5%', 'state     rolled_back, step 1/3 (10%, 1 of 10 agents, bake 30 s)', 'rollout r-7 rolled_back: cohort error rate 40% above 5% (rollback version 13)']],
    ['aborted', aborted, ['state     aborted, step 1/3 (10%, 1 of 10 agents, bake 30 s)', 'rollout r-7 aborted: aborted by alice (rollback version 13)']],
  ])('%s: exit 1, with the reason and the rollback version', async (_, end, tail) => {
    const s = scripted([end])
    expect(await s.go(step0)).toBe(1)
    expect(s.lines.slice(1)).toEqual(tail)
  })

  test('--json: one event per change, then an end event', async () => {
    const s = scripted([step0, rolledBack])
    expect(await s.go(step0, true)).toBe(1)
    expect(s.lines.map((l) => JSON.parse(l))).toEqual([
      { event: 'rollout', rollout: step0 },
      { event: 'rollout', rollout: rolledBack },
      { event: 'end', id: 'r-7', state: 'rolled_back', reason: 'cohort error rate 40% above 5%', rollback_version: 13 },
    ])
  })

  test('Ctrl-C ends it with 130 (it did not complete); a refusal mid-watch ends it with exit 1', async () => {
    const stopped = scripted([step0])
    expect(await stopped.go(step0)).toBe(130)
    const gone = scripted([refuse(404, 'rollout_not_found', 'gone')])
    expect([await gone.go(step0), gone.failures]).toEqual([1, ['rollout_not_found']])
  })

  const unreachable = () => Promise.reject(new TypeError('Unable to connect')) as unknown as Response
  test('a controller briefly gone (a restart) is waited for, said once on stderr; the rollout is followed to its end', async () => {
    const s = scripted([unreachable, refuse(503, 'store_unavailable', 'down'), unreachable, advanced, completed])
    expect(await s.go(step0)).toBe(0)
    expect(s.warnings).toEqual(['dcm: no answer from the controller (Unable to connect); trying again every 0.001 s', 'dcm: the controller answers again'])
    expect(s.lines.at(-1)).toBe('rollout r-7 completed: version 12 is the stable version for every agent')
  })

  test(`${MAX_MISSES + 1} failed reads in a row end it with exit 3`, async () => {
    const s = scripted(Array.from({ length: MAX_MISSES + 1 }, (_, i) => (i % 2 ? unreachable : refuse(503, 'store_unavailable', 'down'))))
    expect([await s.go(step0), s.failures, s.warnings.length]).toEqual([3, [MAX_MISSES % 2 ? 'unreachable' : 'store_unavailable'], 1])
  })

  test('through the command: GET /rollouts/current, then the rollout by id every 2 s until it ends', async () => {
    const answers = [ROLLOUT, completed]
    const r = await dcm(['rollout', 'status', '--watch'], () => Response.json(answers.shift()))
    expect(r.sent.map((s) => s.path)).toEqual(['http://ctl.test/rollouts/current', 'http://ctl.test/rollouts/r-7'])
    expect({ code: r.code, last: r.out.split('\n').at(-1), err: r.err }).toEqual({ code: 0, last: 'rollout r-7 completed: version 12 is the stable version for every agent', err: '' })
  })
})
