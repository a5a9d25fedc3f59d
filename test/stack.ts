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

export type Stack = { controller: Service; agent: Service; worker: Service; upstream: { url: string }; controllerCalls: ControllerCall[] }

type StackOptions = {
  controller?: Record<string, string>
  agent?: Record<string, string>
  worker?: Record<string, string>
  /** How the upstream answers /hit's calls (default: 200 "hello from upstream-a"). */
  upstream?: (req: Request) => Response | Promise<Response>
  /** Put a recording proxy between the agent and the controller (`controllerCalls` fills up). */
  recordAgentCalls?: boolean
}

/** Controller (SQLite), worker and agent as real processes, plus an upstream stub for /hit. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const upstream = upstreamStub('upstream-a', opts.upstream)
  const cport = await freePort()
  const controller = await spawnService('controller', { port: cport, env: controllerEnv(cport, opts.controller) })
  const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, ...opts.worker } })
  const proxy = opts.recordAgentCalls ? recordingProxy(controller.url) : null
  const agent = await spawnService('agent', { env: agentEnv(proxy?.url ?? controller.url, worker.url, opts.agent) })
  return { controller, agent, worker, upstream, controllerCalls: proxy?.calls ?? [] }
}

/** One call that passed the recording proxy: its path, request headers and the status it got (null
 *  while under way, or when the caller went away before the answer). */
export type ControllerCall = { path: string; headers: Headers; status: number | null }

/** An HTTP proxy in front of `target` that records each call's request headers and answer status; held
 *  long-polls pass through as they are held (no idle timeout). */
export function recordingProxy(target: string) {
  const calls: ControllerCall[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const u = new URL(req.url)
      const call: ControllerCall = { path: `${u.pathname}${u.search}`, headers: new Headers(req.headers), status: null }
      calls.push(call)
      const headers = new Headers(req.headers)
      headers.delete('host')
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer()
      let res: Response
      let bytes: ArrayBuffer
      try {
        res = await fetch(`${target}${call.path}`, { method: req.method, headers, body, signal: req.signal, redirect: 'manual', decompress: false })
        bytes = await res.arrayBuffer()
      } catch {
        return new Response(null, { status: 502 }) // the caller went away, or the controller did (recorded as no answer)
      }
      if (!req.signal.aborted) call.status = res.status
      return new Response(res.status === 304 ? null : bytes, { status: res.status, headers: res.headers })
    },
  })
  onCleanup(() => server.stop(true))
  return { url: `http://127.0.0.1:${server.port}`, calls }
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
export async function stackAtVersion1(opts: StackOptions = {}) {
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
