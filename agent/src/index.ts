import { createLogger, serve, SettingsError } from '@dcm/shared'
import { createApp } from './app'
import { loadSettings } from './settings'
import { fileStateStore } from './state'
import { Agent } from './sync/agent'

let settings
try {
  settings = loadSettings()
} catch (e) {
  if (!(e instanceof SettingsError)) throw e
  console.error(`agent: ${e.message}`)
  process.exit(2)
}

const logger = createLogger({ service: 'agent', level: settings.logLevel })
const agent = new Agent(settings, fileStateStore(settings.stateFile), logger)
const app = createApp({ settings, agent, logger })
serve(app, { port: settings.port, logger, onStop: () => agent.stop() })
agent.start()
