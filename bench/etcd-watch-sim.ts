/** The anchor of figure 3: K etcd watchers in one process, for fleet.ts. Each is one TCP connection
 *  holding a streaming `POST /v3/watch` on one key through etcd's v3 JSON gateway (a client per
 *  connection, as K machines would be), read raw: fetch caps concurrent requests per process.
 *
 *  Over IPC:  → {cmd:'watch'}          ← {event:'watching'} (every watch created)
 *             → {cmd:'await', value}   ← {event:'result'}   (every watcher got the event carrying `value`,
 *                                        base64 as the gateway sends it; absolute times) */
const [K, PORT, KEY] = [Number(process.env.K), Number(process.env.ETCD_PORT), process.env.KEY!]
const BATCH = 250

setTimeout(() => process.exit(3), 180_000).unref()

type Watcher = { text: string; created: boolean; at: number; socket?: Bun.Socket<Watcher> }

const now = () => performance.timeOrigin + performance.now()
const send = (m: object) => process.send!(m)
const watchers: Watcher[] = []
let created = 0
let seen = 0
let errors = 0
let lastError = ''
let onCreated = () => {}
let onSeen = () => {}
const fail = (why: string): void => {
  errors++
  lastError = why
}

/** The stream is chunked JSON, one object per line: {"result":{"created":true,…}} first, then events.
 *  A watcher's event is its first bytes after the created line (one put is all that happens). */
function onData(w: Watcher, chunk: Buffer) {
  w.text += chunk.toString('latin1')
  if (!w.created) {
    if (!w.text.includes('"created":true')) return
    w.created = true
    w.text = w.text.slice(w.text.indexOf('"created":true') + 14)
    if (++created === K) onCreated()
  }
  if (w.at === 0 && w.text.includes('"events"')) {
    w.at = now()
    if (++seen === K) onSeen()
  }
}

const body = JSON.stringify({ create_request: { key: KEY } })
const request = `POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`

const within = <T>(ms: number, what: string, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())])

async function watch() {
  const t0 = performance.now()
  const all = new Promise<void>((resolve) => (onCreated = resolve))
  for (let i = 0; i < K; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, K - i) }, (): Watcher => ({ text: '', created: false, at: 0 }))
    await within(20_000, 'opening connections', Promise.all(batch.map(async (w) => {
      w.socket = await Bun.connect<Watcher>({
        hostname: '127.0.0.1',
        port: PORT,
        data: w,
        socket: { data: (s, chunk) => onData(s.data, chunk), error: (_, e) => fail(String(e)) },
      })
      if (w.socket.write(request) !== request.length) fail('short write')
    })))
    watchers.push(...batch)
  }
  await within(30_000, `all ${K} watches created (${created} so far)`, all)
  send({ event: 'watching', ms: performance.now() - t0, errors, lastError })
}

async function wait(value: string) {
  const all = new Promise<void>((resolve) => (onSeen = resolve))
  if (seen < K) await within(20_000, `all ${K} watchers saw the put (${seen} so far)`, all).catch((e) => fail(String(e)))
  const got = watchers.filter((w) => w.at > 0 && w.text.includes(value))
  send({ event: 'result', updated: got.length, at: got.map((w) => w.at), errors, lastError })
}

process.on('message', (m: { cmd: 'watch' } | { cmd: 'await'; value: string }) => {
  const step = m.cmd === 'watch' ? watch() : wait(m.value)
  step.catch((e) => send({ event: 'error', message: String((e as Error).stack ?? e) }))
})
send({ event: 'ready' })
