import { hostname } from 'node:os'
import { Value } from '@sinclair/typebox/value'
import { ConfigDoc, maskUrl, type Logger } from '@dcm/shared'
import { RegistrationReply } from './model'
import { Backoff, jitter } from '../backoff'
import type { Settings } from '../settings'
import { emptyState, type AgentState, type StateStore } from '../state'
import { Loop } from './loop'
import { send, type Failure } from './outcome'

type Target = 'controller' | 'worker'
type PeerStatus = { reachable: boolean | null; consecutive_failures: number; last_error: string | null; last_ok_at: string | null }
type LastError = { target: Target | 'state_file'; message: string; at: string }

/** The agent's work: keep the worker serving the newest config the controller has, through faults.
 *  Three loops: the controller loop (register, then poll / long-poll), the worker loop (check the worker
 *  holds our version, push when not), and the file loop (retry persisting after a local file error). */
export class Agent {
  state: AgentState
  #pollUrl: string | null = null
  #pollIntervalMs = 5000
  #registered = false
  #rejected: { version: number; workerVersion: number | null } | null = null
  #dirty = false
  #stopped = false
  readonly #abort = new AbortController()

  readonly status = {
    last_poll_at: null as string | null,
    last_poll_result: null as string | null,
    last_push_at: null as string | null,
    controller: peer(),
    worker: peer(),
    last_error: null as LastError | null,
    state_file: { ok: true, last_error: null as string | null, loaded_from: 'none' as string },
  }

  readonly #backoff: Record<Target, Backoff>
  readonly #controllerLoop: Loop
  readonly #workerLoop: Loop
  readonly #fileLoop: Loop

  constructor(
    private readonly settings: Settings,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.#backoff = {
      controller: new Backoff(settings.backoffBaseMs, settings.backoffMaxMs),
      worker: new Backoff(settings.backoffBaseMs, settings.backoffMaxMs),
    }
    const crash = (target: string) => (e: unknown) => {
      log.error('unexpected error in loop', { loop: target, error: e as Error })
      return settings.backoffMaxMs
    }
    this.#controllerLoop = new Loop(() => this.#controllerStep(), crash('controller'))
    this.#workerLoop = new Loop(() => this.#workerStep(), crash('worker'))
    this.#fileLoop = new Loop(() => this.#fileStep(), crash('state_file'))
    this.state = this.#load()
  }

  start(): void {
    this.#controllerLoop.start()
    this.#workerLoop.start() // a cached config reaches the worker even while the controller is down
  }

  stop(): void {
    this.#stopped = true
    this.#abort.abort()
    for (const l of [this.#controllerLoop, this.#workerLoop, this.#fileLoop]) l.stop()
  }

  /** The interval in force: from registration, then from the controller's X-Poll-Interval. */
  get pollIntervalSeconds(): number {
    return this.#pollIntervalMs / 1000
  }

  get ready(): boolean {
    return this.state.config !== null
  }

  // ---- state file ------------------------------------------------------------------------------

  #load(): AgentState {
    const loaded = this.store.load()
    this.status.state_file.loaded_from = loaded.from
    if (loaded.problems.length)
      this.log.warn(
        loaded.state ? 'state file damaged; recovered the previous good copy' : 'state file damaged and no good copy; starting fresh and registering anew',
        { problems: loaded.problems, path: this.settings.stateFile },
      )
    if (loaded.state) this.log.info('state loaded', { from: loaded.from, agent_id: loaded.state.agent_id, version: loaded.state.version })
    return loaded.state ?? emptyState()
  }

  /** Save now; on failure keep running on the in-memory state and retry every FILE_RETRY_MS. */
  #persist(): void {
    this.#dirty = true
    this.#fileLoop.kick()
  }

  async #fileStep(): Promise<number | null> {
    if (!this.#dirty) return null
    try {
      this.store.save(this.state)
      this.#dirty = false
      if (!this.status.state_file.ok) this.log.info('state file writable again', { path: this.settings.stateFile })
      this.status.state_file.ok = true
      this.status.state_file.last_error = null
      return null
    } catch (e) {
      const message = `cannot write ${this.settings.stateFile}: ${(e as Error).message}`
      if (this.status.state_file.ok) this.log.error('state file error; keeping state in memory and retrying', { error: message })
      this.status.state_file.ok = false
      this.status.state_file.last_error = message
      this.#error('state_file', message)
      return this.settings.fileRetryMs
    }
  }

  // ---- controller ------------------------------------------------------------------------------

  #controllerHeaders(): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.settings.controllerKey}` }
    if (this.state.agent_id) h['x-agent-id'] = this.state.agent_id
    return h
  }

  async #controllerStep(): Promise<number | null> {
    if (!this.#registered) return this.#register()
    return this.#poll()
  }

  async #register(): Promise<number> {
    const body = { ...(this.state.agent_id ? { agent_id: this.state.agent_id } : {}), hostname: hostname(), worker_url: maskUrl(this.settings.workerUrl) }
    const rid = crypto.randomUUID()
    const out = await send(
      `${this.settings.controllerUrl}/register`,
      { method: 'POST', headers: { ...this.#controllerHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(body), signal: this.#abort.signal },
      this.settings.requestTimeoutMs,
      rid,
    )
    if (out.kind !== 'ok') return this.#failed('controller', out, 'register', rid)
    const reply: unknown = await out.res.json().catch(() => null)
    if (!Value.Check(RegistrationReply, reply))
      return this.#failed('controller', { kind: 'retry', message: 'the controller sent a registration reply that does not validate' }, 'register', rid)
    this.#ok('controller')
    this.#registered = true
    this.#pollUrl = reply.poll_url
    this.#pollIntervalMs = reply.poll_interval_seconds * 1000
    if (reply.agent_id !== this.state.agent_id) {
      this.state = { ...this.state, agent_id: reply.agent_id }
      this.#persist()
    }
    this.log.info('registered', { agent_id: reply.agent_id, poll_url: maskUrl(reply.poll_url), poll_interval_seconds: reply.poll_interval_seconds, request_id: rid })
    return 0
  }

  async #poll(): Promise<number> {
    const { longPoll, longPollWaitSeconds, requestTimeoutMs } = this.settings
    const headers = this.#controllerHeaders()
    if (this.state.etag) headers['if-none-match'] = this.state.etag
    const url = longPoll ? `${this.#pollUrl}${this.#pollUrl!.includes('?') ? '&' : '?'}wait=${longPollWaitSeconds}` : this.#pollUrl!
    const started = Date.now()
    const rid = crypto.randomUUID()
    const out = await send(url, { headers, signal: this.#abort.signal }, requestTimeoutMs + (longPoll ? longPollWaitSeconds * 1000 : 0), rid)
    this.status.last_poll_at = new Date().toISOString()
    if (out.kind === 'ok' || out.kind === 'not_modified') {
      const wanted = Number(out.res.headers.get('x-poll-interval'))
      if (wanted > 0) this.#pollIntervalMs = wanted * 1000 // the controller may slow the fleet down
    }
    // Plain polling: every interval. Long-poll: straight back after a change or a held poll; polls
    // never start closer together than the controller's interval otherwise.
    const nextPoll = (changed: boolean) =>
      !longPoll ? jitter(this.#pollIntervalMs) : changed ? 0 : jitter(Math.max(0, this.#pollIntervalMs - (Date.now() - started)))

    switch (out.kind) {
      case 'not_modified':
        this.#ok('controller')
        this.status.last_poll_result = '304 not modified'
        return nextPoll(false)
      case 'ok': {
        const doc = await out.res.json().catch(() => null)
        const etag = out.res.headers.get('etag')
        if (!Value.Check(ConfigDoc, doc) || !etag) {
          this.status.last_poll_result = 'invalid document'
          return this.#failed('controller', { kind: 'retry', message: 'the controller sent a config document that does not validate' }, 'poll', rid)
        }
        this.#ok('controller')
        this.status.last_poll_result = `200 version ${doc.version}`
        if (etag === this.state.etag) return nextPoll(false)
        if (this.state.version !== null && doc.version < this.state.version) {
          // Versions only move forward (a replica behind the others, or a restored database): keep
          // ours, and do not come straight back for the same answer.
          this.log.warn('controller answered an older version; keeping ours', { version: doc.version, ours: this.state.version, request_id: rid })
          return nextPoll(false)
        }
        this.state = { ...this.state, etag, version: doc.version, config: doc }
        this.log.info('new config from controller', { version: doc.version, url: maskUrl(doc.url), request_id: rid })
        this.#persist()
        this.#workerLoop.kick()
        return nextPoll(true)
      }
      case 'rejected':
        if (out.status === 404 && out.code === 'no_config') {
          // No config at the controller yet: nothing to do but ask again.
          this.#ok('controller')
          this.status.last_poll_result = '404 no config yet'
          return nextPoll(false)
        }
        if (out.status === 404) this.#registered = false // the poll_url is wrong: ask the controller again
        this.status.last_poll_result = out.message
        return this.#failed('controller', out, 'poll', rid)
      default:
        this.status.last_poll_result = out.message
        return this.#failed('controller', out, 'poll', rid)
    }
  }

  // ---- worker ----------------------------------------------------------------------------------

  async #workerStep(): Promise<number | null> {
    const doc = this.state.config
    if (!doc) return null
    const interval = jitter(this.#pollIntervalMs)
    const { workerUrl, workerKey, requestTimeoutMs } = this.settings

    const probeId = crypto.randomUUID()
    const probe = await send(`${workerUrl}/state`, { signal: this.#abort.signal }, requestTimeoutMs, probeId)
    if (probe.kind !== 'ok') return this.#failed('worker', probe, 'state', probeId)
    const held = ((await probe.res.json().catch(() => ({}))) as { version?: number | null }).version ?? null
    // Reachable, but the backoff is reset only once the worker holds our version: a worker whose
    // /state answers while its POST /config fails must still see the pushes thin out.
    this.status.worker.reachable = true
    if (held === doc.version) {
      this.#ok('worker')
      this.#confirmed(doc.version)
      return interval
    }
    // A document the worker refused is not sent again until the version or the worker changes.
    if (this.#rejected?.version === doc.version && this.#rejected.workerVersion === held) return interval

    const rid = crypto.randomUUID()
    const out = await send(
      `${workerUrl}/config`,
      { method: 'POST', headers: { authorization: `Bearer ${workerKey}`, 'content-type': 'application/json' }, body: JSON.stringify(doc), signal: this.#abort.signal },
      requestTimeoutMs,
      rid,
    )
    if (out.kind === 'ok') {
      void out.res.body?.cancel() // the reply is not needed; free the connection
      this.#ok('worker')
      this.#rejected = null
      this.status.last_push_at = new Date().toISOString()
      this.log.info('config pushed to worker', { version: doc.version, worker_had: held, request_id: rid })
      this.#confirmed(doc.version)
      return interval
    }
    if (out.kind === 'rejected') {
      this.#rejected = { version: doc.version, workerVersion: held }
      const message = `worker refused version ${doc.version}: ${out.message}; waiting for the next version`
      this.log.error('worker rejected config', { version: doc.version, worker_version: held, status: out.status, error: out.message, request_id: rid })
      this.#error('worker', message)
      return interval
    }
    return this.#failed('worker', out, 'push', rid)
  }

  #confirmed(version: number) {
    if (this.state.worker_version === version) return
    this.state = { ...this.state, worker_version: version }
    this.#persist()
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  #ok(target: Target) {
    const p = this.status[target]
    if (p.reachable === false) this.log.info(`${target} reachable again`, { after_failures: p.consecutive_failures })
    p.reachable = true
    p.consecutive_failures = 0
    p.last_ok_at = new Date().toISOString()
    this.#backoff[target].reset()
  }

  /** Record a failed call and return the delay before the next try. */
  #failed(target: Target, out: Failure, what: string, requestId: string): number {
    const p = this.status[target]
    p.consecutive_failures++
    const message = `${what}: ${out.kind === 'not_modified' ? 'unexpected 304' : out.message}`
    this.#error(target, message)
    if (this.#stopped) return this.settings.backoffMaxMs
    if (out.kind === 'auth') {
      p.reachable = true
      if (p.consecutive_failures === 1)
        this.log.error(`configuration error: the ${target} refused our key`, {
          hint: target === 'controller' ? 'check CONTROLLER_API_KEY' : 'check WORKER_API_KEY',
          status: out.status,
          request_id: requestId,
        })
      return this.settings.backoffMaxMs // a wrong key does not fix itself quickly: ask rarely
    }
    // An HTTP answer (503, 429, 404...) means the peer is there but failing; no answer means unreachable.
    p.reachable = out.kind !== 'retry' || out.status !== undefined
    const delay = this.#backoff[target].next(out.kind === 'retry' ? out.retryAfterMs : undefined)
    this.log.warn(`${target} call failed; backing off`, { what, error: message, failures: p.consecutive_failures, retry_in_ms: delay, request_id: requestId })
    return delay
  }

  #error(target: LastError['target'], message: string) {
    this.status.last_error = { target, message, at: new Date().toISOString() }
    if (target !== 'state_file') this.status[target].last_error = message
  }
}

const peer = (): PeerStatus => ({ reachable: null, consecutive_failures: 0, last_error: null, last_ok_at: null })
