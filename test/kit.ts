/** The small kit the tests (through test/harness.ts) and the bench share: a free port, a condition
 *  waited for with a deadline, JSON over HTTP, and processes that are all killed at the end. */
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

/** Poll `fn` until it returns a truthy value (returned) or the deadline passes (throws with `what`). */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`)
    await Bun.sleep(everyMs)
  }
}

/** Fetch JSON with an API key; returns status, headers and parsed body (or null). */
export async function call(url: string, init: RequestInit & { key?: string; json?: unknown } = {}) {
  const headers = new Headers(init.headers)
  if (init.key) headers.set('authorization', `Bearer ${init.key}`)
  let body = init.body
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(init.json)
  }
  const res = await fetch(url, { ...init, headers, body })
  const text = await res.text()
  let json: any = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = text
  }
  return { status: res.status, headers: res.headers, body: json }
}

export type Proc = {
  name: string
  proc: Bun.Subprocess
  /** The file that gets its stdout and stderr. */
  log: string
  tail(lines?: number): string
  /** SIGTERM, SIGKILL after 3 s; also to anything it started. */
  stop(): Promise<void>
  /** SIGKILL now (a crash), also to anything it started; resolves once it is gone. */
  kill(): Promise<void>
}

const live = new Set<Proc>()
// The whole process group: nginx's worker and any other grandchild go with their parent.
const kill = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {}
}

/** SIGKILL every process start() started and has not stopped. */
export function killAll() {
  for (const p of live) kill(p.proc.pid, 'SIGKILL')
  live.clear()
}

let hooked = false
let seq = 0
/** Start `cmd` in its own process group with its output in `<dir>/<n>-<name>.log`. Whatever is still
 *  running is killed by killAll(), on exit, and on SIGINT or SIGTERM. */
export function start(name: string, cmd: string[], o: { dir: string; cwd?: string; env?: Record<string, string>; ipc?: (message: any) => void }): Proc {
  if (!hooked) {
    hooked = true
    process.on('exit', killAll)
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130))
  }
  const log = join(o.dir, `${++seq}-${name}.log`)
  const fd = openSync(log, 'w')
  const proc = Bun.spawn(cmd, {
    cwd: o.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...o.env },
    stdin: 'ignore',
    stdout: fd,
    stderr: fd,
    detached: true,
    ...(o.ipc ? { ipc: o.ipc, serialization: 'json' as const } : {}),
  })
  closeSync(fd)
  const p: Proc = {
    name,
    proc,
    log,
    tail: (lines = 20) => readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'),
    async stop() {
      if (!live.delete(p)) return
      kill(proc.pid, 'SIGTERM')
      await Promise.race([proc.exited, Bun.sleep(3000)])
      kill(proc.pid, 'SIGKILL')
      await proc.exited
    },
    async kill() {
      live.delete(p)
      kill(proc.pid, 'SIGKILL')
      await proc.exited
    },
  }
  live.add(p)
  return p
}
