/** A Spec (./arbitraries.ts) turned into what goes on the wire, with the facts the checks need: which
 *  key it presents, whether the runtime must hand it to the service at all, the body bytes. */
import type { Body, KeyChoice, Spec } from './arbitraries'
import { concat, type Piece, wtf8 } from './wire'

/** The keys a fuzz run configures, by role, plus the strings that only look like keys. */
export type Keys = { agent: string; admin: string; worker: string }

/** What a request depends on at the moment it is sent; `track`: an X-Request-Id to send when the spec
 *  has none, so that the request can be found in the service's log. */
export type Context = { keys: Keys; etag: string | null; track?: string }

export type Wire = {
  /** The request as sent on a socket (slow clients: several pieces with pauses). */
  pieces: Piece[]
  /** The same request for fetch, when fetch can express it. */
  fetch: { method: string; headers: [string, string][]; body: Piece[] | Uint8Array | null; target: string } | null
  /** The key the service reads from it (Bearer first, else X-API-Key), if any. */
  presented: string | null
  /** Every X-Request-Id value sent, in order. */
  requestIds: string[]
  /** The request id the service will use and log, when it keeps the one sent (a sane one). */
  requestId: string | null
  /** Every Via value sent, joined as the service reads them. */
  via: string | null
  inm: string | null
  /** The request is plain HTTP/1.1 the runtime must pass to the service (so it must answer it). */
  clean: boolean
  /** Every byte of the body is sent and framed so the service can read all of it. */
  bodyComplete: boolean
  /** Bytes stay on the connection after the request as the server frames it (a blank line injected
   *  into a header, a body without a length, or a short one): the runtime reads them as the next request. */
  trailing: boolean
  body: Uint8Array | null
  /** Time the slow client spends pausing. */
  pausesMs: number
}

const enc = new TextEncoder()

export function keyValue(choice: KeyChoice, keys: Keys): string | null {
  switch (choice) {
    case 'none':
      return null
    case 'agent':
    case 'admin':
    case 'worker':
      return keys[choice]
    case 'wrong':
      return 'not-a-configured-key-0000'
    case 'empty':
      return ''
    case 'padded-agent':
      return `  ${keys.agent}  `
    case 'prefix-of-admin':
      return keys.admin.slice(0, -1)
    case 'unicode':
      return 'ключ-\u0085-\ud800'
  }
}

/** The body's bytes (WTF-8 for text, so lone surrogates go out as written). */
export function bodyBytes(b: Body): Uint8Array {
  switch (b.t) {
    case 'text': {
      const bytes = wtf8(b.text)
      if (!b.bytes) return bytes
      const at = Math.floor(bytes.length * b.bytes.at)
      return concat([bytes.subarray(0, at), Uint8Array.from(b.bytes.raw), bytes.subarray(at)])
    }
    case 'nest':
      return enc.encode(b.open.repeat(b.depth) + '1' + b.close.repeat(b.depth))
    case 'big':
      return b.json ? enc.encode(`{"url":"http://x.example/${'a'.repeat(Math.max(0, b.size - 30))}"}`) : new Uint8Array(b.size).fill(0x61)
  }
}

const SANE_ID = /^[A-Za-z0-9._:\-]{1,128}$/
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const PLAIN_VALUE = /^[\x20-\x7e\t]*$/
const KNOWN_METHODS = new Set(['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])

function ifNoneMatch(spec: Spec, etag: string | null): string | null {
  const cur = etag ?? '"0-none"'
  switch (spec.inm) {
    case null:
      return null
    case 'current':
      return cur
    case 'weak-current':
      return `W/${cur}`
    case 'list-with-current':
      return `"1-old", ${cur}`
    case 'star':
      return '*'
    case 'stale':
      return '"1-stale"'
    case 'garbage':
      return 'not an etag'
    case 'huge':
      return `"${'e'.repeat(6000)}"`
  }
}

/** Build the request of `spec` in context `ctx`. */
export function toWire(spec: Spec, ctx: Context): Wire {
  const key = keyValue(spec.key, ctx.keys)
  const auth: [string, string][] = []
  let presented: string | null = null
  const trimmed = key?.trim() || null
  if (key !== null) {
    switch (spec.keyPlace) {
      case 'bearer':
        auth.push(['Authorization', `Bearer ${key}`])
        presented = trimmed
        break
      case 'lower-bearer':
        auth.push(['authorization', `bearer ${key}`])
        presented = trimmed
        break
      case 'x-api-key':
        auth.push(['X-API-Key', key])
        presented = trimmed
        break
      case 'basic+x-api-key':
        auth.push(['Authorization', 'Basic dXNlcjpwdw=='], ['X-API-Key', key])
        presented = trimmed
        break
      case 'bearer-wins':
        auth.push(['Authorization', 'Bearer not-a-configured-key-1111'], ['X-API-Key', key])
        presented = 'not-a-configured-key-1111'
        break
      case 'token-scheme':
        auth.push(['Authorization', `Token ${key}`])
        break
      case 'two-authorizations':
        auth.push(['Authorization', `Bearer ${key}`], ['Authorization', `Bearer ${key}`])
        presented = `${key}, Bearer ${key}`.trim()
        break
    }
  }
  const body = spec.body ? bodyBytes(spec.body) : null
  const target = spec.path + spec.query
  const headers: [string, string][] = []
  if (spec.host !== null) headers.push(['Host', spec.host])
  headers.push(...auth)
  const inm = ifNoneMatch(spec, ctx.etag)
  if (inm !== null) headers.push(['If-None-Match', inm])
  if (spec.contentType !== null && body) headers.push(['Content-Type', spec.contentType])
  // Tracked: a POST that leaves bytes behind it (below), the only kind whose answer Bun may lose.
  const leavesBytes = spec.headers.some(([, v]) => v.includes('\r\n\r\n')) || (spec.body !== null && (spec.framing === 'none' || spec.framing === 'long'))
  if (ctx.track && spec.method === 'POST' && leavesBytes && !spec.headers.some(([k]) => k.toLowerCase() === 'x-request-id')) headers.push(['X-Request-Id', ctx.track])
  headers.push(...spec.headers)
  for (let i = 0; i < spec.many; i++) headers.push([`X-Fuzz-${i}`, String(i)])
  if (spec.huge) headers.push(['X-Fuzz-Huge', 'h'.repeat(spec.huge)])

  // Framing.
  let framed: Uint8Array = new Uint8Array()
  let bodyComplete = body === null
  if (body) {
    const chunked = (b: Uint8Array, last: boolean) => {
      const parts: Uint8Array[] = []
      for (let i = 0; i < b.length; i += 16_384) {
        const c = b.subarray(i, i + 16_384)
        parts.push(enc.encode(`${c.length.toString(16)}\r\n`), c, enc.encode('\r\n'))
      }
      if (last) parts.push(enc.encode('0\r\n\r\n'))
      return concat(parts)
    }
    switch (spec.framing) {
      case 'length':
        headers.push(['Content-Length', String(body.length)])
        framed = body
        bodyComplete = true
        break
      case 'chunked':
        headers.push(['Transfer-Encoding', 'chunked'])
        framed = chunked(body, true)
        bodyComplete = true
        break
      case 'none':
        framed = body
        break
      case 'short':
        headers.push(['Content-Length', String(body.length + 10)])
        framed = body
        break
      case 'long':
        headers.push(['Content-Length', String(Math.floor(body.length / 2))])
        framed = body
        break
      case 'chunked-cut':
        headers.push(['Transfer-Encoding', 'chunked'])
        framed = chunked(body, false)
        break
      case 'chunked-bad':
        headers.push(['Transfer-Encoding', 'chunked'])
        framed = concat([enc.encode('zz\r\n'), body, enc.encode('\r\n0\r\n\r\n')])
        break
      case 'both':
        headers.push(['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked'])
        framed = chunked(body, true)
        break
      case 'two-lengths':
        headers.push(['Content-Length', String(body.length)], ['Content-Length', String(body.length + 1)])
        framed = body
        break
    }
  }

  const headText = `${spec.method} ${target} ${spec.version}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`
  const head = wtf8(headText)
  // The header fields as a parser reads them: a CR LF inside a value starts a field of its own.
  const lines = headText.split('\r\n')
  const seen = lines
    .slice(1, lines.indexOf('', 1))
    .flatMap((line): [string, string][] => {
      const colon = line.indexOf(':')
      return colon > 0 ? [[line.slice(0, colon).toLowerCase(), line.slice(colon + 1)]] : []
    })
  const valuesOf = (name: string) => seen.filter(([k]) => k === name).map(([, v]) => v.replace(/^[ \t]+|[ \t]+$/g, ''))
  const all = concat([head, framed])
  const pieces: Piece[] = []
  let pausesMs = 0
  if (spec.slow) {
    const size = Math.ceil(all.length / spec.slow.pieces)
    for (let i = 0; i < all.length; i += size) {
      pieces.push({ bytes: all.subarray(i, i + size), delayMs: i === 0 ? 0 : spec.slow.gapMs })
      if (i) pausesMs += spec.slow.gapMs
    }
  } else pieces.push({ bytes: all, delayMs: 0 })

  const headerBytes = head.length
  const plainHeaders = headers.every(([k, v]) => TOKEN.test(k) && PLAIN_VALUE.test(v))
  const clean =
    KNOWN_METHODS.has(spec.method) &&
    spec.version === 'HTTP/1.1' &&
    spec.host !== null &&
    /^[A-Za-z0-9.-]*(:\d{1,5})?$/.test(spec.host) &&
    /^\/[\x21-\x7e]*$/.test(target) &&
    !/%(?![0-9A-Fa-f]{2})/.test(target) &&
    plainHeaders &&
    headers.filter(([k]) => k.toLowerCase() === 'host').length === 1 &&
    valuesOf('content-length').length <= 1 &&
    // RFC 9112: a Transfer-Encoding other than chunked is refused (400); only ours may be there.
    valuesOf('transfer-encoding').every((v) => v === 'chunked') &&
    valuesOf('transfer-encoding').length <= 1 &&
    headers.length < 90 &&
    headerBytes < 8000 &&
    (body === null || spec.framing === 'length' || spec.framing === 'chunked')

  // fetch: only what it can say as it is (a standard method, plain headers, a complete body).
  const canFetch =
    clean &&
    !['GET', 'HEAD'].includes(spec.method) === (body !== null) &&
    headers.every(([k]) => !['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect', 'te', 'keep-alive'].includes(k.toLowerCase()))
  const fetchBody = body === null ? null : spec.framing === 'chunked' || spec.slow ? splitBody(body, spec.slow) : body
  return {
    pieces,
    fetch: canFetch ? { method: spec.method, headers: headers.filter(([k]) => k.toLowerCase() !== 'host'), body: fetchBody, target } : null,
    presented,
    requestIds: valuesOf('x-request-id'),
    requestId: valuesOf('x-request-id').length && SANE_ID.test(valuesOf('x-request-id').join(', ')) ? valuesOf('x-request-id').join(', ') : null,
    via: valuesOf('via').join(', ') || null,
    inm,
    clean,
    bodyComplete,
    trailing: headText.indexOf('\r\n\r\n') < headText.length - 4 || (body !== null && (spec.framing === 'none' || spec.framing === 'long')),
    body,
    pausesMs,
  }
}

function splitBody(body: Uint8Array, slow: Spec['slow']): Piece[] {
  const n = slow?.pieces ?? 2
  const size = Math.max(1, Math.ceil(body.length / n))
  const out: Piece[] = []
  for (let i = 0; i < body.length; i += size) out.push({ bytes: body.subarray(i, i + size), delayMs: i && slow ? slow.gapMs : 0 })
  return out
}
