import { NotFound, type Logger } from '@dcm/shared'
import type { ConfigService } from '../config'
import { guard, type AgentRow, type ConfigStore, type VersionEntry } from '../store'
import { FleetReports } from './reports'
import { emptySummary, hasLabels, statusOf, type Status, type StatusContext, type Summary } from './status'

export type FleetAgent = Omit<AgentRow, 'applied_at'> & { status: Status }
export type Convergence = { applied: number; total: number; converged_ms: number | null }
export type FleetOptions = { pollIntervalMs: number; flushMs: number; now?: () => number; onApplied?: (seconds: number) => void }

/** Agents seen on this replica but not yet in the store, at most (a flood of made-up X-Agent-Id values
 *  must not grow memory without bound). */
const MAX_REPORTED = 200_000
/** Versions below the current one whose convergence is still looked for. */
const CONVERGENCE_WINDOW = 100

/** Who runs what: the poll reports of this replica (memory, written in batches every `flushMs` and at
 *  stop), merged with the store's (every replica's) to list the fleet; when each version reached every
 *  agent. */
export class FleetService {
  readonly reports: FleetReports
  readonly staleMs: number
  readonly #now: () => number
  #timer: Timer | undefined
  #flushing: Promise<void> | null = null
  #convergedThrough = 0
  /** Called after a batch of reports was written (the console's live updates). */
  onBatch: (() => void) | undefined
  /** Whether convergence is worth looking for at the next batch: an agent applied something here, or
   *  a while passed (another replica's agents). */
  #convergenceDue = true
  #batches = 0

  constructor(
    private readonly store: ConfigStore,
    private readonly config: ConfigService,
    private readonly logger: Logger,
    private readonly opts: FleetOptions,
  ) {
    this.#now = opts.now ?? Date.now
    // Three poll intervals, plus one batch: another replica writes what it saw that much later.
    this.staleMs = 3 * opts.pollIntervalMs + opts.flushMs
    this.reports = new FleetReports({
      cap: MAX_REPORTED,
      // A third of the stale limit: an agent that keeps polling is never shown stale for want of a write.
      refreshMs: this.staleMs / 3,
      onApplied: (_, version, at) => {
        this.#convergenceDue = true
        const doc = this.config.snapshot?.doc
        if (doc && version === doc.version) opts.onApplied?.(Math.max(0, at - Date.parse(doc.updated_at)) / 1000)
      },
    })
  }

  start(): void {
    const tick = () => {
      this.#timer = setTimeout(async () => {
        await this.flush()
        if (this.#timer !== undefined) tick()
      }, this.opts.flushMs)
    }
    tick()
  }

  /** Stop the batches and write the last one (after a batch under way, which may have drained before
   *  the last polls were answered). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#flushing
    await this.flush()
  }

  /** Write what polls reported since the last batch (one store call), then look for convergence. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = null))
    return this.#flushing
  }

  async #flush(): Promise<void> {
    const batch = this.reports.drain(this.#now())
    const health = this.reports.drainHealth()
    try {
      if (health.length > 0) await guard((signal) => this.store.saveHealth(health, signal), 'write', this.logger).catch((e) => {
        this.reports.undrainHealth(health)
        throw e
      })
      if (batch.length > 0) {
        const known = new Set(await guard((signal) => this.store.saveReports(batch, signal), 'write', this.logger))
        this.reports.forget(batch.filter((r) => !known.has(r.agent_id)).map((r) => r.agent_id))
        this.onBatch?.()
      }
      // The fleet is read only when convergence may have moved: after an apply heard here, or every
      // tenth batch (applies heard by other replicas).
      if (this.#convergenceDue || ++this.#batches % 10 === 0) {
        this.#convergenceDue = false
        await this.#convergence()
      }
    } catch (e) {
      this.reports.undrain(batch)
      this.logger.debug('fleet reports not saved; kept for the next batch', { error: e as Error })
    }
  }

  /** The current version converged when every agent not stale applied it (or later): recorded once,
   *  at the latest moment one of them reported it, for it and the versions before it. */
  async #convergence(): Promise<void> {
    const doc = this.config.snapshot?.doc
    if (!doc || doc.version <= this.#convergedThrough) return
    const live = (await this.#rows()).filter((a) => statusOf(a, this.#context(doc.version)) !== 'stale')
    if (live.length === 0 || live.some((a) => a.applied_version === null || a.applied_version < doc.version)) return
    const at = Math.max(...live.map((a) => (a.applied_at === null ? this.#now() : Date.parse(a.applied_at))))
    const from = Math.max(this.#convergedThrough + 1, doc.version - CONVERGENCE_WINDOW)
    const versions = Array.from({ length: doc.version - from + 1 }, (_, i) => from + i)
    await guard((signal) => this.store.converged(versions, new Date(at), signal), 'write', this.logger)
    this.#convergedThrough = doc.version
  }

  #context(current: number | null): StatusContext {
    return { current, now: this.#now(), staleMs: this.staleMs, holding: this.reports.holding }
  }

  /** Statuses against the version each agent should run (its cohort's, during a rollout). */
  #served(): StatusContext {
    if (this.config.routing === null) return this.#context(this.config.snapshot?.doc.version ?? null)
    return { ...this.#context(null), current: (id: string) => this.config.snapshotFor(id)?.doc.version ?? null }
  }

  /** Every agent the store knows, with this replica's newer news of each. */
  async #rows(requestId?: string): Promise<AgentRow[]> {
    const rows = await guard((signal) => this.store.agents(signal), 'read', this.logger, requestId)
    return rows.map((r) => this.#overlay(r))
  }

  #overlay(r: AgentRow): AgentRow {
    const e = this.reports.newer(r.agent_id, Date.parse(r.last_seen_at))
    if (e === undefined) return r
    const seen = this.reports.holding(r.agent_id) ? this.#now() : e.seen
    return {
      ...r,
      last_seen_at: new Date(Math.max(seen, Date.parse(r.last_seen_at))).toISOString(),
      fetched_version: e.fetched,
      applied_version: e.applied,
      applied_at: e.appliedAt === null ? null : new Date(e.appliedAt).toISOString(),
      rejected: e.rejected,
    }
  }

  #shown(r: AgentRow, ctx: StatusContext): FleetAgent {
    const { applied_at: _, ...rest } = r
    return { ...rest, status: statusOf(r, ctx) }
  }

  /** GET /agents: the summary of the whole fleet, and the agents that pass the filters. */
  async list(filter: { status?: Status; labels: [string, string][] }, requestId?: string): Promise<{ summary: Summary; agents: FleetAgent[] }> {
    const ctx = this.#served()
    const summary = emptySummary()
    const agents: FleetAgent[] = []
    for (const r of await this.#rows(requestId)) {
      const a = this.#shown(r, ctx)
      summary[a.status]++
      if ((filter.status === undefined || a.status === filter.status) && hasLabels(a.labels, filter.labels)) agents.push(a)
    }
    return { summary, agents }
  }

  async get(id: string, requestId?: string): Promise<FleetAgent> {
    const r = await guard((signal) => this.store.agent(id, signal), 'read', this.logger, requestId)
    if (r === null) throw new NotFound(`no agent ${id} is registered`, 'agent_not_found')
    return this.#shown(this.#overlay(r), this.#served())
  }

  /** Every agent the store knows with what this replica heard newer (the rollouts' view). */
  rows(requestId?: string): Promise<AgentRow[]> {
    return this.#rows(requestId)
  }

  isStale(a: AgentRow): boolean {
    return statusOf(a, this.#context(null)) === 'stale'
  }

  /** The summary alone (metrics). */
  async summary(): Promise<Summary> {
    return (await this.list({ labels: [] })).summary
  }

  /** How far version `v` got: agents not stale that applied it or later, out of all not stale. */
  async convergence(v: VersionEntry, requestId?: string): Promise<Convergence> {
    const ctx = this.#context(this.config.snapshot?.doc.version ?? null)
    const live = (await this.#rows(requestId)).filter((a) => statusOf(a, ctx) !== 'stale')
    return {
      applied: live.filter((a) => a.applied_version !== null && a.applied_version >= v.version).length,
      total: live.length,
      converged_ms: v.converged_at === null ? null : Math.max(0, Date.parse(v.converged_at) - Date.parse(v.updated_at)),
    }
  }
}
