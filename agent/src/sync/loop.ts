/** What a loop step asks for: run again after `ms`, or sleep until kicked. */
export type Next = { readonly kind: 'after'; readonly ms: number } | { readonly kind: 'sleep' }

/** The longest wait a step may ask for: far below setTimeout's 2^31 − 1 ms, beyond which it fires at once. */
export const MAX_WAIT_MS = 3_600_000

export const after = (ms: number): Next => ({ kind: 'after', ms: Math.min(MAX_WAIT_MS, Math.max(0, Math.round(ms))) })
export const sleep: Next = { kind: 'sleep' }

/** A loop of `step` calls chained by setTimeout from a finally (never setInterval); a step due at once
 *  is chained by setImmediate, since Bun's setTimeout(0) waits about a millisecond (a long-poll re-armed
 *  that much later misses the changes of that millisecond). kick() runs it now, or right after the
 *  current run; runNow() the same, starting it synchronously. */
export class Loop {
  #timer: Timer | undefined
  #immediate: ReturnType<typeof setImmediate> | undefined
  #running = false
  #again = false
  #stopped = false
  #current: Promise<void> | undefined

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

  /** kick(), but a step that is not running starts before this returns, so whatever call it makes first
   *  is under way when the caller goes on. */
  runNow(): void {
    if (this.#stopped) return
    if (this.#running) this.#again = true
    else {
      this.#cancel()
      void this.#run()
    }
  }

  stop(): void {
    this.#stopped = true
    this.#cancel()
  }

  /** stop(), then wait for a step under way to finish. */
  async settle(): Promise<void> {
    this.stop()
    await this.#current
  }

  #schedule(ms: number) {
    this.#cancel()
    if (ms === 0) this.#immediate = setImmediate(() => void this.#run())
    else this.#timer = setTimeout(() => void this.#run(), ms)
  }

  #cancel() {
    clearTimeout(this.#timer)
    clearImmediate(this.#immediate)
  }

  #run(): Promise<void> {
    return (this.#current = this.#runStep())
  }

  async #runStep() {
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
