/** HTTP/1.1 on a bare TCP socket, for requests fetch would refuse or tidy up (CR/LF in a header, odd
 *  methods, short or odd Host, bodies without a length, cut short or sent a byte now and then, bytes
 *  that are not UTF-8), and the same exchange through fetch where fetch can say it. Either way the
 *  answer is read with a deadline, so a hang is reported, never waited out. */

/** Bytes to send, and how long to wait before sending them (a slow client). */
export type Piece = { bytes: Uint8Array; delayMs: number }

export type Answer = {
  /** Status of the final answer (1xx skipped); null when the connection ended without one. */
  status: number | null
  /** Header fields, names lower-cased, repeated fields joined with ", ". */
  headers: Record<string, string>
  /** Status line and header section as sent, for reports and secret checks. */
  head: string
  body: Uint8Array
  /** The server closed the connection (after or instead of answering). */
  closed: boolean
  /** The connection ended before every byte of the request was written (an early refusal). */
  cut: boolean
  /** No complete answer before the deadline. */
  timedOut: boolean
  /** The caller gave up on purpose (abort). */
  aborted: boolean
  ms: number
}

const enc = new TextEncoder()
export const latin1 = (b: Uint8Array) => new TextDecoder('latin1').decode(b)
export const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** UTF-8, except that a lone surrogate is written as its own three bytes (WTF-8) instead of being
 *  replaced: a client can send exactly that, and the service must refuse it. */
export function wtf8(s: string): Uint8Array {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return Uint8Array.from(out)
}

/** Where the answer's header section ends, and what it says; null while incomplete. */
function parseHead(buf: Uint8Array): { status: number; headers: Record<string, string>; head: string; bodyAt: number } | null {
  let at = 0
  for (;;) {
    const end = indexOf(buf, CRLFCRLF, at)
    if (end === -1) return null
    const head = latin1(buf.subarray(at, end))
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? NaN)
    // 100 Continue (and any other 1xx) comes before the real answer.
    if (status >= 100 && status < 200) {
      at = end + 4
      continue
    }
    const headers: Record<string, string> = {}
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value
    }
    return { status: Number.isNaN(status) ? 0 : status, headers, head, bodyAt: end + 4 }
  }
}

const CRLFCRLF = enc.encode('\r\n\r\n')
function indexOf(buf: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= buf.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (buf[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** The body of a chunked answer once its last chunk is in; null while incomplete. */
function dechunk(buf: Uint8Array): Uint8Array | null {
  const parts: Uint8Array[] = []
  let at = 0
  for (;;) {
    const eol = indexOf(buf, CRLFCRLF.subarray(0, 2), at)
    if (eol === -1) return null
    const size = parseInt(latin1(buf.subarray(at, eol)), 16)
    if (Number.isNaN(size)) return buf // not chunked after all: take what is there
    if (size === 0) return indexOf(buf, CRLFCRLF.subarray(0, 2), eol + 2) === -1 ? null : concat(parts)
    if (buf.length < eol + 2 + size + 2) return null
    parts.push(buf.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

/** A complete answer in `buf`, or null while more is expected. `closed`: nothing more will come. */
function complete(buf: Uint8Array, headOnly: boolean, closed: boolean) {
  const h = parseHead(buf)
  if (!h) return null
  const rest = buf.subarray(h.bodyAt)
  const noBody = headOnly || h.status === 204 || h.status === 304
  if (noBody) return { ...h, body: new Uint8Array() }
  if (h.headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    const body = dechunk(rest)
    return body ? { ...h, body } : closed ? { ...h, body: rest } : null
  }
  const length = h.headers['content-length']
  if (length !== undefined) return rest.length >= Number(length) ? { ...h, body: rest.subarray(0, Number(length)) } : closed ? { ...h, body: rest } : null
  return closed ? { ...h, body: rest } : null
}

export type Exchange = { done: Promise<Answer>; abort: () => void }

/** Send `pieces` on a new connection to 127.0.0.1:`port` and read one answer, within `deadlineMs`
 *  (counted from the start, pauses of a slow client included). The connection is closed afterwards. */
export function sendRaw(port: number, pieces: Piece[], o: { deadlineMs: number; headOnly?: boolean }): Exchange {
  const t0 = performance.now()
  const chunks: Uint8Array[] = []
  let closed = false
  let aborted = false
  // Everyone waiting for something to happen on the socket (the writer and the reader).
  const waiting = new Set<() => void>()
  const poke = () => {
    for (const w of [...waiting]) w()
  }
  const changed = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t)
        waiting.delete(wake)
        resolve()
      }
      const t = setTimeout(wake, Math.max(0, ms))
      waiting.add(wake)
    })
  let socket: Bun.Socket<undefined> | null = null
  const done = (async (): Promise<Answer> => {
    const deadline = t0 + o.deadlineMs
    const blank = { status: null, headers: {}, head: '', body: new Uint8Array(), closed: true, cut: true, timedOut: false, aborted: false }
    try {
      socket = await Bun.connect({
        hostname: '127.0.0.1',
        port,
        socket: {
          data(_s, d) {
            chunks.push(new Uint8Array(d))
            poke()
          },
          drain: poke,
          close() {
            closed = true
            poke()
          },
          error() {
            closed = true
            poke()
          },
        },
      })
    } catch {
      return { ...blank, ms: performance.now() - t0 }
    }
    let answer: ReturnType<typeof complete> = null
    const read = () => (answer ??= complete(concat(chunks), o.headOnly ?? false, closed))
    let sent = false
    // Write every piece (waiting for drain on back-pressure), unless an answer or the end comes first.
    const writing = (async () => {
      for (const p of pieces) {
        if (p.delayMs > 0) {
          const until = performance.now() + p.delayMs
          while (!closed && !aborted && !read() && performance.now() < until) await changed(until - performance.now())
        }
        let off = 0
        while (off < p.bytes.length) {
          if (closed || aborted || read() || performance.now() > deadline) return
          const n = socket!.write(p.bytes.subarray(off))
          if (n > 0) off += n
          else await changed(Math.min(50, deadline - performance.now()))
        }
      }
      sent = true
    })()
    while (!read() && !closed && !aborted && performance.now() < deadline) await changed(deadline - performance.now())
    await writing
    const got = read()
    const ms = performance.now() - t0
    socket.terminate()
    const cut = closed && !sent
    if (!got) return { ...blank, closed, cut, timedOut: !closed && !aborted, aborted, ms }
    return { status: got.status, headers: got.headers, head: got.head, body: new Uint8Array(got.body), closed, cut, timedOut: false, aborted: false, ms }
  })()
  return {
    done,
    abort() {
      aborted = true
      poke()
    },
  }
}

/** The same exchange through fetch (for requests fetch can express): a body given as pieces is sent as
 *  a stream (chunked), with the pauses between them. */
export function sendFetch(url: string, init: { method: string; headers: [string, string][]; body: Piece[] | Uint8Array | null }, o: { deadlineMs: number }): Exchange {
  const t0 = performance.now()
  const ac = new AbortController()
  let aborted = false
  const done = (async (): Promise<Answer> => {
    const timer = setTimeout(() => ac.abort(), o.deadlineMs)
    let body: Uint8Array | ReadableStream<Uint8Array> | undefined
    if (init.body instanceof Uint8Array) body = init.body
    else if (init.body) {
      const pieces = init.body
      body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const p = pieces.shift()
          if (!p) return c.close()
          if (p.delayMs) await Bun.sleep(p.delayMs)
          c.enqueue(p.bytes)
        },
      })
    }
    try {
      const res = await fetch(url, { method: init.method, headers: init.headers, body, signal: ac.signal, redirect: 'manual', decompress: false })
      const bytes = new Uint8Array(await res.arrayBuffer())
      const headers: Record<string, string> = {}
      res.headers.forEach((v, k) => (headers[k] = v))
      const head = `HTTP/1.1 ${res.status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}`
      return { status: res.status, headers, head, body: bytes, closed: false, cut: false, timedOut: false, aborted: false, ms: performance.now() - t0 }
    } catch {
      const timedOut = ac.signal.aborted && !aborted
      // fetch says "connection reset" both for a refusal that closed on us mid-body and for a crash.
      return { status: null, headers: {}, head: '', body: new Uint8Array(), closed: !timedOut && !aborted, cut: !timedOut && !aborted, timedOut, aborted, ms: performance.now() - t0 }
    } finally {
      clearTimeout(timer)
    }
  })()
  return {
    done,
    abort() {
      aborted = true
      ac.abort()
    },
  }
}
