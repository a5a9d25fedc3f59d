import { maskUrl, type ConfigDoc, type Logger } from '@dcm/shared'
import { DB_DEADLINE_MS, guard, type ConfigInput, type ConfigStore } from '../store'
import { WriteQueue } from '../store/write-queue'
import { Holds } from './holds'
import { snapshotOf, type Snapshot } from './snapshot'

export type ConfigServiceOptions = { maxHeld: number }

/** The in-memory current config, kept in step with the store. Reads never touch the database. */
export class ConfigService {
  #snap: Snapshot | null = null
  #generation = 0
  readonly #holds = new Holds<Snapshot>()
  readonly #writes = new WriteQueue()

  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    private readonly opts: ConfigServiceOptions,
  ) {}

  get snapshot(): Snapshot | null {
    return this.#snap
  }

  /** Long-poll: resolves with the next snapshot, or null after `ms` or when `signal` aborts (the caller
   *  went away). Null right away instead of a promise when the replica already holds its maximum. */
  nextChange(ms: number, signal?: AbortSignal): Promise<Snapshot | null> | null {
    if (this.#holds.size >= this.opts.maxHeld) return null
    return this.#holds.hold(ms, signal)
  }

  /** Polls being held right now. */
  get held(): number {
    return this.#holds.size
  }

  /** End every held long-poll now (each answers from the current snapshot, a 304): on shutdown. */
  releaseHolds(): void {
    this.#holds.release(null)
  }

  /** Load the store's current version into the snapshot (start-up, and safety refreshes). The store
   *  is the authority, so any difference replaces the snapshot, unless the snapshot changed while we
   *  were reading (then ours is the newer news). A store found behind what was served from it, under
   *  the same identity, was restored from a backup (or lost writes in a failover): it gets a new
   *  identity first, so agents and workers take its version instead of ignoring it as older. */
  async refresh(): Promise<Snapshot | null> {
    const generation = this.#generation
    let doc = await guard((signal) => this.store.current(signal), 'read', this.logger)
    const served = this.#snap?.doc
    if (doc && served && doc.store_id === served.store_id && doc.version < served.version && generation === this.#generation) {
      const previous = doc.store_id
      const id = await guard((signal) => this.store.newIdentity(previous, signal), 'write', this.logger)
      this.logger.warn('the store is behind the version served from it (restored from a backup?); it has a new store identity', {
        version: doc.version,
        served_version: served.version,
        previous_store_id: previous,
        store_id: id,
      })
      doc = await guard((signal) => this.store.current(signal), 'read', this.logger)
    }
    if (doc && generation === this.#generation) {
      const snap = snapshotOf(doc)
      if (snap.etag !== this.#snap?.etag) this.#install(snap)
    }
    return this.#snap
  }

  /** Store a new version (or find the identical current one). Answers only after the store committed;
   *  a 503 means the database did not and will not store it. */
  async write(input: ConfigInput, requestId?: string): Promise<{ snapshot: Snapshot; created: boolean }> {
    const deadline = Date.now() + DB_DEADLINE_MS
    const { doc, created } = await guard(
      (signal) => this.#writes.run(deadline, () => this.store.write(input, { deadline, signal })),
      'write',
      this.logger,
      requestId,
    )
    const snap = snapshotOf(doc)
    // Parallel writes can finish out of order: never move the snapshot back.
    if (this.#isNewer(doc)) this.#install(snap)
    if (created) this.logger.info('config stored', { version: doc.version, url: maskUrl(doc.url), request_id: requestId })
    return { snapshot: snap, created }
  }

  /** Install a version learnt from elsewhere (another replica) if it is newer. */
  offer(doc: ConfigDoc): void {
    if (this.#isNewer(doc)) this.#install(snapshotOf(doc))
  }

  #isNewer(doc: ConfigDoc): boolean {
    const cur = this.#snap?.doc
    return !cur || cur.store_id !== doc.store_id || doc.version > cur.version
  }

  #install(s: Snapshot) {
    this.#generation++
    this.#snap = s
    this.#holds.release(s)
  }
}
