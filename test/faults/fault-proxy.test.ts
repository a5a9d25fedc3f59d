/** The fault proxy itself, in-process, against an echo server: each mode does what the suites rely on. */
import { afterAll, expect, test } from 'bun:test'
import { waitFor } from '../harness'
import { faultProxy } from './fault-proxy'

const echo = Bun.listen({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    data(s, chunk) {
      s.write(chunk)
    },
  },
})
afterAll(() => echo.stop(true))
const target = { host: '127.0.0.1', port: echo.port }

/** A client connection that records what it receives and whether it was closed. */
async function client(port: number) {
  const got: number[] = []
  let closed = false
  const sock = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_s, chunk) {
        got.push(...chunk)
      },
      close() {
        closed = true
      },
      error() {
        closed = true
      },
    },
  })
  return {
    send: (text: string) => sock.write(text),
    text: () => String.fromCharCode(...got),
    get closed() {
      return closed
    },
    end: () => sock.end(),
  }
}

test('pass and latency: bytes arrive whole and in order, each chunk late by the latency', async () => {
  const p = await faultProxy(target)
  const c = await client(p.port)
  c.send('hello ')
  await waitFor('the echo', () => c.text() === 'hello ')
  p.set({ kind: 'latency', ms: 150 })
  const t0 = Date.now()
  for (const part of ['a', 'b', 'c', 'd']) c.send(part)
  await waitFor('the delayed echo', () => c.text() === 'hello abcd')
  // Twice the latency: once on the way there, once on the way back (a timer never fires early by more than a tick).
  expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * 150 - 2)
  c.end()
  p.close()
})

test('stall holds every byte until the proxy heals, then delivers it in order', async () => {
  const p = await faultProxy(target)
  const c = await client(p.port)
  p.set({ kind: 'stall' })
  c.send('one ')
  c.send('two')
  await Bun.sleep(200)
  expect(c.text()).toBe('')
  p.heal()
  await waitFor('the held bytes', () => c.text() === 'one two')
  c.end()
  p.close()
})

test('reset closes open connections and every new one; each counts as an attempt', async () => {
  const p = await faultProxy(target)
  const open = await client(p.port)
  open.send('GET / HTTP/1.1\r\n\r\n')
  await waitFor('the echo', () => open.text().length > 0)
  p.set({ kind: 'reset' })
  await waitFor('the open connection to be reset', () => open.closed)
  const later = await client(p.port)
  await waitFor('a new connection to be reset', () => later.closed)
  expect({ connections: p.connections, attempts: p.attempts, open: p.open }).toEqual({ connections: 2, attempts: 2, open: 0 })
  p.heal()
  const healed = await client(p.port)
  healed.send('back')
  await waitFor('the echo after healing', () => healed.text() === 'back')
  healed.end()
  p.close()
})

test('drop-after cuts a connection once N more bytes went through it', async () => {
  const p = await faultProxy(target)
  const c = await client(p.port)
  p.set({ kind: 'drop-after', bytes: 4 })
  c.send('abcdefgh')
  await waitFor('the cut', () => c.closed)
  // Four bytes reached the echo server; at most those could come back before the cut.
  expect('abcd'.startsWith(c.text())).toBe(true)
  p.close()
})

test('blackhole swallows everything and closes nothing; a swallowed connection stays dead after healing', async () => {
  const p = await faultProxy(target)
  const old = await client(p.port)
  old.send('x')
  await waitFor('the echo', () => old.text() === 'x')
  p.set({ kind: 'blackhole' })
  old.send('GET /a HTTP/1.1\r\n\r\n')
  const fresh = await client(p.port)
  fresh.send('GET /b HTTP/1.1\r\n\r\n')
  await Bun.sleep(200)
  expect({ old: old.text(), fresh: fresh.text(), closed: [old.closed, fresh.closed], open: p.open }).toEqual({ old: 'x', fresh: '', closed: [false, false], open: 2 })
  p.heal()
  old.send('y')
  const after = await client(p.port)
  after.send('z')
  await waitFor('a new connection to pass', () => after.text() === 'z')
  expect({ old: old.text(), closed: old.closed }).toEqual({ old: 'x', closed: false })
  // One request on each of the first two connections (swallowed or not), and the third connection.
  expect(p.attempts).toBe(3)
  for (const c of [old, fresh, after]) c.end()
  p.close()
})
