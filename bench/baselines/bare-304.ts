/** The hot-path baseline: a bare Bun.serve that does the controller's header check (the bearer key and
 *  If-None-Match against the current ETag) and answers the identical 304 — the same headers, a fresh
 *  request id — and nothing else: 304 when If-None-Match is the ETag, else 200 with the document (BODY). */
const key = process.env.KEY
const etag = process.env.ETAG
const body = process.env.BODY
if (!key || !etag || !body) throw new Error('KEY, ETAG and BODY must be set')
const expected = `Bearer ${key}`

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 90,
  fetch(req) {
    const id = crypto.randomUUID()
    if (req.headers.get('authorization') !== expected) return new Response('{"error":"unauthorized"}', { status: 401, headers: { 'x-request-id': id } })
    const headers = { etag, 'cache-control': 'no-cache', 'x-poll-interval': '5', 'x-request-id': id }
    if (req.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers })
    return new Response(body, { headers: { etag, 'cache-control': 'no-cache', 'content-type': 'application/json', 'x-poll-interval': '5', 'x-request-id': id } })
  },
})
console.log(`bare-304 listening on ${server.port}`)
export {}
