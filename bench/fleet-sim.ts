/** K simulated agents in one process, for fleet.ts. Each is one kept-alive TCP connection looping
 *  `GET /config?wait=30` with If-None-Match, straight back after a 200 or a 304, as the agent does with
 *  long-poll on. Raw sockets: fetch caps concurrent requests per process and costs more per request.
 *
 *  Over IPC:  → {cmd:'hold'}   ← {event:'sent'}    (all K polls written)
 *             → {cmd:'write'}  ← {event:'result'}  (one POST /config, until all K have its ETag)
 *  Every wait has a deadline, and the process gives up after 120 s whatever happens. */
const K = Number(process.env.K)
const PORT = Number(process.env.CONTROLLER_PORT)
// Where the write goes: the controller by default; replicas.ts sends it to one replica, past HAProxy.
const WRITE_URL = process.env.WRITE_URL ?? `http://127.0.0.1:${PORT}`
const BATCH = 250 // connections opened at a time: a burst of thousands overflows the accept backlog
setTimeout(() => process.exit(3), 120_000).unref()

type Agent = { i: number; etag: string; buf: string; socket?: Bun.Socket<Agent>; at: number }
const agents: Agent[] = []
const send = (m: object) => process.send!(m)
let target: string | null = null // the ETag of the write being waited for
let updated = 0
let errors = 0
let lastError = ''
let older = 0 // 200s with an older version than the agent holds: a replica that had not heard of the newest yet
let allUpdated = () => {}

function poll(a: Agent) {
  const head = `Host: 127.0.0.1:${PORT}\r\nAuthorization: Bearer ${process.env.AGENT_KEY}\r\nX-Agent-Id: sim-${a.i}\r\nIf-None-Match: ${a.etag}`
  a.socket!.write(`GET /config?wait=30 HTTP/1.1\r\n${head}\r\n\r\n`)
}

/** Read every complete answer in the buffer (Content-Length bodies), then poll again. */
function onData(a: Agent, chunk: Uint8Array) {
  a.buf += Buffer.from(chunk).toString()
  for (let end; (end = a.buf.indexOf('\r\n\r\n')) !== -1; ) {
    const head = a.buf.slice(0, end)
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
    if (a.buf.length < end + 4 + length) return
    a.buf = a.buf.slice(end + 4 + length)
    const status = Number(head.slice(9, 12))
    if (status === 200) {
      const tag = /\r\netag:\s*(.+)/i.exec(head)?.[1]?.trim() ?? a.etag
      // As the agent does: versions only move forward ("<version>-…" tags); an older one (a replica
      // that has not heard of the newest yet) is left, and the poll comes back after the interval.
      if (parseInt(tag.slice(1)) < parseInt(a.etag.slice(1))) {
        older++
        setTimeout(() => poll(a), 5000).unref()
        continue
      }
      a.etag = tag
      // Answers that beat the POST's own answer are counted when it arrives, at the time they came.
      if (a.at === 0) a.at = performance.now()
      if (a.etag === target && ++updated === K) allUpdated()
    } else if (status !== 304) {
      errors++
      lastError = head.split('\r\n')[0]!
    }
    poll(a)
  }
}

const connect = async (a: Agent) => {
  a.socket = await Bun.connect<Agent>({
    hostname: '127.0.0.1',
    port: PORT,
    data: a,
    socket: { data: (s, chunk) => onData(s.data, chunk), error: (_, e) => void ((errors++), (lastError = String(e))) },
  })
}

const within = <T>(ms: number, what: string, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())])

async function hold() {
  const res = await fetch(`http://127.0.0.1:${PORT}/config`, { headers: { authorization: `Bearer ${process.env.AGENT_KEY}` } })
  const etag = res.headers.get('etag')
  await res.arrayBuffer()
  if (res.status !== 200 || !etag) throw new Error(`GET /config answered ${res.status}`)
  const t0 = performance.now()
  for (let i = 0; i < K; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, K - i) }, (_, j): Agent => ({ i: i + j, etag, buf: '', at: 0 }))
    await within(20_000, 'opening connections', Promise.all(batch.map(connect)))
    batch.forEach(poll)
    agents.push(...batch)
  }
  send({ event: 'sent', ms: performance.now() - t0, errors, lastError })
}

async function write() {
  const all = new Promise<void>((resolve) => (allUpdated = resolve))
  for (const a of agents) a.at = 0
  const t0 = performance.now()
  const res = await fetch(`${WRITE_URL}/config`, {
    method: 'POST',
    headers: { authorization: `Bearer ${process.env.ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:1/fleet-${K}-${Date.now()}` }),
  })
  const writeMs = performance.now() - t0
  target = res.headers.get('etag')
  await res.arrayBuffer()
  if (res.status !== 201 || !target) throw new Error(`POST /config answered ${res.status}`)
  updated = agents.filter((a) => a.etag === target).length
  if (updated < K) await within(10_000, `all ${K} agents updated (${updated} so far)`, all).catch((e) => ((errors++), (lastError = String(e))))
  const times = agents.filter((a) => a.etag === target).map((a) => a.at - t0).sort((x, y) => x - y)
  send({ event: 'result', updated, lastMs: times.at(-1) ?? NaN, p50Ms: times[times.length >> 1] ?? NaN, writeMs, errors, lastError, older })
  for (const a of agents) a.socket?.end()
}

process.on('message', (m: { cmd: string }) => {
  const step = m.cmd === 'hold' ? hold : write
  step().catch((e) => send({ event: 'error', message: String((e as Error).stack ?? e) }))
})
send({ event: 'ready' })
