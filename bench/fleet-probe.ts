/** The hot path seen from outside while a fleet is released, for fleet.ts: one more agent (agent
 *  INDEX) on a connection of its own, in a process of its own, sending a plain `GET /config` with
 *  If-None-Match every millisecond whatever the answers do (pipelined on its kept-alive connection, so
 *  a stall delays every poll sent during it, not just one), timing each answer (a 304, or a 200 after
 *  the change). A stalled event loop in the controller shows as slow answers here.
 *
 *  Over IPC:  → {cmd:'start'}             ← {event:'started'}
 *             → {cmd:'samples', from, to} ← {event:'samples', ms}  (answers to polls sent in [from, to],
 *                                           absolute times; one still unanswered counts as its age) */
import { simId, simToken } from './lib/fleet-agents'

const [INDEX, PORT] = [Number(process.env.INDEX), Number(process.env.CONTROLLER_PORT)]
setTimeout(() => process.exit(3), 180_000).unref()

const now = () => performance.timeOrigin + performance.now()
const send = (m: object) => process.send!(m)
const sent: number[] = []
const took: number[] = []
let etag = process.env.ETAG!
let buf = ''
let n = 0

const auth = `Authorization: Bearer ${simToken(INDEX)}\r\nX-Agent-Id: ${simId(INDEX)}\r\n`
const versionOf = (tag: string) => /^"(\d+)-/.exec(tag)?.[1] ?? ''

const socket = await Bun.connect({
  hostname: '127.0.0.1',
  port: PORT,
  socket: {
    data(_, chunk) {
      buf += chunk.toString('latin1')
      for (let end; (end = buf.indexOf('\r\n\r\n')) !== -1; ) {
        const head = buf.slice(0, end)
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
        if (buf.length < end + 4 + length) return
        buf = buf.slice(end + 4 + length)
        // Answers come in the order the polls were sent.
        took.push(now() - sent[took.length]!)
        const status = head.slice(9, 12)
        if (status === '200') etag = /\r\netag:\s*(.+)/i.exec(head)?.[1]?.trim() ?? etag
        else if (status !== '304') send({ event: 'error', message: `probe: ${head.split('\r\n')[0]}` })
      }
    },
    close: () => void send({ event: 'error', message: 'probe: connection closed' }),
  },
})

function poll() {
  sent.push(now())
  socket.write(
    `GET /config HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nConnection: keep-alive\r\nUser-Agent: Bun/${Bun.version}\r\nAccept: */*\r\n` +
      `${auth}X-Applied-Version: ${versionOf(etag)}\r\nIf-None-Match: ${etag}\r\nX-Request-Id: probe-${++n}\r\n\r\n`,
  )
}

process.on('message', (m: { cmd: 'start' } | { cmd: 'samples'; from: number; to: number }) => {
  if (m.cmd === 'start') {
    setInterval(poll, 1)
    return void send({ event: 'started' })
  }
  const ms: number[] = []
  for (let i = 0; i < sent.length; i++) if (sent[i]! >= m.from && sent[i]! <= m.to) ms.push(took[i] ?? now() - sent[i]!)
  send({ event: 'samples', ms })
})
send({ event: 'ready' })
