import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, freePort, onCleanup, spawnService, tcpProxy, upstreamStub, waitFor, type Service } from './harness'

export const KEYS = { agent: 'ctl-agent-key', admin: 'ctl-admin-key', worker: 'worker-key' }

export const controllerEnv = (port: number, extra: Record<string, string> = {}) => ({
  AGENT_API_KEY: KEYS.agent,
  ADMIN_API_KEY: KEYS.admin,
  POLL_INTERVAL_SECONDS: '0.2',
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-stack-')), 'controller.sqlite'),
  ...extra,
})

export const agentEnv = (controllerUrl: string, workerUrl: string, extra: Record<string, string> = {}) => ({
  CONTROLLER_URL: controllerUrl,
  CONTROLLER_API_KEY: KEYS.agent,
  WORKER_URL: workerUrl,
  WORKER_API_KEY: KEYS.worker,
  STATE_FILE: join(mkdtempSync(join(tmpdir(), 'dcm-agent-')), 'state.json'),
  BACKOFF_BASE_MS: '50',
  BACKOFF_MAX_MS: '400',
  FILE_RETRY_MS: '100',
  ...extra,
})

export type Stack = { controller: Service; agent: Service; worker: Service; upstream: { url: string } }

/** Controller (SQLite), worker and agent as real processes, plus an upstream stub for /hit. */
export async function startStack(opts: { controller?: Record<string, string>; agent?: Record<string, string>; worker?: Record<string, string> } = {}): Promise<Stack> {
  const upstream = upstreamStub('upstream-a')
  const cport = await freePort()
  const controller = await spawnService('controller', { port: cport, env: controllerEnv(cport, opts.controller) })
  const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, ...opts.worker } })
  const agent = await spawnService('agent', { env: agentEnv(controller.url, worker.url, opts.agent) })
  return { controller, agent, worker, upstream }
}

export const setConfig = (s: { controller: Service }, json: { url: string; timeout_ms?: number }) =>
  call(`${s.controller.url}/config`, { method: 'POST', key: KEYS.admin, json })

export const agentState = async (agent: Service) => (await call(`${agent.url}/state`)).body
export const workerState = async (worker: Service) => (await call(`${worker.url}/state`)).body

export async function waitWorkerVersion(worker: Service, version: number) {
  return waitFor(`worker at version ${version}`, async () => (await workerState(worker)).version === version)
}

export async function hitBody(worker: Service) {
  const res = await fetch(`${worker.url}/hit`)
  return { status: res.status, body: await res.text() }
}

/** A running stack whose worker already holds version 1 (the upstream stub's URL). */
export async function stackAtVersion1(opts: Parameters<typeof startStack>[0] = {}) {
  const s = await startStack(opts)
  await setConfig(s, { url: s.upstream.url })
  await waitWorkerVersion(s.worker, 1)
  return s
}

/** A database URL that reaches `db` through a TCP proxy the test can cut, restore, stall and resume. */
export async function behindProxy(db: string) {
  const pg = new URL(db)
  const proxy = await tcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) })
  const url = new URL(db)
  url.host = `127.0.0.1:${proxy.port}`
  return { proxy, url: url.toString() }
}

/** A stand-in controller: registers any agent (poll interval `interval` s) and answers its polls with `poll`. */
export function stubController(poll: (req: Request) => Response, interval = 0.1) {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req, srv): Response {
      if (new URL(req.url).pathname === '/register') return Response.json({ agent_id: 'stub-agent', poll_url: `http://127.0.0.1:${srv.port}/config`, poll_interval_seconds: interval }, { status: 201 })
      return poll(req)
    },
  })
  onCleanup(() => server.stop(true))
  return { url: `http://127.0.0.1:${server.port}` }
}
