import { createLogger, maskUrl, serve, settingsOrExit } from '@dcm/shared'
import { createApp, hotRoutes, makeMetrics, services } from './app'
import { followStore } from './config/replicas'
import { setAgentsProvider } from './metrics'
import { loadSettings } from './settings'
import { openStore } from './store'
import consolePage from './ui/index.html'

const settings = settingsOrExit('controller', () => loadSettings())

const logger = createLogger({ service: 'controller', level: settings.logLevel })
const store = openStore(settings)
await startStore()
const all = services(settings, store, logger)
const { config, agents, fleet, rollouts } = all
await config.refresh()
// A rollout in progress routes polls before the first one is answered.
await rollouts.load()
await agents.load()
const unfollow = await followStore(config, agents, store, logger, settings.refreshMs, rollouts)
fleet.start()
rollouts.start()

const metrics = makeMetrics(config, rollouts)
// dcm_agents{status}: the fleet as GET /agents counts it, read at each scrape.
setAgentsProvider(() => fleet.summary())
const app = createApp({ settings, store, logger, ...all, metrics })
serve(app, {
  port: settings.port,
  logger,
  metrics: metrics.http,
  hot: hotRoutes({ settings, config, agents, fleet }),
  // The admin console: static, bundled at start-up, beside (not in) the hot path.
  pages: { '/ui': consolePage, '/ui/': consolePage },
  // Long-polls are held up to 60 s: the idle timeout must outlast them.
  idleTimeoutSeconds: 90,
  // Held long-polls would keep the server from stopping for up to a minute: answer them now (304).
  beforeStop: () => config.releaseHolds(),
  onStop: async () => {
    rollouts.stop()
    await fleet.stop() // the last batch of what polls reported
    await unfollow()
    await store.close()
  },
})
logger.info('controller ready', {
  store: store.kind,
  store_id: store.storeId,
  version: config.snapshot?.doc.version ?? null,
  public_url: maskUrl(settings.publicUrl),
  agent_tokens: agents.tokens.size,
  shared_key_polls: settings.allowSharedKeyPolls,
})

/** Migrate, retrying for a while so a database that starts alongside us has time to come up. */
async function startStore() {
  const deadline = Date.now() + 30_000
  for (let attempt = 1; ; attempt++) {
    try {
      await store.migrate()
      return
    } catch (e) {
      if (Date.now() > deadline) {
        logger.error('cannot open the config store; giving up', { store: store.kind, error: e as Error })
        logger.flush()
        process.exit(1)
      }
      logger.warn('config store not reachable yet; retrying', { store: store.kind, attempt, error: e as Error })
      await Bun.sleep(Math.min(2000, 100 * 2 ** attempt))
    }
  }
}
