/** Simulated agents FROM … TO-1 in one process, for fleet.ts (a large fleet is spread over a few of these
 *  processes). Each is one kept-alive TCP connection looping `GET /config?wait=30` with the headers a
 *  registered agent sends — its own token, X-Agent-Id, X-Applied-Version, If-None-Match, X-Request-Id —
 *  straight back after a 200 or a 304, as the agent does with long-poll on. The applied version is the
 *  one the agent holds: a worker that applies at once. Raw sockets: fetch caps concurrent requests per
 *  process and costs more per request.
 *
 *  Over IPC:  → {cmd:'hold', etag}   ← {event:'sent'}    (every agent's first poll written)
 *             → {cmd:'await', etag}  ← {event:'result'}  (every agent got `etag` and polled again)
 *  Times are absolute (performance.timeOrigin + now(), in ms), so fleet.ts can set them against its
 *  own. Every wait has a deadline, and the process gives up after 180 s whatever happens; its
 *  connections end with it. */
import { simId, simToken } from './lib/fleet-agents'

const [FROM, TO, PORT] = [Number(process.env.FROM), Number(process.env.TO), Number(process.env.CONTROLLER_PORT)]
const BATCH = 250 // connections opened at a time: a burst of thousands overflows the accept backlog

setTimeout(() => process.exit(3), 180_000).unref()

type Agent = { i: number; auth: string; etag: string; buf: string; socket?: Bun.Socket<Agent>; n: number; at: number; rearmAt: number }

const now = () => performance.timeOrigin + performance.now()
const agents: Agent[] = []
const send = (m: object) => process.send!(m)

let target: string | null = null // the ETag being waited for
let updated = 0
let errors = 0
let lastError = ''
let older = 0 // 200s with an older version than the agent holds: a replica that had not heard of the newest yet
let allUpdated = () => {}
const fail = (why: string): void => {
  errors++
  lastError = why
}

/** The version an ETag names (`"<version>-<hash>"`), as the agent reports what its worker applied. */
const versionOf = (etag: string) => /^"(\d+)-/.exec(etag)?.[1] ?? ''

function poll(a: Agent) {
  const head =
    `GET /config?wait=30 HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nConnection: keep-alive\r\nUser-Agent: Bun/${Bun.version}\r\nAccept: */*\r\n` +
    `Accept-Encoding: gzip, deflate, br, zstd\r\n${a.auth}X-Applied-Version: ${versionOf(a.etag)}\r\nIf-None-Match: ${a.etag}\r\nX-Request-Id: ${simId(a.i)}-${++a.n}\r\n\r\n`
  // Raw sockets do not buffer what the kernel did not take: a short write would be a lost poll.
  if (a.socket!.write(head) !== head.length) fail('short write')
}

/** Read every complete answer in the buffer (Content-Length bodies), then poll again. */
function onData(a: Agent, chunk: Buffer) {
  a.buf += chunk.toString('latin1')
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
      a.at = now()
      poll(a)
      a.rearmAt = now()
      if (a.etag === target && ++updated === TO - FROM) allUpdated()
      continue
    }
    if (status !== 304) fail(head.split('\r\n')[0]!)
    poll(a)
  }
}

const connect = async (a: Agent) => {
  a.socket = await Bun.connect<Agent>({
    hostname: '127.0.0.1',
    port: PORT,
    data: a,
    socket: {
      data: (s, chunk) => onData(s.data, chunk),
      error: (_, e) => fail(String(e)),
      close: (s) => fail(`connection of ${simId(s.data.i)} closed`),
    },
  })
}

const within = <T>(ms: number, what: string, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())])

async function hold(etag: string) {
  const t0 = performance.now()
  for (let i = FROM; i < TO; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, TO - i) }, (_, j): Agent => ({ i: i + j, auth: '', etag, buf: '', n: 0, at: 0, rearmAt: 0 }))
    for (const a of batch) a.auth = `Authorization: Bearer ${simToken(a.i)}\r\nX-Agent-Id: ${simId(a.i)}\r\n`
    await within(20_000, 'opening connections', Promise.all(batch.map(connect)))
    batch.forEach(poll)
    agents.push(...batch)
  }
  send({ event: 'sent', ms: performance.now() - t0, errors, lastError })
}

async function wait(etag: string) {
  const all = new Promise<void>((resolve) => (allUpdated = resolve))
  target = etag
  updated = agents.filter((a) => a.etag === target).length
  if (updated < agents.length) await within(20_000, `all ${agents.length} agents updated (${updated} so far)`, all).catch((e) => fail(String(e)))
  const got = agents.filter((a) => a.etag === target)
  // The connections stay: the controller is still to count them held again. They end with the process.
  send({ event: 'result', updated, at: got.map((a) => a.at), rearmAt: got.map((a) => a.rearmAt), errors, lastError, older })
}

process.on('message', (m: { cmd: 'hold' | 'await'; etag: string }) => {
  const step = m.cmd === 'hold' ? hold : wait
  step(m.etag).catch((e) => send({ event: 'error', message: String((e as Error).stack ?? e) }))
})
send({ event: 'ready' })
