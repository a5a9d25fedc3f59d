/** Exponential backoff with full jitter: delay = random(0, min(cap, base · 2^attempt)), reset on success.
 *  (AWS Architecture blog, "Exponential Backoff and Jitter".) One instance per target. */
export class Backoff {
  #attempt = 0
  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last success. */
  get failures(): number {
    return this.#attempt
  }

  /** The delay before the next try; a Retry-After from the server raises it, up to the cap (a proxy
   *  answering "Retry-After: 86400" must not park the agent for a day). */
  next(retryAfterMs?: number): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.#attempt, 30))
    this.#attempt++
    const delay = Math.floor(this.random() * ceiling)
    return retryAfterMs !== undefined ? Math.min(this.capMs, Math.max(delay, retryAfterMs)) : delay
  }

  reset(): void {
    this.#attempt = 0
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** Spread a fleet: `ms` ± `fraction`. */
export const jitter = (ms: number, fraction = 0.1, random: () => number = Math.random) => Math.max(0, Math.round(ms * (1 + fraction * (2 * random() - 1))))
