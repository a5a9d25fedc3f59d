import { configDoc, Conflict, Invalid, NotFound, sameContent, type Logger } from '@dcm/shared'
import type { Audit } from '../audit'
import type { ConfigService } from '../config'
import type { Routing } from '../config/service'
import { snapshotOf } from '../config/snapshot'
import type { FleetService } from '../fleet'
import { guard, type ConfigStore, type Decision, type RolloutPatch, type RolloutRow, type RolloutSpec, type RolloutState } from '../store'
import { cohortOrder, cohortSize, figures, judge, selects, type Figures } from './cohort'

export type RolloutInput = {
  config: { url: string; timeout_ms?: number }
  comment?: string
  steps: { percent: number; bake_seconds: number }[]
  selector?: Record<string, string>
  gate: { max_error_rate: number; min_hits: number; max_p99_ms?: number }
}
export type Who = { actor: string; requestId: string }
type Active = { row: RolloutRow; order: string[]; routing: Routing }

const ACTIVE: ReadonlySet<RolloutState> = new Set(['running', 'paused'])
export const inProgress = (row: RolloutRow) =>
  new Conflict(`rollout ${row.id} is ${row.state} (version ${row.version}); wait for it, abort it, or write with ?force=true (which aborts it)`, 'rollout_in_progress')

/** Staged rollouts: the one active rollout of the store, the cohort each agent belongs to (served through
 *  ConfigService.route: the hot path stays a set lookup), and the decisions: one replica at a time (a
 *  lease) advances a running rollout after each step's bake time, or rolls it back when the gate fails.
 *  Every replica reloads the active rollout every `tickMs`, and before it takes in a version another
 *  replica wrote, so a candidate version is never served outside its cohort. */
export class RolloutService {
  readonly owner = crypto.randomUUID()
  #active: Active | null = null
  #orders = new Map<number, string[]>()
  #timer: Timer | undefined
  #ticking: Promise<void> | null = null
  /** Each read of the active rollout and each change made here takes a number; a read older than what
   *  was last adopted is dropped (it could bring back routing a newer change replaced). */
  #seq = 0
  #adoptedSeq = 0
  /** Called when the active rollout changes (the console's live updates). */
  onChange: ((row: RolloutRow | null) => void) | undefined
  /** The figures of the last judgement or view, for metrics. */
  last: { cohort: Figures; stable: Figures } | null = null

  constructor(
    private readonly store: ConfigStore,
    private readonly config: ConfigService,
    private readonly fleet: FleetService,
    private readonly audit: Audit,
    private readonly logger: Logger,
    private readonly opts: { tickMs: number; now?: () => number },
  ) {}

  #now = () => (this.opts.now ?? Date.now)()

  get active(): RolloutRow | null {
    return this.#active?.row ?? null
  }

  start(): void {
    const loop = () => {
      this.#timer = setTimeout(async () => {
        await this.tick().catch((e) => this.logger.warn('rollout tick failed', { error: e as Error }))
        if (this.#timer !== undefined) loop()
      }, this.opts.tickMs)
    }
    loop()
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Read the active rollout from the store and route polls by it. */
  async load(): Promise<void> {
    const seq = ++this.#seq
    const row = await guard((signal) => this.store.activeRollout(signal), 'read', this.logger)
    if (seq < this.#adoptedSeq) return
    if (row === null && this.#active) {
      // The rollout ended elsewhere. One that rolled back ends only once this replica serves the rollback
      // version: until then the agents outside the cohort keep the stable one.
      const ended = await guard((signal) => this.store.rollout(this.#active!.row.id, signal), 'read', this.logger)
      if (ended?.rollback_version != null && (this.config.snapshot?.doc.version ?? 0) < ended.rollback_version) await this.config.refresh({ routed: true })
      if (seq < this.#adoptedSeq) return
      return this.#adopt(ended, seq)
    }
    await this.#adopt(row, seq)
  }

  async #adopt(row: RolloutRow | null, seq = ++this.#seq): Promise<void> {
    this.#adoptedSeq = Math.max(this.#adoptedSeq, seq)
    const cur = this.#active
    if (row === null || !ACTIVE.has(row.state)) {
      if (cur && (row === null || row.id === cur.row.id || row.id > cur.row.id)) {
        this.#active = null
        this.config.route(null)
        this.onChange?.(row)
      }
      return
    }
    if (cur && cur.row.id === row.id && cur.row.rev >= row.rev) return
    const order = this.#orderOf(row)
    const size = cohortSize(row.spec.steps[row.step]!.percent, order.length)
    let stable = cur && cur.row.id === row.id ? cur.routing.stable : null
    if (stable === null) {
      const v = await guard((signal) => this.store.version(row.stable_version, signal), 'read', this.logger)
      if (v === null) throw new Error(`rollout ${row.id}: stable version ${row.stable_version} is not in the store`)
      stable = snapshotOf(configDoc(v))
    }
    const same = cur && cur.row.id === row.id && cur.routing.cohort.size === size
    const routing: Routing = same ? cur.routing : { cohort: new Set(order.slice(0, size)), stable }
    this.#active = { row, order, routing }
    this.config.route(routing)
    this.onChange?.(row)
  }

  #orderOf(row: RolloutRow): string[] {
    let o = this.#orders.get(row.id)
    if (o === undefined) {
      o = cohortOrder(row.eligible, row.id)
      if (this.#orders.size > 16) this.#orders.clear()
      this.#orders.set(row.id, o)
    }
    return o
  }

  /** Reload; then, holding the lease, judge a running rollout whose step has baked. */
  tick(): Promise<void> {
    this.#ticking ??= (async () => {
      await this.load()
      const a = this.#active
      if (!a || a.row.state !== 'running') return
      const leased = await guard((signal) => this.store.leaseRollout(a.row.id, this.owner, this.#now() + 3 * this.opts.tickMs, signal), 'write', this.logger)
      if (leased) await this.#decide(a.row)
    })().finally(() => (this.#ticking = null))
    return this.#ticking
  }

  async #decide(row: RolloutRow): Promise<void> {
    const who = { actor: 'rollout', requestId: `rollout-${row.id}-${row.rev}` }
    const head = await guard((signal) => this.store.current(signal), 'read', this.logger)
    if (head === null || head.version < row.version) {
      // The candidate was never stored (its write failed, and so did marking the rollout): end it.
      if (this.#now() - Date.parse(row.created_at) > 10_000) await this.#change(row, { state: 'aborted', reason: 'the candidate version was never stored' }, 'abort', row.step, 'the candidate version was never stored', who)
      return
    }
    const step = row.spec.steps[row.step]!
    if (this.#now() < Date.parse(row.step_started_at) + step.bake_seconds * 1000) return
    const figs = await this.#figures(row)
    let verdict = judge(figs.cohort, row.spec.gate)
    // A cohort worker that refused the candidate fails the step whatever the traffic says.
    if (verdict.pass) {
      const cohort = new Set(this.#orderOf(row).slice(0, cohortSize(step.percent, row.eligible.length)))
      const refused = (await this.fleet.rows(who.requestId)).filter((a) => cohort.has(a.agent_id) && a.rejected?.version === row.version)
      if (refused.length > 0) verdict = { pass: false, reason: `${refused.length} cohort worker(s) refused the candidate (${refused[0]!.rejected!.reason})` }
    }
    if (!verdict.pass) {
      await this.#rollBack(row, 'rolled_back', verdict.reason, who, figs)
      return
    }
    if (row.step + 1 >= row.spec.steps.length) {
      await this.#complete(row, 'complete', `the last step passed its gate: ${describe(figs.cohort)}`, who)
      return
    }
    const next = row.step + 1
    const size = cohortSize(row.spec.steps[next]!.percent, row.eligible.length)
    await this.#change(row, { step: next, step_started_at: new Date(this.#now()).toISOString() }, 'advance', next, `step ${row.step + 1} passed (${describe(figs.cohort)}); step ${next + 1}: ${row.spec.steps[next]!.percent}% = ${size} agents`, who)
  }

  /** Sums of the health reported for the candidate (the cohort) and the stable version (the others). */
  async #figures(row: RolloutRow): Promise<{ cohort: Figures; stable: Figures }> {
    const rows = await guard((signal) => this.store.health([row.version, row.stable_version], signal), 'read', this.logger)
    const order = this.#orderOf(row)
    const size = cohortSize(row.spec.steps[row.step]!.percent, order.length)
    const cohort = new Set(order.slice(0, size))
    const others = new Set(rows.filter((r) => !cohort.has(r.agent_id)).map((r) => r.agent_id))
    const figs = { cohort: figures(rows, row.version, cohort, cohort.size), stable: figures(rows, row.stable_version, others, row.eligible.length - cohort.size) }
    if (row.id === this.#active?.row.id) this.last = figs
    return figs
  }

  /** Change the rollout (at the revision read), record the decision, route by the result. */
  async #change(row: RolloutRow, patch: RolloutPatch, action: string, step: number, detail: string, who: Who): Promise<RolloutRow> {
    const decision: Decision = { at: new Date(this.#now()).toISOString(), action, step, detail }
    const updated = await guard((signal) => this.store.updateRollout(row.id, row.rev, { ...patch, decisions: [...row.decisions, decision] }, signal), 'write', this.logger, who.requestId)
    if (updated === null) throw new Conflict(`rollout ${row.id} changed meanwhile; read it again`, 'rollout_changed')
    await this.#adopt(updated)
    this.logger.info('rollout', { rollout: row.id, action, step: step + 1, state: updated.state, detail, actor: who.actor, request_id: who.requestId })
    await this.audit.record({ actor: who.actor, action: `rollout.${action}`, target: `rollout ${row.id}`, request_id: who.requestId, outcome: updated.state })
    return updated
  }

  async #complete(row: RolloutRow, action: string, detail: string, who: Who): Promise<RolloutRow> {
    return this.#change(row, { state: 'completed', step: row.spec.steps.length - 1 }, action, row.spec.steps.length - 1, `${detail}; version ${row.version} is the stable one for everyone`, who)
  }

  /** Roll back: the stable content written as a new, higher version (workers never move backwards),
   *  served to the cohort at once and to everyone when the rollout ends just after. */
  async #rollBack(row: RolloutRow, state: 'rolled_back' | 'aborted', reason: string, who: Who, figs?: { cohort: Figures; stable: Figures }): Promise<RolloutRow> {
    const stable = this.#active?.routing.stable.doc ?? configDoc((await this.config.version(row.stable_version, who.requestId))!)
    // The store's head, not this replica's snapshot (which may not have heard of the candidate yet).
    const newest = await guard((signal) => this.store.current(signal), 'read', this.logger, who.requestId)
    let rollbackVersion: number | null = null
    if (newest && newest.version >= row.version) {
      const input = stable.timeout_ms === undefined ? { url: stable.url } : { url: stable.url, timeout_ms: stable.timeout_ms }
      const w = await this.config.write(input, who.requestId, {
        actor: who.actor,
        action: 'rollout.rollback',
        comment: `rollout ${row.id} ${state === 'aborted' ? 'aborted' : 'rolled back'}: ${reason}`,
        after: { store_id: newest.store_id, version: newest.version },
      })
      rollbackVersion = w.snapshot.doc.version
    }
    const detail = figs ? `${reason}; cohort ${describe(figs.cohort)}, stable ${describe(figs.stable)}` : reason
    const patch: RolloutPatch = { state, reason: detail, rollback_version: rollbackVersion }
    const said = rollbackVersion === null ? detail : `${detail}; version ${rollbackVersion} has the stable config`
    try {
      return await this.#change(row, patch, state === 'aborted' ? 'abort' : 'rollback', row.step, said, who)
    } catch (e) {
      // The rollout changed meanwhile (a pause, say): the rollback version is written, so the rollout
      // ends anyway, from its latest revision.
      const fresh = await guard((signal) => this.store.rollout(row.id, signal), 'read', this.logger, who.requestId)
      if (fresh === null || !ACTIVE.has(fresh.state)) throw e
      return this.#change(fresh, patch, state === 'aborted' ? 'abort' : 'rollback', fresh.step, said, who)
    }
  }

  /** POST /rollouts. */
  async create(input: RolloutInput, who: Who): Promise<RolloutRow> {
    await this.load()
    if (this.#active) throw inProgress(this.#active.row)
    const current = this.config.snapshot
    if (current === null) throw new Conflict('no config has been set yet; POST /config first (a rollout needs a stable version)', 'no_config')
    if (sameContent(current.doc, input.config)) throw new Invalid('body field "config": the same url and timeout_ms as the current config; nothing to roll out')
    const selector = input.selector ?? null
    const eligible = (await this.fleet.rows(who.requestId)).filter((a) => !this.fleet.isStale(a) && selects(selector, a.labels)).map((a) => a.agent_id)
    const now = new Date(this.#now()).toISOString()
    const spec: RolloutSpec = {
      config: input.config,
      comment: input.comment ?? null,
      steps: input.steps,
      selector,
      gate: { max_error_rate: input.gate.max_error_rate, min_hits: input.gate.min_hits, max_p99_ms: input.gate.max_p99_ms ?? null },
    }
    const first = cohortSize(spec.steps[0]!.percent, eligible.length)
    const row = await guard(
      (signal) =>
        this.store.createRollout(
          {
            version: current.doc.version + 1,
            stable_version: current.doc.version,
            state: 'running',
            step: 0,
            spec,
            eligible,
            step_started_at: now,
            reason: null,
            rollback_version: null,
            decisions: [{ at: now, action: 'start', step: 0, detail: `${eligible.length} agents take part; step 1: ${spec.steps[0]!.percent}% = ${first} agents` }],
            created_by: who.actor,
          created_at: now,
          },
          signal,
        ),
      'write',
      this.logger,
      who.requestId,
    )
    if (row === null) {
      await this.load()
      const other = this.active
      throw other ? inProgress(other) : new Conflict('another rollout started meanwhile', 'rollout_in_progress')
    }
    // Routed before the candidate exists: when it does, only the cohort is served it.
    await this.#adopt(row)
    try {
      await this.config.write(input.config, who.requestId, {
        actor: who.actor,
        action: 'rollout.start',
        comment: input.comment ?? `rollout ${row.id}`,
        after: { store_id: current.doc.store_id, version: current.doc.version },
      })
    } catch (e) {
      await guard((signal) => this.store.updateRollout(row.id, row.rev, { state: 'aborted', reason: `the candidate version was not stored: ${(e as Error).message}` }, signal), 'write', this.logger).catch(() => {})
      await this.load().catch(() => {})
      throw e
    }
    this.logger.info('rollout', { rollout: row.id, action: 'start', version: row.version, stable_version: row.stable_version, eligible: eligible.length, cohort: first, actor: who.actor, request_id: who.requestId })
    await this.audit.record({ actor: who.actor, action: 'rollout.start', target: `rollout ${row.id}`, request_id: who.requestId, outcome: 'running' })
    return row
  }

  async #activeById(id: number, requestId: string): Promise<RolloutRow> {
    const row = await this.get(id, requestId)
    if (!ACTIVE.has(row.state)) throw new Conflict(`rollout ${id} has ended (${row.state})`, 'rollout_not_active')
    return row
  }

  async pause(id: number, who: Who): Promise<RolloutRow> {
    const row = await this.#activeById(id, who.requestId)
    return row.state === 'paused' ? row : this.#change(row, { state: 'paused' }, 'pause', row.step, `paused by ${who.actor}`, who)
  }

  /** Resuming starts the step's bake time again. */
  async resume(id: number, who: Who): Promise<RolloutRow> {
    const row = await this.#activeById(id, who.requestId)
    return row.state === 'running' ? row : this.#change(row, { state: 'running', step_started_at: new Date(this.#now()).toISOString() }, 'resume', row.step, `resumed by ${who.actor}; step ${row.step + 1} bakes again`, who)
  }

  /** Abort = roll back now. */
  async abort(id: number, who: Who, why = `aborted by ${who.actor}`): Promise<RolloutRow> {
    return this.#rollBack(await this.#activeById(id, who.requestId), 'aborted', why, who)
  }

  /** Promote = skip to 100 %: the candidate becomes the stable version for everyone. */
  async promote(id: number, who: Who): Promise<RolloutRow> {
    return this.#complete(await this.#activeById(id, who.requestId), 'promote', `promoted by ${who.actor}`, who)
  }

  /** Before a plain config write with ?force=true: the rollout this replica knows of is aborted first.
   *  (Without force the write itself is refused while a rollout is active, in its own statement.) */
  async forceWrite(who: Who): Promise<void> {
    const a = this.#active
    if (a !== null) await this.abort(a.row.id, who, `aborted by ${who.actor}: a config write with ?force=true`)
  }

  async get(id: number, requestId: string): Promise<RolloutRow> {
    const row = await guard((signal) => this.store.rollout(id, signal), 'read', this.logger, requestId)
    if (row === null) throw new NotFound(`no rollout ${id}`, 'rollout_not_found')
    return row
  }

  list(limit: number, requestId: string): Promise<RolloutRow[]> {
    return guard((signal) => this.store.rollouts(limit, signal), 'read', this.logger, requestId)
  }

  /** A rollout as the API shows it: steps with their cohorts, health of cohort and stable agents, how
   *  many of the cohort applied the candidate. */
  async view(row: RolloutRow, requestId: string) {
    const figs = await this.#figures(row)
    const order = this.#orderOf(row)
    const cohort = new Set(order.slice(0, cohortSize(row.spec.steps[row.step]!.percent, order.length)))
    const agents = await this.fleet.rows(requestId)
    const applied = agents.filter((a) => cohort.has(a.agent_id) && a.applied_version !== null && a.applied_version >= row.version).length
    const startedAt = (i: number) => (i === row.step ? row.step_started_at : (row.decisions.find((d) => d.step === i && (d.action === 'start' || d.action === 'advance'))?.at ?? null))
    return {
      id: String(row.id),
      version: row.version,
      stable_version: row.stable_version,
      state: row.state,
      step: row.step,
      steps: row.spec.steps.map((s, i) => ({ ...s, cohort: cohortSize(s.percent, order.length), started_at: i <= row.step ? startedAt(i) : null })),
      selector: row.spec.selector,
      gate: row.spec.gate,
      comment: row.spec.comment,
      config: row.spec.config,
      eligible: row.eligible.length,
      cohort: { ...figs.cohort, applied },
      cohort_agents: [...cohort],
      stable: figs.stable,
      reason: row.reason,
      rollback_version: row.rollback_version,
      created_by: row.created_by,
      created_at: row.created_at,
      updated_at: row.updated_at,
      decisions: row.decisions,
    }
  }
}

const describe = (f: Figures) =>
  f.hits === 0 ? 'no hits yet' : `${f.hits} hits, error rate ${(f.error_rate ?? 0).toFixed(4)}${f.p99_ms === null ? '' : `, p99 ${f.p99_ms} ms`}`
