import { apiDocs, apiKeyAuth, createHttpApp, ErrorShape, FailureLimiter, gatekeeper, keyChecker, metricsRoute, Unavailable, type HotHandler, type Logger, type Lookup, type Metrics } from '@dcm/shared'
import { configRoutes, type ConfigService } from './config'
import { ReadyReply } from './config/model'
import { hitRoutes, hotHit } from './hit'
import { forwarder } from './hit/service'
import { workerMetrics } from './metrics'
import type { Settings } from './settings'

export type Deps = { settings: Settings; logger: Logger; config: ConfigService; forward: ReturnType<typeof forwarder>; metrics?: Metrics }

/** The worker's metrics registry, reading the applied version at scrape time. */
export const makeMetrics = (config: ConfigService) => workerMetrics({ version: () => config.active?.doc.version ?? null })

/** The /hit forwarder for these settings; `via` names this worker instance in the Via header. */
export const makeForwarder = (settings: Settings, logger: Logger, resolver: { lookup?: Lookup; resolveCacheMs?: number } = {}) =>
  forwarder({ logger, maxCalls: settings.maxUpstreamCalls, via: `dcm-worker-${crypto.randomUUID().slice(0, 8)}`, upstreamAllow: settings.upstreamAllow, ...resolver })

/** Build the worker's HTTP app from its dependencies; does not listen. */
export function createApp({ settings, logger, config, forward, metrics = makeMetrics(config) }: Deps) {
  const failures = new FailureLimiter(settings.authFailuresPerMinute)
  const gate = gatekeeper(keyChecker({ agent: settings.agentKeys }), failures)
  return createHttpApp({ service: 'worker', logger, body: settings.body, authenticate: gate })
    .use(
      apiDocs({
        title: 'dcm worker',
        version: '0.1.0',
        description: 'Applies the config its agent pushes and serves GET /hit by calling the configured url.',
      }),
    )
    .get(
      '/readyz',
      () => {
        const cfg = config.active
        if (cfg === null) throw new Unavailable('no config has been applied yet', 'not_ready')
        return { status: 'ready' as const, version: cfg.doc.version }
      },
      {
        response: { 200: ReadyReply, 503: ErrorShape },
        detail: { summary: 'Ready once a config is applied', tags: ['health'] },
      },
    )
    .use(configRoutes(config, apiKeyAuth(gate)))
    .use(hitRoutes(config, forward))
    .use(metricsRoute(metrics, { keys: settings.metricsKeys, failures }))
}

/** Routes the front door answers before Elysia when it can (see hotHit). */
export const hotRoutes = ({ config, forward }: Pick<Deps, 'config' | 'forward'>): Record<string, HotHandler> => ({ '/hit': hotHit(config, forward) })
