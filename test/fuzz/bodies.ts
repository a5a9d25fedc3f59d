/** Request bodies for the fuzzer: valid ones per route (for the writes a model must follow), and what
 *  goes wrong with them — one field wrong, malformed JSON, hostile text, bytes that are not UTF-8,
 *  deep nesting, bulk. */
import fc from 'fast-check'
import type { ServiceName } from './arbitraries'

export type Body =
  | { t: 'text'; text: string; bytes?: { at: number; raw: number[] } }
  | { t: 'nest'; open: string; close: string; depth: number }
  | { t: 'big'; size: number; json: boolean }

// Edge cases of text: lone surrogates (as JSON escapes and as raw code units, which go out as WTF-8),
// C0/C1 controls, DEL, line separators, a BOM, non-characters, right-to-left override, astral.
const HOSTILE_CHARS = ['\\ud800', '\\udfff', '\\ud800\\u0041', '\ud800', '\udc00x', '\u0085', '\\u0085', '\u009b', '\u2028', '\\u2029', '\\u0000', '\u0000', '\u001b[31m', '\u007f', '\ufeff', '\uffff', '\u202e', '😀', 'é', '\r\n', '\\r\\n', '"', '\\', '%00', '\\x41']
// Bytes that are not UTF-8: lone continuation, truncated sequences, overlong, a surrogate, beyond U+10FFFF.
const BAD_UTF8 = [[0xff], [0xfe, 0xff], [0x80], [0xc3, 0x28], [0xe2, 0x82], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc2]]

const hostileChar = fc.constantFrom(...HOSTILE_CHARS)
/** A little of anything: text, code points of any kind, hostile characters. */
export const junk = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), hostileChar)

/** JSON-ish values of the wrong type or out of range for any field. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53 + 1, 1e308, '', ' ', '5', [], {}, [null], { a: 1 }),
  fc.jsonValue({ maxDepth: 2 }),
  junk,
)

// Valid values (the write branches) and near misses.
const HOSTS = ['a.example', 'up.example:8080', '127.0.0.1:1', '[::1]:9', 'ü.example', 'xn--bcher-kva.example']
const validUrl = fc
  .tuple(fc.constantFrom('http', 'https', 'HTTP'), fc.constantFrom(...HOSTS), fc.constantFrom('/', '/a', '/é', '/x?q=1', '/p%20q', '/a/b/c#frag', ''), fc.nat(999))
  .map(([s, h, p, n]) => `${s}://${h}${p}${p.includes('?') ? '&' : '?'}n=${n}`)
const badUrl = fc.oneof(
  fc.constantFrom(' http://x.example/', 'http:/x.example', 'http:x.example', 'http:\\\\x.example', 'ftp://x.example/', 'javascript:alert(1)', 'http://', 'http://x.example/a b', 'http://x.example/\u0085', 'http://x.example/\ud800', '//x.example/', 'http://[::1/', 'http://x.example/\u2028'),
  fc.nat(100).map((n) => `http://x.example/${'a'.repeat(2030 + n)}`),
  junk,
)
const text = (min: number, max: number) =>
  fc.string({ unit: 'grapheme', minLength: min, maxLength: max }).filter((s) => s.isWellFormed() && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) && s.length >= min && s.length <= max)

const controllerConfigBody = fc.record({ url: validUrl, timeout_ms: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }) }, { requiredKeys: ['url'] })
const registrationBody = fc.record(
  {
    agent_id: fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/),
    hostname: text(1, 40),
    worker_url: validUrl,
    labels: fc.dictionary(text(1, 20), text(0, 30), { maxKeys: 4 }),
  },
  { requiredKeys: [] },
)
const STORES = ['fuzz-store-a', 'fuzz-store-b']
const UPDATED = ['2026-01-01T00:00:00.000Z', '2026-06-01T12:00:00Z']
const workerDoc = (upstream: string) =>
  fc.record(
    {
      version: fc.integer({ min: 1, max: 40 }),
      store_id: fc.constantFrom(...STORES),
      url: fc.constantFrom('/', '/a', '/b?x=1', '/é').map((p) => `${upstream}${p}`),
      timeout_ms: fc.option(fc.integer({ min: 2000, max: 60_000 }), { nil: undefined }),
      updated_at: fc.constantFrom(...UPDATED),
    },
    { requiredKeys: ['version', 'store_id', 'url', 'updated_at'] },
  )

/** A valid body for `path` of `service` (what a write needs), as an object. */
export function validBody(service: ServiceName, path: string, upstream: string): fc.Arbitrary<Record<string, unknown>> {
  if (service === 'controller' && path === '/register') return registrationBody
  if (service === 'worker') return workerDoc(upstream)
  return controllerConfigBody
}

/** A body: valid, a valid one with one field made wrong, arbitrary JSON, malformed, hostile text,
 *  bytes that are not UTF-8, deep nesting, or big. */
export function bodyArb(service: ServiceName, path: string, upstream: string): fc.Arbitrary<Body> {
  const valid = validBody(service, path, upstream)
  const asText = (o: unknown): Body => ({ t: 'text', text: JSON.stringify(o) })
  return fc.oneof(
    { weight: 3, arbitrary: valid.map(asText) },
    // One field wrong: a wrong type, out of range, a bad URL, an unknown field, or removed.
    {
      weight: 4,
      arbitrary: fc
        .tuple(valid, fc.constantFrom('url', 'timeout_ms', 'version', 'store_id', 'updated_at', 'agent_id', 'hostname', 'labels', 'worker_url', 'extra'), fc.oneof(oddValue, badUrl), fc.boolean())
        .map(([o, field, v, drop]) => {
          const copy: Record<string, unknown> = { ...o }
          if (drop) delete copy[field]
          else copy[field] = v
          return asText(copy)
        }),
    },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(asText) },
    // Malformed: cut anywhere, trailing garbage, JSON5-isms, nothing.
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.tuple(valid, fc.double({ min: 0, max: 1, noNaN: true })).map(([o, f]): Body => {
          const s = JSON.stringify(o)
          return { t: 'text', text: s.slice(0, Math.floor(s.length * f)) }
        }),
        fc.tuple(valid, junk).map(([o, j]): Body => ({ t: 'text', text: JSON.stringify(o) + j })),
        fc.constantFrom('', ' ', '\n', 'null', '[]', '"x"', '1', '{', '}', '{"url":}', "{'url':'http://x.example/'}", '{"url":"http://x.example/",}', '{"url":NaN}', '/* */{}', '\ufeff{}', '{"a":1}{"b":2}', '{"url":"http://x.example/","url":"http://y.example/"}', '{"__proto__":{"url":"http://x.example/"}}').map((text): Body => ({ t: 'text', text })),
      ),
    },
    // Hostile text inside an otherwise valid body.
    {
      weight: 3,
      arbitrary: fc.tuple(valid, fc.constantFrom('url', 'hostname', 'store_id', 'agent_id', 'label', 'label-name'), hostileChar).map(([o, field, c]): Body => {
        const copy: Record<string, unknown> = { ...o }
        const marker = '\u0001MARK\u0001'
        if (field === 'label') copy.labels = { zone: marker }
        else if (field === 'label-name') copy.labels = { [marker]: 'v' }
        else copy[field] = typeof copy[field] === 'string' ? `${copy[field]}${marker}` : `http://x.example/${marker}`
        // The marker is replaced after stringify, so escapes like \ud800 reach the wire as written.
        return { t: 'text', text: JSON.stringify(copy).replace(JSON.stringify(marker).slice(1, -1), c) }
      }),
    },
    // Bytes that are not UTF-8, somewhere in a valid body.
    { weight: 2, arbitrary: fc.tuple(valid, fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...BAD_UTF8)).map(([o, at, raw]): Body => ({ t: 'text', text: JSON.stringify(o), bytes: { at, raw } })) },
    // Deep nesting around the limit of 32 and far beyond it.
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(['[', ']'], ['{"a":', '}'], ['[{"x":', '}]']), fc.oneof(fc.integer({ min: 28, max: 40 }), fc.integer({ min: 1000, max: 60_000 })))
        .map(([[open, close], depth]): Body => ({ t: 'nest', open: open!, close: close!, depth })),
    },
    // Big: around the 64 KiB limit, and far over it.
    { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.integer({ min: 60_000, max: 70_000 }), fc.integer({ min: 200_000, max: 2_000_000 })), fc.boolean()).map(([size, json]): Body => ({ t: 'big', size, json })) },
  )
}
