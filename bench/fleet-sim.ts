/** A fleet of K simulated agents in one process, for bench/fleet.ts. Each agent is one kept-alive TCP
 *  connection that loops `GET /config?wait=30` with If-None-Match, straight back after a 200 or a 304,
 *  as the real agent does with long-poll on. Raw sockets rather than fetch: fetch caps concurrent
 *  requests per process (BUN_CONFIG_MAX_HTTP_REQUESTS, 256 by default) and costs more per request.
 *
 *  Driven over IPC by the parent:  → {cmd:'hold'}   ← {event:'sent'}      (all K polls written)
 *                                  → {cmd:'write'}  ← {event:'result',…}  (one write, all K updated)
 *  Every wait has a deadline; the process exits after the result, or after 120 s whatever happens. */
const env = process.env
const K = Number(env.K)
const PORT = Number(env.CONTROLLER_PORT)
const HOST = '127.0.0.1'
const WAIT = Number(env.WAIT ?? 30)
const KEY = env.AGENT_KEY!
const ADMIN_KEY = env.ADMIN_KEY!
const BATCH = 250 // connections opened at a time: a burst of thousands overflows the accept backlog

setTimeout(() => {
  console.error('fleet-sim: 120 s limit reached; exiting')
  process.exit(3)
}, 120_000).unref()

const send = (m: object) => process.send!(m)
const enc = new TextEncoder()
const dec = new TextDecoder()

type Agent = { i: number; etag: string; buf: string; socket: Bun.Socket<Agent> | null; changedAt: number; updatedAt: number; polls: number; closed: boolean }

let target: string | null = null // the ETag of the write being waited for
let updated = 0
let errors = 0
let lastError = ''
let onAllUpdated: (() => void) | null = null
let sent = 0

function request(a: Agent): string {
  return `GET /config?wait=${WAIT} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nAuthorization: Bearer ${KEY}\r\nX-Agent-Id: sim-${a.i}\r\nIf-None-Match: ${a.etag}\r\n\r\n`
}

function poll(a: Agent) {
  a.polls++
  a.socket!.write(enc.encode(request(a)))
  sent++
}

/** Consume every complete response in the agent's buffer (HTTP/1.1, Content-Length bodies). */
function onData(a: Agent, chunk: Uint8Array) {
  a.buf += dec.decode(chunk)
  for (;;) {
    const end = a.buf.indexOf('\r\n\r\n')
    if (end === -1) return
    const head = a.buf.slice(0, end)
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) throw new Error('chunked answers are not expected from GET /config')
    if (a.buf.length < end + 4 + length) return
    a.buf = a.buf.slice(end + 4 + length)
    const status = Number(head.slice(9, 12))
    if (status === 200) {
      const etag = /\r\netag:\s*(.+)/i.exec(head)?.[1]?.trim()
      if (etag) a.etag = etag
      a.changedAt = performance.now()
      if (target !== null && etag === target && a.updatedAt === 0) {
        a.updatedAt = performance.now()
        if (++updated === K) onAllUpdated?.()
      }
    } else if (status !== 304) {
      errors++
      lastError = head.split('\r\n')[0]!
    }
    poll(a) // straight back, as the agent does after a change or a held poll
  }
}

async function connect(a: Agent): Promise<void> {
  a.socket = await Bun.connect<Agent>({
    hostname: HOST,
    port: PORT,
    data: a,
    socket: {
      data: (s, chunk) => onData(s.data, chunk),
      close: (s) => {
        s.data.closed = true
      },
      error: (s, e) => {
        errors++
        lastError = String(e)
        s.data.closed = true
      },
    },
  })
}

async function deadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let t: Timer | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))])
  } finally {
    clearTimeout(t)
  }
}

const agents: Agent[] = []

async function hold() {
  // The current ETag, as an agent has it after its first poll.
  const res = await fetch(`http://${HOST}:${PORT}/config`, { headers: { authorization: `Bearer ${KEY}` } })
  const etag = res.headers.get('etag')
  await res.arrayBuffer()
  if (res.status !== 200 || !etag) throw new Error(`GET /config answered ${res.status}`)
  const t0 = performance.now()
  for (let i = 0; i < K; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, K - i) }, (_, j) => ({ i: i + j, etag, buf: '', socket: null, changedAt: 0, updatedAt: 0, polls: 0, closed: false }) as Agent)
    await deadline('opening connections', 20_000, Promise.all(batch.map(connect)))
    for (const a of batch) poll(a)
    agents.push(...batch)
  }
  send({ event: 'sent', ms: performance.now() - t0, errors, lastError })
}

async function write() {
  const all = new Promise<void>((resolve) => (onAllUpdated = resolve))
  const t0 = performance.now()
  const res = await fetch(`http://${HOST}:${PORT}/config`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:1/fleet-${K}-${Date.now()}` }),
  })
  // Set before the body is read: answers may already be arriving.
  target = res.headers.get('etag')
  const t201 = performance.now()
  await res.arrayBuffer()
  if (res.status !== 201 || !target) throw new Error(`POST /config answered ${res.status}`)
  // Answers that arrived before the POST's own answer carry the new ETag too: count them, at the time
  // each arrived.
  for (const a of agents)
    if (a.etag === target && a.updatedAt === 0) {
      a.updatedAt = a.changedAt
      updated++
    }
  if (updated < K) await deadline(`all ${K} agents updated (${updated} so far)`, 10_000, all).catch((e) => ((lastError = String(e)), errors++))
  const times = agents.filter((a) => a.updatedAt > 0).map((a) => a.updatedAt - t0).sort((x, y) => x - y)
  const last = times[times.length - 1] ?? NaN
  // Every agent re-polls after its 200: wait (bounded) until each is held again on the new version.
  const repolled = await deadline('re-polls', 5000, (async () => {
    while (agents.some((a) => a.polls < 2)) await Bun.sleep(5)
    return true
  })()).catch(() => false)
  send({
    event: 'result',
    k: K,
    updated,
    fromWriteMs: last,
    from201Ms: last - (t201 - t0),
    p50Ms: times[Math.floor(times.length / 2)] ?? NaN,
    writeMs: t201 - t0,
    repolled,
    closed: agents.filter((a) => a.closed).length,
    errors,
    lastError,
  })
  for (const a of agents) a.socket?.end()
}

process.on('message', (m: { cmd: string }) => {
  const run = m.cmd === 'hold' ? hold : m.cmd === 'write' ? write : null
  if (!run) return
  run().catch((e) => {
    send({ event: 'error', message: String((e as Error).stack ?? e) })
  })
})
send({ event: 'ready' })
