/** The worker's GET /hit built up layer by layer against the same upstream, to see what each layer
 *  costs. VARIANT picks one:
 *    bare          Bun.serve handing back fetch(upstream) as it is: Bun's own proxy, no framework
 *    bare-forward  Bun.serve calling the worker's forward() (src/hit/service.ts): its per-request work
 *    elysia        plain Elysia, one route calling forward()
 *    app           the worker's createApp served by its fetch, without the shared front door
 *    full          the worker's createApp through the shared serve(), as src/index.ts runs it
 *  LOG_LEVEL applies to the logger, which writes to stdout like the service. */
import { join } from 'node:path'
import { createLogger, serve, type LogLevel } from '../../shared/src/index.ts'
import { createApp, hotRoutes, makeForwarder } from '../../worker/src/app.ts'
import { ConfigService } from '../../worker/src/config/service.ts'
import { loadSettings } from '../../worker/src/settings.ts'

const variant = process.env.VARIANT ?? 'full'
const level = (process.env.LOG_LEVEL ?? 'info') as LogLevel
const port = Number(process.env.PORT ?? 0)
const upstream = process.env.UPSTREAM!
const logger = createLogger({ service: 'worker', level })
const settings = loadSettings({ AGENT_API_KEY: 'variant-worker-key', LOG_LEVEL: level })
const config = new ConfigService(logger, () => port)
config.apply({ version: 1, store_id: 'bench', url: upstream, updated_at: new Date().toISOString() })
const forward = makeForwarder(settings, logger)

type Fetch = (r: Request) => Response | Promise<Response>
type MiniElysia = { get(path: string, h: (c: { request: Request }) => unknown): MiniElysia; fetch: Fetch }
// Elysia as the worker resolves it: bench/ has no node_modules of its own.
const { Elysia } = (await import(Bun.resolveSync('elysia', join(import.meta.dir, '../../worker')))) as { Elysia: new (o?: object) => MiniElysia }
const listen = (fetch: Fetch) => Bun.serve({ hostname: '127.0.0.1', port, idleTimeout: 90, fetch })
const hit = (request: Request) => forward(config.active!, request, crypto.randomUUID())

switch (variant) {
  case 'bare':
    listen(() => fetch(upstream, { decompress: false, redirect: 'manual' }))
    break
  case 'bare-forward':
    listen(hit)
    break
  case 'elysia':
    listen(new Elysia().get('/hit', ({ request }) => hit(request)).fetch)
    break
  case 'app':
    listen(createApp({ settings, logger, config, forward }).fetch)
    break
  case 'full':
    serve(createApp({ settings, logger, config, forward }), { port, logger, idleTimeoutSeconds: 90, hot: hotRoutes({ config, forward }) })
    break
  default:
    throw new Error(`unknown VARIANT ${variant}`)
}
console.log(JSON.stringify({ variant, ready: true }))
