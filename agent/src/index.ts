import { hostname } from 'node:os'
import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp } from './app'
import { loadSettings } from './settings'
import { fileStateStore } from './state'
import { Agent } from './sync/agent'
import { realDeps } from './sync/deps'

const settings = settingsOrExit('agent', () => loadSettings())

const logger = createLogger({ service: 'agent', level: settings.logLevel })
const agent = new Agent(realDeps(settings, fileStateStore(settings.stateFile), logger, hostname()))
serve(createApp({ agent, logger }), { port: settings.port, logger, onStop: () => agent.stop() })
agent.start()
