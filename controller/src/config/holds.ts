type Entry<T> = { settle: (v: T | null) => void; due: number }

/** A table of waiters (held long-polls), released all at once with a value, or one by one with null
 *  when their time is up or their caller goes away. A hold costs one promise and one set entry; one
 *  sweep timer (running only while something is held) ends the holds whose time is up, so thousands of
 *  holds do not mean thousands of timers. */
export class Holds<T> {
  readonly #buckets = new Map<number, Set<Entry<T>>>()
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
    return new Promise((resolve) => {
      let bucket = this.#buckets.get(due)
      if (!bucket) this.#buckets.set(due, (bucket = new Set()))
      const onAbort = () => {
        if (bucket.delete(entry)) {
          this.#count--
          if (bucket.size === 0 && this.#buckets.get(due) === bucket) this.#buckets.delete(due)
          this.#stopIfIdle()
          resolve(null)
        }
      }
      const entry: Entry<T> = {
        due,
        settle: (v) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(v)
        },
      }
      bucket.add(entry)
      this.#count++
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#timer ??= setInterval(() => this.#sweep(), this.tickMs)
    })
  }

  /** Release every hold with `value` (null: with nothing new, as when the time is up). */
  release(value: T | null): void {
    const all = [...this.#buckets.values()]
    this.#buckets.clear()
    this.#count = 0
    this.#stopIfIdle()
    for (const bucket of all) for (const e of bucket) e.settle(value)
  }

  #sweep() {
    const now = performance.now() / this.tickMs
    for (const [due, bucket] of this.#buckets) {
      if (due > now) continue
      this.#buckets.delete(due)
      this.#count -= bucket.size
      for (const e of bucket) e.settle(null)
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
