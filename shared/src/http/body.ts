import { BadRequest, closeConnection as closing, HttpError, Invalid, PayloadTooLarge, Unavailable, UnsupportedMediaType } from '../errors'

/** How request bodies are read: size, time and how many at once. */
export interface BodyLimits {
  /** Largest body in bytes, also when no Content-Length was sent. */
  limit: number
  /** The whole body must arrive within this time (408 after it). */
  timeoutMs: number
  /** Bodies read at the same time; one more gets 503 with Retry-After. */
  maxConcurrent: number
}

/** JSON nesting deeper than this is refused before JSON.parse: no body of ours nests beyond 3. */
export const MAX_JSON_DEPTH = 32

/** Parsed when the request had no body at all (undefined would let the framework try its own parsers). */
export const NO_BODY: unique symbol = Symbol('no body')

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]*\+)?json\s*(?:;|$)/i
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** Reads JSON request bodies for one service. Nothing is read from a request without a valid key of
 *  the service (`authenticate` throws: 401 at once, or 429 for an address that failed too often; the
 *  connection is closed either way); then the media type (application/json, UTF-8 only), the size, the time
 *  and the number of bodies read at once are bounded before a byte is buffered; the text must be valid
 *  UTF-8, nest at most MAX_JSON_DEPTH deep and hold no lone surrogate. */
export function bodyReader(limits: BodyLimits, authenticate: (request: Request) => unknown) {
  let reading = 0
  return async (request: Request): Promise<unknown> => {
    try {
      await authenticate(request)
    } catch (e) {
      throw e instanceof HttpError ? closing(e) : e
    }
    const type = request.headers.get('content-type')
    if (request.body === null) {
      if (type !== null && !JSON_TYPE.test(type)) throw new UnsupportedMediaType()
      return NO_BODY
    }
    if (type === null || !JSON_TYPE.test(type)) throw closing(new UnsupportedMediaType())
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase()
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw closing(new UnsupportedMediaType('send the body as application/json in UTF-8'))
    const declared = Number(request.headers.get('content-length') ?? NaN)
    if (declared > limits.limit) throw closing(new PayloadTooLarge(limits.limit))
    if (reading >= limits.maxConcurrent) throw closing(new Unavailable('too many request bodies are being read; retry shortly', 'busy', 1))
    reading++
    let bytes: Uint8Array
    try {
      bytes = await readWithin(request.body, limits)
    } finally {
      reading--
    }
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      throw new Invalid('the request body is not valid UTF-8')
    }
    if (text.trim() === '') return NO_BODY
    if (tooDeep(text)) throw new Invalid(`the request body nests deeper than ${MAX_JSON_DEPTH} levels`)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (e) {
      throw new BadRequest(`the request body is not valid JSON: ${(e as Error).message}`, 'malformed_json')
    }
    if (!wellFormed(value)) throw new Invalid('the request body holds text that is not valid Unicode (a lone surrogate)')
    return value
  }
}

/** The whole body, or a 413 past the limit, or a 408 past the deadline. */
async function readWithin(body: ReadableStream<Uint8Array>, limits: BodyLimits): Promise<Uint8Array> {
  const reader = body.getReader()
  let timer: Timer | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(closing(new HttpError(408, 'body_timeout', `the request body did not arrive within ${limits.timeoutMs} ms`))), limits.timeoutMs)
  })
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), late])
      if (done) break
      size += value.byteLength
      if (size > limits.limit) throw closing(new PayloadTooLarge(limits.limit))
      chunks.push(value)
    }
  } catch (e) {
    void reader.cancel().catch(() => {})
    throw e
  } finally {
    clearTimeout(timer)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

/** True when brackets outside strings nest deeper than MAX_JSON_DEPTH (malformed JSON is JSON.parse's job). */
export function tooDeep(text: string): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (c === 125 || c === 93) depth--
  }
  return false
}

/** Every string in a parsed JSON value, keys included, is well-formed UTF-16 (no lone surrogate). */
function wellFormed(v: unknown): boolean {
  if (typeof v === 'string') return v.isWellFormed()
  if (v === null || typeof v !== 'object') return true
  if (Array.isArray(v)) return v.every(wellFormed)
  for (const k in v) if (!k.isWellFormed() || !wellFormed((v as Record<string, unknown>)[k])) return false
  return true
}
