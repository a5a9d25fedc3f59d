/** How a hold is settled: its promise's resolve. */
type Settle<T> = (v: T | null) => void

/** Holds settled per turn of the event loop. Each settled hold becomes an answer written in the same
 *  turn (about 15–20 µs of work each), and the released agents' next polls arrive in the next: a
 *  release of 10,000 at once kept every other request (the hot path, the write's own 201) waiting
 *  for 150+ ms. In slices, they are served in between, a few milliseconds apart at most. The price,
 *  measured by alternating the two in one controller (10,000 agents): about a third more CPU for the
 *  release and its re-armed polls, which now interleave with the answers; a larger slice costs less
 *  but makes each turn, and so the longest wait of any other request, that much longer. */
const SLICE = 256

/** A table of waiters (held long-polls), released all together with a value, or one by one with null
 *  when their time is up or their caller goes away. A hold costs one promise, one set entry and one
 *  abort listener; one sweep timer (running only while something is held) ends the holds whose time
 *  is up, so thousands of holds do not mean thousands of timers. */
export class Holds<T> {
  readonly #buckets = new Map<number, Set<Settle<T>>>()
  #count = 0
  #timer: Timer | undefined

  constructor(private readonly tickMs = 100) {}

  /** Holds right now: exactly the callers still waiting. */
  get size(): number {
    return this.#count
  }

  /** Resolves with the released value, or with null when `ms` runs out (to within one tick) or
   *  `signal` aborts (the caller went away; the hold is gone at once). */
  hold(ms: number, signal?: AbortSignal): Promise<T | null> {
    if (signal?.aborted) return Promise.resolve(null)
    const due = Math.ceil((performance.now() + ms) / this.tickMs)
    let bucket = this.#buckets.get(due)
    if (!bucket) this.#buckets.set(due, (bucket = new Set()))
    const { promise, resolve } = Promise.withResolvers<T | null>()
    bucket.add(resolve)
    this.#count++
    // The listener is never removed: removing it cost more than all the rest of a hold (a profile of
    // a 10,000-agent release: 5% of the controller's CPU). Once the hold has left its bucket it does
    // nothing, and it goes away with the request.
    signal?.addEventListener('abort', () => this.#abandon(due, bucket, resolve), { once: true })
    this.#timer ??= setInterval(() => this.#sweep(), this.tickMs)
    return promise
  }

  /** The caller of a hold went away: the hold ends now, unless a release or the sweep took it already
   *  (its bucket is no longer the table's; a release settles it very soon). */
  #abandon(due: number, bucket: Set<Settle<T>>, settle: Settle<T>) {
    if (this.#buckets.get(due) !== bucket || !bucket.delete(settle)) return
    this.#count--
    if (bucket.size === 0) this.#buckets.delete(due)
    this.#stopIfIdle()
    settle(null)
  }

  /** Release every hold with `value` (null: with nothing new, as when the time is up). They stop
   *  counting at once (holds made from now on are a later release's); they are settled SLICE at a time,
   *  one slice per turn of the event loop, the first one now. */
  release(value: T | null): void {
    if (this.#count === 0) return
    const all: Settle<T>[] = []
    // Each bucket is emptied as it is copied: the abort listeners (never removed) keep their bucket
    // alive, which must not keep every released hold's promise with it.
    for (const bucket of this.#buckets.values()) {
      for (const settle of bucket) all.push(settle)
      bucket.clear()
    }
    this.#buckets.clear()
    this.#count = 0
    this.#stopIfIdle()
    const settle = (from: number) => {
      const to = Math.min(all.length, from + SLICE)
      for (let i = from; i < to; i++) all[i]!(value)
      if (to < all.length) setImmediate(settle, to)
    }
    settle(0)
  }

  #sweep() {
    const now = performance.now() / this.tickMs
    for (const [due, bucket] of this.#buckets) {
      if (due > now) continue
      this.#buckets.delete(due)
      this.#count -= bucket.size
      for (const settle of bucket) settle(null)
      bucket.clear()
    }
    this.#stopIfIdle()
  }

  #stopIfIdle() {
    if (this.#count === 0 && this.#timer) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}
