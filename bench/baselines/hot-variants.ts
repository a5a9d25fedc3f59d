/** The controller's GET /config 304 built up layer by layer, to see what each layer costs. VARIANT picks one; each answers the same request with a 304:
 *    elysia          plain Elysia, one route doing the bare server's check (the framework alone)
 *    app             the controller's createApp served by its fetch, without the shared front door
 *    full            the controller's createApp through the shared serve(), as src/index.ts runs it
 *                    (front door with the hot route: request id, X-Request-Id, access log / summary)
 *  LOG_LEVEL applies to the logger, which writes to stdout like the service. */
import { join } from 'node:path'
import { createLogger, serve, type LogLevel } from '../../shared/src/index.ts'
import { createApp, hotRoutes } from '../../controller/src/app.ts'
import { ConfigService } from '../../controller/src/config/index.ts'
import { loadSettings } from '../../controller/src/settings.ts'
import { sqliteStore } from '../../controller/src/store/index.ts'

const variant = process.env.VARIANT ?? 'full'
const level = (process.env.LOG_LEVEL ?? 'info') as LogLevel
const port = Number(process.env.PORT ?? 0)
const logger = createLogger({ service: 'controller', level })
const settings = loadSettings({ AGENT_API_KEY: process.env.KEY, ADMIN_API_KEY: 'variant-admin-key', SQLITE_PATH: ':memory:', LOG_LEVEL: level })
const store = sqliteStore(':memory:')
await store.migrate()
const config = new ConfigService(store, logger, { maxHeld: settings.maxHeldPolls })
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

switch (variant) {
  case 'elysia':
    listen(new Elysia().get('/config', check).fetch)
    break
  case 'app':
    listen(app().fetch)
    break
  case 'full':
    serve(app(), { port, logger, idleTimeoutSeconds: 90, hot: hotRoutes({ settings, config }) })
    break
  default:
    throw new Error(`unknown VARIANT ${variant}`)
}
console.log(JSON.stringify({ variant, etag }))
