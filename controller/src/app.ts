import { apiDocs, apiKeyAuth, clientAddress, createHttpApp, ErrorShape, FailureLimiter, gatekeeper, Int, metricsRoute, pathOf, presentedKey, Unauthorized, type HotHandler, type Logger, type Metrics } from '@dcm/shared'
import { t } from 'elysia'
import { agentRoutes, AgentService } from './agents'
import { actorOf } from './agents/actors'
import { Audit, auditRoutes } from './audit'
import { configRoutes, ConfigService, hotConfig, Passes } from './config'
import { consoleRoutes, ConsoleEvents, sessionCookie, Sessions } from './console'
import { historyRoutes } from './config/history'
import { FleetService, fleetRoutes, PollRecorder } from './fleet'
import { controllerMetrics, observeConvergence } from './metrics'
import { rolloutRoutes, RolloutService } from './rollouts'
import type { Settings } from './settings'
import { guard, type ConfigStore } from './store'

export type Deps = {
  settings: Settings
  store: ConfigStore
  logger: Logger
  config: ConfigService
  agents: AgentService
  fleet: FleetService
  audit: Audit
  rollouts: RolloutService
  sessions: Sessions
  events: ConsoleEvents
  metrics?: Metrics
}

/** The controller's services over one store (nothing started, nothing read yet). */
export function services(settings: Settings, store: ConfigStore, logger: Logger): Omit<Deps, 'settings' | 'store' | 'logger'> {
  const config = new ConfigService(store, logger, { maxHeld: settings.maxHeldPolls })
  const fleet = new FleetService(store, config, logger, { pollIntervalMs: settings.pollIntervalSeconds * 1000, flushMs: settings.fleetFlushMs, onApplied: observeConvergence })
  const audit = new Audit(store, logger)
  const rollouts = new RolloutService(store, config, fleet, audit, logger, { tickMs: settings.rolloutTickMs })
  config.beforeNewer = () => rollouts.load()
  // The console hears of a new version, a batch of reports (then the fleet's summary, if anyone is
  // listening) and a change of the active rollout.
  const events = new ConsoleEvents()
  config.onChange((s) => events.emit({ event: 'config', data: { version: s.doc.version, etag: s.etag } }))
  fleet.onBatch = () => {
    if (events.size > 0) void fleet.summary().then((summary) => events.emit({ event: 'fleet', data: { summary } }), () => {})
  }
  rollouts.onChange = (row) => events.emit({ event: 'rollout', data: row && (row.state === 'running' || row.state === 'paused') ? { id: String(row.id), state: row.state, step: row.step } : { id: null } })
  return { config, agents: new AgentService(store, logger, settings), fleet, audit, rollouts, sessions: new Sessions(store, logger, new Set(settings.adminKeys.map(actorOf(settings.adminNames)))), events }
}

/** The controller's metrics registry, reading the config service and the fleet at scrape time. */
export const makeMetrics = (config: ConfigService, rollouts: RolloutService) =>
  controllerMetrics({
    version: () => config.snapshot?.doc.version ?? null,
    held: () => config.held,
    rollout: () => (rollouts.active ? { state: rollouts.active.state, step: rollouts.active.step, errorRate: rollouts.last?.cohort.error_rate ?? null } : null),
  })

/** Build the controller's HTTP app from its dependencies; does not listen. */
export function createApp({ settings, store, logger, config, agents, fleet, audit, rollouts, sessions, events, metrics = makeMetrics(config, rollouts) }: Deps) {
  const credentials = agents.credentials
  const failures = new FailureLimiter(settings.authFailuresPerMinute)
  const gate = gatekeeper(credentials, failures)
  const keyActor = actorOf(settings.adminNames)
  // Who wrote: the console session's operator, else the admin key's name.
  const actor = (request: Request) => sessions.of(request)?.actor ?? keyActor(presentedKey(request.headers))
  const recorder = new PollRecorder(fleet.reports, agents.tokens)
  // A console session (its cookie, no key) stands for the admin it was signed in as; a bad cookie is a
  // failed authentication like a bad key.
  const authenticate = (request: Request) => {
    const cookie = presentedKey(request.headers) === null ? sessionCookie(request) : null
    if (cookie === null) return gate(request)
    return sessions.authenticate(request, cookie).catch((e: unknown) => {
      if (e instanceof Unauthorized) failures.fail(clientAddress(request))
      throw e
    })
  }
  const auth = apiKeyAuth(authenticate)
  // Sign-in carries the key in its body (a console form): the body gate lets that one route read it.
  const bodyGate = (request: Request) => (request.method === 'POST' && pathOf(request.url) === '/ui/session' ? undefined : authenticate(request))
  return createHttpApp({ service: 'controller', logger, body: settings.body, authenticate: bodyGate })
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
    .use(consoleRoutes(sessions, events, auth, { credentials, failures, actorOfKey: keyActor }))
    .use(metricsRoute(metrics, { keys: settings.metricsKeys, failures }))
}

/** The controller app's type: the admin CLI's typed client (`@elysiajs/eden`) is built over it. */
export type App = ReturnType<typeof createApp>

/** Routes the front door answers before Elysia when it can (see hotConfig). */
export function hotRoutes({ settings, config, agents, fleet }: Pick<Deps, 'settings' | 'config' | 'agents' | 'fleet'>): Record<string, HotHandler> {
  const recorder = new PollRecorder(fleet.reports, agents.tokens)
  return { '/config': hotConfig(config, new Passes(agents.credentials, agents.tokens), { pollIntervalSeconds: settings.pollIntervalSeconds, allowSharedKeyPolls: settings.allowSharedKeyPolls }, recorder) }
}
