import { expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { ConfigDoc, configDoc, isHttpUrl, maskUrl } from '.'

test.each([
  ['http://example.com/x', true],
  ['HTTPS://127.0.0.1:8080', true],
  ['http://user:pw@example.com/a?b=1#c', true],
  ['http://[::1]:8080/', true],
  [' http://example.com/x', false], // leading space
  ['http://example.com/x ', false],
  ['http:/example.com/x', false], // one slash: WHATWG would add the other
  ['http:example.com/x', false],
  ['http:\\\\example.com\\x', false], // backslashes: WHATWG reads them as slashes
  ['http:///example.com/x', false],
  ['http://x/a\u0000b', false],
  ['http://x/\tb', false],
  ['http://x/\u0085', false], // C1 control
  ['http://x/a b', false],
  ['ftp://example.com', false],
  ['/relative', false],
  ['example.com', false],
  ['http://', false],
  ['javascript:alert(1)', false],
])('isHttpUrl(%j) is %p', (url, ok) => {
  expect(isHttpUrl(url)).toBe(ok)
})

test('the document schema refuses what isHttpUrl refuses: one rule for every service', () => {
  const doc = (url: string) => ({ version: 1, store_id: 's-1', url, updated_at: '2026-01-01T00:00:00.000Z' })
  expect(Value.Check(ConfigDoc, doc('http://a.example/'))).toBe(true)
  for (const bad of [' http://a.example/', 'http:/a.example/', 'http:a.example/', 'http:\\\\a.example\\x']) expect(Value.Check(ConfigDoc, doc(bad))).toBe(false)
  expect(Value.Check(ConfigDoc, { ...doc('http://a.example/'), version: 2 ** 31 })).toBe(false)
})

test('a document is built with its fields in one order, timeout_ms only when set', () => {
  const a = configDoc({ updated_at: 't', url: 'u', version: 2, store_id: 's', timeout_ms: null })
  expect(JSON.stringify(a)).toBe('{"version":2,"store_id":"s","url":"u","updated_at":"t"}')
  expect(Object.keys(configDoc({ ...a, timeout_ms: 5 }))).toEqual(['version', 'store_id', 'url', 'timeout_ms', 'updated_at'])
})

test('userinfo, query values and fragments are masked; an unparseable URL is not shown; other URLs are left alone', () => {
  expect(maskUrl('https://bob:s3cret@example.com/a?b=1')).toBe('https://***@example.com/a?b=***')
  expect(maskUrl('https://example.com/a?api_token=xyz&x=')).toBe('https://example.com/a?api_token=***&x=***')
  expect(maskUrl('https://example.com/a')).toBe('https://example.com/a')
  expect(maskUrl('postgres://u:pw@db:5432/x')).toBe('postgres://***@db:5432/x')
  expect(maskUrl('https://example.com/cb#access_token=xyz')).toBe('https://example.com/cb#***')
  expect(maskUrl('postgres://u:pw@bad host/x?password=p')).toBe('postgres:(unparseable URL, not shown)')
  expect(maskUrl('no scheme at all: p@ss')).toBe('(unparseable URL, not shown)')
})
