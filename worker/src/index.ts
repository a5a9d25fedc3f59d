import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp, hotRoutes, makeForwarder } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

const settings = settingsOrExit('worker', () => loadSettings())

const logger = createLogger({ service: 'worker', level: settings.logLevel })
let port = settings.port
const config = new ConfigService(logger, () => port, settings.upstreamAllow)
const forward = makeForwarder(settings, logger)
const app = createApp({ settings, logger, config, forward })
const server = serve(app, {
  port: settings.port,
  logger,
  hot: hotRoutes({ config, forward }),
  // An upstream may take up to 60 s (timeout_ms): the idle timeout must not cut it first.
  idleTimeoutSeconds: 75,
})
port = server.port
