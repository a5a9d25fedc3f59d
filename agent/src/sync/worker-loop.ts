import type { ConfigDoc } from '@dcm/shared'
import { jitter } from '../backoff'
import type { AgentDeps } from './deps'
import { WorkerHealth } from './health'
import { after, sleep, type Next } from './loop'
import type { Peer } from './peer'
import type { PersistedState } from './persisted'
import { send, type Outcome } from './transport'

type Rejected = { version: number; reason: string }

/** The worker loop: ask the worker what it holds (every poll interval, so a restarted, empty worker is
 *  refilled within one interval) and push our config when it lacks it. A config just received from the
 *  controller is pushed at once, without asking first. */
export class WorkerLoop {
  /** A document the worker refused, what the worker held then, and whether the controller had confirmed
   *  ours: not sent again until one of them changes. */
  #rejected: { store_id: string; version: number; held: string; current: boolean } | null = null
  #probeFailed = false
  /** A new config arrived: the next step pushes it before any probe. */
  #fresh = false
  /** What the worker holds of which store, as last probed or pushed (null while unknown). */
  #holds: { store_id: string; version: number } | null = null
  #refused: Rejected | null = null
  /** The store `applied` is a version of. */
  #appliedStore: string | null = null
  #lastPushMs: number | null = null
  /** What the controller hears with each poll: the version of our store the worker holds (as last
   *  probed or pushed; null while unknown), once the state file holds that version or a newer one, and a
   *  version it refused with its error code, until a newer one is applied. */
  applied: number | null = null
  rejected: Rejected | null = null
  /** How /hit fares at the worker, from each probe: the hits the controller has not heard of yet. */
  readonly health = new WorkerHealth()

  constructor(
    private readonly deps: AgentDeps,
    private readonly state: PersistedState,
    private readonly peer: Peer,
    private readonly pollIntervalMs: () => number,
    /** Whether the controller has confirmed the config we hold as its current one. */
    private readonly isCurrent: () => boolean,
    private readonly signal: AbortSignal,
    /** Called when `applied` or `rejected` changed (the controller should hear it now). */
    private readonly onReport: () => void = () => {},
    /** Called after a probe when unreported hits wait and the last report is one poll interval old. */
    private readonly onHealthDue: () => void = () => {},
  ) {}

  get lastPushAt(): string | null {
    return this.#lastPushMs === null ? null : new Date(this.#lastPushMs).toISOString()
  }

  /** A new config is in the state: the next step pushes it without probing first (the worker cannot
   *  hold a version we have just received; it answers 200 if it does). */
  newConfig(): void {
    this.#fresh = true
  }

  async step(): Promise<Next> {
    const { settings, log, newId, transport, now } = this.deps
    const doc = this.state.current.config
    if (!doc) return sleep
    const interval = jitter(this.pollIntervalMs(), 0.1, this.deps.random)
    const { workerUrl, requestTimeoutMs } = settings
    // The controller confirmed this very document as its current one (not a newer one that arrived
    // while this step was under way: a worker ahead of `doc` may hold that one).
    const current = () => this.state.current.config === doc && this.isCurrent()

    // A refusal needs what the worker holds (to replace a version its store never issued, or not to send
    // the same document again): then the probe below follows, and the refusal is judged after it.
    let pushed: { rid: string; out: Outcome } | null = null
    if (this.#fresh) {
      this.#fresh = false
      const rid = newId()
      const out = await this.#push(doc, rid, false)
      if (out.kind === 'ok') return this.#applied(out.res, doc, null, rid, interval)
      // No answer at all: as a failed probe (asked again within one interval); any other: a failed push.
      if (out.kind === 'retry' && out.status === undefined) {
        this.#probeFailed = true
        return after(Math.min(this.peer.failed(out, 'push', rid), interval))
      }
      if (out.kind !== 'rejected') return after(this.peer.failed(out, 'push', rid))
      pushed = { rid, out }
    }

    const probeId = newId()
    const probe = await send(transport, `${workerUrl}/state`, { signal: this.signal }, requestTimeoutMs, probeId, now)
    // A worker that does not answer is asked again within one interval at the latest: it may come back
    // empty at any moment, and then it needs our config at once.
    if (probe.kind !== 'ok') {
      this.#probeFailed = true
      return after(Math.min(this.peer.failed(probe, 'state', probeId), interval))
    }
    // A worker back after an outage (likely restarted, empty) gets its first push without the
    // backoff the outage built up.
    if (this.#probeFailed) this.peer.resetBackoff()
    this.#probeFailed = false
    const held = (await probe.res.json().catch(() => null)) as { version?: unknown; store_id?: unknown; updated_at?: unknown } | null
    this.health.observe(held, held?.store_id === doc.store_id)
    if (this.health.due(now(), this.pollIntervalMs())) this.onHealthDue()
    const heldKey = `${String(held?.store_id ?? null)}/${String(held?.version ?? null)}/${String(held?.updated_at ?? null)}`
    this.#holds = typeof held?.store_id === 'string' && typeof held.version === 'number' ? { store_id: held.store_id, version: held.version } : null
    this.publish()
    // Reachable, but the backoff is reset only once the worker holds our version: a worker whose
    // /state answers while its POST /config fails must still see the pushes thin out.
    this.peer.reachable = true
    if (held?.store_id === doc.store_id && held?.version === doc.version && held?.updated_at === doc.updated_at) {
      this.peer.ok()
      this.#confirmed(doc)
      return after(interval)
    }
    const r = this.#rejected
    if (!pushed && r && r.store_id === doc.store_id && r.version === doc.version && r.held === heldKey && r.current === current()) return after(interval)

    let rid = pushed?.rid ?? newId()
    let out = pushed?.out ?? (await this.#push(doc, rid, false))
    // The worker holds a version of our store that the controller never issued (pushed to it by hand):
    // the controller's current config replaces it.
    if (out.kind === 'rejected' && out.status === 409 && held?.store_id === doc.store_id && current()) {
      log.warn('worker holds a version its store never issued; replacing it', { version: doc.version, worker_version: held?.version ?? null, request_id: rid })
      rid = newId()
      out = await this.#push(doc, rid, true)
    }
    if (out.kind === 'ok') return this.#applied(out.res, doc, typeof held?.version === 'number' ? held.version : null, rid, interval)
    if (out.kind === 'rejected') {
      this.#rejected = { store_id: doc.store_id, version: doc.version, held: heldKey, current: current() }
      this.#refused = { version: doc.version, reason: out.code ?? `http_${out.status}` }
      this.publish()
      log.error('worker rejected config', { version: doc.version, worker_version: held?.version ?? null, status: out.status, error: out.message, request_id: rid })
      this.peer.refused(`worker refused version ${doc.version}: ${out.message}; waiting for the next version`)
      return after(interval)
    }
    return after(this.peer.failed(out, 'push', rid))
  }

  /** What the poll reports, from what the worker holds and what the state file holds: a version is
   *  reported applied only once both have it, so the controller never hears of a version the agent
   *  could lose in a crash. While the worker is ahead of the file (a push done before its save, or one
   *  from before a crash), the report stays as it was: the news waits for the save. Called after each
   *  probe or push and after each durable save. */
  publish(): void {
    const h = this.#holds
    const file = this.state.saved.config
    const ours = h !== null && file !== null && h.store_id === file.store_id
    const applied = !ours ? null : h.version <= file.version ? h.version : this.#appliedStore === file.store_id ? this.applied : null
    const rejected = this.#refused
    this.#appliedStore = applied === null ? null : file!.store_id
    if (applied === this.applied && rejected?.version === this.rejected?.version && rejected?.reason === this.rejected?.reason) return
    this.applied = applied
    this.rejected = rejected
    this.onReport()
  }

  async #applied(res: Response, doc: ConfigDoc, had: number | null, rid: string, interval: number): Promise<Next> {
    const reply = (await res.json().catch(() => null)) as { applied?: unknown; replaced?: { store_id?: unknown } } | null
    if (reply?.applied === true) {
      // The config it replaced, with its hits as they stood at the swap: read as a last probe of it, so
      // its hits since the probe before are reported; then nothing of the new config is known yet, and
      // its hits all count (a worker of an earlier release sends no `replaced`: only the first part is lost).
      if (reply.replaced) this.health.observe(reply.replaced, reply.replaced.store_id === doc.store_id)
      this.health.observe(null, false)
      if (this.health.due(this.deps.now(), this.pollIntervalMs())) this.onHealthDue()
    }
    this.peer.ok()
    this.#rejected = null
    this.#lastPushMs = this.deps.now()
    this.deps.log.info('config pushed to worker', { version: doc.version, worker_had: had, request_id: rid })
    this.#confirmed(doc)
    return after(interval)
  }

  async #push(doc: ConfigDoc, rid: string, replace: boolean) {
    const { settings, transport, now, counters } = this.deps
    const out = await send(
      transport,
      `${settings.workerUrl}/config${replace ? '?replace=true' : ''}`,
      { method: 'POST', headers: { authorization: `Bearer ${settings.workerKey}`, 'content-type': 'application/json' }, body: JSON.stringify(doc), signal: this.signal },
      settings.requestTimeoutMs,
      rid,
      now,
    )
    counters?.push(out)
    return out
  }

  /** The worker holds `doc`: reported (once the file has it too), and remembered in the state file
   *  without fsync (worker_version is reported to no one; the first probe after a start sets it again). */
  #confirmed(doc: ConfigDoc) {
    this.#holds = { store_id: doc.store_id, version: doc.version }
    if (this.#refused && this.#refused.version <= doc.version) this.#refused = null
    this.publish()
    if (this.state.current.worker_version !== doc.version) this.state.update({ worker_version: doc.version })
  }
}
