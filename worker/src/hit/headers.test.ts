import { expect, test } from 'bun:test'
import { stripHopByHop } from './headers'

test('hop-by-hop fields and the fields Connection names are removed, end-to-end ones kept', () => {
  const h = new Headers({
    connection: 'X-Private, close',
    'x-private': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    'proxy-authenticate': 'Basic',
    'content-type': 'text/plain',
    'cache-control': 'no-store',
  })
  expect(Object.fromEntries(stripHopByHop(h))).toEqual({ 'content-type': 'text/plain', 'cache-control': 'no-store' })
})
