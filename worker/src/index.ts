import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp, hotRoutes } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

const settings = settingsOrExit('worker', () => loadSettings())

const logger = createLogger({ service: 'worker', level: settings.logLevel })
const config = new ConfigService(logger)
const app = createApp({ settings, logger, config })
serve(app, {
  port: settings.port,
  logger,
  hot: hotRoutes({ config }),
  // An upstream may take up to 60 s (timeout_ms): the idle timeout must not cut it first.
  idleTimeoutSeconds: 75,
})
