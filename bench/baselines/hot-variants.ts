/** The controller's GET /config 304 built up layer by layer, to see what each layer costs, plus a
 *  prototype of a fix. VARIANT picks one; each answers the same request with a 304:
 *    elysia          plain Elysia, one route doing the bare server's check (the framework alone)
 *    app             the controller's createApp served by its fetch, without the shared front door
 *    full            the controller's createApp through the shared serve(), as src/index.ts runs it
 *                    (front door: request id, X-Request-Id, access log)
 *    fastpath        prototype: a fetch that answers the plain 304 itself, before the front door and
 *                    Elysia, with the project's own checks (keyChecker, etagMatches, requestIdFrom), the
 *                    X-Request-Id header and the same access-log line; anything else goes to serve()'s path
 *    fastpath-quiet  the same, logging those 304s at debug (as /healthz is) instead of info
 *    fastpath-lean   fastpath-quiet, and an Authorization header that passed the constant-time check
 *                    once is remembered (a Map from the exact header to its role), so later polls skip
 *                    the SHA-256 digests
 *  LOG_LEVEL applies to the logger, which writes to stdout like the service. */
import { join } from 'node:path'
import { createLogger, frontDoor, keyChecker, presentedKey, requestIdFrom, serve, type LogLevel } from '../../shared/src/index.ts'
import { createApp } from '../../controller/src/app.ts'
import { ConfigService } from '../../controller/src/config/index.ts'
import { etagMatches } from '../../controller/src/config/etag.ts'
import { loadSettings } from '../../controller/src/settings.ts'
import { sqliteStore } from '../../controller/src/store/index.ts'

const variant = process.env.VARIANT ?? 'full'
const level = (process.env.LOG_LEVEL ?? 'info') as LogLevel
const port = Number(process.env.PORT ?? 0)
const logger = createLogger({ service: 'controller', level })
const settings = loadSettings({ AGENT_API_KEY: process.env.KEY, ADMIN_API_KEY: 'variant-admin-key', SQLITE_PATH: ':memory:', LOG_LEVEL: level })
const store = sqliteStore(':memory:')
await store.migrate()
const config = new ConfigService(store, logger)
await config.write({ url: 'http://127.0.0.1:1/variant' })
const etag = config.snapshot!.etag
const expected = `Bearer ${process.env.KEY}`
const headers304 = { etag, 'cache-control': 'no-cache', 'x-poll-interval': String(settings.pollIntervalSeconds) }
const check = ({ request }: { request: Request }) =>
  request.headers.get('authorization') !== expected
    ? new Response('{"error":"unauthorized"}', { status: 401 })
    : request.headers.get('if-none-match') === etag
      ? new Response(null, { status: 304, headers: headers304 })
      : new Response('{}')

// Elysia as the controller resolves it: bench/ has no node_modules of its own.
type Fetch = (r: Request) => Response | Promise<Response>
type MiniElysia = { get(path: string, h: typeof check): MiniElysia; fetch: Fetch }
const { Elysia } = (await import(Bun.resolveSync('elysia', join(import.meta.dir, '../../controller')))) as { Elysia: new (o?: object) => MiniElysia }
const app = () => createApp({ settings, store, logger, config })
const listen = (fetch: Fetch) => Bun.serve({ hostname: '127.0.0.1', port, idleTimeout: 90, fetch })

/** The plain 304 answered before the front door and Elysia: same checks, same headers, same log line. */
function fastpath(quiet: boolean, lean = false) {
  const rest = frontDoor(app(), { logger }).fetch
  const check = keyChecker({ agent: settings.agentKeys, admin: settings.adminKeys })
  const known = new Map<string, string>()
  const roleOf = (key: string | null) => {
    if (!lean || key === null) return check(key)
    const hit = known.get(key)
    if (hit !== undefined) return hit
    const role = check(key)
    if (role !== null && known.size < 64) known.set(key, role)
    return role
  }
  const interval = String(settings.pollIntervalSeconds)
  const lvl = quiet ? 'debug' : 'info'
  const logOn = logger.enabled(lvl)
  listen((request) => {
    const snap = config.snapshot
    const url = request.url
    if (snap && request.method === 'GET' && url.slice(url.indexOf('/', 8)) === '/config' && roleOf(presentedKey(request.headers)) !== null && etagMatches(request.headers.get('if-none-match'), snap.etag)) {
      const start = performance.now()
      const id = requestIdFrom(request.headers)
      const res = new Response(null, { status: 304, headers: { etag: snap.etag, 'cache-control': 'no-cache', 'x-poll-interval': interval, 'x-request-id': id } })
      if (logOn) logger.request('GET', '/config', 304, performance.now() - start, id, lvl)
      return res
    }
    return rest(request)
  })
}

switch (variant) {
  case 'elysia':
    listen(new Elysia().get('/config', check).fetch)
    break
  case 'app':
    listen(app().fetch)
    break
  case 'full':
    serve(app(), { port, logger, idleTimeoutSeconds: 90 })
    break
  case 'fastpath':
  case 'fastpath-quiet':
  case 'fastpath-lean':
    fastpath(variant !== 'fastpath', variant === 'fastpath-lean')
    break
  default:
    throw new Error(`unknown VARIANT ${variant}`)
}
console.log(JSON.stringify({ variant, etag }))
