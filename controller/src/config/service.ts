import { Invalid, isHttpUrl, maskUrl, Unavailable, type ConfigDoc, type Logger } from '@dcm/shared'
import type { ConfigStore } from '../store'
import { etagOf } from './etag'
import { Holds } from './holds'
import type { ConfigInput } from './model'

/** What GET /config serves, prepared once per version so the hot path only copies bytes. */
export type Snapshot = { readonly doc: ConfigDoc; readonly etag: string; readonly body: string }

const STORE_TIMEOUT_MS = 5000

export function snapshotOf(doc: ConfigDoc): Snapshot {
  const body = JSON.stringify(doc)
  return Object.freeze({ doc, etag: etagOf(doc, body), body })
}

/** The in-memory current config, kept in step with the store. Reads never touch the database. */
export class ConfigService {
  #snap: Snapshot | null = null
  #generation = 0
  readonly #holds = new Holds()

  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
  ) {}

  get snapshot(): Snapshot | null {
    return this.#snap
  }

  /** Long-poll: resolves with the next snapshot, or null after `ms`. */
  nextChange(ms: number): Promise<Snapshot | null> {
    return this.#holds.hold(ms)
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
   *  is the authority, so any difference replaces the snapshot (also a lower version after a database
   *  restore), unless the snapshot changed while we were reading (then ours is the newer news). */
  async refresh(): Promise<Snapshot | null> {
    const generation = this.#generation
    const doc = await guard(this.store.current(), 'read', this.logger)
    if (doc && generation === this.#generation) {
      const snap = snapshotOf(doc)
      if (snap.etag !== this.#snap?.etag) this.#install(snap)
    }
    return this.#snap
  }

  /** Store a new version (or find the identical current one). Answers only after the store committed. */
  async write(input: ConfigInput, requestId?: string): Promise<{ snapshot: Snapshot; created: boolean }> {
    if (!isHttpUrl(input.url)) throw new Invalid('body field "url": must be an absolute http:// or https:// URL')
    const { doc, created } = await guard(this.store.write(input), 'write', this.logger, requestId)
    const snap = snapshotOf(doc)
    // Parallel writes can finish out of order: never move the snapshot back.
    if (!this.#snap || doc.version > this.#snap.doc.version) this.#install(snap)
    if (created) this.logger.info('config stored', { version: doc.version, url: maskUrl(doc.url), request_id: requestId })
    return { snapshot: snap, created }
  }

  /** Install a version learnt from elsewhere (another replica) if it is newer. */
  offer(doc: ConfigDoc): void {
    if (!this.#snap || doc.version > this.#snap.doc.version) this.#install(snapshotOf(doc))
  }

  #install(s: Snapshot) {
    this.#generation++
    this.#snap = s
    this.#holds.release(s)
  }
}

/** Run a store call with a deadline; any failure becomes a 503 the caller can act on. The driver's
 *  own message (host names, user names) goes to the log, not to the unauthenticated answer. */
export async function guard<T>(p: Promise<T>, what: 'read' | 'write', logger: Logger, requestId?: string): Promise<T> {
  let timer: Timer | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`store did not answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS)
  })
  try {
    return await Promise.race([p, timeout])
  } catch (e) {
    logger.warn('config store call failed', { what, error: e as Error, request_id: requestId })
    throw new Unavailable(
      what === 'write'
        ? 'the config store is unavailable; the change was not acknowledged, retry it'
        : 'the config store is unavailable',
      'store_unavailable',
      1,
    )
  } finally {
    clearTimeout(timer)
  }
}
