import { apiDocs, apiKeyAuth, createHttpApp, ErrorShape, FailureLimiter, gatekeeper, Int, metricsRoute, type HotHandler, type Logger, type Metrics } from '@dcm/shared'
import { t } from 'elysia'
import { agentRoutes, AgentService } from './agents'
import { actorOf } from './agents/actors'
import { Audit, auditRoutes } from './audit'
import { configRoutes, ConfigService, hotConfig } from './config'
import { historyRoutes } from './config/history'
import { FleetService, fleetRoutes, PollRecorder } from './fleet'
import { controllerMetrics, observeConvergence } from './metrics'
import { rolloutRoutes, RolloutService } from './rollouts'
import type { Settings } from './settings'
import { guard, type ConfigStore } from './store'

export type Deps = { settings: Settings; store: ConfigStore; logger: Logger; config: ConfigService; agents: AgentService; fleet: FleetService; audit: Audit; rollouts: RolloutService; metrics?: Metrics }

/** The controller's services over one store (nothing started, nothing read yet). */
export function services(settings: Settings, store: ConfigStore, logger: Logger): Omit<Deps, 'settings' | 'store' | 'logger'> {
  const config = new ConfigService(store, logger, { maxHeld: settings.maxHeldPolls })
  const fleet = new FleetService(store, config, logger, { pollIntervalMs: settings.pollIntervalSeconds * 1000, flushMs: settings.fleetFlushMs, onApplied: observeConvergence })
  const audit = new Audit(store, logger)
  return {
    config,
    agents: new AgentService(store, logger, settings),
    fleet,
    audit,
    rollouts: new RolloutService(store, config, fleet, audit, logger, { tickMs: settings.rolloutTickMs }),
  }
}

/** The controller's metrics registry, reading the config service and the fleet at scrape time. */
export const makeMetrics = (config: ConfigService, rollouts: RolloutService) =>
  controllerMetrics({
    version: () => config.snapshot?.doc.version ?? null,
    held: () => config.held,
    rollout: () => (rollouts.active ? { state: rollouts.active.state, step: rollouts.active.step, errorRate: rollouts.last?.cohort.error_rate ?? null } : null),
  })

/** Build the controller's HTTP app from its dependencies; does not listen. */
export function createApp({ settings, store, logger, config, agents, fleet, audit, rollouts, metrics = makeMetrics(config, rollouts) }: Deps) {
  const credentials = agents.credentials
  const failures = new FailureLimiter(settings.authFailuresPerMinute)
  const gate = gatekeeper(credentials, failures)
  const auth = apiKeyAuth(gate)
  const actor = actorOf(settings.adminNames)
  const recorder = new PollRecorder(fleet.reports, agents.tokens)
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
    .use(configRoutes(config, auth, credentials, { pollIntervalSeconds: settings.pollIntervalSeconds, allowSharedKeyPolls: settings.allowSharedKeyPolls, upstreamAllow: settings.upstreamAllow }, recorder, actor, rollouts))
    .use(historyRoutes(config, fleet, auth, actor))
    .use(rolloutRoutes(rollouts, auth, actor, { upstreamAllow: settings.upstreamAllow }))
    .use(agentRoutes(agents, auth, { pollUrl: `${settings.publicUrl}/config`, pollIntervalSeconds: settings.pollIntervalSeconds }, audit, actor))
    .use(fleetRoutes(fleet, auth))
    .use(auditRoutes(audit, auth))
    .use(metricsRoute(metrics, { keys: settings.metricsKeys, failures }))
}

/** The controller app's type: the admin CLI's typed client (`@elysiajs/eden`) is built over it. */
export type App = ReturnType<typeof createApp>

/** Routes the front door answers before Elysia when it can (see hotConfig). */
export function hotRoutes({ settings, config, agents, fleet }: Pick<Deps, 'settings' | 'config' | 'agents' | 'fleet'>): Record<string, HotHandler> {
  const recorder = new PollRecorder(fleet.reports, agents.tokens)
  return { '/config': hotConfig(config, agents.credentials, { pollIntervalSeconds: settings.pollIntervalSeconds, allowSharedKeyPolls: settings.allowSharedKeyPolls }, recorder) }
}
