/** What a loop step asks for: run again after `ms`, or sleep until kicked. */
export type Next = { readonly kind: 'after'; readonly ms: number } | { readonly kind: 'sleep' }

/** The longest wait a step may ask for: far below setTimeout's 2^31 − 1 ms, beyond which it fires at once. */
export const MAX_WAIT_MS = 3_600_000

export const after = (ms: number): Next => ({ kind: 'after', ms: Math.min(MAX_WAIT_MS, Math.max(0, Math.round(ms))) })
export const sleep: Next = { kind: 'sleep' }

/** A loop of `step` calls chained by setTimeout from a finally (never setInterval). kick() runs it now,
 *  or right after the current run. */
export class Loop {
  #timer: Timer | undefined
  #running = false
  #again = false
  #stopped = false

  constructor(
    private readonly step: () => Promise<Next>,
    private readonly onCrash: (e: unknown) => Next,
  ) {}

  start(): void {
    this.#schedule(0)
  }

  kick(): void {
    if (this.#stopped) return
    if (this.#running) this.#again = true
    else this.#schedule(0)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #schedule(ms: number) {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#run(), ms)
  }

  async #run() {
    this.#running = true
    let next: Next = sleep
    try {
      next = await this.step()
    } catch (e) {
      next = this.onCrash(e)
    } finally {
      this.#running = false
      if (!this.#stopped) {
        if (this.#again) {
          this.#again = false
          next = after(0)
        }
        if (next.kind === 'after') this.#schedule(next.ms)
      }
    }
  }
}
