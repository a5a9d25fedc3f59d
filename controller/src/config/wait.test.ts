import { expect, test } from 'bun:test'
import { waitSeconds } from './wait'

const base = 'http://controller:8080/config'

test('wait is read as URLSearchParams reads it: the first one, escapes decoded, absent or empty is 0', () => {
  const queries = ['', '?', '?wait=30', '?wait=2.5', '?a=1&wait=7&wait=9', '?waiting=5&wait=4', '?wait', '?wait=&x=1', '?x&wait=1', '?w%61it=12', '?wait=1%30', '?a=%26wait%3D5&wait=3', '?&&wait=6&']
  for (const q of queries) {
    const expected = Number(new URLSearchParams(q.slice(1)).get('wait') || 0)
    expect([q, waitSeconds(`${base}${q}`)]).toEqual([q, expected])
  }
})

test('a wait that is no number of seconds up to the maximum is refused', () => {
  for (const q of ['?wait=61', '?wait=-1', '?wait=abc', '?wait=1e3', '?wait=+5', '?wait=%2030']) expect(() => waitSeconds(`${base}${q}`)).toThrow(/wait/)
})
