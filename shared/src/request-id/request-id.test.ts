import { expect, test } from 'bun:test'
import { requestIdFrom } from '.'

test('a sane incoming request id is kept, anything else is replaced', () => {
  expect(requestIdFrom(new Headers({ 'x-request-id': 'abc-123' }))).toBe('abc-123')
  for (const bad of ['has space', 'x'.repeat(129), '<script>', '']) {
    const id = requestIdFrom(new Headers({ 'x-request-id': bad }))
    expect(id).not.toBe(bad)
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
  }
  expect(requestIdFrom(new Headers())).toMatch(/^[0-9a-f-]{36}$/)
})
