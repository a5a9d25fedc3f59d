import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { call, spawnService, startupRefusal } from '../../test/harness'
import { env } from './kit'

setDefaultTimeout(30_000)

describe('worker start-up, shutdown and docs', () => {
  test('a missing or malformed setting stops it with exit code 2 and a message naming the variable', async () => {
    for (const [bad, name] of [
      [{}, 'AGENT_API_KEY'],
      [{ ...env, PORT: 'abc' }, 'PORT'],
      [{ ...env, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ ...env, PORT: '70000' }, 'PORT'],
      [{ ...env, BODY_LIMIT_BYTES: '10' }, 'BODY_LIMIT_BYTES'],
      [{ ...env, BODY_LIMIT_BYTES: '2048.5' }, 'BODY_LIMIT_BYTES'],
      [{ NODE_ENV: 'production', AGENT_API_KEY: 'dev-worker-key-123456' }, 'AGENT_API_KEY'],
      [{ NODE_ENV: 'production' }, 'AGENT_API_KEY'],
      [{ ...env, AUTH_FAILURES_PER_MINUTE: '0' }, 'AUTH_FAILURES_PER_MINUTE'],
      [{ ...env, UPSTREAM_ALLOW: 'http://metadata/' }, 'UPSTREAM_ALLOW'],
    ] as [Record<string, string>, string][]) {
      const { code, stderr } = await startupRefusal('worker', bad)
      expect({ name, code, named: stderr.includes(name), leaked: stderr.includes('dev-worker-key-123456') }).toEqual({ name, code: 2, named: true, leaked: false })
    }
  })

  test('SIGTERM exits cleanly with code 0', async () => {
    const w = await spawnService('worker', { env })
    expect(await w.stop('SIGTERM')).toBe(0)
    expect(w.logs().some((l) => l.msg === 'shutting down')).toBe(true)
  })

  test('OpenAPI docs list every route with its status codes', async () => {
    const w = await spawnService('worker', { env })
    const docs = await call(`${w.url}/swagger/json`)
    const paths = docs.body.paths
    expect(Object.keys(paths).sort()).toEqual(['/config', '/healthz', '/hit', '/metrics', '/readyz', '/state'])
    const codes = (path: string, method: string) => Object.keys(paths[path][method].responses).sort()
    expect({
      config: codes('/config', 'post'),
      hit: codes('/hit', 'get'),
      state: codes('/state', 'get'),
      readyz: codes('/readyz', 'get'),
    }).toEqual({
      config: ['200', '400', '401', '409', '413', '415', '422', '429', '503'],
      hit: ['200', '502', '503', '504', '508'],
      state: ['200'],
      readyz: ['200', '503'],
    })
    expect((await fetch(`${w.url}/swagger`)).status).toBe(200)
  })
})
