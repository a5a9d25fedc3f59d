/** The /hit baseline: a bare Bun.serve whose fetch calls the upstream with Bun's fetch and returns its
 *  Response as it is — no timeout, no cancel, no cap, no header filtering, no counting. What the worker
 *  adds on top of the runtime's own client is measured against this. */
const upstream = process.env.UPSTREAM
if (!upstream) throw new Error('UPSTREAM must be set')

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 75,
  fetch: () => fetch(upstream),
})
console.log(`bare-proxy listening on ${server.port}`)

export {} // a module, not a script: its names stay its own
