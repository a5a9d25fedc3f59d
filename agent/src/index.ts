import { hostname } from 'node:os'
import { createLogger, serve, settingsOrExit } from '@dcm/shared'
import { createApp } from './app'
import { agentMetrics, AgentCounters } from './metrics'
import { loadSettings } from './settings'
import { fileStateStore, type FailPoint } from './state'
import { Agent } from './sync/agent'
import { realDeps } from './sync/deps'

const settings = settingsOrExit('agent', () => loadSettings())

const logger = createLogger({ service: 'agent', level: settings.logLevel })
// Tests only (production refuses the setting): die at a chosen moment of a save, as a crash would.
const failPoint = (at: FailPoint) => {
  if (Math.random() < (settings.failPoints[at] ?? 0)) process.kill(process.pid, 'SIGKILL')
}
const counters = new AgentCounters()
const agent = new Agent({ ...realDeps(settings, fileStateStore(settings.stateFile, { failPoint }), logger, hostname()), counters })
const metrics = agentMetrics(agent, counters)
serve(createApp({ agent, logger, metrics, metricsKeys: settings.metricsKeys }), { port: settings.port, logger, metrics: metrics.http, onStop: () => agent.stop() })
agent.start()
