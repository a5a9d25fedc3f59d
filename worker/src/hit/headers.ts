/** The upstream response fields GET /hit passes on: what describes the body and how to cache it, and
 *  where a redirect points. Anything else (Set-Cookie, Strict-Transport-Security, an upstream's
 *  internal debug fields) belongs to the upstream's own clients, not to ours. */
export const PASSED_HEADERS = [
  'content-type',
  'content-encoding',
  'content-language',
  'content-disposition',
  'cache-control',
  'etag',
  'last-modified',
  'expires',
  'vary',
  'location',
  'retry-after',
] as const

/** The allowed fields of `from`, plus the request id. */
export function passedHeaders(from: Headers, requestId: string): Headers {
  const out = new Headers({ 'x-request-id': requestId })
  for (const name of PASSED_HEADERS) {
    const v = from.get(name)
    if (v !== null) out.set(name, v)
  }
  return out
}
