import { expect, test } from 'bun:test'
import { resultOf, type CallResult } from './metrics'
import type { Outcome } from './sync/transport'

const res = new Response(null)
test.each([
  [{ kind: 'ok', res }, 'ok'],
  [{ kind: 'not_modified', res }, 'not_modified'],
  [{ kind: 'auth', status: 401, message: 'no' }, 'auth_refused'],
  [{ kind: 'rejected', status: 404, message: 'no' }, 'rejected'],
  [{ kind: 'rejected', status: 404, code: 'no_config', message: 'none yet' }, 'no_config'],
  [{ kind: 'rejected', status: 422, code: 'no_config', message: 'odd' }, 'rejected'],
  [{ kind: 'retry', status: 503, message: 'busy' }, 'unavailable'],
  [{ kind: 'retry', status: 429, message: 'slow down' }, 'unavailable'],
  [{ kind: 'retry', message: 'connection refused' }, 'unreachable'],
] as [Outcome, CallResult][])('%o is counted as %s', (out, result) => {
  expect(resultOf(out)).toBe(result)
})
