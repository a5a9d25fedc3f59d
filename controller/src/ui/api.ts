/** Calls to the controller's admin API with the session cookie; changing requests carry the CSRF
 *  token (console-api contract). The admin key itself never leaves the sign-in request. */

export type Answer<T = any> = { status: number; body: T; headers: Headers }

/** An answer the page shows as an error: the API's `{error, message, request_id}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly headers: Headers,
  ) {
    super(message)
  }
}

let csrf: string | null = null
let onSignedOut: (why: string) => void = () => {}

export const session = {
  set(token: string | null) {
    csrf = token
  },
  get signedIn() {
    return csrf !== null
  },
  /** Called when a request finds the session gone (401). */
  onEnd(fn: (why: string) => void) {
    onSignedOut = fn
  },
}

type Init = { method?: string; json?: unknown; ifMatch?: string; quiet401?: boolean }

export async function api<T = any>(path: string, init: Init = {}): Promise<Answer<T>> {
  const method = init.method ?? 'GET'
  const headers: Record<string, string> = { accept: 'application/json' }
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['x-csrf-token'] = csrf
  if (init.ifMatch) headers['if-match'] = init.ifMatch
  let res: Response
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', body: init.json === undefined ? undefined : JSON.stringify(init.json) })
  } catch {
    throw new ApiError(0, 'unreachable', 'The controller did not answer. Is it running?', null, new Headers())
  }
  const text = await res.text()
  let body: any = null
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    body = text
  }
  if (res.ok || res.status === 304) return { status: res.status, body, headers: res.headers }
  const err = new ApiError(res.status, body?.error ?? `http_${res.status}`, body?.message ?? (res.statusText || `HTTP ${res.status}`), body?.request_id ?? res.headers.get('x-request-id'), res.headers)
  if (res.status === 401 && !init.quiet401 && csrf !== null) {
    csrf = null
    onSignedOut('Your session has ended. Sign in again.')
  }
  throw err
}

/** A 422's message names the field (`body field "config.url": …`); null when it names none. */
export function fieldOf(e: ApiError): string | null {
  return /field "([^"]+)"/.exec(e.message)?.[1] ?? null
}

export const describe = (e: unknown) =>
  e instanceof ApiError ? `${e.message}${e.code && e.status ? ` (${e.status} ${e.code}${e.requestId ? `, request ${e.requestId}` : ''})` : ''}` : String(e)
