import { apiDocs, apiKeyAuth, createHttpApp, ErrorShape, FailureLimiter, gatekeeper, Int, type HotHandler, type Logger } from '@dcm/shared'
import { t } from 'elysia'
import { agentRoutes, type AgentService } from './agents'
import { configRoutes, ConfigService, hotConfig } from './config'
import type { Settings } from './settings'
import { guard, type ConfigStore } from './store'

export type Deps = { settings: Settings; store: ConfigStore; logger: Logger; config: ConfigService; agents: AgentService }

/** Build the controller's HTTP app from its dependencies; does not listen. */
export function createApp({ settings, store, logger, config, agents }: Deps) {
  const credentials = agents.credentials
  const gate = gatekeeper(credentials, new FailureLimiter(settings.authFailuresPerMinute))
  const auth = apiKeyAuth(gate)
  return createHttpApp({ service: 'controller', logger, body: settings.body, authenticate: gate })
    .use(
      apiDocs({
        title: 'dcm controller',
        version: '0.1.0',
        description: 'Source of truth for the global config and for agent registration.',
      }),
    )
    .get(
      '/readyz',
      async () => {
        await guard((signal) => store.ping(signal), 'read', logger)
        return { status: 'ready', store: store.kind, version: config.snapshot?.doc.version ?? null, held_polls: config.held }
      },
      {
        response: { 200: t.Object({ status: t.String(), store: t.String(), version: t.Union([Int(), t.Null()]), held_polls: Int({ description: 'long-polls held right now' }) }), 503: ErrorShape },
        detail: { summary: 'Ready when the config store answers and takes writes', tags: ['health'] },
      },
    )
    .use(configRoutes(config, auth, credentials, { pollIntervalSeconds: settings.pollIntervalSeconds, allowSharedKeyPolls: settings.allowSharedKeyPolls, upstreamAllow: settings.upstreamAllow }))
    .use(agentRoutes(agents, auth, { pollUrl: `${settings.publicUrl}/config`, pollIntervalSeconds: settings.pollIntervalSeconds }))
}

/** The controller app's type: the admin CLI's typed client (`@elysiajs/eden`) is built over it. */
export type App = ReturnType<typeof createApp>

/** Routes the front door answers before Elysia when it can (see hotConfig). */
export function hotRoutes({ settings, config, agents }: Pick<Deps, 'settings' | 'config' | 'agents'>): Record<string, HotHandler> {
  return { '/config': hotConfig(config, agents.credentials, { pollIntervalSeconds: settings.pollIntervalSeconds, allowSharedKeyPolls: settings.allowSharedKeyPolls }) }
}
