/** Processes for the bench: a folder for their logs and files, the dcm services started as the tests
 *  start them, and a wait that gives up as soon as the process it waits on has died. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, freePort, start, waitFor, type Proc } from '../../test/kit'

export const ROOT = join(import.meta.dir, '..', '..')
export const KEYS = { agent: 'bench-agent-key', admin: 'bench-admin-key', worker: 'bench-worker-key' }

let dir: string | null = null
/** This run's folder for logs, configs and data: removed at a clean exit, kept (and named) otherwise. */
export function workdir(): string {
  if (!dir) process.on('exit', (code) => (code ? console.error(`bench: logs kept in ${dir}`) : rmSync(dir!, { recursive: true, force: true })))
  return (dir ??= mkdtempSync(join(tmpdir(), 'dcm-bench-')))
}

/** Start `cmd` with its log in the workdir; `fdLimit` raises `ulimit -n` for it first (needs root). */
export const run = (name: string, cmd: string[], o: { env?: Record<string, string>; cwd?: string; fdLimit?: number; ipc?: (m: any) => void } = {}) =>
  start(name, o.fdLimit ? ['sh', '-c', `ulimit -n ${o.fdLimit} && exec "$@"`, 'sh', ...cmd] : cmd, { ...o, dir: workdir(), cwd: o.cwd ?? ROOT })

/** waitFor, failing at once with the process's last lines when it exits first. */
export async function ready<T>(p: Proc, what: string, fn: () => Promise<T> | T, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const v = await waitFor(what, async () => p.proc.exitCode !== null || (await fn()), timeoutMs)
  if (p.proc.exitCode !== null) throw new Error(`${p.name} exited with ${p.proc.exitCode} while waiting for ${what}:\n${p.tail()}`)
  return v as NonNullable<T>
}

export type Service = Proc & { url: string; port: number; pid: number }

/** `bun --no-env-file src/index.ts` in the service's folder, as the tests run it (or `cmd`, e.g. a
 *  compiled executable); waits for /healthz. `preload` adds a module loaded first (`bun --preload`),
 *  `ipc` takes what the process sends. */
export async function startService(
  name: 'controller' | 'agent' | 'worker',
  env: Record<string, string>,
  o: { label?: string; fdLimit?: number; cmd?: string[]; preload?: string; ipc?: (m: any) => void } = {},
): Promise<Service> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // PUBLIC_URL keeps the poll_url the controller hands out on loopback.
  const full = { ...env, PORT: String(port), ...(name === 'controller' ? { PUBLIC_URL: url } : {}) }
  const cmd = o.cmd ?? ['bun', '--no-env-file', ...(o.preload ? ['--preload', o.preload] : []), 'src/index.ts']
  const p = run(o.label ?? name, cmd, { cwd: join(ROOT, name), env: full, fdLimit: o.fdLimit, ipc: o.ipc })
  await ready(p, `${name} /healthz`, async () => (await fetch(`${url}/healthz`)).ok, 40_000)
  return Object.assign(p, { url, port, pid: p.proc.pid })
}

let n = 0
/** A controller on a fresh SQLite file, or on PostgreSQL. */
export async function startController(o: { logLevel: string; databaseUrl?: string; fdLimit?: number }): Promise<Service> {
  const env: Record<string, string> = { LOG_LEVEL: o.logLevel, AGENT_API_KEY: KEYS.agent, ADMIN_API_KEY: KEYS.admin, SQLITE_PATH: join(workdir(), `controller-${++n}.sqlite`) }
  if (o.databaseUrl) env.DATABASE_URL = o.databaseUrl
  return startService('controller', env, { label: `controller-${o.logLevel}`, fdLimit: o.fdLimit })
}

/** POST /config with the admin key; returns the stored version and its ETag. */
export async function setConfig(controller: { url: string }, url: string) {
  const r = await call(`${controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url } })
  if (r.status !== 201 && r.status !== 200) throw new Error(`POST /config answered ${r.status}: ${JSON.stringify(r.body)}`)
  return { version: (r.body as { version: number }).version, etag: r.headers.get('etag')! }
}
