import { MAX_VERSION } from '@dcm/shared'
import type { AgentReport, HealthRow } from '../store'

const ID = /^[A-Za-z0-9._-]{1,128}$/
const REASON = /^[A-Za-z0-9._:-]{1,100}$/

/** A version number as an agent reports it in a header; anything else is no report (a poll is never
 *  refused over what it reports: delivering the config matters more). */
function versionIn(v: string | null): number | null {
  if (v === null || v.length > 10) return null
  const n = Number(v)
  return Number.isInteger(n) && n >= 1 && n <= MAX_VERSION ? n : null
}

const HEALTH = /^v=(\d{1,10});total=(\d{1,12});err=(\d{1,12});p99=(\d{1,9})$/

/** X-Worker-Health: `v=<version>;total=<hits>;err=<errors>;p99=<ms>`, the hits of the agent's worker since
 *  its last report; anything else is no report. */
export function healthIn(v: string | null): HealthRow | null {
  if (v === null) return null
  const m = HEALTH.exec(v.replaceAll(' ', ''))
  if (!m) return null
  const [version, hits, errors, p99] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  // errors may exceed hits in one report (a body that broke off after its hit was counted): summed, then clamped.
  if (version < 1 || version > MAX_VERSION) return null
  return { agent_id: '', version, hits, errors, p99_ms: p99 }
}

/** An agent's id as a poll names it: its token's agent, or X-Agent-Id for the shared key. */
export const reportedId = (header: string | null) => (header !== null && ID.test(header) ? header : null)

type Entry = {
  seen: number
  /** `seen` as last handed to the store. */
  written: number
  fetched: number | null
  applied: number | null
  /** X-Applied-Version as last sent (the common poll repeats it: compared, not parsed). */
  appliedRaw: string | null
  appliedAt: number | null
  rejected: { version: number; reason: string } | null
  dirty: boolean
  /** Long-polls of this agent held right now. */
  holding: number
}

/** What polls tell this replica about each agent (X-Applied-Version, X-Rejected-Version and -Reason, and
 *  the version answered), kept in memory and handed to the store in batches: the hot path does a few
 *  header reads and a map update, never a write. Long-polls being held count as seen. */
export class FleetReports {
  readonly #last = new Map<string, Entry>()
  /** Held long-polls of agents without an entry (beyond the cap); the others count on their entry. */
  readonly #holding = new Map<string, number>()
  /** Health reported since the last batch, per agent and version. */
  readonly #health = new Map<string, HealthRow>()

  constructor(
    private readonly opts: {
      cap: number
      /** How old the stored last_seen_at may get before a poll that changed nothing is written again. */
      refreshMs: number
      onApplied?: (agentId: string, version: number, at: number) => void
    },
  ) {}

  /** A poll from `agentId`, answered with (or confirming) version `fetched`. */
  poll(agentId: string, headers: Headers, fetched: number | null, now: number): void {
    const health = headers.get('x-worker-health')
    if (health !== null) this.#addHealth(agentId, healthIn(health))
    const appliedRaw = headers.get('x-applied-version')
    const rejectedRaw = headers.get('x-rejected-version')
    let e = this.#last.get(agentId)
    // The common poll: the same report as last time. Nothing is parsed or allocated.
    if (e !== undefined && rejectedRaw === null && e.rejected === null && appliedRaw === e.appliedRaw && (fetched === null || fetched === e.fetched)) {
      e.seen = now
      if (now - e.written > this.opts.refreshMs) e.dirty = true
      return
    }
    const applied = versionIn(appliedRaw)
    const rv = versionIn(rejectedRaw)
    const reason = rv === null ? null : headers.get('x-rejected-reason')
    const rejected = rv === null ? null : { version: rv, reason: reason !== null && REASON.test(reason) ? reason : 'unknown' }
    if (e === undefined) {
      if (this.#last.size >= this.opts.cap) return
      // First news of this agent on this replica: what it applied may be old news (a restart, another
      // replica), so it is not taken as a new apply (no convergence observation, applied_at unknown).
      this.#last.set(agentId, { seen: now, written: 0, fetched, applied, appliedRaw, appliedAt: null, rejected, dirty: true, holding: 0 })
      return
    }
    e.appliedRaw = appliedRaw
    let changed = false
    if (applied !== e.applied) {
      e.applied = applied
      e.appliedAt = applied === null ? null : now
      if (applied !== null) this.opts.onApplied?.(agentId, applied, now)
      changed = true
    }
    e.seen = now
    if (fetched !== null && fetched !== e.fetched) {
      e.fetched = fetched
      changed = true
    }
    if (rejected?.version !== e.rejected?.version || rejected?.reason !== e.rejected?.reason) {
      e.rejected = rejected
      changed = true
    }
    // A poll that changed nothing is written only when the stored last_seen_at is getting old.
    if (changed || now - e.written > this.opts.refreshMs) e.dirty = true
  }

  /** A held poll of `agentId` (reported in full when it arrived) was answered with, or confirmed,
   *  version `fetched`: what it reported has not changed, so only that and the time are news. */
  answered(agentId: string, fetched: number | null, now: number): void {
    const e = this.#last.get(agentId)
    if (e === undefined) return
    e.seen = now
    if (fetched !== null && fetched !== e.fetched) {
      e.fetched = fetched
      e.dirty = true
    } else if (now - e.written > this.opts.refreshMs) e.dirty = true
  }

  #addHealth(agentId: string, h: HealthRow | null): void {
    if (h === null || (h.hits === 0 && h.errors === 0)) return
    const key = `${agentId}\0${h.version}`
    const sum = this.#health.get(key)
    if (sum) {
      sum.hits += h.hits
      sum.errors += h.errors
      sum.p99_ms = Math.max(sum.p99_ms, h.p99_ms)
    } else if (this.#health.size < this.opts.cap) this.#health.set(key, { ...h, agent_id: agentId })
  }

  /** Health reported since the last batch (handed over: the next batch starts empty). */
  drainHealth(): HealthRow[] {
    const out = [...this.#health.values()]
    this.#health.clear()
    return out
  }

  /** Health the store did not take: added to the next batch. */
  undrainHealth(rows: HealthRow[]): void {
    for (const r of rows) this.#addHealth(r.agent_id, r)
  }

  /** A long-poll from `agentId` is held; call the result when it ends. Counted on the agent's entry
   *  (its poll was reported just before): a release of thousands is no churn in a map. */
  hold(agentId: string): () => void {
    const e = this.#last.get(agentId)
    if (e !== undefined) {
      e.holding++
      return () => void e.holding--
    }
    this.#holding.set(agentId, (this.#holding.get(agentId) ?? 0) + 1)
    return () => {
      const n = (this.#holding.get(agentId) ?? 1) - 1
      if (n <= 0) this.#holding.delete(agentId)
      else this.#holding.set(agentId, n)
    }
  }

  holding = (agentId: string): boolean => (this.#last.get(agentId)?.holding ?? 0) > 0 || this.#holding.has(agentId)

  /** What changed since the last batch; agents holding a long-poll are seen `now`. */
  drain(now: number): AgentReport[] {
    const out: AgentReport[] = []
    for (const [agent_id, e] of this.#last) {
      if (e.holding > 0 || this.#holding.has(agent_id)) {
        e.seen = now
        if (now - e.written > this.opts.refreshMs) e.dirty = true
      }
      if (!e.dirty) continue
      e.dirty = false
      e.written = e.seen
      out.push({
        agent_id,
        last_seen_at: new Date(e.seen),
        fetched_version: e.fetched,
        applied_version: e.applied,
        applied_at: e.appliedAt === null ? null : new Date(e.appliedAt),
        rejected: e.rejected,
      })
    }
    return out
  }

  /** A batch the store did not take: sent again with the next one. */
  undrain(reports: AgentReport[]): void {
    for (const r of reports) {
      const e = this.#last.get(r.agent_id)
      if (e) {
        e.dirty = true
        e.written = 0
      }
    }
  }

  /** Ids the store does not know (never registered, or revoked): not kept. */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.#last.delete(id)
  }

  /** Whether this replica has news of the agent (its id was checked when it was first heard). */
  knows(agentId: string): boolean {
    return this.#last.has(agentId)
  }

  /** This replica's latest news of an agent, if newer than `seenAt` (what the store has). */
  newer(agentId: string, seenAt: number): Entry | undefined {
    const e = this.#last.get(agentId)
    if (e === undefined) return undefined
    return e.seen > seenAt || e.holding > 0 || this.#holding.has(agentId) ? e : undefined
  }
}
