/** A userspace TCP fault proxy (`tc netem` is not available here): every byte between a client and its
 *  target goes through it, and a test switches its mode at run time:
 *
 *  - `pass`: bytes flow (what was held or delayed is delivered first, in order);
 *  - `latency`: every chunk, both ways, is delivered `ms` later (order kept);
 *  - `stall`: bytes are held in both directions, closes too, and delivered late once the mode changes
 *    (a congested network that heals: also what a client sent before it gave up);
 *  - `reset`: every connection is reset (RST) and new ones are reset as soon as they open;
 *  - `drop-after`: each connection is cut (FIN both ways) once `bytes` more have passed through it;
 *  - `blackhole`: connections are accepted, every byte swallowed, nothing answered and nothing closed.
 *    A connection that went through a blackhole stays dead when the proxy heals (it is half-open from
 *    the client's view: only the client's own timeout ends it); new connections pass again.
 *
 *  It counts connections and HTTP request starts, so a test can tell how often a client tried. */
import { onCleanup } from '../harness'

export type ProxyMode =
  | { kind: 'pass' }
  | { kind: 'latency'; ms: number }
  | { kind: 'stall' }
  | { kind: 'reset' }
  | { kind: 'drop-after'; bytes: number }
  | { kind: 'blackhole' }

type Item = { at: number; chunk: Uint8Array | null } // null: the sender closed
type Lane = { queue: Item[]; out: Uint8Array[]; timer?: Timer; ending: boolean }
type Conn = {
  client: Bun.Socket<Conn>
  upstream?: Bun.Socket<undefined>
  up: Lane
  down: Lane
  dead: boolean
  passed: number
  requests: number
  clientClosed: boolean
  upstreamClosed: boolean
}

const HTTP_START = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \//

export type FaultProxy = Awaited<ReturnType<typeof faultProxy>>

export async function faultProxy(target: { host: string; port: number }, name = 'proxy') {
  const conns = new Set<Conn>()
  let mode: ProxyMode = { kind: 'pass' }
  let opened = 0
  let closedAttempts = 0 // attempts of connections already gone
  let stopped = false
  const lane = (): Lane => ({ queue: [], out: [], ending: false })

  const attemptsOf = (c: Conn) => Math.max(1, c.requests)
  const forget = (c: Conn) => {
    if (!conns.delete(c)) return
    closedAttempts += attemptsOf(c)
    clearTimeout(c.up.timer)
    clearTimeout(c.down.timer)
  }
  const maybeForget = (c: Conn) => {
    if (c.clientClosed && (c.upstreamClosed || !c.upstream)) forget(c)
  }
  const kill = (c: Conn) => {
    try {
      c.client.terminate()
    } catch {}
    try {
      c.upstream?.terminate()
    } catch {}
    c.clientClosed = c.upstreamClosed = true
    forget(c)
  }
  const swallow = (c: Conn) => {
    c.dead = true
    for (const l of [c.up, c.down]) {
      clearTimeout(l.timer)
      l.queue = []
      l.out = []
    }
  }

  // Write `chunk` to `sock`, keeping what the socket did not take for its drain event.
  const write = (sock: Bun.Socket<any>, l: Lane, chunk: Uint8Array) => {
    if (l.out.length) return void l.out.push(chunk)
    let n = 0
    try {
      n = sock.write(chunk)
    } catch {
      return
    }
    if (n >= 0 && n < chunk.length) l.out.push(chunk.subarray(n))
  }
  const drain = (sock: Bun.Socket<any>, l: Lane) => {
    while (l.out.length) {
      const chunk = l.out[0]!
      let n = 0
      try {
        n = sock.write(chunk)
      } catch {
        l.out = []
        break
      }
      if (n < 0) return
      if (n < chunk.length) {
        l.out[0] = chunk.subarray(n)
        return
      }
      l.out.shift()
    }
    if (l.ending) sock.end()
  }

  // Deliver what is due on one lane, in order, unless stalled or swallowed.
  const pump = (c: Conn, dir: 'up' | 'down') => {
    const l = c[dir]
    const sock = dir === 'up' ? c.upstream : c.client
    clearTimeout(l.timer)
    if (c.dead || mode.kind === 'stall' || !sock || !conns.has(c)) return
    while (l.queue.length) {
      const head = l.queue[0]!
      const wait = head.at - Date.now()
      if (wait > 0) {
        l.timer = setTimeout(() => pump(c, dir), wait)
        return
      }
      l.queue.shift()
      if (head.chunk === null) {
        l.ending = true
        if (!l.out.length) sock.end()
        continue
      }
      let chunk = head.chunk
      if (mode.kind === 'drop-after' && c.passed + chunk.length >= mode.bytes) {
        chunk = chunk.subarray(0, Math.max(0, mode.bytes - c.passed))
        c.passed = mode.bytes
        if (chunk.length) write(sock, l, chunk)
        // The connection breaks here: whatever was written arrives, then both sides see it end.
        c.client.end()
        c.upstream?.end()
        swallow(c)
        return
      }
      c.passed += chunk.length
      write(sock, l, chunk)
    }
  }
  const enqueue = (c: Conn, dir: 'up' | 'down', chunk: Uint8Array | null) => {
    if (c.dead) return
    const at = Date.now() + (mode.kind === 'latency' ? mode.ms : 0)
    c[dir].queue.push({ at, chunk })
    if (c[dir].queue.length === 1) pump(c, dir)
  }

  const connectUpstream = (c: Conn) => {
    Bun.connect({
      hostname: target.host,
      port: target.port,
      socket: {
        open(up) {
          c.upstream = up
          if (!conns.has(c)) return void up.end()
          pump(c, 'up')
        },
        data(_up, chunk) {
          enqueue(c, 'down', new Uint8Array(chunk))
        },
        drain(up) {
          drain(up, c.up)
        },
        close() {
          if (c.upstreamClosed) return
          c.upstreamClosed = true
          enqueue(c, 'down', null) // a swallowed connection is never closed towards its client
          maybeForget(c)
        },
        error() {},
      },
    }).catch(() => {
      // The target is not there: the client sees its connection accepted, then closed.
      c.upstreamClosed = true
      if (!c.dead) c.client.end()
      maybeForget(c)
    })
  }

  const server = Bun.listen<Conn>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        opened++
        const c: Conn = { client, up: lane(), down: lane(), dead: false, passed: 0, requests: 0, clientClosed: false, upstreamClosed: false }
        client.data = c
        conns.add(c)
        if (mode.kind === 'reset') return kill(c)
        if (mode.kind === 'blackhole') return swallow(c)
        connectUpstream(c)
      },
      data(client, chunk) {
        const c = client.data
        if (HTTP_START.test(String.fromCharCode(...chunk.subarray(0, 8)))) c.requests++
        enqueue(c, 'up', new Uint8Array(chunk))
      },
      drain(client) {
        drain(client, client.data.down)
      },
      close(client) {
        const c = client.data
        if (c.clientClosed) return
        c.clientClosed = true
        if (c.dead) c.upstream?.end()
        else enqueue(c, 'up', null)
        maybeForget(c)
      },
      error() {},
    },
  })

  const proxy = {
    name,
    port: server.port,
    host: '127.0.0.1',
    url: `http://127.0.0.1:${server.port}`,
    get mode(): ProxyMode {
      return mode
    },
    /** Switch to `next`: applies to the connections open now and to new ones. */
    set(next: ProxyMode) {
      mode = next
      for (const c of [...conns]) {
        if (next.kind === 'reset') kill(c)
        else if (next.kind === 'blackhole') swallow(c)
        else {
          if (next.kind === 'drop-after') c.passed = 0
          pump(c, 'up')
          pump(c, 'down')
        }
      }
    },
    /** Back to `pass`: what was held is delivered; swallowed connections stay dead. */
    heal() {
      proxy.set({ kind: 'pass' })
    },
    /** Connections accepted so far. */
    get connections() {
      return opened
    },
    /** How often clients tried: HTTP requests started, counting a connection that carried none as one
     *  (a connection reset at once still was an attempt). */
    get attempts() {
      let n = closedAttempts
      for (const c of conns) n += attemptsOf(c)
      return n
    },
    /** Connections open through the proxy right now (swallowed ones included). */
    get open() {
      return conns.size
    },
    close() {
      if (stopped) return
      stopped = true
      server.stop(true)
      for (const c of [...conns]) kill(c)
    },
  }
  onCleanup(() => proxy.close())
  return proxy
}
