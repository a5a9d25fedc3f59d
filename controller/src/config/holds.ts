import type { Snapshot } from './service'

type Release = (s: Snapshot | null) => void

/** Long-poll holds. A hold costs one promise and one entry in a bucket; a single sweep timer (running
 *  only while something is held) ends holds whose time is up, so thousands of held polls do not mean
 *  thousands of timers. A change releases every hold at once. */
export class Holds {
  readonly #buckets = new Map<number, Release[]>()
  #count = 0
  #timer: Timer | undefined

  constructor(private readonly tickMs = 100) {}

  get size(): number {
    return this.#count
  }

  /** Resolves with the new snapshot on a change, or null when `ms` runs out (to within one tick). */
  hold(ms: number): Promise<Snapshot | null> {
    const due = Math.ceil((performance.now() + ms) / this.tickMs)
    return new Promise((resolve) => {
      let bucket = this.#buckets.get(due)
      if (!bucket) this.#buckets.set(due, (bucket = []))
      bucket.push(resolve)
      this.#count++
      this.#timer ??= setInterval(() => this.#sweep(), this.tickMs)
    })
  }

  /** Release every hold with `s` (null: with nothing new, as when the time is up). */
  release(s: Snapshot | null): void {
    const all = [...this.#buckets.values()]
    this.#buckets.clear()
    this.#count = 0
    this.#stopIfIdle()
    for (const bucket of all) for (const r of bucket) r(s)
  }

  #sweep() {
    const now = performance.now() / this.tickMs
    for (const [due, bucket] of this.#buckets) {
      if (due > now) continue
      this.#buckets.delete(due)
      this.#count -= bucket.length
      for (const r of bucket) r(null)
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
