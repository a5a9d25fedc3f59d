import { retryAfterMs } from '../backoff'

/** What a call to the controller or the worker came to, as the loops act on it. */
export type Outcome =
  | { kind: 'ok'; res: Response }
  | { kind: 'not_modified'; res: Response }
  /** 401/403: a configuration error; retried slowly, never hammered. */
  | { kind: 'auth'; status: number; message: string }
  /** Network error, timeout, 5xx, 429: back off (honouring Retry-After). */
  | { kind: 'retry'; message: string; retryAfterMs?: number; status?: number }
  /** Any other 4xx: the peer refused this request. */
  | { kind: 'rejected'; status: number; message: string; res: Response }

export type Failure = Exclude<Outcome, { kind: 'ok' }>

/** Make one HTTP call and classify the result; never throws. The call carries `requestId` as
 *  X-Request-Id, so the agent's log lines and the peer's line for the same call share it. */
export async function send(url: string, init: RequestInit & { headers?: Record<string, string> }, timeoutMs: number, requestId: string): Promise<Outcome> {
  let res: Response
  try {
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)
    res = await fetch(url, { ...init, headers: { ...init.headers, 'x-request-id': requestId }, signal })
  } catch (e) {
    const err = e as Error
    const message = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : err.message
    return { kind: 'retry', message }
  }
  const s = res.status
  if (s === 304) return { kind: 'not_modified', res }
  if (s >= 200 && s < 300) return { kind: 'ok', res }
  const message = `HTTP ${s}${await errorText(res)}`
  if (s === 401 || s === 403) return { kind: 'auth', status: s, message }
  if (s === 429 || s >= 500) return { kind: 'retry', message, status: s, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) }
  return { kind: 'rejected', status: s, message, res }
}

async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.clone().json()) as { error?: string; message?: string }
    return body?.error ? ` ${body.error}: ${body.message ?? ''}` : ''
  } catch {
    return ''
  }
}
