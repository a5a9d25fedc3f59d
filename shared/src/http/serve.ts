import type { Elysia } from 'elysia'
import type { Logger } from '../logging'

/** Listen on `port` and exit cleanly on SIGTERM/SIGINT: stop accepting, run `onStop`, flush logs. */
export function serve(app: Elysia<any, any, any, any, any, any, any>, opts: { port: number; logger: Logger; onStop?: () => Promise<void> | void; idleTimeoutSeconds?: number }) {
  app.listen({ port: opts.port, hostname: '0.0.0.0', idleTimeout: opts.idleTimeoutSeconds ?? 30 })
  const port = app.server?.port
  opts.logger.info('listening', { port })
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    opts.logger.info('shutting down', { signal })
    try {
      await app.stop()
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
