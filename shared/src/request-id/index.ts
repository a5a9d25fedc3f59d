const SANE = /^[A-Za-z0-9._:\-]{1,128}$/

/** Honour an incoming X-Request-Id when it is short and plain (it ends up in logs), else make one. */
export function requestIdFrom(headers: Headers): string {
  const incoming = headers.get('x-request-id')
  return incoming !== null && SANE.test(incoming) ? incoming : crypto.randomUUID()
}
