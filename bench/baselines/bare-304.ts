/** The hot-path baseline: a bare Bun.serve that does the controller's header check (the bearer key and
 *  If-None-Match against the current ETag) and answers 304 with the same headers, and nothing else. */
const key = process.env.KEY
const etag = process.env.ETAG
if (!key || !etag) throw new Error('KEY and ETAG must be set')
const expected = `Bearer ${key}`
const headers = { etag, 'cache-control': 'no-cache', 'x-poll-interval': '5' }

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 90,
  fetch(req) {
    if (req.headers.get('authorization') !== expected) return new Response('{"error":"unauthorized"}', { status: 401 })
    if (req.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers })
    return new Response('{}', { headers: { ...headers, 'content-type': 'application/json' } })
  },
})
console.log(`bare-304 listening on ${server.port}`)
