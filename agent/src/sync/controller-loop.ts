import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ConfigDoc, maskUrl } from '@dcm/shared'
import { jitter } from '../backoff'
import type { AgentDeps } from './deps'
import { after, sleep, type Next } from './loop'
import { RegistrationReply } from './model'
import type { Peer } from './peer'
import type { PersistedState } from './persisted'
import { send, type Failure, type Outcome } from './transport'

/** The fastest and slowest poll intervals the agent follows, whatever a controller says. */
export const MIN_POLL_SECONDS = 0.1
export const MAX_POLL_SECONDS = 3600
const clampInterval = (s: number) => Math.min(MAX_POLL_SECONDS, Math.max(MIN_POLL_SECONDS, s))

/** Polls that got no answer at all before the agent registers again (which also re-reads poll_url). */
export const REREGISTER_AFTER_NETWORK_FAILURES = 3

// Compiled once: a new document is checked on the way to the worker.
const configDoc = TypeCompiler.Compile(ConfigDoc)
const registrationReply = TypeCompiler.Compile(RegistrationReply)

/** Answers after which the agent stops talking to the controller for good: it was revoked, or its
 *  agent_id is registered with another token (it never takes a new id by itself: an operator decides). */
const FINAL_REFUSALS = new Set(['agent_revoked', 'agent_token_mismatch'])

/** The controller loop: register, then poll (or long-poll) for the config, and act on each answer by
 *  the table in `#poll`. Each step returns when to run next. */
export class ControllerLoop {
  #registered = false
  /** The last registration gave us a token: polls present it instead of the shared key. */
  #pollWithToken = false
  /** Polls answered since the last registration (a refused token right after one is not retried fast). */
  #pollsSinceRegister = 0
  #pollUrl: string | null = null
  #pollIntervalMs: number
  /** A document we could not accept: we poll with its tag, so the controller holds until the next. */
  #refusedEtag: string | null = null
  #networkFailures = 0
  /** Aborts the poll in flight so the next one carries a new report (what the worker applied). */
  #pollAbort: AbortController | null = null
  /** The poll in flight is a long-poll the controller may hold. */
  #pollHeld = false
  /** The ETag the controller last confirmed as its current config (a 304 for it, or a 200 with it). */
  confirmedEtag: string | null = null
  #lastPollMs: number | null = null
  lastPollResult: string | null = null
  /** Why the controller refused this agent for good (revoked, or its id has another token); null while
   *  it may go on. Once set the loop never calls the controller again; the worker keeps its config. */
  revoked: string | null = null

  constructor(
    private readonly deps: AgentDeps,
    private readonly state: PersistedState,
    private readonly peer: Peer,
    private readonly onNewConfig: () => void,
    private readonly signal: AbortSignal,
    /** What the worker applied or refused, sent with every poll (X-Applied-Version, X-Rejected-*), and
     *  its unreported hits (X-Worker-Health; `delivered` once a poll carrying them got an answer). */
    private readonly report: () => PollReport = () => ({ applied: null, rejected: null }),
  ) {
    this.#pollIntervalMs = 5000
  }

  get lastPollAt(): string | null {
    return this.#lastPollMs === null ? null : new Date(this.#lastPollMs).toISOString()
  }

  /** The interval in force: from registration, then from the controller's X-Poll-Interval. */
  get pollIntervalMs(): number {
    return this.#pollIntervalMs
  }

  step(): Promise<Next> {
    if (this.revoked !== null) return Promise.resolve(sleep)
    return this.#registered ? this.#poll() : this.#register()
  }

  /** The report changed: a held long-poll is ended (without counting as a failure) so the controller
   *  hears it now rather than when the hold runs out. */
  reportChanged(): void {
    this.#pollAbort?.abort()
  }

  /** Unreported worker health waits: a long-poll being held is ended (the next poll carries it, without
   *  being held). A poll that is not held is left alone: it carries the health already, or the next one
   *  will within one interval (a backoff is not cut short for it). */
  healthDue(): void {
    if (this.#pollHeld) this.#pollAbort?.abort()
  }

  /** Polls present the agent's own token once a registration gave one, else the shared key, and report
   *  what the worker applied or refused. */
  #pollHeaders(): { headers: Record<string, string>; health: PollReport['health'] } {
    const { agent_id, agent_token } = this.state.current
    const key = this.#pollWithToken && agent_token ? agent_token : this.deps.settings.controllerKey
    const h: Record<string, string> = { authorization: `Bearer ${key}` }
    if (agent_id) h['x-agent-id'] = agent_id
    const { applied, rejected, health = null } = this.report()
    if (applied !== null) h['x-applied-version'] = String(applied)
    if (rejected !== null) {
      h['x-rejected-version'] = String(rejected.version)
      h['x-rejected-reason'] = rejected.reason
    }
    if (health !== null) h['x-worker-health'] = health.header
    return { headers: h, health }
  }

  /** Registration presents the shared key, and the agent's token (its id needs it), or `new` when it has
   *  none yet: a controller binds a token only to an agent that says it keeps one. */
  #registerHeaders(): Record<string, string> {
    return {
      authorization: `Bearer ${this.deps.settings.controllerKey}`,
      'content-type': 'application/json',
      'x-agent-token': this.state.current.agent_token ?? 'new',
    }
  }

  #call(url: string, init: RequestInit & { headers: Record<string, string> }, timeoutMs: number, rid: string, signal = this.signal): Promise<Outcome> {
    return send(this.deps.transport, url, { ...init, signal }, timeoutMs, rid, this.deps.now)
  }

  async #register(): Promise<Next> {
    const { settings, log, newId, hostname } = this.deps
    const id = this.state.current.agent_id
    const body = { ...(id ? { agent_id: id } : {}), hostname: hostname.slice(0, 255), worker_url: maskUrl(settings.workerUrl) }
    const rid = newId()
    const out = await this.#call(`${settings.controllerUrl}/register`, { method: 'POST', headers: this.#registerHeaders(), body: JSON.stringify(body) }, settings.requestTimeoutMs, rid)
    if (out.kind === 'auth' && out.code !== undefined && FINAL_REFUSALS.has(out.code)) return this.#stop(out, 'register', rid)
    if (out.kind !== 'ok') return after(this.peer.failed(out, 'register', rid))
    const reply: unknown = await out.res.json().catch(() => null)
    if (!registrationReply.Check(reply))
      return after(this.peer.failed({ kind: 'retry', status: out.res.status, message: 'the controller sent a registration reply that does not validate' }, 'register', rid))
    this.peer.ok()
    this.#registered = true
    this.#networkFailures = 0
    this.#pollsSinceRegister = 0
    this.#pollUrl = this.#onOurOrigin(reply.poll_url)
    this.#pollIntervalMs = clampInterval(reply.poll_interval_seconds) * 1000
    this.#pollWithToken = reply.agent_token !== undefined
    // Id and token saved together (one write): an agent never holds an id without the token it got with it.
    const token = reply.agent_token ?? this.state.current.agent_token
    if (reply.agent_id !== id || token !== this.state.current.agent_token) this.state.update(token === undefined ? { agent_id: reply.agent_id } : { agent_id: reply.agent_id, agent_token: token })
    log.info('registered', { agent_id: reply.agent_id, poll_url: maskUrl(this.#pollUrl), poll_interval_seconds: this.#pollIntervalMs / 1000, request_id: rid })
    return after(0)
  }

  /** The poll URL on CONTROLLER_URL's origin, taking only the path from the controller's answer: a
   *  controller whose PUBLIC_URL is wrong must not send us (and our key) elsewhere. */
  #onOurOrigin(pollUrl: string): string {
    const base = new URL(this.deps.settings.controllerUrl)
    const given = new URL(pollUrl)
    if (given.origin !== base.origin)
      this.deps.log.info('poll_url names another origin; polling on CONTROLLER_URL', { poll_url: maskUrl(pollUrl), controller_url: maskUrl(base.origin) })
    return `${base.origin}${given.pathname}${given.search}`
  }

  async #poll(): Promise<Next> {
    const { settings, log, newId, now } = this.deps
    const { longPoll, longPollWaitSeconds, requestTimeoutMs } = settings
    const { headers, health } = this.#pollHeaders()
    // A poll carrying worker health is never held: it is answered at once, so the delta counts as
    // reported (or is sent again) within one round trip, whichever way the controller records it.
    const held = longPoll && health === null
    const withToken = this.#pollWithToken && this.state.current.agent_token !== undefined
    const tag = this.#refusedEtag ?? this.state.current.etag
    if (tag) headers['if-none-match'] = tag
    const pollUrl = this.#pollUrl!
    const url = held ? `${pollUrl}${pollUrl.includes('?') ? '&' : '?'}wait=${longPollWaitSeconds}` : pollUrl
    const started = now()
    const rid = newId()
    const abort = new AbortController()
    this.#pollAbort = abort
    this.#pollHeld = held
    const out = await this.#call(url, { headers }, requestTimeoutMs + (held ? longPollWaitSeconds * 1000 : 0), rid, AbortSignal.any([this.signal, abort.signal]))
    this.#pollAbort = null
    this.#pollHeld = false
    // Ended by us for a new report: poll again at once, nothing failed.
    if (abort.signal.aborted && !this.signal.aborted && out.kind === 'retry' && out.status === undefined) return after(0)
    this.deps.counters?.poll(out)
    this.#lastPollMs = now()
    if (out.kind === 'ok' || out.kind === 'not_modified') {
      health?.delivered()
      const wanted = Number(out.res.headers.get('x-poll-interval'))
      if (wanted > 0) this.#pollIntervalMs = clampInterval(wanted) * 1000 // the controller may slow the fleet down
    }
    const interval = () => jitter(this.#pollIntervalMs, 0.1, this.deps.random)
    // Plain polling: every interval. Long-poll: straight back after a change or a held poll; polls
    // never start closer together than the controller's interval otherwise.
    const nextPoll = (changed: boolean): Next =>
      !longPoll ? after(interval()) : changed ? after(0) : after(jitter(Math.max(0, this.#pollIntervalMs - (now() - started)), 0.1, this.deps.random))

    if (out.kind === 'retry' && out.status === undefined) {
      // No answer at all: after a few, register again (the controller may have moved or been reset).
      if (++this.#networkFailures >= REREGISTER_AFTER_NETWORK_FAILURES) this.#registered = false
    } else this.#networkFailures = 0
    const firstPoll = this.#pollsSinceRegister++ === 0

    switch (out.kind) {
      case 'auth':
        this.lastPollResult = out.message
        if (out.code !== undefined && FINAL_REFUSALS.has(out.code)) return this.#stop(out, 'poll', rid)
        // The controller wants a token (shared-key polls are off), or does not know ours (a reset
        // database): registering again gets or restores it. Right after a registration it is a
        // configuration error instead, retried slowly.
        if (!firstPoll && (out.code === 'agent_token_required' || (out.status === 401 && withToken))) {
          this.#registered = false
          return after(this.peer.failed(asRetry(out), 'poll', rid))
        }
        return after(this.peer.failed(out, 'poll', rid))
      case 'not_modified':
        this.peer.ok()
        if (!this.#refusedEtag) this.confirmedEtag = tag
        this.lastPollResult = '304 not modified'
        // A long-polling agent's health report was answered at once: back to a held poll now.
        return longPoll && !held ? after(0) : nextPoll(false)
      case 'ok':
        return this.#received(out.res, rid, nextPoll, interval)
      case 'rejected':
        if (out.status === 404 && out.code === 'no_config') {
          // No config at the controller yet: nothing to do but ask again.
          this.peer.ok()
          this.lastPollResult = '404 no config yet'
          return nextPoll(false)
        }
        if (out.status === 404) this.#registered = false // the poll URL is wrong: ask the controller again
        this.lastPollResult = out.message
        return after(this.peer.failed(out, 'poll', rid))
      default:
        this.lastPollResult = out.message
        log.debug('poll failed', { request_id: rid, kind: out.kind })
        return after(this.peer.failed(out, 'poll', rid))
    }
  }

  /** The controller refused this agent for good: stop polling and registering (the worker loop keeps
   *  the worker on the cached config), say so in /state, log it once at error. */
  #stop(out: Extract<Outcome, { kind: 'auth' }>, what: string, rid: string): Next {
    const revoked = out.code === 'agent_revoked'
    this.revoked = `${what}: ${out.message}`
    this.lastPollResult = revoked ? 'revoked' : 'agent_id claimed by another token'
    this.peer.refused(this.revoked)
    this.deps.log.error(
      revoked
        ? 'this agent was revoked by the controller: it stops polling and registering; its worker keeps the config it has'
        : 'the controller refused our agent_id (registered with another token): this agent stops and does not take a new id by itself; its worker keeps the config it has',
      { agent_id: this.state.current.agent_id, code: out.code, status: out.status, request_id: rid },
    )
    return sleep
  }

  /** A 200: adopt the document if it is news, ignore it if it is older news, and report it (without
   *  backing off: the controller is there) if we cannot accept it. */
  async #received(res: Response, rid: string, nextPoll: (changed: boolean) => Next, interval: () => number): Promise<Next> {
    const { log } = this.deps
    // A body cut off on the way is a network failure (back off, ask again), not a document we refuse.
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      this.lastPollResult = 'answer cut off'
      return after(this.peer.failed({ kind: 'retry', message: `the answer broke off: ${(e as Error).message}` }, 'poll', rid))
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      doc = undefined
    }
    const etag = res.headers.get('etag')
    this.peer.ok()
    if (!etag || !configDoc.Check(doc)) {
      const message = `poll: the controller sent a config document this agent cannot accept (${!etag ? 'no ETag' : describe(doc)}); keeping the one it has`
      if (etag !== this.#refusedEtag) log.error('config document refused', { error: message, request_id: rid })
      this.#refusedEtag = etag
      this.lastPollResult = 'refused document'
      this.peer.error(message)
      return after(interval())
    }
    this.#refusedEtag = null
    this.lastPollResult = `200 version ${doc.version}`
    const cur = this.state.current
    if (etag === cur.etag) {
      this.confirmedEtag = etag
      return nextPoll(false)
    }
    if (cur.config && doc.store_id === cur.config.store_id && doc.version < cur.config.version) {
      // Versions only move forward within a store (a replica behind the others): keep ours, and do
      // not come straight back for the same answer.
      log.warn('controller answered an older version; keeping ours', { version: doc.version, ours: cur.config.version, request_id: rid })
      return nextPoll(false)
    }
    if (cur.config && doc.store_id !== cur.config.store_id)
      log.warn('controller serves another store identity; taking its current version', {
        store_id: doc.store_id,
        previous_store_id: cur.config.store_id,
        version: doc.version,
        previous_version: cur.config.version,
        request_id: rid,
      })
    this.confirmedEtag = etag
    // The push starts before the save (onNewConfig), so the worker applies it while the file is
    // written; the worker loop reports it applied only once the file holds it.
    this.state.update({ etag, config: doc }, this.onNewConfig)
    log.info('new config from controller', { version: doc.version, url: maskUrl(doc.url), request_id: rid })
    return nextPoll(true)
  }
}

/** What each poll reports about the worker. */
export type PollReport = {
  applied: number | null
  rejected: { version: number; reason: string } | null
  health?: { header: string; delivered: () => void } | null
}

/** A refusal that registering again can fix: backed off like any failure, not like a wrong key. */
const asRetry = (out: Extract<Outcome, { kind: 'auth' }>): Failure => ({ kind: 'retry', message: out.message, status: out.status, code: out.code })

/** Why a document fails the schema, without its content. */
function describe(doc: unknown): string {
  const first = configDoc.Errors(doc).First()
  return first ? `${first.path || 'document'}: ${first.message}` : 'not a document'
}
