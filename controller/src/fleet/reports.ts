import { MAX_VERSION } from '@dcm/shared'
import type { AgentReport } from '../store'

const ID = /^[A-Za-z0-9._-]{1,128}$/
const REASON = /^[A-Za-z0-9._:-]{1,100}$/

/** A version number as an agent reports it in a header; anything else is no report (a poll is never
 *  refused over what it reports: delivering the config matters more). */
function versionIn(v: string | null): number | null {
  if (v === null || v.length > 10) return null
  const n = Number(v)
  return Number.isInteger(n) && n >= 1 && n <= MAX_VERSION ? n : null
}

/** An agent's id as a poll names it: its token's agent, or X-Agent-Id for the shared key. */
export const reportedId = (header: string | null) => (header !== null && ID.test(header) ? header : null)

type Entry = {
  seen: number
  /** `seen` as last handed to the store. */
  written: number
  fetched: number | null
  applied: number | null
  appliedAt: number | null
  rejected: { version: number; reason: string } | null
  dirty: boolean
}

/** What polls tell this replica about each agent (X-Applied-Version, X-Rejected-Version and -Reason, and
 *  the version answered), kept in memory and handed to the store in batches: the hot path does a few
 *  header reads and a map update, never a write. Long-polls being held count as seen. */
export class FleetReports {
  readonly #last = new Map<string, Entry>()
  readonly #holding = new Map<string, number>()

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
    const applied = versionIn(headers.get('x-applied-version'))
    const rv = versionIn(headers.get('x-rejected-version'))
    const reason = headers.get('x-rejected-reason')
    const rejected = rv === null ? null : { version: rv, reason: reason !== null && REASON.test(reason) ? reason : 'unknown' }
    let e = this.#last.get(agentId)
    if (e === undefined) {
      if (this.#last.size >= this.opts.cap) return
      // First news of this agent on this replica: what it applied may be old news (a restart, another
      // replica), so it is not taken as a new apply (no convergence observation, applied_at unknown).
      this.#last.set(agentId, { seen: now, written: 0, fetched, applied, appliedAt: null, rejected, dirty: true })
      return
    }
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

  /** A long-poll from `agentId` is held; call the result when it ends. */
  hold(agentId: string): () => void {
    this.#holding.set(agentId, (this.#holding.get(agentId) ?? 0) + 1)
    return () => {
      const n = (this.#holding.get(agentId) ?? 1) - 1
      if (n <= 0) this.#holding.delete(agentId)
      else this.#holding.set(agentId, n)
    }
  }

  holding = (agentId: string): boolean => this.#holding.has(agentId)

  /** What changed since the last batch; agents holding a long-poll are seen `now`. */
  drain(now: number): AgentReport[] {
    const out: AgentReport[] = []
    for (const [agent_id, e] of this.#last) {
      if (this.#holding.has(agent_id)) {
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

  /** This replica's latest news of an agent, if newer than `seenAt` (what the store has). */
  newer(agentId: string, seenAt: number): Entry | undefined {
    const e = this.#last.get(agentId)
    if (e === undefined) return undefined
    return e.seen > seenAt || this.#holding.has(agentId) ? e : undefined
  }
}
