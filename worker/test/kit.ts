/** What the worker's end-to-end tests share: its keys, documents, and upstream stubs that hold. */
import { call, onCleanup, upstreamStub, type Service } from '../../test/harness'

export const KEY = 'worker-key-1'
export const env = { AGENT_API_KEY: `${KEY},worker-key-2` }
export const STORE = 'store-test-1'
export const UPDATED = '2026-01-01T00:00:00.000Z'
const enc = new TextEncoder()

export const doc = (version: number, url: string, extra: Record<string, unknown> = {}) => ({ version, store_id: STORE, url, updated_at: UPDATED, ...extra })
export const apply = (w: Service, body: unknown, key: string | null = KEY) => call(`${w.url}/config`, { method: 'POST', key: key ?? undefined, json: body })
export const hit = (w: Service, headers: Record<string, string> = {}) => call(`${w.url}/hit`, { headers })
export const errorOf = (r: { status: number; body: any }) => ({ status: r.status, error: r.body?.error })
export const state = async (w: Service) => (await call(`${w.url}/state`)).body

/** A promise the test resolves by hand; resolved at the end of the run at the latest, so nothing hangs. */
export function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  onCleanup(() => open())
  return { opened, open }
}

/** An upstream that sends `first`, then holds the body open until the gate opens. */
export function chunkedStub(name: string, first: string, rest: string, until: Promise<void>) {
  return upstreamStub(name, () =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode(first))
          await until
          try {
            c.enqueue(enc.encode(rest))
            c.close()
          } catch {} // the reader went away (e.g. the worker timed out)
        },
      }),
      { headers: { 'content-type': 'text/plain; charset=utf-8' } },
    ),
  )
}

/** An upstream that holds every call until `release()`: counts the calls it received and those whose
 *  caller (the worker) cancelled them. */
export function holdingUpstream(name: string) {
  const held = gate()
  let received = 0
  let aborted = 0
  const stub = upstreamStub(name, async (req) => {
    received++
    req.signal.addEventListener('abort', () => aborted++)
    await held.opened
    return new Response('done')
  })
  return { url: stub.url, received: () => received, aborted: () => aborted, release: held.open }
}
