import type { Logger } from '@dcm/shared'
import type { ConfigStore } from '../store'
import type { ConfigService } from './service'

/** Keep this replica's snapshot in step with writes made through other replicas: NOTIFY for speed,
 *  plus a periodic read of the current version so a notification lost in a reconnect costs at most
 *  `refreshMs`. Returns a stop function. */
export async function followStore(config: ConfigService, store: ConfigStore, logger: Logger, refreshMs: number) {
  let stopped = false
  let timer: Timer | undefined
  let failing = false

  const refresh = async (why: string) => {
    try {
      const before = config.snapshot?.etag
      const snap = await config.refresh()
      if (snap && snap.etag !== before) logger.info('snapshot refreshed from the store', { version: snap.doc.version, why })
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

  let sub: { close(): Promise<void> } | undefined
  if (store.subscribe) {
    sub = await store.subscribe(
      (doc) => config.offer(doc),
      () => void refresh('reconnected'),
    )
  }
  tick()
  return async () => {
    stopped = true
    clearTimeout(timer)
    await sub?.close().catch(() => {})
  }
}
