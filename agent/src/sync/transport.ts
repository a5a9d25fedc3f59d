import { retryAfterMs } from '../backoff'

/** The `fetch` the agent calls: the real one, or a scripted one in tests. */
export type Transport = (url: string, init: RequestInit) => Promise<Response>

/** What a call to the controller or the worker came to, as the loops act on it. */
export type Outcome =
  | { kind: 'ok'; res: Response }
  | { kind: 'not_modified'; res: Response }
  /** 401/403: a configuration error; retried slowly, never hammered. */
  | { kind: 'auth'; status: number; message: string; code?: string }
  /** No answer (network error, timeout): `status` absent. 5xx or 429: back off, honouring Retry-After. */
  | { kind: 'retry'; message: string; retryAfterMs?: number; status?: number; code?: string }
  /** Any other 4xx: the peer refused this request. */
  | { kind: 'rejected'; status: number; message: string; code?: string }

export type Failure = Exclude<Outcome, { kind: 'ok' }>

/** Make one HTTP call through `transport` and classify the result; never throws. The call carries
 *  `requestId` as X-Request-Id, so the agent's log lines and the peer's line for the same call share it. */
export async function send(
  transport: Transport,
  url: string,
  init: RequestInit & { headers?: Record<string, string> },
  timeoutMs: number,
  requestId: string,
  now: () => number,
): Promise<Outcome> {
  let res: Response
  try {
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)
    res = await transport(url, { ...init, headers: { ...init.headers, 'x-request-id': requestId }, signal })
  } catch (e) {
    const err = e as Error
    return { kind: 'retry', message: err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : err.message }
  }
  const s = res.status
  if (s === 304) return { kind: 'not_modified', res }
  if (s >= 200 && s < 300) return { kind: 'ok', res }
  // Read the error body whole (it is small), which also hands the connection back to the pool.
  const body = (await res.json().catch(() => null)) as { error?: unknown; message?: unknown } | null
  const code = typeof body?.error === 'string' ? body.error.slice(0, 100) : undefined
  const detail = typeof body?.message === 'string' ? body.message.slice(0, 300) : ''
  const message = `HTTP ${s}${code ? ` ${code}: ${detail}` : ''}`
  if (s === 401 || s === 403) return { kind: 'auth', status: s, message, code }
  if (s === 429 || s >= 500) return { kind: 'retry', message, status: s, code, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), now()) }
  return { kind: 'rejected', status: s, message, code }
}
