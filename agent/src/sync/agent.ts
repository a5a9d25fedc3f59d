import { maskUrl } from '@dcm/shared'
import { ControllerLoop } from './controller-loop'
import type { AgentDeps } from './deps'
import { after, Loop, type Next } from './loop'
import { Peer, type PeerName, type PeerStatus } from './peer'
import { PersistedState, type StateFileStatus } from './persisted'
import { WorkerLoop } from './worker-loop'

export type LastError = { target: PeerName | 'state_file'; message: string; at: string }

/** What /state shows: a copy, made when asked. */
export type AgentView = {
  agent_id: string | null
  store_id: string | null
  version: number | null
  etag: string | null
  url: string | null
  worker_version: number | null
  mode: 'long-poll' | 'poll'
  poll_interval_seconds: number
  last_poll_at: string | null
  last_poll_result: string | null
  last_push_at: string | null
  controller: PeerStatus & { url: string }
  worker: PeerStatus & { url: string }
  revoked: boolean
  last_error: LastError | null
  state_file: StateFileStatus & { path: string }
}

/** The agent: keeps its worker serving the newest config the controller has, through faults. It
 *  composes the controller loop (register, poll), the worker loop (check, push) and the persisted state,
 *  and hands out a snapshot of itself; nothing outside changes it. */
export class Agent {
  readonly #state: PersistedState
  readonly #peers: Record<PeerName, Peer>
  readonly #controller: ControllerLoop
  readonly #worker: WorkerLoop
  readonly #loops: { controller: Loop; worker: Loop }
  readonly #abort = new AbortController()
  #lastError: LastError | null = null

  constructor(private readonly deps: AgentDeps) {
    const { settings, log, random, now } = deps
    const noteError = (target: LastError['target']) => (message: string) => {
      this.#lastError = { target, message, at: new Date(now()).toISOString() }
    }
    const peer = (name: PeerName) => new Peer(name, { baseMs: settings.backoffBaseMs, maxMs: settings.backoffMaxMs, random, now, log, onError: noteError(name) })
    this.#peers = { controller: peer('controller'), worker: peer('worker') }
    // After a durable save the worker loop may report what the file now holds.
    this.#state = new PersistedState(deps, noteError('state_file'), () => this.#worker.publish())
    // A new config: the worker loop starts its push before the controller loop saves it.
    const pushNow = () => {
      this.#worker.newConfig()
      this.#loops.worker.runNow()
    }
    this.#controller = new ControllerLoop(deps, this.#state, this.#peers.controller, pushNow, this.#abort.signal, () => ({
      applied: this.#worker.applied,
      rejected: this.#worker.rejected,
      health: this.#worker.health.next(now),
    }))
    this.#worker = new WorkerLoop(
      deps,
      this.#state,
      this.#peers.worker,
      () => this.#controller.pollIntervalMs,
      () => this.#state.current.etag !== null && this.#state.current.etag === this.#controller.confirmedEtag,
      this.#abort.signal,
      () => {
        // The controller hears what the worker now runs with the next poll, started now — unless the
        // controller is failing: then the poll waits for its backoff like any other.
        this.#controller.reportChanged()
        if (this.#peers.controller.status.consecutive_failures === 0) this.#loops.controller.kick()
      },
      () => this.#controller.healthDue(),
    )
    const crash = (loop: string) => (e: unknown): Next => {
      log.error('unexpected error in loop', { loop, error: e as Error })
      return after(settings.backoffMaxMs)
    }
    this.#loops = {
      controller: new Loop(() => this.#controller.step(), crash('controller')),
      worker: new Loop(() => this.#worker.step(), crash('worker')),
    }
  }

  start(): void {
    this.#loops.controller.start()
    this.#loops.worker.start() // a cached config reaches the worker even while the controller is down
  }

  /** Stop the loops, abort calls in flight, and save the state one last time. */
  async stop(): Promise<void> {
    this.#abort.abort()
    this.#loops.controller.stop()
    this.#loops.worker.stop()
    await this.#state.flush()
  }

  /** Each peer's current backoff delay (0 when its last call worked), for /metrics. */
  backoffMs(): Record<PeerName, number> {
    return { controller: this.#peers.controller.backoffMs, worker: this.#peers.worker.backoffMs }
  }

  get ready(): boolean {
    return this.#state.shown.config !== null
  }

  snapshot(): AgentView {
    const s = this.#state.shown
    const { settings } = this.deps
    return {
      agent_id: s.agent_id,
      store_id: s.config?.store_id ?? null,
      version: s.config?.version ?? null,
      etag: s.etag,
      url: s.config ? maskUrl(s.config.url) : null,
      worker_version: s.worker_version,
      mode: settings.longPoll ? 'long-poll' : 'poll',
      poll_interval_seconds: this.#controller.pollIntervalMs / 1000,
      last_poll_at: this.#controller.lastPollAt,
      last_poll_result: this.#controller.lastPollResult,
      last_push_at: this.#worker.lastPushAt,
      controller: { url: maskUrl(settings.controllerUrl), ...this.#peers.controller.status },
      worker: { url: maskUrl(settings.workerUrl), ...this.#peers.worker.status },
      revoked: this.#controller.revoked !== null,
      last_error: this.#lastError && { ...this.#lastError },
      state_file: { path: settings.stateFile, ...this.#state.status },
    }
  }
}
