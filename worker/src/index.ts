import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp, hotRoutes, makeForwarder, makeMetrics } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

const settings = settingsOrExit('worker', () => loadSettings())

const logger = createLogger({ service: 'worker', level: settings.logLevel })
let port = settings.port
const config = new ConfigService(logger, () => port, settings.upstreamAllow)
const forward = makeForwarder(settings, logger)
const metrics = makeMetrics(config)
const app = createApp({ settings, logger, config, forward, metrics })
const server = serve(app, {
  port: settings.port,
  logger,
  metrics: metrics.http,
  hot: hotRoutes({ config, forward }),
  // An upstream may take up to 60 s (timeout_ms): the idle timeout must not cut it first.
  idleTimeoutSeconds: 75,
})
port = server.port
