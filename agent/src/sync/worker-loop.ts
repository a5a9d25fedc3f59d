import { jitter } from '../backoff'
import type { AgentDeps } from './deps'
import { after, sleep, type Next } from './loop'
import type { Peer } from './peer'
import type { PersistedState } from './persisted'
import { send } from './transport'

/** The worker loop: ask the worker what it holds (every poll interval, so a restarted, empty worker is
 *  refilled within one interval) and push our config when it lacks it. */
export class WorkerLoop {
  /** A document the worker refused, and what the worker held then: not sent again until either changes. */
  #rejected: { store_id: string; version: number; held: string } | null = null
  lastPushAt: string | null = null

  constructor(
    private readonly deps: AgentDeps,
    private readonly state: PersistedState,
    private readonly peer: Peer,
    private readonly pollIntervalMs: () => number,
    private readonly signal: AbortSignal,
  ) {}

  async step(): Promise<Next> {
    const { settings, log, newId, transport, now } = this.deps
    const doc = this.state.current.config
    if (!doc) return sleep
    const interval = jitter(this.pollIntervalMs(), 0.1, this.deps.random)
    const { workerUrl, workerKey, requestTimeoutMs } = settings

    const probeId = newId()
    const probe = await send(transport, `${workerUrl}/state`, { signal: this.signal }, requestTimeoutMs, probeId, now)
    // A worker that does not answer is asked again within one interval at the latest: it may come back
    // empty at any moment, and then it needs our config at once.
    if (probe.kind !== 'ok') return after(Math.min(this.peer.failed(probe, 'state', probeId), interval))
    const held = (await probe.res.json().catch(() => null)) as { version?: unknown; store_id?: unknown } | null
    const heldKey = `${String(held?.store_id ?? null)}/${String(held?.version ?? null)}`
    // Reachable, but the backoff is reset only once the worker holds our version: a worker whose
    // /state answers while its POST /config fails must still see the pushes thin out.
    this.peer.reachable = true
    if (held?.store_id === doc.store_id && held?.version === doc.version) {
      this.peer.ok()
      this.#confirmed(doc.version)
      return after(interval)
    }
    const r = this.#rejected
    if (r && r.store_id === doc.store_id && r.version === doc.version && r.held === heldKey) return after(interval)

    const rid = newId()
    const out = await send(
      transport,
      `${workerUrl}/config`,
      { method: 'POST', headers: { authorization: `Bearer ${workerKey}`, 'content-type': 'application/json' }, body: JSON.stringify(doc), signal: this.signal },
      requestTimeoutMs,
      rid,
      now,
    )
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
      this.#rejected = { store_id: doc.store_id, version: doc.version, held: heldKey }
      log.error('worker rejected config', { version: doc.version, worker_version: held?.version ?? null, status: out.status, error: out.message, request_id: rid })
      this.peer.refused(`worker refused version ${doc.version}: ${out.message}; waiting for the next version`)
      return after(interval)
    }
    return after(this.peer.failed(out, 'push', rid))
  }

  #confirmed(version: number) {
    if (this.state.current.worker_version !== version) this.state.update({ worker_version: version })
  }
}
