import { frontDoor, type FrontDoorOptions } from './front-door'

const STOP_GRACE_MS = 5000

export interface ServeOptions extends FrontDoorOptions {
  port: number
  /** Runs first on shutdown, before the server waits for requests in flight (e.g. end long-polls). */
  beforeStop?: () => void
  onStop?: () => Promise<void> | void
  idleTimeoutSeconds?: number
  /** HTML imports served as they are (`{ '/ui': page }`): Bun bundles them once at start-up and serves
   *  the page and its assets itself, outside the front door (no request id, no access log line). */
  pages?: Record<string, Bun.HTMLBundle>
}

/** Listen on `port` through the front door (request ids, access log) and exit cleanly on
 *  SIGTERM/SIGINT: stop accepting, run `onStop`, flush logs. */
export function serve(app: Parameters<typeof frontDoor>[0], opts: ServeOptions) {
  const door = frontDoor(app, opts)
  const server = Bun.serve({
    port: opts.port,
    hostname: '0.0.0.0',
    idleTimeout: opts.idleTimeoutSeconds ?? 30,
    // Pages are bundled once (not rebuilt per request, no hot reload): a production server either way.
    ...(opts.pages ? { development: false } : {}),
    routes: { ...opts.pages, ...door.routes },
    fetch: door.fetch,
  })
  const port = server.port
  opts.logger.info('listening', { port })
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    opts.logger.info('shutting down', { signal })
    try {
      opts.beforeStop?.()
      // Requests in flight get a grace period (a streaming /hit, say), then their connections are cut.
      const graceful = server.stop().then(() => true)
      if (!(await Promise.race([graceful, Bun.sleep(STOP_GRACE_MS).then(() => false)]))) await server.stop(true)
      door.close()
      await opts.onStop?.()
    } catch (e) {
      opts.logger.error('error during shutdown', { error: e as Error })
    }
    opts.logger.flush()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
  return { port: port ?? opts.port, stop }
}
