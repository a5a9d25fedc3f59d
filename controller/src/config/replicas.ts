import type { Logger } from '@dcm/shared'
import type { AgentService } from '../agents'
import type { ConfigStore } from '../store'
import type { ConfigService } from './service'

/** Keep this replica in step with writes made through other replicas — config versions, and agent
 *  tokens registered or revoked: NOTIFY for speed, plus a periodic read of the current version and of
 *  the revocations, so a notification lost in a reconnect costs at most `refreshMs` (and a reconnect
 *  re-reads everything at once). Returns a stop function. */
export async function followStore(config: ConfigService, agents: AgentService, store: ConfigStore, logger: Logger, refreshMs: number, rollouts?: { load(): Promise<void> }) {
  let stopped = false
  let timer: Timer | undefined
  let failing = false

  const refresh = async (why: string, tokens: 'revoked' | 'all' | 'none' = 'revoked') => {
    try {
      const before = config.snapshot?.etag
      // A newer version is installed only after the rollout is read (ConfigService.beforeNewer), and the
      // rollout is read again here for changes of step or state.
      const snap = await config.refresh()
      await rollouts?.load()
      if (snap && snap.etag !== before) logger.info('snapshot refreshed from the store', { version: snap.doc.version, why })
      if (tokens === 'all') await agents.load()
      else if (tokens === 'revoked') await agents.refreshRevoked()
      if (failing) logger.info('config store reachable again')
      failing = false
    } catch (e) {
      if (!failing) logger.warn('cannot refresh the snapshot; serving the last one', { error: e as Error })
      failing = true
    }
  }
  const tick = () => {
    timer = setTimeout(async () => {
      await refresh('periodic')
      if (!stopped) tick()
    }, refreshMs)
  }

  const subs: { close(): Promise<void> }[] = []
  if (store.subscribe)
    subs.push(
      await store.subscribe(
        // A version written by another replica may be a rollout's candidate: its routing is read first
        // (and if that fails, the periodic refresh brings both).
        (doc) => void (rollouts ? rollouts.load().then(() => config.offer(doc), () => {}) : config.offer(doc)),
        () => void refresh('reconnected', 'none'),
      ),
    )
  if (store.subscribeAgents)
    subs.push(
      await store.subscribeAgents(
        (row) => agents.tokens.learn(row),
        () => void refresh('reconnected', 'all'),
      ),
    )
  tick()
  return async () => {
    stopped = true
    clearTimeout(timer)
    await Promise.all(subs.map((s) => s.close().catch(() => {})))
  }
}
