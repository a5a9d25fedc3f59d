/** What strangers and careless clients can no longer do to a controller: freeze it with a nested body,
 *  pin memory with slow bodies, pile up abandoned long-polls, or get around the body rules. */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, freePort, spawnService, testDatabase, waitFor, type Service } from '../../test/harness'
import { controllerEnv, KEYS } from '../../test/stack'

const pgUrl = await testDatabase()
const sqlite = () => ({ SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-hostile-')), 'c.sqlite') })
async function controller(extra: Record<string, string> = {}) {
  const port = await freePort()
  return spawnService('controller', { port, env: controllerEnv(port, { ...sqlite(), ...extra }) })
}
const heldPolls = async (c: Service) => (await call(`${c.url}/readyz`)).body.held_polls as number

/** Send raw bytes on a socket; resolves with what the server wrote and whether it closed the socket. */
function rawSocket(port: number) {
  let received = ''
  let closed = false
  const ready = Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_s, d) {
        received += new TextDecoder().decode(d)
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
    async write(text: string) {
      ;(await ready).write(text)
    },
    get received() {
      return received
    },
    get closed() {
      return closed
    },
    async end() {
      ;(await ready).terminate()
    },
  }
}

describe('bodies', () => {
  test('a 60 KB nested body: 401 without a key, 422 with one, and the controller keeps answering', async () => {
    const c = await controller()
    const bomb = '['.repeat(30_000) + ']'.repeat(30_000)
    for (const path of ['/register', '/config']) {
      const stranger = await call(`${c.url}${path}`, { method: 'POST', body: bomb, headers: { 'content-type': 'application/json' } })
      expect({ path, status: stranger.status }).toEqual({ path, status: 401 })
    }
    const holder = await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, body: bomb, headers: { 'content-type': 'application/json' } })
    expect({ status: holder.status, message: holder.body.message }).toEqual({ status: 422, message: 'the request body nests deeper than 32 levels' })
    expect((await call(`${c.url}/healthz`)).status).toBe(200)
  })

  test('an endless body with a key is cut at the size limit: 413, and the connection closed', async () => {
    const c = await controller({ BODY_LIMIT_BYTES: '4096' })
    const s = rawSocket(c.port)
    await s.write(`POST /register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.agent}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`)
    for (let i = 0; i < 20 && !s.closed; i++) await s.write(`400\r\n${'x'.repeat(1024)}\r\n`)
    await waitFor('413 and a closed connection', () => s.received.startsWith('HTTP/1.1 413') && s.closed)
  })

  test.each(['development', 'Production'])('with NODE_ENV=%s a refused body costs the same: 422 at once, the value never rendered', async (nodeEnv) => {
    const strong = { AGENT_API_KEY: 'a-production-agent-key-1', ADMIN_API_KEY: 'a-production-admin-key-1' }
    const c = await controller({ NODE_ENV: nodeEnv, ...strong })
    const deep = await call(`${c.url}/register`, { method: 'POST', key: strong.AGENT_API_KEY, body: '['.repeat(30_000) + ']'.repeat(30_000), headers: { 'content-type': 'application/json' } })
    expect({ status: deep.status, message: deep.body.message }).toEqual({ status: 422, message: 'the request body nests deeper than 32 levels' })
    const wide = await call(`${c.url}/register`, { method: 'POST', key: strong.AGENT_API_KEY, json: { hostname: 5, pad: 'SECRET'.repeat(1000) } })
    expect({ status: wide.status, echoed: JSON.stringify(wide.body).includes('SECRET') }).toEqual({ status: 422, echoed: false })
  })

  test('slow bodies without a key are refused at once and their connections closed: 401, then 429 once the address failed too often', async () => {
    const c = await controller()
    const sockets = Array.from({ length: 200 }, () => rawSocket(c.port))
    for (const s of sockets) await s.write(`POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65000\r\n\r\n${'x'.repeat(1000)}`)
    const refused = (s: { received: string }) => s.received.startsWith('HTTP/1.1 401') || s.received.startsWith('HTTP/1.1 429')
    await waitFor('every stranger to be answered 401 or 429 and disconnected', () => sockets.every((s) => refused(s) && s.closed))
    // AUTH_FAILURES_PER_MINUTE (30) get their 401 (one more per 2 s the test takes), the rest 429.
    const unauthorized = sockets.filter((s) => s.received.startsWith('HTTP/1.1 401')).length
    expect(unauthorized).toBeGreaterThanOrEqual(30)
    expect(unauthorized).toBeLessThan(40)
    expect(sockets.find((s) => s.received.startsWith('HTTP/1.1 429'))!.received.toLowerCase()).toContain('retry-after:')
    expect((await call(`${c.url}/healthz`)).status).toBe(200)
  })

  test('slow bodies with a key: a bounded number are read at once, each within a deadline (408), the rest get 503', async () => {
    const c = await controller({ MAX_BODY_READS: '4', BODY_TIMEOUT_MS: '800' })
    const slow = Array.from({ length: 4 }, () => rawSocket(c.port))
    for (const s of slow) await s.write(`POST /register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.agent}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"hostname":`)
    await waitFor('the slow bodies to take every slot', async () => {
      const r = await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, json: { hostname: 'quick' } })
      return r.status === 503 && r.body.error === 'busy' && r.headers.get('retry-after') === '1'
    })
    expect((await call(`${c.url}/healthz`)).status).toBe(200)
    await waitFor('every slow body to be cut with 408', () => slow.every((s) => s.received.startsWith('HTTP/1.1 408') && s.closed))
    expect((await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, json: { hostname: 'quick' } })).status).toBe(201)
  })

  test('the body rules: Content-Type and UTF-8 required, text without controls or lone surrogates; nothing stored', async () => {
    const c = await controller()
    await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://good.example/' } })
    const post = (path: string, key: string, body: ConstructorParameters<typeof Response>[0], headers: Record<string, string>) => call(`${c.url}${path}`, { method: 'POST', key, body, headers })
    const json = { 'content-type': 'application/json' }
    const cases: [string, Promise<{ status: number; body: any }>, number][] = [
      ['no Content-Type', post('/config', KEYS.admin, '{"url":"http://bad.example/"}', {}), 415],
      ['UTF-16', post('/config', KEYS.admin, '{"url":"http://bad.example/"}', { 'content-type': 'application/json; charset=utf-16' }), 415],
      ['invalid UTF-8', post('/register', KEYS.agent, new Uint8Array([...new TextEncoder().encode('{"hostname":"a'), 0xc3, 0x28, 0x22, 0x7d]), json), 422],
      ['a lone surrogate in a label', post('/register', KEYS.agent, '{"labels":{"zone":"\\ud800"}}', json), 422],
      ['a C1 control in a hostname', post('/register', KEYS.agent, '{"hostname":"a\\u0085b"}', json), 422],
      ['U+2028 in a label', post('/register', KEYS.agent, '{"labels":{"zone":"a\\u2028b"}}', json), 422],
    ]
    for (const [name, res, status] of cases) {
      const r = await res
      expect({ name, status: r.status, shape: Object.keys(r.body).sort() }).toEqual({ name, status, shape: ['error', 'message', 'request_id'] })
    }
    expect((await call(`${c.url}/config`, { key: KEYS.agent })).body).toMatchObject({ version: 1, url: 'http://good.example/' })
  })

  test('a proxy’s Basic Authorization does not hide a valid X-API-Key', async () => {
    const c = await controller()
    const res = await call(`${c.url}/config`, { method: 'POST', headers: { authorization: 'Basic dXNlcjpwdw==', 'x-api-key': KEYS.admin }, json: { url: 'http://x.example/' } })
    expect(res.status).toBe(201)
  })

  test('a Host header of three characters or fewer reaches every route', async () => {
    const c = await controller()
    for (const host of ['api', 'ctl:80']) {
      const s = rawSocket(c.port)
      await s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      await waitFor(`an answer for Host: ${host}`, () => s.closed)
      expect(s.received.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
      const body = JSON.stringify({ url: `http://${host.replace(':', '')}.example/` })
      const w = rawSocket(c.port)
      await w.write(`POST /config HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${KEYS.admin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
      await waitFor(`a write for Host: ${host}`, () => w.closed)
      expect(w.received.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 201/)
    }
  })
})

describe('long-poll holds', () => {
  test('a hold ends when its client goes away, and held_polls says so', async () => {
    const c = await controller()
    const etag = (await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://x.example/' } })).headers.get('etag')!
    const clients = Array.from({ length: 200 }, () => new AbortController())
    const polls = clients.map((a) => fetch(`${c.url}/config?wait=60`, { headers: { authorization: `Bearer ${KEYS.agent}`, 'if-none-match': etag }, signal: a.signal }).catch(() => null))
    await waitFor('200 held polls', async () => (await heldPolls(c)) === 200)
    for (const a of clients) a.abort()
    await Promise.all(polls)
    await waitFor('every abandoned hold to end', async () => (await heldPolls(c)) === 0)
  })

  test('beyond MAX_HELD_POLLS a long-poll is answered at once with 304', async () => {
    const c = await controller({ MAX_HELD_POLLS: '5' })
    const etag = (await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://x.example/' } })).headers.get('etag')!
    const poll = () => call(`${c.url}/config?wait=60`, { key: KEYS.agent, headers: { 'if-none-match': etag } })
    const held = Array.from({ length: 5 }, poll)
    await waitFor('5 held polls', async () => (await heldPolls(c)) === 5)
    expect((await poll()).status).toBe(304)
    expect(await heldPolls(c)).toBe(5)
    await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://y.example/' } })
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
  })
})

describe.skipIf(!pgUrl)('bad input is never an outage (PostgreSQL)', () => {
  test('a lone surrogate or a NUL in a label is a 422, not a 503', async () => {
    const c = await controller({ DATABASE_URL: (await testDatabase())! })
    for (const labels of ['{"zone":"\\udfff"}', '{"zone":"a\\u0000b"}']) {
      const r = await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, body: `{"labels":${labels}}`, headers: { 'content-type': 'application/json' } })
      expect({ labels, status: r.status }).toEqual({ labels, status: 422 })
    }
    expect((await call(`${c.url}/readyz`)).status).toBe(200)
  })
})

describe('SQLite shared with another process', () => {
  test('a write waiting for another process’s lock gives up with 503 instead of hanging, and works once the lock is gone', async () => {
    const { Database } = await import('bun:sqlite')
    const env = sqlite()
    const c = await controller(env)
    await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://before.example/' } })
    const other = new Database(env.SQLITE_PATH)
    other.exec('begin immediate')
    const blocked = await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://blocked.example/' } })
    expect({ status: blocked.status, error: blocked.body.error }).toEqual({ status: 503, error: 'store_unavailable' })
    expect((await call(`${c.url}/healthz`)).status).toBe(200)
    other.exec('rollback')
    other.close()
    expect(await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://after.example/' } })).toMatchObject({ status: 201, body: { version: 2 } })
  })
})

describe('SQLite on a full disk', () => {
  test('/readyz answers 503 while writes fail, and 200 again once they can succeed', async () => {
    // A file-size limit on the process stands in for a full disk (SIGXFSZ ignored: writes fail with EFBIG).
    const port = await freePort()
    const c = await spawnService('controller', {
      port,
      env: controllerEnv(port, { ...sqlite(), LOG_LEVEL: 'warn' }),
      cmd: ['sh', '-c', "trap '' XFSZ; ulimit -S -f 200; exec bun --no-env-file src/index.ts"],
    })
    expect((await call(`${c.url}/readyz`)).status).toBe(200)
    const failed = await waitFor('a write to fail for lack of space', async () => {
      const r = await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: `http://x.example/${crypto.randomUUID()}${'a'.repeat(400)}` } })
      return r.status === 503 ? r : null
    })
    expect(failed.body.error).toBe('store_unavailable')
    // A config write needs more room than /readyz's tiny write: what is left may still take one of those.
    const unready = await waitFor('/readyz to answer 503', async () => {
      const r = await call(`${c.url}/readyz`)
      return r.status === 503 ? r : null
    })
    expect(unready.body.error).toBe('store_unavailable')
    // Space again.
    const freed = Bun.spawnSync(['prlimit', `--pid=${c.proc.pid}`, '--fsize=unlimited:unlimited'])
    expect(freed.exitCode).toBe(0)
    await waitFor('ready again', async () => (await call(`${c.url}/readyz`)).status === 200)
    expect((await call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: 'http://after.example/' } })).status).toBe(201)
  })
})
