/** What the console hears live (GET /ui/events): a named event with a JSON payload. */
export type ConsoleEvent = { event: 'config' | 'fleet' | 'rollout'; data: unknown }

const encoder = new TextEncoder()
const PING_MS = 15_000

/** Server-sent events to the consoles connected to this replica. Nothing is kept for a console that is
 *  away (EventSource reconnects by itself, and the console re-reads everything when it does). */
export class ConsoleEvents {
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>()

  get size(): number {
    return this.#streams.size
  }

  emit(e: ConsoleEvent): void {
    if (this.#streams.size === 0) return
    const chunk = encoder.encode(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
    for (const c of this.#streams) {
      try {
        c.enqueue(chunk)
      } catch {
        this.#streams.delete(c)
      }
    }
  }

  /** A stream for one console; it ends when the console goes away (`signal`) or `stillValid` says no
   *  at a ping (its session ended). */
  stream(signal: AbortSignal, stillValid: () => Promise<boolean>): Response {
    let ctl: ReadableStreamDefaultController<Uint8Array>
    let timer: Timer | undefined
    const close = () => {
      clearInterval(timer)
      this.#streams.delete(ctl)
      try {
        ctl.close()
      } catch {}
    }
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c
        this.#streams.add(c)
        c.enqueue(encoder.encode(': connected\n\n'))
        timer = setInterval(async () => {
          if (!(await stillValid().catch(() => true))) return close()
          try {
            c.enqueue(encoder.encode(': ping\n\n'))
          } catch {
            close()
          }
        }, PING_MS)
        signal.addEventListener('abort', close, { once: true })
      },
      cancel: close,
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } })
  }
}
