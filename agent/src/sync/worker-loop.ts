import type { ConfigDoc } from '@dcm/shared'
import { jitter } from '../backoff'
import type { AgentDeps } from './deps'
import { WorkerHealth } from './health'
import { after, sleep, type Next } from './loop'
import type { Peer } from './peer'
import type { PersistedState } from './persisted'
import { send } from './transport'

/** The worker loop: ask the worker what it holds (every poll interval, so a restarted, empty worker is
 *  refilled within one interval) and push our config when it lacks it. */
export class WorkerLoop {
  /** A document the worker refused, what the worker held then, and whether the controller had confirmed
   *  ours: not sent again until one of them changes. */
  #rejected: { store_id: string; version: number; held: string; current: boolean } | null = null
  #probeFailed = false
  lastPushAt: string | null = null
  /** What the controller hears with each poll: the version of our store the worker holds (as last
   *  probed or pushed; null while unknown), and a version it refused with its error code, until a newer
   *  one is applied. */
  applied: number | null = null
  rejected: { version: number; reason: string } | null = null
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

  async step(): Promise<Next> {
    const { settings, log, newId, transport, now } = this.deps
    const doc = this.state.current.config
    if (!doc) return sleep
    const interval = jitter(this.pollIntervalMs(), 0.1, this.deps.random)
    const { workerUrl, requestTimeoutMs } = settings

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
    this.#report(held?.store_id === doc.store_id && typeof held.version === 'number' ? held.version : null, this.rejected)
    // Reachable, but the backoff is reset only once the worker holds our version: a worker whose
    // /state answers while its POST /config fails must still see the pushes thin out.
    this.peer.reachable = true
    if (held?.store_id === doc.store_id && held?.version === doc.version && held?.updated_at === doc.updated_at) {
      this.peer.ok()
      this.#confirmed(doc.version)
      return after(interval)
    }
    const r = this.#rejected
    if (r && r.store_id === doc.store_id && r.version === doc.version && r.held === heldKey && r.current === this.isCurrent()) return after(interval)

    let rid = newId()
    let out = await this.#push(doc, rid, false)
    // The worker holds a version of our store that the controller never issued (pushed to it by hand):
    // the controller's current config replaces it.
    if (out.kind === 'rejected' && out.status === 409 && held?.store_id === doc.store_id && this.isCurrent()) {
      log.warn('worker holds a version its store never issued; replacing it', { version: doc.version, worker_version: held?.version ?? null, request_id: rid })
      rid = newId()
      out = await this.#push(doc, rid, true)
    }
    if (out.kind === 'ok') {
      void out.res.body?.cancel() // the reply is not needed; free the connection
      this.peer.ok()
      this.#rejected = null
      this.lastPushAt = new Date(now()).toISOString()
      log.info('config pushed to worker', { version: doc.version, worker_had: held?.version ?? null, request_id: rid })
      this.#confirmed(doc.version)
      return after(interval)
    }
    if (out.kind === 'rejected') {
      this.#rejected = { store_id: doc.store_id, version: doc.version, held: heldKey, current: this.isCurrent() }
      this.#report(this.applied, { version: doc.version, reason: out.code ?? `http_${out.status}` })
      log.error('worker rejected config', { version: doc.version, worker_version: held?.version ?? null, status: out.status, error: out.message, request_id: rid })
      this.peer.refused(`worker refused version ${doc.version}: ${out.message}; waiting for the next version`)
      return after(interval)
    }
    return after(this.peer.failed(out, 'push', rid))
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

  #confirmed(version: number) {
    if (this.state.current.worker_version !== version) this.state.update({ worker_version: version })
    this.#report(version, this.rejected && this.rejected.version > version ? this.rejected : null)
  }

  #report(applied: number | null, rejected: { version: number; reason: string } | null) {
    if (applied === this.applied && rejected?.version === this.rejected?.version && rejected?.reason === this.rejected?.reason) return
    this.applied = applied
    this.rejected = rejected
    this.onReport()
  }
}
