/** Where the hot path's time goes, timed inside one running server: `bun bench/hot-split.ts [seconds]`.
 *  A controller's services are built in this process (SQLite in memory) and served by one Bun.serve
 *  under wrk; each request picks a variant at random — the bare baseline's handler (as in
 *  baselines/bare-304.ts), it plus one piece of the controller's work, or the controller's whole hot
 *  route — timed with Bun.nanoseconds(). Prints each variant's median minus the bare one's. Medians,
 *  because a preemption on a shared machine spoils a mean; a server's own requests, because their URL
 *  and headers are built lazily from the socket, which `new Request(...)` in a loop does not show. */
import { createLogger, frontDoor, presentedKey } from '../shared/src'
import { createApp, hotRoutes, makeMetrics, services } from '../controller/src/app'
import { PollRecorder } from '../controller/src/fleet'
import { loadSettings } from '../controller/src/settings'
import { openStore } from '../controller/src/store'
import { freePort } from '../test/kit'
import { run } from './lib/dcm'

const SECONDS = Number(process.argv[2] ?? 15)
const KEY = 'split-agent-key'
const settings = loadSettings({ AGENT_API_KEY: KEY, ADMIN_API_KEY: 'split-admin-key', SQLITE_PATH: ':memory:', LOG_LEVEL: 'info', PORT: '1' })
const logger = createLogger({ service: 'controller', level: 'warn' })
const store = openStore(settings)
await store.migrate()
const all = services(settings, store, logger)
await all.config.refresh()
await all.rollouts.load()
await all.agents.load()
const metrics = makeMetrics(all.config, all.rollouts)
const door = frontDoor(createApp({ settings, store, logger, ...all, metrics }), { logger, metrics: metrics.http, hot: hotRoutes({ settings, ...all }) })
const { etag } = (await all.config.write({ url: 'http://127.0.0.1:1/split' })).snapshot
const recorder = new PollRecorder(all.fleet.reports, all.agents.tokens)
const credentials = all.agents.credentials

const expected = `Bearer ${KEY}`
const bare = (req: Request) => {
  const id = crypto.randomUUID()
  if (req.headers.get('authorization') !== expected) return new Response('{}', { status: 401 })
  const headers = { etag, 'cache-control': 'no-cache', 'x-poll-interval': '5', 'x-request-id': id }
  return new Response(null, { status: 304, headers })
}
let sink: unknown
const plus = (piece: (r: Request) => unknown) => (r: Request) => ((sink = piece(r)), bare(r))
const variants: Record<string, (r: Request, server: any) => Response> = {
  bare,
  'request.url': plus((r) => r.url.includes('?')),
  'key cut out and looked up': plus((r) => credentials.known(presentedKey(r.headers)!)),
  'agent id from X-Agent-Id': plus((r) => recorder.agentOf(r, 'agent', KEY)),
  'poll report': plus((r) => recorder.report('split-agent', r.headers, 1)),
  'performance.now()': plus(() => performance.now()),
  'controller hot route, front door included': (r, server) => door.routes['/config']!(r, server) as Response,
}
const names = Object.keys(variants)
const samples = names.map(() => [] as number[])
const server = Bun.serve({
  port: await freePort(),
  hostname: '127.0.0.1',
  routes: {
    '/config': (req, srv) => {
      const k = (Math.random() * names.length) | 0
      const t0 = Bun.nanoseconds()
      const res = variants[names[k]!]!(req, srv)
      samples[k]!.push(Bun.nanoseconds() - t0)
      return res
    },
  },
  fetch: () => new Response('', { status: 404 }),
})
const headers = { Authorization: expected, 'If-None-Match': etag, 'X-Agent-Id': 'split-agent', 'X-Applied-Version': '1' }
const wrk = run('wrk', ['wrk', '-t1', '-c50', `-d${SECONDS}s`, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), `http://127.0.0.1:${server.port}/config`])
await wrk.proc.exited
server.stop(true)
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1] ?? NaN
const base = median(samples[0]!)
console.log(`bare handler: median ${base} ns over ${samples[0]!.length} requests (sink ${typeof sink})`)
for (let i = 1; i < names.length; i++) console.log(`${names[i]!.padEnd(44)} +${median(samples[i]!) - base} ns (${samples[i]!.length} requests)`)
process.exit(0)
