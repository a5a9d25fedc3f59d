import { Conflict, maskUrl, NotFound, PreconditionFailedError, type ConfigDoc, type Logger } from '@dcm/shared'
import { DB_DEADLINE_MS, guard, PreconditionFailed, RolloutActive, type ConfigInput, type ConfigStore, type VersionEntry, type WriteContext } from '../store'
import { WriteQueue } from '../store/write-queue'
import { Holds } from './holds'
import { snapshotOf, type Snapshot } from './snapshot'

export type ConfigServiceOptions = { maxHeld: number }

/** A version as answered to a person (the store's entry without when it converged). */
export type HistoryEntry = Omit<VersionEntry, 'converged_at'>

/** Who writes, why, and on what condition (the If-Match header as sent, or a version it must follow). */
export type Author = {
  actor: string
  comment?: string | null
  ifMatch?: string | null
  after?: { store_id: string; version: number }
  action?: WriteContext['action']
  /** A plain write: refused (409 rollout_in_progress) while a rollout runs or is paused. */
  outsideRollout?: boolean
}

/** While a rollout runs: the agents of its cohort get the newest version, everyone else `stable`. */
export type Routing = { cohort: ReadonlySet<string>; stable: Snapshot }

/** The in-memory current config, kept in step with the store. Reads never touch the database. */
export class ConfigService {
  #snap: Snapshot | null = null
  #routing: Routing | null = null
  #generation = 0
  readonly #holds = new Holds<Snapshot>()
  readonly #writes = new WriteQueue()

  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    private readonly opts: ConfigServiceOptions,
  ) {}

  /** The newest version (what everyone gets unless a rollout holds it back). */
  get snapshot(): Snapshot | null {
    return this.#snap
  }

  /** The version an agent gets: the newest, unless a rollout runs and the agent is not in its cohort
   *  (or the caller is no agent); then the stable one. A lookup: this is the hot path. */
  snapshotFor(agentId: string | null): Snapshot | null {
    const r = this.#routing
    if (r === null) return this.#snap
    return agentId !== null && r.cohort.has(agentId) ? this.#snap : r.stable
  }

  /** What a rollout serves to whom (null: the newest to everyone). Held long-polls are released, so
   *  agents that now get another version hear of it at once (the others answer 304 and poll again). */
  route(r: Routing | null): void {
    const before = this.#routing
    this.#routing = r
    if (before !== r) this.#holds.release(this.#snap)
  }

  get routing(): Routing | null {
    return this.#routing
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
  async refresh(opts: { routed?: boolean } = {}): Promise<Snapshot | null> {
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
      if (snap.etag !== this.#snap?.etag) {
        // A version read from the store may be a rollout's candidate: its routing is read first (the
        // rollout row is committed before the candidate, so it is there to be read).
        if (this.beforeNewer && !opts.routed && this.#isNewer(doc)) await this.beforeNewer()
        if (generation === this.#generation) this.#install(snap)
      }
    }
    return this.#snap
  }

  /** Runs before a newer version read from the store is installed (the rollouts' routing), unless the
   *  caller is the routing itself (`routed`). */
  beforeNewer: (() => Promise<void>) | undefined

  /** Store a new version (or find the identical current one). Answers only after the store committed;
   *  a 503 means the database did not and will not store it. With `who`, the version records its author
   *  and comment, the precondition (If-Match) is checked under the store's write lock, and the attempt is
   *  audited in the same transaction; a failed precondition is a 412 naming the current version. */
  async write(input: ConfigInput, requestId?: string, who?: Author): Promise<{ snapshot: Snapshot; created: boolean }> {
    const deadline = Date.now() + DB_DEADLINE_MS
    const ctx: WriteContext | undefined = who && {
      actor: who.actor,
      action: who.action ?? 'config.write',
      comment: who.comment ?? null,
      request_id: requestId,
      ...(who.outsideRollout ? { outsideRollout: true } : {}),
      ...(who.after ? { expect: who.after } : who.ifMatch === undefined || who.ifMatch === null ? {} : { expect: await this.#expectation(who.ifMatch) }),
    }
    let result: { doc: ConfigDoc; created: boolean }
    try {
      result = await guard(
        (signal) => this.#writes.run(deadline, () => this.store.write(input, { deadline, signal }, ctx)),
        'write',
        this.logger,
        requestId,
      )
    } catch (e) {
      if (e instanceof RolloutActive) {
        this.logger.info('audit', { actor: ctx!.actor, action: ctx!.action, outcome: 'rollout_in_progress', request_id: requestId })
        throw new Conflict('a rollout is in progress; wait for it, abort it, or write with ?force=true (which aborts it)', 'rollout_in_progress')
      }
      if (!(e instanceof PreconditionFailed)) throw e
      if (e.current) this.offer(e.current)
      this.logger.info('audit', { actor: ctx!.actor, action: ctx!.action, outcome: 'precondition_failed', version: e.current?.version ?? null, request_id: requestId })
      throw new PreconditionFailedError(who?.after ? 'the config changed meanwhile; nothing was stored' : 'If-Match does not name the current config; nothing was stored', this.#snap?.etag ?? null)
    }
    const { doc, created } = result
    const snap = snapshotOf(doc)
    // Parallel writes can finish out of order: never move the snapshot back.
    if (this.#isNewer(doc)) this.#install(snap)
    if (created) this.logger.info('config stored', { version: doc.version, url: maskUrl(doc.url), request_id: requestId })
    if (ctx) this.logger.info('audit', { actor: ctx.actor, action: ctx.action, outcome: created ? 'created' : 'unchanged', version: doc.version, request_id: requestId })
    return { snapshot: snap, created }
  }

  /** The answer to a write: the version as history shows it (an unchanged write names the version
   *  that already held this content, with its own author). */
  async entry(w: { snapshot: Snapshot; created: boolean }, who: Author, requestId?: string): Promise<HistoryEntry> {
    const { doc } = w.snapshot
    const meta = w.created ? { created_by: who.actor, comment: who.comment ?? null } : await this.version(doc.version, requestId)
    return { ...doc, created_by: meta.created_by, comment: meta.comment }
  }

  /** Write version `n`'s content again as a new version (never moving a worker backwards); its
   *  comment defaults to "rollback to n". */
  async rollback(n: number, requestId: string, who: Author): Promise<{ written: { snapshot: Snapshot; created: boolean }; entry: HistoryEntry }> {
    const old = await this.version(n, requestId)
    const input: ConfigInput = old.timeout_ms === undefined ? { url: old.url } : { url: old.url, timeout_ms: old.timeout_ms }
    const w: Author = { ...who, action: 'config.rollback', comment: who.comment ?? `rollback to ${n}` }
    const written = await this.write(input, requestId, w)
    return { written, entry: await this.entry(written, w, requestId) }
  }

  /** One version from history; 404 version_not_found. */
  async version(n: number, requestId?: string): Promise<VersionEntry> {
    const v = await guard((signal) => this.store.version(n, signal), 'read', this.logger, requestId)
    if (v === null) throw new NotFound(`no version ${n} in this store`, 'version_not_found')
    return v
  }

  /** History, newest first. */
  versions(limit: number, before: number | null, requestId?: string): Promise<VersionEntry[]> {
    return guard((signal) => this.store.versions(limit, before, signal), 'read', this.logger, requestId)
  }

  /** If-Match → what the store must find under its lock. A tag that is not this replica's current one
   *  may be another replica's newer version: the store is read once before the tag is judged. */
  async #expectation(ifMatch: string): Promise<NonNullable<WriteContext['expect']>> {
    const tags = ifMatch.split(',').map((t) => t.trim())
    if (tags.includes('*')) return 'any'
    const matching = () => {
      const snap = this.#snap
      return snap && tags.includes(snap.etag) ? { store_id: snap.doc.store_id, version: snap.doc.version } : null
    }
    const found = matching() ?? ((await this.refresh()) && matching())
    // No tag names the current version: the store records the refusal (nothing can match this).
    return found ?? { store_id: '', version: -1 }
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
    for (const fn of this.#listeners) fn(s)
  }

  readonly #listeners: ((s: Snapshot) => void)[] = []

  /** Hear of every newer version this replica installs (the console's live updates). */
  onChange(fn: (s: Snapshot) => void): void {
    this.#listeners.push(fn)
  }
}
