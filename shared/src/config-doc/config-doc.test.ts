import { expect, test } from 'bun:test'
import { isHttpUrl, maskUrl } from '.'

test('only absolute http(s) URLs with a host are accepted', () => {
  expect(isHttpUrl('http://example.com/x')).toBe(true)
  expect(isHttpUrl('https://127.0.0.1:8080')).toBe(true)
  for (const bad of ['http://x/a\u0000b', 'http://x/\tb', 'ftp://example.com', '/relative', 'example.com', 'http://', 'javascript:alert(1)']) expect(isHttpUrl(bad)).toBe(false)
})

test('userinfo is masked, other URLs are left alone', () => {
  expect(maskUrl('https://bob:s3cret@example.com/a?b=1')).toBe('https://***@example.com/a?b=1')
  expect(maskUrl('https://example.com/a')).toBe('https://example.com/a')
})
