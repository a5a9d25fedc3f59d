/** Every process the bench starts goes through here, so all of them are killed at the end, on a
 *  failure, and on SIGINT/SIGTERM. Each child gets its own process group: nginx's worker and any
 *  other grandchild die with it. */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const ROOT = join(import.meta.dir, '..', '..')

export type Proc = {
  name: string
  pid: number
  proc: Bun.Subprocess
  log: string
  /** The last lines the process wrote (stdout and stderr share the log file). */
  tail(lines?: number): string
  stop(): Promise<void>
}

const live = new Set<Proc>()

function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {}
  }
}

export function killAll() {
  for (const p of live) killGroup(p.pid, 'SIGKILL')
  live.clear()
}

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    console.error(`\nbench: ${sig}; stopping everything it started`)
    killAll()
    cleanupWorkDir(false)
    process.exit(130)
  })

let workDir: string | null = null
/** A temporary folder for this run's logs, configs and data; removed by cleanupWorkDir(). */
export function workdir(): string {
  return (workDir ??= mkdtempSync(join(tmpdir(), 'dcm-bench-')))
}
export function cleanupWorkDir(keep: boolean) {
  if (!workDir) return
  if (!keep) {
    rmSync(workDir, { recursive: true, force: true })
    return
  }
  // Access logs under load run to hundreds of MB: keep their last MB only.
  for (const f of readdirSync(workDir)) {
    const path = join(workDir, f)
    const st = statSync(path)
    if (st.isFile() && st.size > 2 ** 20) {
      const fd = openSync(path, 'r')
      const tail = Buffer.alloc(2 ** 20)
      readSync(fd, tail, 0, tail.length, st.size - tail.length)
      closeSync(fd)
      writeFileSync(path, tail)
    }
  }
  console.error(`bench: logs kept in ${workDir} (large ones cut to their last MB)`)
}

let seq = 0
/** Start a process with its output in a log file. `fdLimit` sets `ulimit -n` for it first (raising the
 *  hard limit needs root). */
export function start(
  name: string,
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string>; fdLimit?: number; ipc?: (message: unknown) => void } = {},
): Proc {
  const log = join(workdir(), `${++seq}-${name}.log`)
  const fd = openSync(log, 'w')
  const argv = opts.fdLimit ? ['sh', '-c', `ulimit -n ${opts.fdLimit} && exec "$@"`, 'sh', ...cmd] : cmd
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: process.env.HOME ?? '/tmp', ...opts.env },
    stdin: 'ignore',
    stdout: fd,
    stderr: fd,
    detached: true,
    ...(opts.ipc ? { ipc: (m: unknown) => opts.ipc!(m), serialization: 'json' as const } : {}),
  })
  closeSync(fd)
  const p: Proc = {
    name,
    pid: proc.pid,
    proc,
    log,
    tail(lines = 20) {
      try {
        return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
      } catch {
        return ''
      }
    },
    async stop() {
      if (!live.has(p)) return
      live.delete(p)
      killGroup(p.pid, 'SIGTERM')
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)])
      killGroup(p.pid, 'SIGKILL') // also any grandchild left in the group
      if (!done) await proc.exited
    },
  }
  live.add(p)
  return p
}

/** Wait until `fn` returns a truthy value, or throw after `timeoutMs`; fails early when `proc` exits. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, opts: { timeoutMs?: number; everyMs?: number; proc?: Proc } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000)
  let last: unknown
  for (;;) {
    if (opts.proc && opts.proc.proc.exitCode !== null)
      throw new Error(`${opts.proc.name} exited with code ${opts.proc.proc.exitCode} while waiting for ${what}:\n${opts.proc.tail()}`)
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}${opts.proc ? `\n${opts.proc.tail()}` : ''}`)
    await Bun.sleep(opts.everyMs ?? 25)
  }
}

export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

export type Service = Proc & { url: string; port: number }

/** Start one of the services (`bun src/index.ts` in its folder, as the tests do) and wait for /healthz. */
export async function startService(
  name: 'controller' | 'agent' | 'worker',
  env: Record<string, string>,
  opts: { label?: string; bunArgs?: string[]; fdLimit?: number; publicUrl?: boolean } = {},
): Promise<Service> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // PUBLIC_URL makes the poll_url the controller hands out reachable on loopback.
  const full = { ...env, PORT: String(port), ...(opts.publicUrl ? { PUBLIC_URL: url } : {}) }
  const p = start(opts.label ?? name, ['bun', ...(opts.bunArgs ?? []), 'src/index.ts'], { cwd: join(ROOT, name), env: full, fdLimit: opts.fdLimit })
  await waitFor(`${name} /healthz`, async () => (await fetch(`${url}/healthz`)).ok, { proc: p, timeoutMs: 40_000 })
  return Object.assign(p, { url, port })
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

const TICKS_PER_SECOND = 100 // USER_HZ, 100 on every Linux this runs on
/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND
}

/** CPU seconds all processes on the machine have used so far (from /proc/stat). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / TICKS_PER_SECOND
}

/** CPU seconds of this process's children that have exited and been waited for (wrk runs). */
export function reapedChildrenSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND
}

/** Whether `ulimit -n n` can be set for a child (raising the hard limit needs privileges). */
export function canSetFileLimit(n: number): boolean {
  return Bun.spawnSync(['sh', '-c', `ulimit -n ${n}`], { stdout: 'ignore', stderr: 'ignore' }).exitCode === 0
}

/** The ids of a process's direct children (nginx's worker under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Hard limit on open files of this process, which children inherit: Bun raises its own soft limit
 *  to it at start, so it is what a Bun child gets. */
export function openFileLimit(): number {
  const m = /Max open files\s+(?:\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1])
}

/** JSON over HTTP with an optional bearer key. */
export async function call(url: string, init: { method?: string; key?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers }
  if (init.key) headers.authorization = `Bearer ${init.key}`
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) })
  const text = await res.text()
  let body: any = text
  try {
    body = text ? JSON.parse(text) : null
  } catch {}
  return { status: res.status, headers: res.headers, body }
}
