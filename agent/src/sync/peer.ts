import type { Logger } from '@dcm/shared'
import { Backoff } from '../backoff'
import type { Failure } from './transport'

export type PeerName = 'controller' | 'worker'

/** How a peer is doing, as /state shows it. */
export type PeerStatus = { reachable: boolean | null; consecutive_failures: number; last_error: string | null; last_ok_at: string | null }

/** One peer (controller or worker): its status, its backoff, and the log lines about it. */
export class Peer {
  reachable: boolean | null = null
  consecutiveFailures = 0
  lastError: string | null = null
  #lastOkMs: number | null = null
  /** The delay the last failed call set before the next try; 0 once a call works. */
  backoffMs = 0
  readonly #backoff: Backoff

  constructor(
    readonly name: PeerName,
    private readonly opts: { baseMs: number; maxMs: number; random: () => number; now: () => number; log: Logger; onError: (message: string) => void },
  ) {
    this.#backoff = new Backoff(opts.baseMs, opts.maxMs, opts.random)
  }

  get lastOkAt(): string | null {
    return this.#lastOkMs === null ? null : new Date(this.#lastOkMs).toISOString()
  }

  get status(): PeerStatus {
    return { reachable: this.reachable, consecutive_failures: this.consecutiveFailures, last_error: this.lastError, last_ok_at: this.lastOkAt }
  }

  /** A call that worked: reachable, failures and backoff reset. */
  ok(): void {
    if (this.reachable === false) this.opts.log.info(`${this.name} reachable again`, { after_failures: this.consecutiveFailures })
    this.reachable = true
    this.consecutiveFailures = 0
    this.#lastOkMs = this.opts.now()
    this.#backoff.reset()
    this.backoffMs = 0
  }

  /** Start the backoff afresh (the peer came back: its next failure is a new story). */
  resetBackoff(): void {
    this.#backoff.reset()
    this.backoffMs = 0
  }

  /** The peer answered, but refused what we sent: reachable, no backoff. */
  refused(message: string): void {
    this.reachable = true
    this.error(message)
  }

  /** Record an error message without judging reachability. */
  error(message: string): void {
    this.lastError = message
    this.opts.onError(message)
  }

  /** Record a failed call and return the delay before the next try: a refused key is retried only
   *  every BACKOFF_MAX_MS (it does not fix itself quickly), anything else backs off with full jitter. */
  failed(out: Failure, what: string, requestId: string): number {
    this.consecutiveFailures++
    const message = `${what}: ${out.kind === 'not_modified' ? 'unexpected 304' : out.message}`
    this.error(message)
    if (out.kind === 'auth') {
      this.reachable = true
      if (this.consecutiveFailures === 1)
        this.opts.log.error(`configuration error: the ${this.name} refused our key`, {
          hint: this.name === 'controller' ? 'check CONTROLLER_API_KEY' : 'check WORKER_API_KEY',
          status: out.status,
          request_id: requestId,
        })
      return (this.backoffMs = this.opts.maxMs)
    }
    // An HTTP answer (503, 429, 404...) means the peer is there but failing; no answer means unreachable.
    this.reachable = out.kind !== 'retry' || out.status !== undefined
    const delay = this.#backoff.next(out.kind === 'retry' ? out.retryAfterMs : undefined)
    this.backoffMs = delay
    this.opts.log.warn(`${this.name} call failed; backing off`, { what, error: message, failures: this.consecutiveFailures, retry_in_ms: delay, request_id: requestId })
    return delay
  }
}
