import { expect, test } from 'bun:test'
import { call, spawnService, startupRefusal } from '../../test/harness'
import { agentEnv } from '../../test/stack'

test('OpenAPI lists every route the agent answers', async () => {
  const agent = await spawnService('agent', { env: agentEnv('http://127.0.0.1:9', 'http://127.0.0.1:9') })
  const docs = await call(`${agent.url}/swagger/json`)
  expect(Object.keys(docs.body.paths).sort()).toEqual(['/healthz', '/metrics', '/readyz', '/state'])
  expect(await call(`${agent.url}/readyz`)).toMatchObject({ status: 503 })
  expect((await call(`${agent.url}/nope`)).body.error).toBe('not_found')
})

test('a missing, malformed or out-of-range setting, or a development key in production, stops the agent with a message naming it', async () => {
  const base = agentEnv('http://127.0.0.1:9', 'http://127.0.0.1:9')
  for (const [env, name] of [
    [{ ...base, CONTROLLER_API_KEY: '' }, 'CONTROLLER_API_KEY'],
    [{ ...base, WORKER_API_KEY: 'a,b' }, 'WORKER_API_KEY'],
    [{ ...base, BACKOFF_BASE_MS: 'soon' }, 'BACKOFF_BASE_MS'],
    [{ ...base, LONG_POLL_WAIT_SECONDS: '61' }, 'LONG_POLL_WAIT_SECONDS'],
    [{ ...base, CONTROLLER_URL: 'localhost:8080' }, 'CONTROLLER_URL'],
    [{ ...base, CONTROLLER_URL: 'http:/ctl.example' }, 'CONTROLLER_URL'],
    [{ ...base, BACKOFF_MAX_MS: '3000000000' }, 'BACKOFF_MAX_MS'],
    [{ ...base, REQUEST_TIMEOUT_MS: '1' }, 'REQUEST_TIMEOUT_MS'],
    [{ ...base, FILE_RETRY_MS: '0' }, 'FILE_RETRY_MS'],
    [{ ...base, NODE_ENV: 'prod' }, 'NODE_ENV'],
    [{ ...base, NODE_ENV: 'Production', CONTROLLER_API_KEY: 'dev-agent-key', WORKER_API_KEY: 'a-production-worker-key' }, 'CONTROLLER_API_KEY'],
    [{ ...base, NODE_ENV: 'production', CONTROLLER_API_KEY: 'dev-agent-key', WORKER_API_KEY: 'a-production-worker-key' }, 'CONTROLLER_API_KEY'],
  ] as [Record<string, string>, string][]) {
    const { code, stderr } = await startupRefusal('agent', env)
    expect({ name, code, named: stderr.includes(name) }).toEqual({ name, code: 2, named: true })
  }
})
