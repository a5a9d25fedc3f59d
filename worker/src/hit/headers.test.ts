import { expect, test } from 'bun:test'
import { passedHeaders } from './headers'

test('only the documented fields of an upstream answer are passed on, with the request id', () => {
  const upstream = new Headers({
    'content-type': 'text/plain',
    'cache-control': 'no-store',
    location: '/elsewhere',
    'set-cookie': 'session=abc',
    'strict-transport-security': 'max-age=63072000',
    'x-debug-backend': 'db-7.internal',
    connection: 'close',
    'transfer-encoding': 'chunked',
  })
  expect(Object.fromEntries(passedHeaders(upstream, 'r-1'))).toEqual({
    'content-type': 'text/plain',
    'cache-control': 'no-store',
    location: '/elsewhere',
    'x-request-id': 'r-1',
  })
})
