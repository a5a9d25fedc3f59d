import { expect, test } from 'bun:test'
import { createLogger } from '.'

function capture(level: 'debug' | 'info' | 'warn' | 'error') {
  const out: string[] = []
  const log = createLogger({ service: 'svc', level, sink: { write: (s) => out.push(s), flush: () => {} } })
  return { log, lines: () => out.map((l) => JSON.parse(l)) }
}

test('log lines are JSON with level, service and fields; secrets are blanked', () => {
  const { log, lines } = capture('info')
  log.info('hello', { request_id: 'r1', api_key: 'sekret', authorization: 'Bearer x', n: 3 })
  expect(lines()).toEqual([
    expect.objectContaining({ level: 'info', service: 'svc', msg: 'hello', request_id: 'r1', api_key: '[redacted]', authorization: '[redacted]', n: 3 }),
  ])
})

test('lines below the configured level are dropped', () => {
  const { log, lines } = capture('warn')
  log.debug('a')
  log.info('b')
  log.warn('c')
  log.error('d')
  expect(lines().map((l) => l.msg)).toEqual(['c', 'd'])
})
