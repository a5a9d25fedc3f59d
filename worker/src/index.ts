import { createLogger, serve, SettingsError } from '@dcm/shared'
import { createApp } from './app'
import { ConfigService } from './config'
import { loadSettings } from './settings'

let settings
try {
  settings = loadSettings()
} catch (e) {
  if (!(e instanceof SettingsError)) throw e
  console.error(`worker: ${e.message}`)
  process.exit(2)
}

const logger = createLogger({ service: 'worker', level: settings.logLevel })
const config = new ConfigService(logger)
const app = createApp({ settings, logger, config })
serve(app, { port: settings.port, logger })
