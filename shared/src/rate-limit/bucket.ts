/** A token bucket's state: `tokens` as of `at` (epoch ms). */
export type BucketState = { tokens: number; at: number }

/** The state refilled up to `now` at `perMinute`, never above `capacity`. */
export function refill(s: BucketState, now: number, perMinute: number, capacity: number): BucketState {
  if (now > s.at) {
    s.tokens = Math.min(capacity, s.tokens + ((now - s.at) * perMinute) / 60_000)
    s.at = now
  }
  return s
}

/** Milliseconds until the bucket holds one whole token again (0 when it does). */
export const msUntilToken = (s: BucketState, perMinute: number) => (s.tokens >= 1 ? 0 : Math.ceil(((1 - s.tokens) * 60_000) / perMinute))

/** One token bucket: `perMinute` tokens a minute, at most `burst` saved up. */
export class TokenBucket {
  readonly #s: BucketState

  constructor(
    private readonly perMinute: number,
    private readonly burst = perMinute,
    private readonly now: () => number = Date.now,
  ) {
    this.#s = { tokens: burst, at: now() }
  }

  /** Take a token; false (and nothing taken) when there is none. */
  take(): boolean {
    const s = refill(this.#s, this.now(), this.perMinute, this.burst)
    if (s.tokens < 1) return false
    s.tokens--
    return true
  }

  /** Put back a token taken for something that did not happen. */
  give(): void {
    this.#s.tokens = Math.min(this.burst, this.#s.tokens + 1)
  }

  /** Milliseconds until a token is there. */
  get retryAfterMs(): number {
    return msUntilToken(refill(this.#s, this.now(), this.perMinute, this.burst), this.perMinute)
  }
}
