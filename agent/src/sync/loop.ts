/** A loop of `step` calls chained by setTimeout from a finally (never setInterval): `step` returns the
 *  delay before the next run, or null to sleep until kick(). kick() runs it now, or right after the
 *  current run. */
export class Loop {
  #timer: Timer | undefined
  #running = false
  #again = false
  #stopped = false

  constructor(
    private readonly step: () => Promise<number | null>,
    private readonly onCrash: (e: unknown) => number,
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
    let delay: number | null = null
    try {
      delay = await this.step()
    } catch (e) {
      delay = this.onCrash(e)
    } finally {
      this.#running = false
      if (!this.#stopped) {
        if (this.#again) {
          this.#again = false
          delay = 0
        }
        if (delay !== null) this.#schedule(delay)
      }
    }
  }
}
