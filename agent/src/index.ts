import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp } from './app'
import { loadSettings } from './settings'
import { fileStateStore } from './state'
import { Agent } from './sync/agent'

const settings = settingsOrExit('agent', () => loadSettings())

const logger = createLogger({ service: 'agent', level: settings.logLevel })
const agent = new Agent(settings, fileStateStore(settings.stateFile), logger)
const app = createApp({ settings, agent, logger })
serve(app, { port: settings.port, logger, onStop: () => agent.stop() })
agent.start()
